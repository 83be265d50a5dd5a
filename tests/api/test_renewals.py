"""Lease renewals are cheap: a camera's configuration (with its credentials) is sent to its holder
only when the holder does not have it in its current version, a credential read is recorded only
when a credential is handed out, and a renewal costs the database the same few statements
whatever the worker holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from api.leases import claim, release
from gridwatch.feed import ApiLeaseFeed
from tests.api.helpers import WORKER
from tests.api.test_live_view import report_health
from tests.conftest import WORKER_TOKEN, Accounts

CAMERAS = {"hospital-east-entrance", "public-square-north", "school-no1-gate", "urban-works-west"}
LEASES = "/api/v1/worker/leases"
LEASE = timedelta(seconds=30)


def renew(client: TestClient, capacity: int, held: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"capacity": capacity}
    if held is not None:
        body["held"] = held
    response = client.post(LEASES, json=body, headers=WORKER)
    assert response.status_code == 200, response.text
    grant: dict[str, Any] = response.json()
    return grant


def credential_reads(client: TestClient, accounts: Accounts) -> list[str]:
    answer = client.get(
        "/api/v1/evidence-access",
        params={"object_kind": "camera_credentials", "limit": 1000},
        headers=accounts.headers("admin"),
    )
    assert answer.status_code == 200, answer.text
    return sorted(entry["camera_id"] for entry in answer.json()["items"])


def test_a_renewal_resends_only_what_changed_and_records_each_hand_out_once(
    api_client: TestClient, accounts: Accounts
) -> None:
    first = renew(api_client, 4)
    assert {camera["id"] for camera in first["cameras"]} == CAMERAS
    assert set(first["versions"]) == set(first["epochs"]) == CAMERAS
    assert credential_reads(api_client, accounts) == sorted(CAMERAS)

    # Nothing changed: no configuration, no credential, the same leases and versions.
    held = first["versions"]
    unchanged = renew(api_client, 4, held)
    assert unchanged["cameras"] == []
    assert (unchanged["versions"], unchanged["epochs"]) == (held, first["epochs"])
    # A health report writes the camera's row, not its configuration: still nothing to send.
    report_health(api_client)
    assert renew(api_client, 4, held)["cameras"] == []
    assert credential_reads(api_client, accounts) == sorted(CAMERAS)

    patched = api_client.patch(
        "/api/v1/cameras/school-no1-gate",
        json={"name": "School gate (night)", "detect": {"fps": 1}},
        headers=accounts.headers("admin"),
    )
    assert patched.status_code == 200, patched.text
    changed = renew(api_client, 4, held)
    (sent,) = changed["cameras"]
    assert (sent["id"], sent["name"], sent["detect"]["fps"]) == (
        "school-no1-gate",
        "School gate (night)",
        1,
    )
    assert sent["source"] == "file://${GRIDWATCH_DATA_DIR}/vtest.avi"  # with its real address
    assert changed["versions"]["school-no1-gate"] != held["school-no1-gate"]
    assert {k: v for k, v in changed["versions"].items() if k != "school-no1-gate"} == {
        k: v for k, v in held.items() if k != "school-no1-gate"
    }
    assert renew(api_client, 4, changed["versions"])["cameras"] == []
    assert credential_reads(api_client, accounts) == sorted([*CAMERAS, "school-no1-gate"])

    # A version the worker does not have (or none) gets the configuration again.
    stale = {**changed["versions"], "urban-works-west": "0" * 20}
    assert [camera["id"] for camera in renew(api_client, 4, stale)["cameras"]] == [
        "urban-works-west"
    ]


def test_the_holder_gets_a_changed_configuration_at_its_next_renewal(
    api_client: TestClient, accounts: Accounts
) -> None:
    """The worker's own lease client, over HTTP to the API: a renewal that changes nothing
    leaves its cameras alone, a changed camera arrives whole at the next one."""
    feed = ApiLeaseFeed(
        str(api_client.base_url), WORKER_TOKEN, worker_name="edge-1", capacity=4, client=api_client
    )
    sizes: list[int] = []
    api_client.event_hooks["response"].append(
        lambda response: sizes.append(len(response.read())) if response.url.path == LEASES else None
    )
    cameras = feed.poll()
    assert cameras is not None and {camera.id for camera in cameras} == CAMERAS
    assert feed.poll() is None  # nothing changed
    assert sizes[1] < sizes[0] / 4  # leases, epochs and versions only

    patched = api_client.patch(
        "/api/v1/cameras/public-square-north",
        json={"detect": {"confidence": 0.61}},
        headers=accounts.headers("admin"),
    )
    assert patched.status_code == 200, patched.text
    after = feed.poll()
    assert after is not None and [camera.id for camera in after] == sorted(CAMERAS)
    square = next(camera for camera in after if camera.id == "public-square-north")
    assert square.detect.confidence == 0.61
    before = {camera.id: camera for camera in cameras}
    assert all(camera == before[camera.id] for camera in after if camera is not square)
    assert feed.poll() is None
    assert credential_reads(api_client, accounts) == sorted([*CAMERAS, "public-square-north"])


def test_a_renewal_costs_the_same_few_statements_whatever_the_worker_holds(
    api_client: TestClient,
) -> None:
    """Counted on an engine of its own, so that the API's background loops are not counted."""
    engine = create_engine(api_client.app.state.engine.url)
    seen: list[tuple[str, bool]] = []

    def count(connection: Any, *args: Any) -> None:
        dbapi = connection.connection.dbapi_connection
        # psycopg's autocommit (PostgreSQL); sqlite3's own transaction handling otherwise.
        seen.append((str(args[1]).split(None, 1)[0].upper(), bool(getattr(dbapi, "autocommit", 0))))

    costs = {}
    try:
        for capacity in (1, 4):
            with Session(engine) as session:
                first = claim(session, "edge-1", capacity, LEASE)
                assert len(first) == capacity
                event.listen(engine, "before_cursor_execute", count)
                again = claim(session, "edge-1", capacity, LEASE)
                event.remove(engine, "before_cursor_execute", count)
                assert again == first  # the same cameras, epochs and versions
                costs[capacity], seen[:] = list(seen), []
                release(session, "edge-1")
    finally:
        engine.dispose()
    if engine.dialect.name == "postgresql":
        # One statement (the heartbeat, the renewal and the versions of what is held), sent
        # outside any transaction: one round trip, no BEGIN and no COMMIT.
        assert costs[1] == costs[4] == [("WITH", True)], costs
    else:
        # The same three in one transaction.
        assert [kind for kind, _ in costs[1]] == ["INSERT", "UPDATE", "SELECT"], costs
        assert costs[1] == costs[4], costs
    # The route sends nothing more for it: no configuration, so no camera row read.
    held = renew(api_client, 4)["versions"]
    assert renew(api_client, 4, held)["cameras"] == []


