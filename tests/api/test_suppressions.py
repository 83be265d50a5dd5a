"""Suppressions: a false alarm rejected with "do not raise this again" holds back the same camera,
rule, zone and class in the region around its object, and only that; counted, listed, removed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.suppressions import covers, in_window, region_around, suggested_mask
from tests.api.helpers import WORKER
from tests.conftest import Accounts
from tests.factories import incident_form, incident_metadata, jpeg

# The factory's incident: school-no1-gate, intrusion in gate_path, a person at this box.
BOX = [100.0, 120.0, 140.0, 220.0]
# 22:30 UTC is 06:30 in Asia/Shanghai, the camera's zone; expiries count from now.
DETECTED = datetime.now(UTC).replace(hour=22, minute=30, second=0, microsecond=0)
WINDOW = {"starts_at_time": "06:00", "ends_at_time": "07:00"}


def post(client: TestClient, **overrides: Any) -> tuple[int, dict[str, Any]]:
    snapshot = jpeg(shade=77)
    response = client.post(
        "/api/v1/incidents",
        headers=WORKER,
        **incident_form(incident_metadata(snapshot, **overrides), snapshot),
    )
    assert response.status_code in (200, 201), response.text
    return response.status_code, response.json()


def reject(
    client: TestClient,
    accounts: Accounts,
    event_id: int,
    suppress: dict[str, Any] | None,
    user: str = "district_operator",
) -> Any:
    form = {"note": "a poster of a person on the fence"}
    if suppress is not None:
        form["suppress"] = json.dumps(suppress)
    return client.post(
        f"/api/v1/events/{event_id}/actions/reject", headers=accounts.headers(user), data=form
    )


def suppressed_by_rejecting(
    client: TestClient, accounts: Accounts, suppress: dict[str, Any]
) -> dict[str, Any]:
    """Report the factory's incident, reject it with `suppress`; returns the suppression."""
    _, event = post(client, detected_at=DETECTED)
    response = reject(client, accounts, event["id"], suppress)
    assert response.status_code == 200, response.text
    step = response.json()["history"][-1]
    assert step["action"] == "reject" and step["to_status"] == "false_alarm"
    found = client.get(
        f"/api/v1/suppressions/{step['details']['suppression_id']}",
        headers=accounts.headers("admin"),
    )
    assert found.status_code == 200, found.text
    return dict(found.json())


def test_a_rejected_false_alarm_does_not_come_back_and_is_counted(
    api_client: TestClient, accounts: Accounts
) -> None:
    suppression = suppressed_by_rejecting(api_client, accounts, {"margin": 0.5})
    assert suppression["camera_id"] == "school-no1-gate"
    assert (suppression["rule"], suppression["zone"], suppression["object_class"]) == (
        "intrusion",
        "gate_path",
        "person",
    )
    # The 40x100 px box at (100, 120) grown by half its size each side, over a 768x576 frame.
    assert suppression["region"] == [
        [round(80 / 768, 4), round(70 / 576, 4)],
        [round(160 / 768, 4), round(70 / 576, 4)],
        [round(160 / 768, 4), round(270 / 576, 4)],
        [round(80 / 768, 4), round(270 / 576, 4)],
    ]
    assert suppression["created_by"] == "user:district_operator"
    assert suppression["active"] is True and suppression["suppressed_count"] == 0
    events_before = api_client.get("/api/v1/events", headers=accounts.headers("admin")).json()

    # The same thing, a little moved, a day later: stored, no event, counted.
    moved = [b + 6 for b in BOX]
    status, answer = post(api_client, detected_at=DETECTED + timedelta(days=1), box_xyxy=moved)
    assert status == 201
    assert answer == {
        "incident_id": answer["incident_id"],
        "suppressed": True,
        "suppression_id": suppression["id"],
    }
    events_after = api_client.get("/api/v1/events", headers=accounts.headers("admin")).json()
    assert events_after["total"] == events_before["total"]

    # Idempotent like any report: the worker's retry counts nothing more.
    metadata = incident_metadata(jpeg(shade=77), id=answer["incident_id"], box_xyxy=moved)
    metadata["detected_at"] = (DETECTED + timedelta(days=1)).isoformat()
    retry = api_client.post(
        "/api/v1/incidents", headers=WORKER, **incident_form(metadata, jpeg(shade=77))
    )
    assert retry.status_code == 200 and retry.json()["suppressed"] is True

    admin = accounts.headers("admin")
    listed = api_client.get("/api/v1/suppressions", headers=admin).json()
    assert [(item["id"], item["suppressed_count"]) for item in listed] == [(suppression["id"], 1)]
    assert listed[0]["last_suppressed_at"] is not None
    camera = api_client.get("/api/v1/cameras/school-no1-gate", headers=admin).json()
    assert camera["suppressed_incidents"] == 1 and camera["last_suppressed_at"] is not None


