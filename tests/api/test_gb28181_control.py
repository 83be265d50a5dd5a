"""GB/T 28181 devices in the API: alarms as incidents, device information, devices' own
passwords, offline as camera health, and adoption by the organisation's owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from tests.api.test_gb28181 import CATALOG, DEVICE, EAST, GATE, SERVICE, ZONED
from tests.conftest import Accounts

INFO = {"name": "东门录像机", "manufacturer": "Hikvision", "model": "DS-7608NI-K2",
        "firmware": "V4.30.085", "channel_count": 2}  # fmt: skip
DEVICE_URL = f"/api/v1/gb28181/devices/{DEVICE}"


def report(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"online": True, "address": "127.0.0.1:5070", **fields}
    response = client.put(f"/api/v1/worker/gb28181/devices/{DEVICE}", json=body, headers=SERVICE)
    assert response.status_code == 200, response.text
    return dict(response.json())


def alarm(client: TestClient, **fields: Any) -> Any:
    body = {"device_id": DEVICE, "channel_id": GATE, "sn": 7, "priority": 1, "method": 5,
            "alarm_type": 6, "time": "2026-11-29T20:30:00+08:00",
            "description": "区域入侵", **fields}  # fmt: skip
    return client.post("/api/v1/worker/gb28181/alarms", json=body, headers=SERVICE)


def jpeg(width: int, height: int) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(image, (100, 100), (200, 300), (0, 0, 220), 3)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return bytes(encoded.tobytes())


def adopted_for_the_school(client: TestClient, accounts: Accounts) -> None:
    """The device accepted for the school, its gate channel adopted by the school's owner."""
    admin = accounts.headers("admin")
    report(client, channels=CATALOG, info=INFO)
    accepted = client.put(
        f"{DEVICE_URL}/admission",
        json={"admission": "accepted", "organisation_id": "no1-primary-school"},
        headers=admin,
    )
    assert accepted.status_code == 200, accepted.text
    owner = accounts.headers("school_owner")
    document = {k: v for k, v in ZONED.items() if k != "organisation_id"}
    adopted = client.post(f"{DEVICE_URL}/channels/{GATE}/camera", json=document, headers=owner)
    assert adopted.status_code == 201, adopted.text


def test_alarm_of_an_adopted_channel_is_one_incident_with_its_event_code(
    api_client: TestClient, accounts: Accounts
) -> None:
    adopted_for_the_school(api_client, accounts)
    admin = accounts.headers("admin")

    first = alarm(api_client)
    assert first.status_code == 200, first.text
    recorded = first.json()
    assert recorded["camera_id"] == "school-gb-gate" and recorded["created"]
    again = alarm(api_client).json()  # the device repeats it until answered
    assert again == {**recorded, "created": False}

    event = api_client.get(f"/api/v1/events/{recorded['grid_event_id']}", headers=admin).json()
    assert (event["event_code"], event["category"], event["severity"]) == (
        "0801", "public_safety", "critical")  # fmt: skip
    assert event["camera_id"] == "school-gb-gate"
    snapshot = api_client.get(event["snapshot_url"], headers=admin)
    assert snapshot.status_code == 200 and snapshot.content.startswith(b"\xff\xd8\xff")
    details = event["incident"]["details"]
    assert details["evidence"].startswith("no picture") and details["channel_id"] == GATE

    # The device's own video loss is a device fault (1002), priority 3 is medium.
    loss = alarm(api_client, sn=8, method=2, alarm_type=1, priority=3,
                 time="2026-11-29T20:31:00+08:00").json()  # fmt: skip
    event = api_client.get(f"/api/v1/events/{loss['grid_event_id']}", headers=admin).json()
    assert (event["event_code"], event["category"], event["severity"]) == (
        "1002", "device_fault", "medium")  # fmt: skip

    # Someone watches the camera: its live picture is the evidence of the next alarm.
    picture = jpeg(640, 360)
    api_client.post("/api/v1/cameras/school-gb-gate/live-view", headers=admin)
    stored = api_client.put(
        "/api/v1/cameras/school-gb-gate/live.jpg", content=picture,
        headers={**SERVICE, "Content-Type": "image/jpeg",
                 "X-GridWatch-Captured-At": datetime.now(UTC).isoformat()},
    )  # fmt: skip
    assert stored.status_code == 200, stored.text
    watched = alarm(api_client, sn=10, method=5, alarm_type=8,
                    time="2026-11-29T20:32:00+08:00").json()  # fmt: skip
    event = api_client.get(f"/api/v1/events/{watched['grid_event_id']}", headers=admin).json()
    assert event["event_code"] == "0802"  # loitering
    assert event["incident"]["details"]["evidence"].startswith("the camera's live picture")
    assert api_client.get(event["snapshot_url"], headers=admin).content == picture

    # A channel nobody adopted: the alarm is kept on the device, no incident.
    east = alarm(api_client, channel_id=EAST, sn=9).json()
    assert east["camera_id"] is None and east["grid_event_id"] is None
    listed = api_client.get("/api/v1/gb28181/alarms", headers=admin).json()
    assert [(a["channel_id"], a["event_code"]) for a in listed] == [
        (GATE, "0802"), (GATE, "1002"), (GATE, "0801"), (EAST, "0801")]  # fmt: skip
    owner_sees = api_client.get("/api/v1/gb28181/alarms", headers=accounts.headers("works_owner"))
    assert owner_sees.json() == []


