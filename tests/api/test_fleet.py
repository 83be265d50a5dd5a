"""The worker fleet: which cameras wait follows their priority at the time of day and how long
they have been dark; a camera no worker holds is `unassigned` (not offline, no video-loss
event); admins see the fleet's workers, capacity, held and waiting cameras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from api.health import UNASSIGNED_REASON, mark_silent_cameras, mark_unassigned_cameras
from api.leases import claim
from api.models import Camera, GridEvent
from tests.api.helpers import WORKER
from tests.conftest import Accounts

LEASE = timedelta(seconds=30)
CAMERAS = {"hospital-east-entrance", "public-square-north", "school-no1-gate", "urban-works-west"}


def taken(client: TestClient, worker: str, capacity: int, now: datetime) -> set[str]:
    with client.app.state.session_factory() as session:
        return {held.camera_id for held in claim(session, worker, capacity, LEASE, now=now)}


def test_a_school_gate_at_night_goes_before_a_square_by_day(
    api_client: TestClient, accounts: Accounts
) -> None:
    admin = accounts.headers("admin")
    priorities = {
        "school-no1-gate": {"base": 30, "windows": [{"windows": ["22:00-06:00"], "priority": 90}]},
        "public-square-north": {
            "base": 20,
            "windows": [{"windows": ["07:00-19:00"], "priority": 80}],
        },
    }
    for camera_id, priority in priorities.items():
        response = api_client.patch(
            f"/api/v1/cameras/{camera_id}", json={"priority": priority}, headers=admin
        )
        assert response.status_code == 200, response.text
    night = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert taken(api_client, "night-shift", 1, night) == {"school-no1-gate"}
    day = night + timedelta(hours=13)  # 12:00 in Shanghai
    assert taken(api_client, "day-shift", 1, day) == {"public-square-north"}
    # With no priority set, a camera is 50: the hospital comes after the gate at night.
    later = night + timedelta(days=1)
    assert taken(api_client, "night-2", 2, later) == {"school-no1-gate", "hospital-east-entrance"}
    refused = api_client.patch(
        "/api/v1/cameras/school-no1-gate", json={"priority": {"base": 101}}, headers=admin
    )
    assert refused.status_code == 422
    assert "priority.base" in refused.text


def test_a_restarting_worker_takes_the_cameras_dark_longest_first(
    api_client: TestClient,
) -> None:
    t0 = datetime.now(UTC) + timedelta(minutes=5)
    assert taken(api_client, "edge-1", 4, t0) == CAMERAS
    # edge-1 shrinks to one camera; edge-2 takes two of the three it gave back; one waits.
    assert taken(api_client, "edge-1", 1, t0 + timedelta(seconds=10)) == {"hospital-east-entrance"}
    assert taken(api_client, "edge-2", 2, t0 + timedelta(seconds=10)) == {
        "public-square-north",
        "school-no1-gate",
    }
    # Both die. The camera that has waited since t0+10 is taken first, whatever its id.
    restart = t0 + timedelta(seconds=100)
    assert taken(api_client, "edge-3", 1, restart) == {"urban-works-west"}
    assert taken(api_client, "edge-3", 2, restart) == {"urban-works-west", "hospital-east-entrance"}


def test_cameras_no_worker_holds_are_unassigned_not_offline_and_admins_see_the_fleet(
    api_client: TestClient, accounts: Accounts
) -> None:
    # Played 200 s back, so that the API's own clock (the fleet route's) is "later".
    now = datetime.now(UTC) - timedelta(seconds=200)
    dead = taken(api_client, "edge-dead", 2, now)
    for camera_id in dead:
        report = {"status": "online", "last_frame_at": now.isoformat(), "fps": 5.0}
        response = api_client.put(
            f"/api/v1/cameras/{camera_id}/health", json=report, headers=WORKER
        )
        assert response.status_code == 204, response.text
    live = taken(api_client, "edge-full", 2, now)
    assert live == CAMERAS - dead
    # edge-dead is gone; edge-full has no room. Well past the lease and the video-loss grace:
    for renewal in range(20, 201, 20):
        assert taken(api_client, "edge-full", 2, now + timedelta(seconds=renewal)) == live
    later = datetime.now(UTC) + timedelta(seconds=1)
    with api_client.app.state.session_factory() as session:
        mark_silent_cameras(
            session,
            api_client.app.state.policy,
            grace=timedelta(0),  # silent since their last report: offline, before
            lease=LEASE,
            now=later,
        )
        states = {row[0]: row[1] for row in session.execute(select(Camera.id, Camera.status))}
        healths = {row[0]: row[1] for row in session.execute(select(Camera.id, Camera.health))}
        losses = session.scalars(select(GridEvent).where(GridEvent.category == "device_fault"))
        assert list(losses) == []  # a shortage of workers is not a fault of the cameras
    assert {camera_id for camera_id, state in states.items() if state == "unassigned"} == dead
    for camera_id in dead:  # why, merged into what the worker last reported
        assert healths[camera_id]["error"] == UNASSIGNED_REASON, healths[camera_id]
        assert healths[camera_id]["reason"] is None
        assert healths[camera_id]["fps"] == 5.0

    admin = accounts.headers("admin")
    cameras = {c["id"]: c for c in api_client.get("/api/v1/cameras", headers=admin).json()}
    assert {cameras[camera_id]["status"] for camera_id in dead} == {"unassigned"}
    metrics = api_client.get("/metrics").text
    assert "gridwatch_cameras_unassigned 2.0" in metrics

    # The fleet as the admins see it now: edge-full renewed a moment ago, edge-dead long ago.
    fleet = api_client.get("/api/v1/fleet", headers=admin)
    assert fleet.status_code == 200, fleet.text
    body = fleet.json()
    assert body["leasing"] is True
    assert (body["capacity"], body["held"], body["spare"], body["waiting"]) == (2, 2, 0, 2)
    assert [w["name"] for w in body["workers"]] == ["edge-full"]
    assert {c["id"] for c in body["waiting_cameras"]} == dead
    operator = accounts.headers("district_operator")
    assert api_client.get("/api/v1/fleet", headers=operator).status_code == 403


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_marking_waiting_cameras_neither_waits_for_a_claim_nor_marks_the_camera_being_claimed(
    api_client: TestClient,
) -> None:
    """When a district's workers all restart at once, thousands of cameras wait while workers
    claim them. The look that marks them `unassigned` leaves alone a camera free for less than
    a lease time, and skips a camera a claim has locked (it is about to be held) instead of
    waiting for it while holding the others' rows."""
    engine = create_engine(api_client.app.state.engine.url)
    now = datetime.now(UTC)
    try:
        with Session(engine) as session:
            held = {h.camera_id for h in claim(session, "edge-1", 2, 10 * LEASE, now=now)}
            claiming, waiting = sorted(CAMERAS - held)
            # Free for less than a lease time: being taken within a poll, not a shortage.
            mark_unassigned_cameras(session, lease=LEASE, now=now)
            session.commit()
            assert unassigned(session) == set()
            now += LEASE + timedelta(seconds=1)
            with engine.connect() as claim_in_flight:
                claim_in_flight.execute(
                    text("SELECT id FROM camera WHERE id = :id FOR NO KEY UPDATE"),
                    {"id": claiming},
                )
                session.execute(text("SET lock_timeout = '3s'"))
                mark_unassigned_cameras(session, lease=LEASE, now=now)
                session.commit()
                assert unassigned(session) == {waiting}
                claim_in_flight.rollback()  # the claim did not take it after all
            mark_unassigned_cameras(session, lease=LEASE, now=now)
            session.commit()
            assert unassigned(session) == {claiming, waiting}
    finally:
        engine.dispose()


def unassigned(session: Session) -> set[str]:
    return set(session.scalars(select(Camera.id).where(Camera.status == "unassigned")))