@pytest.mark.parametrize(
    ("change", "suppress"),
    [
        pytest.param({"object_class": "bicycle"}, {}, id="another class"),
        pytest.param({"box_xyxy": [600.0, 300.0, 640.0, 400.0]}, {}, id="another region"),
        pytest.param({"zone": "other_zone"}, {}, id="another zone"),
        pytest.param({"rule": "loitering"}, {}, id="another rule"),
        # 06:30 local is inside 06:00-07:00; 10:30 local is not.
        pytest.param(
            {"detected_at": DETECTED + timedelta(hours=4)}, WINDOW, id="outside the window"
        ),
        pytest.param(
            {"detected_at": DETECTED + timedelta(days=40)},
            {"expires_in_days": 30},
            id="after expiry",
        ),
    ],
)
def test_anything_else_still_opens_an_event(
    api_client: TestClient, accounts: Accounts, change: dict[str, Any], suppress: dict[str, Any]
) -> None:
    suppression = suppressed_by_rejecting(api_client, accounts, suppress)
    overrides = {"detected_at": DETECTED + timedelta(minutes=10), **change}
    status, event = post(api_client, **overrides)
    assert status == 201 and event["status"] == "reported", event
    listed = api_client.get("/api/v1/suppressions", headers=accounts.headers("admin")).json()
    assert [item["suppressed_count"] for item in listed if item["id"] == suppression["id"]] == [0]


def test_within_the_window_and_before_expiry_it_holds(
    api_client: TestClient, accounts: Accounts
) -> None:
    suppressed_by_rejecting(
        api_client,
        accounts,
        {**WINDOW, "expires_in_days": 30},
    )
    _, answer = post(api_client, detected_at=DETECTED + timedelta(days=20, minutes=20))
    assert answer["suppressed"] is True


def test_who_may_suppress_list_and_remove(api_client: TestClient, accounts: Accounts) -> None:
    suppression = suppressed_by_rejecting(api_client, accounts, {})
    path = f"/api/v1/suppressions/{suppression['id']}"

    # Another organisation's owner, a grid worker, a handler: not theirs to see.
    for user in ("works_owner", "school_worker", "education_handler"):
        assert api_client.get(path, headers=accounts.headers(user)).status_code == 404
        assert api_client.delete(path, headers=accounts.headers(user)).status_code == 404
        assert api_client.get("/api/v1/suppressions", headers=accounts.headers(user)).json() == []
    # An operator sees it but makes suppressions only through a verdict.
    assert api_client.get(path, headers=accounts.headers("west_operator")).status_code == 200
    assert api_client.delete(path, headers=accounts.headers("west_operator")).status_code == 403

    # A grid worker may reject on site but not suppress a camera's alerts.
    _, event = post(api_client, detected_at=DETECTED, object_class="car")
    worker_id = accounts.user_id("school_worker")
    verify = api_client.post(
        f"/api/v1/events/{event['id']}/actions/verify",
        headers=accounts.headers("district_operator"),
        data={"assignee_id": str(worker_id)},
    )
    assert verify.status_code == 200, verify.text
    refused = reject(api_client, accounts, event["id"], {}, user="school_worker")
    assert refused.status_code == 403
    bad = reject(api_client, accounts, event["id"], {"margin": -1})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("suppress.margin")
    confirm = api_client.post(
        f"/api/v1/events/{event['id']}/actions/confirm",
        headers=accounts.headers("district_operator"),
        data={"suppress": "{}"},
    )
    assert confirm.status_code == 422

    # The camera's owner removes it: the same thing opens events again.
    owner = accounts.headers("school_owner")
    assert [
        item["id"] for item in api_client.get("/api/v1/suppressions", headers=owner).json()
    ] == [suppression["id"]]
    assert api_client.delete(path, headers=owner).status_code == 204
    assert api_client.get(path, headers=owner).status_code == 404
    status, reopened = post(api_client, detected_at=DETECTED + timedelta(hours=1))
    assert status == 201 and reopened["status"] == "reported"


