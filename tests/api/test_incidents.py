"""Workers report incidents; each becomes one grid event in the grid containing the camera."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import WORKER_TOKEN, Accounts
from tests.factories import incident_form, incident_metadata, jpeg

AUTH = {"Authorization": f"Bearer {WORKER_TOKEN}"}


def ADMIN(accounts: Accounts) -> dict[str, str]:  # noqa: N802 - reads as a constant
    return accounts.headers("admin")


def post(client: TestClient, metadata: dict, snapshot: bytes, headers: dict | None = None):
    return client.post(
        "/api/v1/incidents", headers=AUTH if headers is None else headers,
        **incident_form(metadata, snapshot),
    )  # fmt: skip


def test_incident_opens_a_reported_grid_event_in_the_cameras_grid(
    api_client: TestClient, accounts: Accounts
) -> None:
    snapshot = jpeg()
    metadata = incident_metadata(snapshot)

    response = post(api_client, metadata, snapshot)

    assert response.status_code == 201, response.text
    event = response.json()
    assert event["status"] == "reported"
    assert event["source"] == "video"
    assert event["category"] == "public_safety"
    assert event["camera_id"] == "school-no1-gate"
    # The school camera stands at 120.12, 30.255: the west street's south community, grid 1.
    assert event["grid_id"] == "D01-T01-C01-G01"
    assert event["incident"]["id"] == metadata["id"]
    detail = api_client.get(f"/api/v1/events/{event['id']}", headers=ADMIN(accounts)).json()
    assert [(step["action"], step["to_status"]) for step in detail["history"]] == [
        ("report", "reported")
    ]
    picture = api_client.get(event["snapshot_url"], headers=ADMIN(accounts))
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/jpeg"
    assert picture.content == snapshot
    assert picture.headers["etag"] == f'"{metadata["snapshot_sha256"]}"'


def test_the_same_incident_twice_makes_one_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    snapshot = jpeg()
    metadata = incident_metadata(snapshot)

    first = post(api_client, metadata, snapshot)
    second = post(api_client, metadata, snapshot)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert api_client.get("/api/v1/events", headers=ADMIN(accounts)).json()["total"] == 1


def test_concurrent_copies_of_one_incident_make_one_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    snapshot = jpeg()
    metadata = incident_metadata(snapshot)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: post(api_client, metadata, snapshot), range(6)))

    assert sorted(r.status_code for r in responses).count(201) == 1
    assert {r.json()["id"] for r in responses} == {responses[0].json()["id"]}
    assert api_client.get("/api/v1/events", headers=ADMIN(accounts)).json()["total"] == 1


def test_copies_of_an_occurrence_join_its_event_once(
    api_client: TestClient, accounts: Accounts
) -> None:
    """An incident that joins an open event, sent again (at once, or later), is answered with
    that event and counted once; the first incident's event is the answer and keeps its own."""
    snapshot = jpeg()
    opening = post(api_client, incident_metadata(snapshot, track_id=1), snapshot)
    assert opening.status_code == 201
    repeat = incident_metadata(snapshot, track_id=2, confidence=0.95)

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: post(api_client, repeat, snapshot), range(4)))
    again = post(api_client, repeat, snapshot)

    assert sorted(r.status_code for r in [*responses, again]) == [200, 200, 200, 200, 201]
    event_id = opening.json()["id"]
    assert {r.json()["id"] for r in [*responses, again]} == {event_id}
    event = api_client.get(f"/api/v1/events/{event_id}", headers=ADMIN(accounts)).json()
    assert event["occurrence_count"] == 2
    assert event["incident"]["id"] == opening.json()["incident"]["id"]
    # The repeat saw the object more surely: its snapshot is the event's best.
    assert event["snapshot_url"].endswith(f"/api/v1/incidents/{repeat['id']}/snapshot.jpg")
    assert api_client.get("/api/v1/events", headers=ADMIN(accounts)).json()["total"] == 1


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"camera_id": "no-such-camera"}, 422, "camera no-such-camera is not registered"),
        ({"confidence": 1.5}, 422, "metadata.confidence"),
        ({"category": "parking"}, 422, "metadata.category"),
        ({"started_at": "2026-11-27T22:30:00"}, 422, "metadata.started_at"),
        ({"snapshot_sha256": "0" * 64}, 422, "SHA-256 does not match"),
        ({"id": "not-a-uuid"}, 422, "metadata.id"),
        ({"surprise": 1}, 422, "metadata.surprise"),
    ],
)
def test_bad_reports_are_refused_with_a_clear_reason(
    api_client: TestClient, accounts: Accounts, change: dict, status: int, message: str
) -> None:
    snapshot = jpeg()
    metadata = incident_metadata(snapshot, **change)

    response = post(api_client, metadata, snapshot)

    assert response.status_code == status
    assert message in response.json()["detail"]
    assert api_client.get("/api/v1/events", headers=ADMIN(accounts)).json()["total"] == 0


def test_a_snapshot_that_is_not_a_jpeg_is_refused(
    api_client: TestClient, accounts: Accounts
) -> None:
    payload = b"GIF89a not a jpeg"
    metadata = incident_metadata(payload)
    response = post(api_client, metadata, payload)
    assert response.status_code == 422
    assert "not a JPEG" in response.json()["detail"]


