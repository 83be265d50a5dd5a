"""Workers' lease requests take turns, so that a fleet claiming its cameras all at once does not
keep an operator waiting: against a real API server (uvicorn on loopback, SQLite and PostgreSQL), a
storm of lease requests from 60 workers, each claim held a quarter of a second, while an operator
reads the event list."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.settings import Settings
from gridwatch.api_client import WORKER_HEADER
from tests.conftest import TEST_HTTP_TIMEOUT, WORKER_TOKEN, LiveServer

STORM = 60
AT_ONCE = 2
CLAIM_S = 0.25


def test_an_operator_is_answered_before_a_storm_of_lease_requests_that_take_turns(
    database_url: str, settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.leases

    inside, peak = 0, 0
    counting = threading.Lock()

    def slow_claim(*_args: Any, **_kwargs: Any) -> list[Any]:
        nonlocal inside, peak
        with counting:
            inside += 1
            peak = max(peak, inside)
        time.sleep(CLAIM_S)  # a claim's statements on a busy database
        with counting:
            inside -= 1
        return []

    monkeypatch.setattr(api.leases, "claim", slow_claim)
    server = LiveServer(settings_factory(database_url, lease_requests_at_once=AT_ONCE)).start()
    try:
        operator = server.admin_headers()
        answered: list[float] = []
        statuses: list[int] = []

        def heartbeat(number: int) -> None:
            response = httpx.post(
                f"{server.url}/api/v1/worker/leases",
                json={"capacity": 1},
                headers={"Authorization": f"Bearer {WORKER_TOKEN}", WORKER_HEADER: f"w{number}"},
                timeout=TEST_HTTP_TIMEOUT,
            )
            statuses.append(response.status_code)
            answered.append(time.monotonic())

        storm = [threading.Thread(target=heartbeat, args=(n,)) for n in range(STORM)]
        for thread in storm:
            thread.start()
        time.sleep(2 * CLAIM_S)  # the storm has arrived
        events = httpx.get(
            f"{server.url}/api/v1/events", headers=operator, timeout=TEST_HTTP_TIMEOUT
        )
        operator_answered = time.monotonic()
        for thread in storm:
            thread.join(timeout=120)
    finally:
        server.stop()

    assert events.status_code == 200, events.text
    assert statuses == [200] * STORM, statuses
    assert peak <= AT_ONCE, f"{peak} claims ran at once"
    # Taking turns, a few heartbeats were answered before the operator; all at once, the
    # request threads were theirs and the operator waited behind most of the storm.
    before = sum(1 for at in answered if at < operator_answered)
    assert before < STORM // 3, f"the operator waited for {before} of {STORM} heartbeats"