def test_owners_draw_suppressions_of_their_own_cameras(
    api_client: TestClient, accounts: Accounts
) -> None:
    body = {
        "camera_id": "school-no1-gate",
        "rule": "intrusion",
        "zone": "gate_path",
        "object_class": "person",
        "region": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.5], [0.1, 0.5]],
        "starts_at_time": "22:00",
        "ends_at_time": "07:00",
        "note": "the statue by the gate",
    }
    other = api_client.post(
        "/api/v1/suppressions", headers=accounts.headers("works_owner"), json=body
    )
    assert other.status_code == 404
    operator = api_client.post(
        "/api/v1/suppressions", headers=accounts.headers("district_operator"), json=body
    )
    assert operator.status_code == 403
    crossed = {**body, "region": [[0.1, 0.1], [0.3, 0.5], [0.3, 0.1], [0.1, 0.5]]}
    response = api_client.post(
        "/api/v1/suppressions", headers=accounts.headers("school_owner"), json=crossed
    )
    assert response.status_code == 422
    response = api_client.post(
        "/api/v1/suppressions", headers=accounts.headers("school_owner"), json=body
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["created_by"] == "user:school_owner" and created["timezone"] == "Asia/Shanghai"
    # 06:30 local wraps inside 22:00-07:00.
    _, answer = post(api_client, detected_at=DETECTED)
    assert answer["suppression_id"] == created["id"]


def test_evaluation_lists_each_cameras_top_false_alarm_sources(
    api_client: TestClient, accounts: Accounts
) -> None:
    operator = accounts.headers("district_operator")
    for shift in (0, 20):
        _, event = post(api_client, detected_at=DETECTED, box_xyxy=[b + shift for b in BOX])
        assert reject(api_client, accounts, event["id"], None).status_code == 200
    _, event = post(api_client, detected_at=DETECTED, object_class="car")
    assert reject(api_client, accounts, event["id"], {}).status_code == 200
    _, held = post(api_client, detected_at=DETECTED + timedelta(hours=1), object_class="car")
    assert held["suppressed"] is True

    evaluation = api_client.get("/api/v1/evaluation?by=camera", headers=operator).json()
    [camera] = evaluation["false_alarm_sources"]
    assert camera["camera_id"] == "school-no1-gate"
    sources = [
        (s["rule"], s["zone"], s["object_class"], s["false_alarms"], s["suppressed"])
        for s in camera["sources"]
    ]
    assert sources == [
        ("intrusion", "gate_path", "person", 2, 0),
        ("intrusion", "gate_path", "car", 1, 1),
    ]
    mask = camera["sources"][0]["suggested_mask"]
    xs, ys = [x for x, _ in mask], [y for _, y in mask]
    assert (min(xs), max(xs)) == (round(100 / 768, 4), round(160 / 768, 4))
    assert (min(ys), max(ys)) == (round(120 / 576, 4), round(240 / 576, 4))

    # Another organisation's owner sees none of this camera's sources.
    owner = api_client.get("/api/v1/evaluation?by=camera", headers=accounts.headers("works_owner"))
    assert owner.json()["false_alarm_sources"] == []


def test_regions_windows_and_masks() -> None:
    region = region_around([0, 0, 100, 100], 200, 200, 0.5)
    assert region == [[0.0, 0.0], [0.75, 0.0], [0.75, 0.75], [0.0, 0.75]]  # kept in the frame
    assert covers(region, [10, 10, 60, 60], 200, 200)
    assert covers(region, [100, 100, 170, 170], 200, 200)  # centre inside
    assert not covers(region, [160, 160, 200, 200], 200, 200)
    with pytest.raises(ValueError, match="no area"):
        region_around([10, 10, 10, 50], 200, 200, 0.5)
    at = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    hhmm = datetime.strptime
    night = (hhmm("22:00", "%H:%M").time(), hhmm("06:00", "%H:%M").time())
    assert in_window(*night, at, "Asia/Shanghai")
    assert not in_window(*night, at, "UTC")
    assert in_window(None, None, at, "UTC")
    assert suggested_mask([]) == []
