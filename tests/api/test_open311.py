"""Open311 GeoReport v2: services, service requests read and posted, errors in the spec's form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import WORKER, report_incident
from tests.api.test_lifecycle import act
from tests.conftest import Accounts

# Inside grid cell D01-T01-C01-G01 of the sample district (the school's cell).
INSIDE = {"lat": "30.2550", "long": "120.1200"}


def _hotline_key(client: TestClient, accounts: Accounts) -> str:
    issued = client.post(
        "/api/v1/tokens",
        headers=accounts.headers("admin"),
        json={"name": "hotline-12345", "scopes": ["open311"]},
    )
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


def _post(client: TestClient, api_key: str, **fields: str) -> Any:
    form = {"api_key": api_key, "service_code": "urban_management", **INSIDE, **fields}
    return client.post("/open311/v2/requests.json", data=form)


def test_services_are_the_taxonomy_event_codes(api_client: TestClient) -> None:
    services = api_client.get("/open311/v2/services.json").json()
    codes = [service["service_code"] for service in services]
    assert codes[:3] == ["0102", "0104", "0106"] and "0501" in codes and "1002" in codes
    (vending,) = [service for service in services if service["service_code"] == "0501"]
    assert vending["service_name"] == "Unlicensed street vending (无照经营游商)"
    assert vending["group"] == "Street order (街面秩序)"
    for service in services:
        assert set(service) >= {"service_code", "service_name", "group", "type", "metadata"}
        assert (service["type"], service["metadata"]) == ("realtime", False)


def test_a_hotline_posts_a_request_and_follows_it(
    api_client: TestClient, accounts: Accounts
) -> None:
    client = api_client
    key = _hotline_key(client, accounts)
    posted = _post(
        client,
        key,
        description="Car parked on the school crossing\nwhite van, since 8 am",
        address_string="No.1 Primary School gate",
        first_name="Li",
        last_name="Wei",
    )
    assert posted.status_code == 201, posted.text
    (receipt,) = posted.json()
    request_id = receipt["service_request_id"]

    operator = accounts.headers("west_operator")
    event = client.get(f"/api/v1/events/{request_id}", headers=operator).json()
    assert (event["source"], event["category"], event["grid_id"]) == (
        "hotline_12345",
        "urban_management",
        "D01-T01-C01-G01",
    )
    assert event["title"] == "Car parked on the school crossing"
    assert event["reporter"] == "Li Wei"
    assert event["history"][0]["actor"] == "worker:hotline-12345"

    (request,) = client.get(f"/open311/v2/requests/{request_id}.json?api_key={key}").json()
    assert request["service_request_id"] == request_id
    assert (request["status"], request["status_notes"]) == ("open", "reported")
    assert (request["lat"], request["long"]) == (30.255, 120.12)
    assert request["address"] == "No.1 Primary School gate"
    # Posted with a category, the event carries that category's default code.
    assert request["service_code"] == "0599"
    assert request["agency_responsible"]  # routed to a department
    assert datetime.fromisoformat(request["requested_datetime"]).tzinfo is not None

    # The hotline sees its own requests, not camera incidents.
    report_incident(client)
    listed = client.get("/open311/v2/requests.json", params={"api_key": key}).json()
    assert [item["service_request_id"] for item in listed] == [request_id]

    act(client, accounts, "west_operator", int(request_id), "reject", note="already moved")
    closed = client.get(
        "/open311/v2/requests.json", params={"api_key": key, "status": "closed"}
    ).json()
    assert [(item["status"], item["status_notes"]) for item in closed] == [
        ("closed", "false_alarm")
    ]
    still_open = client.get("/open311/v2/requests.json", params={"api_key": key, "status": "open"})
    assert still_open.json() == []


def test_an_operator_posts_manual_requests_and_reads_within_scope(
    api_client: TestClient, accounts: Accounts
) -> None:
    client = api_client
    token = accounts.headers("west_operator")["Authorization"].removeprefix("Bearer ")
    posted = _post(client, token, service_code="0406", description="smoke")
    assert posted.status_code == 201, posted.text
    manual_id = posted.json()[0]["service_request_id"]
    camera_event = report_incident(client)

    headers = accounts.headers("west_operator")  # the header works as well as api_key
    everything = client.get("/open311/v2/requests.json", headers=headers).json()
    assert {item["service_request_id"] for item in everything} == {
        manual_id,
        str(camera_event["id"]),
    }
    fire = client.get(
        "/open311/v2/requests.json", headers=headers, params={"service_code": "0406"}
    ).json()
    assert [item["service_request_id"] for item in fire] == [manual_id]
    assert fire[0]["service_name"] == "Fire and smoke (火情烟雾)"
    by_category = client.get(
        "/open311/v2/requests.json", headers=headers, params={"service_code": "fire_hazard"}
    ).json()
    assert [item["service_request_id"] for item in by_category] == [manual_id]
    by_id = client.get(
        "/open311/v2/requests.json", headers=headers, params={"service_request_id": manual_id}
    ).json()
    assert [item["service_request_id"] for item in by_id] == [manual_id]
    event = client.get(f"/api/v1/events/{manual_id}", headers=headers).json()
    assert event["source"] == "manual"

    now = datetime.now(UTC)
    window = {"start_date": (now - timedelta(days=1)).isoformat(), "end_date": now.isoformat()}
    earlier = {
        "start_date": (now - timedelta(days=30)).isoformat(),
        "end_date": (now - timedelta(days=2)).isoformat(),
    }
    assert len(client.get("/open311/v2/requests.json", headers=headers, params=window).json()) == 2
    assert client.get("/open311/v2/requests.json", headers=headers, params=earlier).json() == []

    east = accounts.headers("east_operator")
    assert client.get("/open311/v2/requests.json", headers=east).json() == []
    missing = client.get(f"/open311/v2/requests/{manual_id}.json", headers=east)
    assert missing.status_code == 404
    assert missing.json() == [
        {"code": 404, "description": f"service_request_id: {manual_id} not found"}
    ]


def test_errors_follow_the_specification(api_client: TestClient, accounts: Accounts) -> None:
    client = api_client
    key = _hotline_key(client, accounts)

    def error(response: Any, status: int) -> str:
        assert response.status_code == status, response.text
        (problem,) = response.json()
        assert set(problem) == {"code", "description"} and problem["code"] == status
        description: str = problem["description"]
        return description

    assert "api_key" in error(client.get("/open311/v2/requests.json"), 401)
    assert "api_key" in error(_post(client, "gw_not-a-real-token"), 401)
    worker_token = WORKER["Authorization"].removeprefix("Bearer ")
    assert "shared token" in error(_post(client, worker_token), 403)
    handler = accounts.headers("education_handler")["Authorization"].removeprefix("Bearer ")
    assert "may not post" in error(_post(client, handler), 403)
    assert "service_code" in error(_post(client, key, service_code="potholes"), 400)
    assert "lat" in error(_post(client, key, lat=""), 400)
    assert "outside" in error(_post(client, key, lat="31.9", long="118.0"), 400)
    too_wide = {"api_key": key, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01"}
    assert "90 days" in error(client.get("/open311/v2/requests.json", params=too_wide), 400)
    bad_date = {"api_key": key, "start_date": "yesterday"}
    assert "start_date" in error(client.get("/open311/v2/requests.json", params=bad_date), 400)
    # Digits outside ASCII ("³" is a digit to str.isdigit, not to int): unknown, never a 500.
    for odd in ("³", "١٢"):
        answer = client.get(f"/open311/v2/requests/{odd}.json", params={"api_key": key})
        assert answer.status_code in (400, 404), answer.text
        answer = client.get(
            "/open311/v2/requests.json", params={"api_key": key, "service_request_id": odd}
        )
        assert answer.status_code in (200, 400), answer.text