def test_metadata_that_is_not_json_is_refused(api_client: TestClient, accounts: Accounts) -> None:
    response = api_client.post(
        "/api/v1/incidents", headers=AUTH, data={"metadata": "{not json"},
        files={"snapshot": ("s.jpg", jpeg(), "image/jpeg")},
    )  # fmt: skip
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_only_workers_with_the_token_may_report(
    api_client: TestClient, accounts: Accounts, headers: dict
) -> None:
    snapshot = jpeg()
    response = post(api_client, incident_metadata(snapshot), snapshot, headers=headers)
    assert response.status_code == 401
    assert api_client.get("/api/v1/events", headers=ADMIN(accounts)).json()["total"] == 0


def test_events_filter_and_paginate(api_client: TestClient, accounts: Accounts) -> None:
    base = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    cameras = ["school-no1-gate", "urban-works-west", "hospital-east-entrance"]
    for index in range(9):
        snapshot = jpeg(shade=index * 20)
        camera = cameras[index % 3]
        category = "urban_management" if camera == "urban-works-west" else "public_safety"
        metadata = incident_metadata(
            snapshot,
            camera_id=camera,
            category=category,
            detected_at=base + timedelta(hours=index),
        )
        assert post(api_client, metadata, snapshot).status_code == 201

    everything = api_client.get(
        "/api/v1/events", params={"limit": 4}, headers=ADMIN(accounts)
    ).json()
    assert everything["total"] == 9
    assert len(everything["items"]) == 4
    times = [item["occurred_at"] for item in everything["items"]]
    assert times == sorted(times, reverse=True)
    rest = api_client.get(
        "/api/v1/events", params={"limit": 4, "offset": 8}, headers=ADMIN(accounts)
    ).json()
    assert len(rest["items"]) == 1

    by_camera = api_client.get(
        "/api/v1/events", params={"camera_id": "urban-works-west"}, headers=ADMIN(accounts)
    ).json()
    assert by_camera["total"] == 3
    assert {item["grid_id"] for item in by_camera["items"]} == {"D01-T02-C01-G01"}
    by_category = api_client.get(
        "/api/v1/events", params={"category": "urban_management"}, headers=ADMIN(accounts)
    ).json()
    assert by_category["total"] == 3
    by_grid = api_client.get(
        "/api/v1/events", params={"grid_id": "D01-T01-C02-G02"}, headers=ADMIN(accounts)
    ).json()
    assert {item["camera_id"] for item in by_grid["items"]} == {"hospital-east-entrance"}
    window = api_client.get(
        "/api/v1/events",
        params={
            "from": (base + timedelta(hours=2)).isoformat(),
            "to": (base + timedelta(hours=5)).isoformat(),
        },
        headers=ADMIN(accounts),
    ).json()
    assert window["total"] == 3
    assert (
        api_client.get(
            "/api/v1/events", params={"status": "closed"}, headers=ADMIN(accounts)
        ).json()["total"]
        == 0
    )
    assert (
        api_client.get(
            "/api/v1/events", params={"status": "reported"}, headers=ADMIN(accounts)
        ).json()["total"]
        == 9
    )


def test_unknown_event_and_snapshot_are_404(api_client: TestClient, accounts: Accounts) -> None:
    assert api_client.get("/api/v1/events/999", headers=ADMIN(accounts)).status_code == 404
    missing = api_client.get(
        "/api/v1/incidents/00000000-0000-0000-0000-000000000000/snapshot.jpg",
        headers=ADMIN(accounts),
    )
    assert missing.status_code == 404


def test_openapi_documents_the_incident_and_event_endpoints(
    api_client: TestClient, accounts: Accounts
) -> None:
    schema = api_client.get("/openapi.json", headers=ADMIN(accounts)).json()
    assert "/api/v1/incidents" in schema["paths"]
    assert "/api/v1/events" in schema["paths"]
    assert api_client.get("/docs", headers=ADMIN(accounts)).status_code == 200


def test_cameras_are_listed_without_credentials(api_client: TestClient, accounts: Accounts) -> None:
    cameras = {
        camera["id"]: camera
        for camera in api_client.get("/api/v1/cameras", headers=ADMIN(accounts)).json()
    }
    assert set(cameras) == {
        "school-no1-gate", "hospital-east-entrance", "urban-works-west", "public-square-north",
    }  # fmt: skip
    assert cameras["school-no1-gate"]["organisation"]["kind"] == "education"
    assert cameras["school-no1-gate"]["grid_id"] == "D01-T01-C01-G01"


def test_snapshot_digest_in_the_event_matches_the_file(
    api_client: TestClient, accounts: Accounts
) -> None:
    snapshot = jpeg(shade=33)
    event = post(api_client, incident_metadata(snapshot), snapshot).json()
    served = api_client.get(event["snapshot_url"], headers=ADMIN(accounts)).content
    assert hashlib.sha256(served).hexdigest() == event["incident"]["snapshot_sha256"]
    assert json.loads(json.dumps(event))["incident"]["reported_by"].startswith("worker")


def test_evidence_links_name_the_address_each_client_used(api_client: TestClient) -> None:
    """An answer's evidence link is the snapshot route's URL under the address of the request
    it answers, whichever answer came before (the route's path is looked up once)."""
    snapshot = jpeg()
    for host in ("testserver", "gridwatch.district.example", "10.0.0.7:8443"):
        metadata = incident_metadata(snapshot, zone=f"gate_path-{host}")
        response = post(api_client, metadata, snapshot, {**AUTH, "Host": host})
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        link = response.json()["snapshot_url"]
        assert link == f"http://{host}/api/v1/incidents/{metadata['id']}/snapshot.jpg"
