"""GB/T 28181 devices in the API: reported by the SIP service, admitted and adopted by admins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import WORKER_TOKEN, Accounts

DEVICE = "34020000001320000001"
GATE = "34020000001310000001"
EAST = "34020000001310000002"
SERVICE = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "gb28181"}
CATALOG = [
    {"channel_id": GATE, "name": "Gate camera", "manufacturer": "Hikvision",
     "model": "DS-2CD2T47G2", "civil_code": "340200", "status": "ON",
     "longitude": 120.1201, "latitude": 30.2551},
    {"channel_id": EAST, "name": "东门通道", "manufacturer": "Dahua", "status": "OFF"},
]  # fmt: skip
ZONED = {
    "id": "school-gb-gate",
    "organisation_id": "no1-primary-school",
    "zones": [{"name": "gate", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
    "rules": [{"kind": "intrusion", "zone": "gate", "classes": ["person"]}],
}


def report(client: TestClient, online: bool, channels: list[dict] | None = None) -> str:  # type: ignore[type-arg]
    response = client.put(
        f"/api/v1/worker/gb28181/devices/{DEVICE}",
        json={"online": online, "address": "127.0.0.1:5070", "channels": channels},
        headers=SERVICE,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["admission"])


def test_reported_device_is_pending_until_accepted_then_its_channel_adopted(
    api_client: TestClient, accounts: Accounts
) -> None:
    admin = accounts.headers("admin")
    assert report(api_client, True, CATALOG) == "pending"

    devices = api_client.get("/api/v1/gb28181/devices", headers=admin).json()
    assert [d["id"] for d in devices] == [DEVICE]
    assert devices[0]["online"] and devices[0]["admission"] == "pending"
    channels = {c["channel_id"]: c for c in devices[0]["channels"]}
    assert channels[EAST]["name"] == "东门通道" and channels[GATE]["latitude"] == 30.2551

    adopt = f"/api/v1/gb28181/devices/{DEVICE}/channels/{GATE}/camera"
    refused = api_client.post(adopt, json=dict(ZONED), headers=admin)
    assert refused.status_code == 409 and "pending" in refused.json()["detail"]

    accepted = api_client.put(
        f"/api/v1/gb28181/devices/{DEVICE}/admission", json={"admission": "accepted"}, headers=admin
    )
    assert accepted.status_code == 200 and accepted.json()["admission"] == "accepted"
    adopted = api_client.post(adopt, json=dict(ZONED), headers=admin)
    assert adopted.status_code == 201, adopted.text
    assert adopted.json()["source"] == f"gb28181://{DEVICE}/{GATE}"
    again = api_client.post(adopt, json={**ZONED, "id": "other"}, headers=admin)
    assert again.status_code == 409

    camera = api_client.get("/api/v1/cameras/school-gb-gate", headers=admin).json()
    assert camera["status"] == "online" and camera["name"] == "Gate camera"
    assert (camera["location"]["lat"], camera["location"]["lon"]) == (30.2551, 120.1201)

    # A worker leases it like any camera and asks the SIP service for its stream.
    leased = api_client.post(
        "/api/v1/worker/leases",
        json={"capacity": 50},
        headers={**SERVICE, "X-GridWatch-Worker": "edge"},
    ).json()["cameras"]
    gate = next(camera for camera in leased if camera["id"] == "school-gb-gate")
    assert gate["source"] == f"gb28181://{DEVICE}/{GATE}"

    # The device goes silent: its adopted camera goes offline, the catalog is kept.
    assert report(api_client, False) == "accepted"
    camera = api_client.get("/api/v1/cameras/school-gb-gate", headers=admin).json()
    assert camera["status"] == "offline"
    device = api_client.get("/api/v1/gb28181/devices", headers=admin).json()[0]
    assert not device["online"] and len(device["channels"]) == 2
    # Back online: the offline mark the device's report set is lifted.
    assert report(api_client, True) == "accepted"
    camera = api_client.get("/api/v1/cameras/school-gb-gate", headers=admin).json()
    assert camera["status"] == "online"


def test_refused_device_and_bad_reports(api_client: TestClient, accounts: Accounts) -> None:
    admin = accounts.headers("admin")
    report(api_client, True)
    api_client.put(
        f"/api/v1/gb28181/devices/{DEVICE}/admission", json={"admission": "refused"}, headers=admin
    )
    assert report(api_client, True) == "refused"

    bad_channel = api_client.put(
        f"/api/v1/worker/gb28181/devices/{DEVICE}",
        json={"online": True, "address": "x", "channels": [{"channel_id": "123"}]},
        headers=SERVICE,
    )
    assert bad_channel.status_code == 422 and "channel_id" in bad_channel.text
    bad_id = api_client.put(
        "/api/v1/worker/gb28181/devices/12345", json={"online": True, "address": "x"},
        headers=SERVICE,
    )  # fmt: skip
    assert bad_id.status_code == 422
    # Only the service reports; an owner lists only devices assigned to their organisation.
    assert api_client.put(
        f"/api/v1/worker/gb28181/devices/{DEVICE}", json={"online": True, "address": "x"},
        headers=admin,
    ).status_code == 403  # fmt: skip
    owner = accounts.headers("school_owner")
    assert api_client.get("/api/v1/gb28181/devices", headers=owner).json() == []
    operator = accounts.headers("district_operator")
    assert api_client.get("/api/v1/gb28181/devices", headers=operator).status_code == 403