def test_alarm_fields_are_validated(api_client: TestClient, accounts: Accounts) -> None:
    report(api_client)
    for field, value in [("priority", 9), ("method", 0), ("latitude", 91.0),
                         ("channel_id", "3402"), ("time", "2026-11-29T20:30:00")]:  # fmt: skip
        refused = alarm(api_client, **{field: value})
        assert refused.status_code == 422, (field, refused.text)
        assert field in refused.text
    unknown = alarm(api_client, device_id="34020000001320000999")
    assert unknown.status_code == 404


def test_device_information_and_health_follow_the_device(
    api_client: TestClient, accounts: Accounts
) -> None:
    adopted_for_the_school(api_client, accounts)
    admin = accounts.headers("admin")
    device = api_client.get("/api/v1/gb28181/devices", headers=admin).json()[0]
    assert {k: device[k] for k in INFO} == INFO

    silent_since = datetime.now(UTC) - timedelta(seconds=30)
    report(api_client, online=False, last_keepalive_at=silent_since.isoformat())
    camera = api_client.get("/api/v1/cameras/school-gb-gate/health", headers=admin).json()
    assert camera["status"] == "offline" and "no keep-alive" in camera["health"]["error"]
    assert camera["status_reason"] == "device_offline"  # worded by the console

    def video_loss() -> list[dict[str, Any]]:
        page = api_client.get("/api/v1/events", params={"category": "device_fault"}, headers=admin)
        return [e for e in page.json()["items"] if e["camera_id"] == "school-gb-gate"]

    assert video_loss() == []  # within the 60 s grace
    report(
        api_client,
        online=False,
        last_keepalive_at=(silent_since - timedelta(minutes=2)).isoformat(),
    )
    (event,) = video_loss()
    assert event["event_code"] == "1002" and event["title"].startswith("视频中断 — ")
    assert "国标设备离线（无心跳）" in event["description"]

    report(api_client, online=True)
    camera = api_client.get("/api/v1/cameras/school-gb-gate/health", headers=admin).json()
    assert camera["status"] == "online"
    closed = api_client.get(f"/api/v1/events/{event['id']}", headers=admin).json()
    assert closed["status"] == "closed"  # recovered before anyone acted on it


def test_owner_adopts_and_refuses_only_their_organisations_candidates(
    api_client: TestClient, accounts: Accounts
) -> None:
    admin = accounts.headers("admin")
    school, works = accounts.headers("school_owner"), accounts.headers("works_owner")
    report(api_client, channels=CATALOG)
    adopt = f"{DEVICE_URL}/channels/{GATE}/camera"
    document = {k: v for k, v in ZONED.items() if k != "organisation_id"}
    assert api_client.post(adopt, json=document, headers=school).status_code == 404  # unassigned

    api_client.put(
        f"{DEVICE_URL}/admission",
        json={"admission": "accepted", "organisation_id": "no1-primary-school"},
        headers=admin,
    )
    assert api_client.get("/api/v1/gb28181/devices", headers=works).json() == []
    assert api_client.post(adopt, json=document, headers=works).status_code == 404
    other = api_client.post(
        adopt, json={**document, "organisation_id": "urban-management-bureau"}, headers=school
    )
    assert other.status_code == 403

    refusal = f"{DEVICE_URL}/channels/{EAST}/refusal"
    refused = api_client.put(refusal, json={"refused": True}, headers=school)
    assert refused.status_code == 200
    assert {c["channel_id"]: c["refused"] for c in refused.json()["channels"]} == {
        GATE: False, EAST: True}  # fmt: skip
    east = api_client.post(
        f"{DEVICE_URL}/channels/{EAST}/camera", json={**document, "id": "east"}, headers=school
    )
    assert east.status_code == 409 and "refused" in east.json()["detail"]

    adopted = api_client.post(adopt, json=document, headers=school)
    assert adopted.status_code == 201, adopted.text
    camera = api_client.get("/api/v1/cameras/school-gb-gate", headers=school).json()
    assert camera["organisation"]["id"] == "no1-primary-school"


def test_device_password_is_sealed_and_given_only_to_the_service(
    api_client: TestClient, accounts: Accounts
) -> None:
    admin = accounts.headers("admin")
    unknown = "34020000001320000042"
    # An admin registers a device before it first calls; the service gets its password.
    given = api_client.put(
        f"/api/v1/gb28181/devices/{unknown}/password", json={"password": "s3cret-device"},
        headers=admin,
    )  # fmt: skip
    assert given.status_code == 200 and given.json()["has_password"]
    assert "s3cret-device" not in given.text
    listed = api_client.get("/api/v1/gb28181/devices", headers=admin)
    assert "s3cret-device" not in listed.text
    credentials = api_client.get("/api/v1/worker/gb28181/credentials", headers=SERVICE).json()
    assert credentials == [
        {"device_id": unknown, "admission": "pending", "password": "s3cret-device"}
    ]
    assert api_client.get("/api/v1/worker/gb28181/credentials", headers=admin).status_code == 403
    short = api_client.put(
        f"/api/v1/gb28181/devices/{unknown}/password", json={"password": "1234"}, headers=admin
    )
    assert short.status_code == 422 and "password" in short.text

    # A device with no password here tried to register: listed, not trusted.
    response = api_client.put(
        f"/api/v1/worker/gb28181/devices/{DEVICE}",
        json={"online": False, "address": "10.0.0.9:5060", "authenticated": False},
        headers=SERVICE,
    )
    assert response.json()["admission"] == "pending"
    pending = {d["id"]: d for d in api_client.get("/api/v1/gb28181/devices", headers=admin).json()}
    assert not pending[DEVICE]["authenticated"] and not pending[DEVICE]["online"]

    api_client.delete(f"/api/v1/gb28181/devices/{unknown}/password", headers=admin)
    assert api_client.get("/api/v1/worker/gb28181/credentials", headers=SERVICE).json() == []
