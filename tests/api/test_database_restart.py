"""The API keeps answering when the database drops its connections (a restart, a failover, an
idle timeout): a request that meets a dead pooled connection before it committed anything is
run again on a fresh one, instead of a 500."""

from __future__ import annotations

import logging
import math
import time
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

import api.app
from api.db import make_engine
from tests.api.helpers import WORKER
from tests.conftest import Accounts, seed_accounts

pytestmark = pytest.mark.postgres


def drop_the_apis_connections(client: TestClient) -> int:
    """Terminate every server connection to the API's database, as a server restart does;
    returns how many."""
    admin = create_engine(client.app.state.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            dropped = connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        admin.dispose()
    time.sleep(0.3)  # the backends exit
    return int(dropped or 0)


@pytest.fixture(autouse=True)
def no_idle_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's pool hands out every connection without a ping, however long it was idle: on
    a loaded machine the steps between two uses of one connection can outlast
    `api.db.PING_AFTER_IDLE_S`, and the ping would then find the dropped connection before the
    request does, which is what these tests show a request surviving."""
    monkeypatch.setattr(api.app, "make_engine", partial(make_engine, ping_after_idle_s=math.inf))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_requests_succeed_after_the_database_dropped_every_connection(
    quiet_api_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the delivery loop: its look for due deliveries every 2 s could meet a dropped
    # connection before the request does, and the pool would then drop them all unseen.
    api_client = quiet_api_client
    seed_accounts(api_client.app)
    accounts = Accounts(api_client)
    admin = accounts.headers("admin")
    leases = "/api/v1/worker/leases"
    # Pooled connections used a moment ago: the pool hands them out without a ping.
    assert api_client.get("/api/v1/events", headers=admin).status_code == 200
    held = api_client.post(leases, json={"capacity": 4}, headers=WORKER).json()["versions"]
    assert drop_the_apis_connections(api_client) >= 1

    with caplog.at_level(logging.WARNING, logger="api.reconnect"):
        events = api_client.get("/api/v1/events", headers=admin)
        assert events.status_code == 200, events.text
        assert drop_the_apis_connections(api_client) >= 1
        # A lease renewal's one statement is sent outside a transaction: the route says it
        # may run again.
        renewal = api_client.post(leases, json={"capacity": 4, "held": held}, headers=WORKER)
        assert renewal.status_code == 200, renewal.text
        assert renewal.json()["versions"] == held
        assert drop_the_apis_connections(api_client) >= 1
        created = api_client.post(
            "/api/v1/events",
            json={
                "source": "manual",
                "category": "public_safety",
                "title": "Fallen tree",
                "location": {"lat": 30.25, "lon": 120.12},
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
    # Each met a dead connection and was run again (a ping would have hidden nothing here).
    again = [r.getMessage() for r in caplog.records if "running it again" in r.getMessage()]
    assert [message.split(" met ")[0] for message in again] == [
        "GET /api/v1/events",
        "POST /api/v1/worker/leases",
        "POST /api/v1/events",
    ], again
    # Once: the same event is not created twice.
    listed = api_client.get("/api/v1/events", params={"limit": 500}, headers=admin).json()
    assert [e["title"] for e in listed["items"]].count("Fallen tree") == 1