def test_taking_cameras_costs_the_same_few_statements_whatever_their_number(
    api_client: TestClient,
) -> None:
    """Free cameras are picked, locked and taken a batch at a time: a worker taking four costs
    the database what taking one does. The second round takes a released camera again and
    three for the first time, in the same statement."""
    engine = create_engine(api_client.app.state.engine.url)
    costs, epochs = {}, {}
    try:
        for capacity in (1, 4):
            seen: list[str] = []

            def count(*args: Any, seen: list[str] = seen) -> None:
                seen.append(str(args[2]).split(None, 1)[0].upper())

            with Session(engine) as session:
                event.listen(engine, "before_cursor_execute", count)
                taken = claim(session, "edge-1", capacity, LEASE)
                event.remove(engine, "before_cursor_execute", count)
                epochs[capacity] = sorted(held.epoch for held in taken)
                release(session, "edge-1")
            costs[capacity] = seen
    finally:
        engine.dispose()
    # The camera taken again starts a second tenure; the three leased for the first time, a
    # first.
    assert epochs == {1: [1], 4: [1, 1, 1, 2]}
    # The renewal (one statement on PostgreSQL: heartbeat and renewal; see the test above),
    # whether any camera waits, the distinct priorities, the free cameras picked (and locked
    # on PostgreSQL), the take, the tenures, and the versions of those taken.
    renewal = ["WITH"] if engine.dialect.name == "postgresql" else ["INSERT", "UPDATE"]
    assert costs[1] == costs[4] == [
        *renewal, "SELECT", "SELECT", "SELECT", "INSERT", "INSERT", "SELECT",
    ], costs  # fmt: skip
