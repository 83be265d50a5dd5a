"""The access matrix: every role sees and changes only what its scope allows."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import WORKER, report_incident
from tests.conftest import Accounts

# The school camera's event lies in D01-T01-C01-G01 (west street), routed to the education bureau;
# the road-works camera's in D01-T02-C01-G01 (east street), routed to urban management.
SEES_SCHOOL_EVENT = {
    "admin": True, "district_operator": True, "west_operator": True, "east_operator": False,
    "school_owner": True, "works_owner": False, "school_worker": True, "east_worker": False,
    "education_handler": True, "urban_handler": False,
}  # fmt: skip


@pytest.fixture
def two_events(api_client: TestClient, accounts: Accounts) -> tuple[int, int]:
    school = report_incident(api_client)
    works = report_incident(api_client, camera_id="urban-works-west", category="urban_management")
    return school["id"], works["id"]


@pytest.mark.parametrize(("username", "sees"), SEES_SCHOOL_EVENT.items())
def test_reading_an_event_by_id(
    api_client: TestClient,
    accounts: Accounts,
    two_events: tuple[int, int],
    username: str,
    sees: bool,
) -> None:
    school, works = two_events
    headers = accounts.headers(username)
    assert api_client.get(f"/api/v1/events/{school}", headers=headers).status_code == (
        200 if sees else 404
    )
    listed = {
        item["id"] for item in api_client.get("/api/v1/events", headers=headers).json()["items"]
    }
    assert (school in listed) == sees
    event = api_client.get(f"/api/v1/events/{school}", headers=accounts.headers("admin")).json()
    snapshot = api_client.get(event["snapshot_url"], headers=headers)
    assert snapshot.status_code == (200 if sees else 404)
    # Nobody who cannot see an event can act on it, whatever the action.
    if not sees:
        response = api_client.post(
            f"/api/v1/events/{school}/actions/comment", headers=headers, data={"note": "x"}
        )
        assert response.status_code == 404
    del works


def test_without_credentials_nothing_is_readable(
    api_client: TestClient, accounts: Accounts
) -> None:
    for path in (
        "/api/v1/events",
        "/api/v1/cameras",
        "/api/v1/grids",
        "/api/v1/stats",
        "/api/v1/auth/me",
    ):
        assert api_client.get(path).status_code == 401, path
    expired = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged"}
    assert api_client.get("/api/v1/events", headers=expired).status_code == 401


def test_workers_may_only_report(
    api_client: TestClient, accounts: Accounts, two_events: tuple[int, int]
) -> None:
    assert api_client.get("/api/v1/events", headers=WORKER).status_code == 403
    assert api_client.get("/api/v1/cameras", headers=WORKER).status_code == 403
    assert (
        api_client.post(
            f"/api/v1/events/{two_events[0]}/actions/comment", headers=WORKER
        ).status_code
        == 403
    )
    # ...and people may not report incidents as if they were a camera.
    response = api_client.post("/api/v1/incidents", headers=accounts.headers("admin"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("username", "visible"),
    [
        (
            "admin",
            {
                "hospital-east-entrance",
                "public-square-north",
                "school-no1-gate",
                "urban-works-west",
            },
        ),
        (
            "west_operator",
            {
                "hospital-east-entrance",
                "public-square-north",
                "school-no1-gate",
                "urban-works-west",
            },
        ),
        ("school_owner", {"school-no1-gate"}),
        ("works_owner", {"urban-works-west"}),
        ("school_worker", set()),
        ("education_handler", set()),
    ],
)
def test_cameras_are_scoped(
    api_client: TestClient, accounts: Accounts, username: str, visible: set[str]
) -> None:
    headers = accounts.headers(username)
    listed = {camera["id"] for camera in api_client.get("/api/v1/cameras", headers=headers).json()}
    assert listed == visible
    other = api_client.get("/api/v1/cameras/school-no1-gate", headers=headers)
    assert other.status_code == (200 if "school-no1-gate" in visible else 404)


def test_only_admins_manage_accounts_and_tokens(api_client: TestClient, accounts: Accounts) -> None:
    new_user = {
        "username": "new.operator",
        "password": "a long enough password",
        "role": "operator",
    }
    assert (
        api_client.post(
            "/api/v1/users", json=new_user, headers=accounts.headers("district_operator")
        ).status_code
        == 403
    )
    created = api_client.post("/api/v1/users", json=new_user, headers=accounts.headers("admin"))
    assert created.status_code == 201
    again = api_client.post("/api/v1/users", json=new_user, headers=accounts.headers("admin"))
    assert again.status_code == 409
    bad_scope = {
        "username": "lost.worker",
        "password": "a long enough password",
        "role": "grid_worker",
        "grid_ids": ["D01-T01"],
    }
    refused = api_client.post("/api/v1/users", json=bad_scope, headers=accounts.headers("admin"))
    assert refused.status_code == 422 and "not a grid cell" in refused.json()["detail"]

    issued = api_client.post(
        "/api/v1/tokens",
        json={"name": "edge-school", "scopes": ["worker"]},
        headers=accounts.headers("admin"),
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert (
        api_client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code
        == 403
    )
    api_client.delete(f"/api/v1/tokens/{issued.json()['id']}", headers=accounts.headers("admin"))
    assert (
        api_client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_wrong_passwords_are_refused_alike(api_client: TestClient, accounts: Accounts) -> None:
    wrong = api_client.post("/api/v1/auth/token", data={"username": "admin", "password": "nope"})
    nobody = api_client.post("/api/v1/auth/token", data={"username": "nobody", "password": "nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()


def test_grid_workers_report_only_in_their_cells(
    api_client: TestClient, accounts: Accounts
) -> None:
    report = {
        "source": "grid_worker", "category": "urban_management", "title": "Overflowing bins",
        "location": {"lat": 30.2550, "lon": 120.1200},
    }  # fmt: skip
    inside = api_client.post(
        "/api/v1/events", json=report, headers=accounts.headers("school_worker")
    )
    assert inside.status_code == 201
    assert inside.json()["grid_id"] == "D01-T01-C01-G01"
    assert inside.json()["department_id"] == "urban-management-bureau"
    outside = {**report, "location": {"lat": 30.29, "lon": 120.19}}
    assert (
        api_client.post(
            "/api/v1/events", json=outside, headers=accounts.headers("school_worker")
        ).status_code
        == 403
    )
    hotline = {**outside, "source": "hotline_12345", "source_reference": "12345-2026-000123"}
    taken = api_client.post(
        "/api/v1/events", json=hotline, headers=accounts.headers("district_operator")
    )
    assert taken.status_code == 201 and taken.json()["source_reference"] == "12345-2026-000123"
    assert (
        api_client.post(
            "/api/v1/events", json=hotline, headers=accounts.headers("school_owner")
        ).status_code
        == 403
    )


def test_admins_import_grids_and_assign_cells(api_client: TestClient, accounts: Accounts) -> None:
    properties = {
        "code": "D01-T01-C01-G03",
        "name": "New",
        "level": "cell",
        "parent": "D01-T01-C01",
    }
    ring = [[120.10, 30.24], [120.101, 30.24], [120.101, 30.241], [120.10, 30.24]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": properties, "geometry": geometry}
    new_cell = {"type": "FeatureCollection", "features": [feature]}
    assert (
        api_client.post(
            "/api/v1/grids", json=new_cell, headers=accounts.headers("west_operator")
        ).status_code
        == 403
    )
    imported = api_client.post("/api/v1/grids", json=new_cell, headers=accounts.headers("admin"))
    assert imported.status_code == 200 and imported.json()["codes"] == ["D01-T01-C01-G03"]
    broken = {
        **new_cell,
        "features": [
            {
                **new_cell["features"][0],
                "properties": {"code": "X", "name": "x", "level": "cell", "parent": "nope"},
            }
        ],
    }
    assert (
        api_client.post("/api/v1/grids", json=broken, headers=accounts.headers("admin")).status_code
        == 422
    )

    worker = accounts.user_id("school_worker")
    moved = api_client.put(
        f"/api/v1/users/{worker}/grids", json=["D01-T01-C01-G03"], headers=accounts.headers("admin")
    )
    assert moved.status_code == 200 and moved.json()["grid_ids"] == ["D01-T01-C01-G03"]
    for wrong, reason in ((["D01-T01"], "'D01-T01' is not a grid cell"), ([], "at least one")):
        refused = api_client.put(
            f"/api/v1/users/{worker}/grids", json=wrong, headers=accounts.headers("admin")
        )
        assert refused.status_code == 422 and reason in refused.json()["detail"]
    operator = accounts.user_id("west_operator")
    assert (
        api_client.put(
            f"/api/v1/users/{operator}/grids",
            json=["D01-T01-C01-G03"],
            headers=accounts.headers("admin"),
        ).status_code
        == 422
    )
    grids = api_client.get("/api/v1/grids", headers=accounts.headers("school_worker")).json()
    assert any(f["properties"]["code"] == "D01-T01-C01-G03" for f in grids["features"])
