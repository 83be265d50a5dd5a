"""Writes are scoped like reads (issue 13, kind 11): an operator of one region opens, changes,
merges, assigns and attaches only what lies in their region, through every write route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Accounts
from tests.factories import jpeg

WEST = {"lat": 30.2550, "lon": 120.1200}  # cell D01-T01-C01-G01, town D01-T01
EAST = {"lat": 30.2550, "lon": 120.1600}  # cell D01-T02-C01-G01, town D01-T02
NOWHERE = {"lat": 31.5, "lon": 121.5}  # outside the district's grids


def _report(client: TestClient, accounts: Accounts, user: str, where: dict[str, float]) -> Any:
    body = {"source": "manual", "category": "urban_management", "title": "Bins", "location": where}
    return client.post("/api/v1/events", json=body, headers=accounts.headers(user))


def _open311(client: TestClient, accounts: Accounts, user: str, where: dict[str, float]) -> Any:
    token = accounts.headers(user)["Authorization"].removeprefix("Bearer ")
    form = {
        "api_key": token, "service_code": "urban_management", "lat": str(where["lat"]),
        "long": str(where["lon"]), "description": "Bins",
    }  # fmt: skip
    return client.post("/open311/v2/requests.json", data=form)


@pytest.mark.parametrize("write", [_report, _open311], ids=["events", "open311"])
def test_an_operator_opens_events_only_in_their_region(
    api_client: TestClient, accounts: Accounts, write: Any
) -> None:
    west = write(api_client, accounts, "west_operator", WEST)
    assert west.status_code == 201, west.text
    east = write(api_client, accounts, "west_operator", EAST)
    assert east.status_code == 403, east.text
    answer = east.json()
    detail = answer[0]["description"] if isinstance(answer, list) else answer["detail"]
    assert "outside your region D01-T01" in detail and "D01-T02" in detail
    nowhere = write(api_client, accounts, "west_operator", NOWHERE)
    assert nowhere.status_code in (400, 403)
    assert write(api_client, accounts, "east_operator", EAST).status_code == 201
    assert write(api_client, accounts, "east_operator", WEST).status_code == 403
    # A district operator and an administrator write anywhere in the district.
    assert write(api_client, accounts, "district_operator", EAST).status_code == 201
    assert write(api_client, accounts, "admin", WEST).status_code == 201
    # Nothing was opened by the refused writes.
    listed = api_client.get("/api/v1/events", headers=accounts.headers("admin")).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert len(items) == 4


def test_grid_workers_and_others_report_only_where_they_may(
    api_client: TestClient, accounts: Accounts
) -> None:
    body = {"source": "grid_worker", "category": "urban_management", "title": "Bins"}
    worker = accounts.headers("school_worker")
    inside = api_client.post("/api/v1/events", json={**body, "location": WEST}, headers=worker)
    assert inside.status_code == 201
    outside = api_client.post("/api/v1/events", json={**body, "location": EAST}, headers=worker)
    assert outside.status_code == 403
    assert "outside your grid cells" in outside.json()["detail"]
    for user in ("school_owner", "education_handler"):
        refused = api_client.post(
            "/api/v1/events", json={**body, "location": WEST}, headers=accounts.headers(user)
        )
        assert refused.status_code == 403
        assert _open311(api_client, accounts, user, WEST).status_code == 403


def _act(
    client: TestClient, accounts: Accounts, user: str, event_id: int, action: str, **form: Any
) -> Any:
    files = form.pop("files", None)
    return client.post(
        f"/api/v1/events/{event_id}/actions/{action}",
        data={key: str(value) for key, value in form.items()},
        files=files,
        headers=accounts.headers(user),
    )


def test_an_operator_changes_no_event_of_another_region(
    api_client: TestClient, accounts: Accounts
) -> None:
    west = _report(api_client, accounts, "west_operator", WEST).json()["id"]
    east = _report(api_client, accounts, "east_operator", EAST).json()["id"]
    photo = [("photos", ("p.jpg", jpeg(64, 48), "image/jpeg"))]
    # Every action on an event outside the region, photos included, finds nothing.
    for action, form in [
        ("dispatch", {"department_id": "urban-management-bureau"}),
        ("verify", {}),
        ("reject", {"note": "not here"}),
        ("escalate", {"note": "up"}),
        ("merge", {"into_event_id": west, "note": "same"}),
        ("acknowledge", {}),
        ("comment", {"note": "seen", "files": photo}),
    ]:
        answer = _act(api_client, accounts, "west_operator", east, action, **form)
        assert answer.status_code == 404, (action, answer.text)
    # Nor can an event of the region be merged into one outside it.
    merged = _act(
        api_client, accounts, "west_operator", west, "merge", into_event_id=east, note="x"
    )
    assert merged.status_code == 422 and "into_event_id" in merged.json()["detail"]
    # An assignment names a grid worker of the event's own grid.
    east_worker = accounts.user_id("east_worker")
    assigned = _act(api_client, accounts, "west_operator", west, "verify", assignee_id=east_worker)
    assert assigned.status_code == 422 and "does not work grid" in assigned.json()["detail"]
    # The east event is unchanged: one history step (its report), no attachment.
    detail = api_client.get(f"/api/v1/events/{east}", headers=accounts.headers("admin")).json()
    assert detail["status"] == "reported" and detail["merged_into_id"] is None
    assert [step["action"] for step in detail["history"]] == ["report"]
    assert detail["attachments"] == [] and detail["acknowledged_at"] is None
