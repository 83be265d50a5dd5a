"""Workers share the cameras through leases: each watched once, a dead worker's taken over."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.leases import claim
from tests.api.helpers import WORKER
from tests.conftest import WORKER_TOKEN, Accounts
from tests.factories import incident_form, incident_metadata, jpeg

CAMERAS = {"hospital-east-entrance", "public-square-north", "school-no1-gate", "urban-works-west"}


def lease(client: TestClient, worker: str, capacity: int, release: bool = False) -> set[str]:
    headers = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": worker}
    response = client.post(
        "/api/v1/worker/leases", json={"capacity": capacity, "release": release}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {camera["id"] for camera in response.json()["cameras"]}


def test_cameras_are_shared_without_overlap_and_renewed(api_client: TestClient) -> None:
    first = lease(api_client, "edge-a", 3)
    second = lease(api_client, "edge-b", 3)
    assert len(first) == 3 and len(second) == 1
    assert first | second == CAMERAS and not first & second
    assert lease(api_client, "edge-a", 3) == first  # a heartbeat keeps what it holds
    assert lease(api_client, "edge-b", 3) == second
    # Lowering the capacity gives cameras back; a clean stop gives all back at once.
    assert len(lease(api_client, "edge-a", 1)) == 1
    assert lease(api_client, "edge-b", 3) == CAMERAS - lease(api_client, "edge-a", 1)
    assert lease(api_client, "edge-b", 0, release=True) == set()
    assert lease(api_client, "edge-a", 4) == CAMERAS


def test_a_dead_workers_cameras_are_taken_over_after_the_lease(api_client: TestClient) -> None:
    factory = api_client.app.state.session_factory
    now = datetime.now(UTC)
    with factory() as session:
        dead = {
            held.camera_id
            for held in claim(session, "edge-dead", 4, timedelta(seconds=30), now=now)
        }
        assert dead == CAMERAS
        assert (
            claim(session, "edge-live", 4, timedelta(seconds=30), now=now + timedelta(seconds=10))
            == []
        )
        later = now + timedelta(seconds=31)
        taken = {
            held.camera_id
            for held in claim(session, "edge-live", 4, timedelta(seconds=30), now=later)
        }
        assert taken == CAMERAS


def test_disabled_cameras_are_not_leased(api_client: TestClient, accounts: Accounts) -> None:
    assert lease(api_client, "edge-a", 4) == CAMERAS
    response = api_client.patch(
        "/api/v1/cameras/school-no1-gate",
        json={"enabled": False},
        headers=accounts.headers("admin"),
    )
    assert response.status_code == 200
    assert lease(api_client, "edge-a", 4) == CAMERAS - {"school-no1-gate"}


def test_workers_asking_at_once_never_share_a_camera(api_client: TestClient) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        grants = list(pool.map(lambda name: lease(api_client, name, 2), ["w1", "w2", "w3", "w4"]))
    assigned = [camera for grant in grants for camera in grant]
    assert sorted(assigned) == sorted(CAMERAS)


def post_incident(client: TestClient, detected_at: datetime, epoch: int | None) -> int:
    snapshot = jpeg()
    metadata = incident_metadata(snapshot, detected_at=detected_at, lease_epoch=epoch)
    response = client.post("/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot))
    if response.status_code == 409:
        detail = response.json()["detail"]
        assert detail.startswith("metadata.lease_epoch: camera school-no1-gate was taken over")
    return response.status_code


def test_an_incident_from_a_stale_lease_is_refused_for_the_time_another_worker_held_it(
    api_client: TestClient,
) -> None:
    """Fencing: each new holder gets the next epoch, and what the old holder saw after the
    takeover is refused, while what it saw before is taken whenever it arrives."""
    factory = api_client.app.state.session_factory
    start = datetime.now(UTC) - timedelta(minutes=5)
    with factory() as session:
        first = {
            h.camera_id: h.epoch
            for h in claim(session, "edge-cut", 4, timedelta(seconds=30), now=start)
        }
        assert set(first.values()) == {1}
        # edge-cut renews no more; edge-b takes its cameras when the lease has run out.
        taken_at = start + timedelta(seconds=31)
        second = {
            h.camera_id: h.epoch
            for h in claim(session, "edge-b", 4, timedelta(seconds=30), now=taken_at)
        }
        assert second == dict.fromkeys(CAMERAS, 2)
    # Recorded before the takeover and delivered late (an outbox after an outage): taken.
    assert post_incident(api_client, start + timedelta(seconds=20), epoch=1) == 201
    # Seen by the cut-off worker after edge-b took over: refused, for good.
    assert post_incident(api_client, taken_at + timedelta(seconds=5), epoch=1) == 409
    assert post_incident(api_client, taken_at, epoch=1) == 409
    # The rightful holder's, and a worker that watches camera files (no lease): taken.
    assert post_incident(api_client, taken_at + timedelta(seconds=5), epoch=2) == 201
    assert post_incident(api_client, taken_at + timedelta(seconds=6), epoch=None) == 201
    # The same worker getting a camera back after its own lease lapsed starts a new tenure.
    with factory() as session:
        again = claim(
            session, "edge-b", 4, timedelta(seconds=30), now=taken_at + timedelta(seconds=61)
        )
        assert {h.epoch for h in again} == {3}
