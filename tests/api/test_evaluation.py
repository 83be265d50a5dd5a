"""Evaluation figures, against a seeded set of events whose answers are worked out by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.models import GridEvent
from tests.api.helpers import report_incident
from tests.api.test_lifecycle import act
from tests.conftest import Accounts
from tests.factories import jpeg

T0 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
SCHOOL_CELL = "D01-T01-C01-G01"


def _set(client: TestClient, event_id: int, **columns: Any) -> None:
    with client.app.state.session_factory.begin() as session:  # type: ignore[attr-defined]
        event = session.get(GridEvent, event_id)
        for name, value in columns.items():
            setattr(event, name, value)


def _seed(client: TestClient, accounts: Accounts) -> None:
    """Five school-camera events, one public-square event and one hotline event:

    e1 a false alarm; e2 handled on time and closed by the check (dispatch 10 min, close 60);
    e3 handled late and closed by an operator (20, 120); e4 handled on time then sent back
    (30); e5 only reported (loitering); p1 public square, a false alarm; m1 hotline, reported.
    """
    operator, handler, worker = "west_operator", "education_handler", "school_worker"
    # One zone each, so that they are four events, not occurrences of one.
    e1, e2, e3, e4 = (
        report_incident(client, track_id=i, zone=f"zone-{i}")["id"] for i in range(1, 5)
    )
    report_incident(client, track_id=5, rule="loitering")  # e5
    p1 = report_incident(client, camera_id="public-square-north")["id"]
    assert act(client, accounts, operator, e1, "reject", note="a shadow").status_code == 200
    for event_id in (e2, e3, e4):
        for user, action in [(operator, "confirm"), (operator, "dispatch"), (handler, "accept")]:
            assert act(client, accounts, user, event_id, action).status_code == 200
    _set(client, e3, deadline_at=datetime.now(UTC) - timedelta(minutes=1))
    for event_id in (e2, e3, e4):
        assert act(client, accounts, handler, event_id, "resolve").status_code == 200
    closed = act(client, accounts, worker, e2, "close", photos=[jpeg()])
    assert closed.status_code == 200
    assert act(client, accounts, operator, e3, "operator_close", note="x").status_code == 200
    assert act(client, accounts, worker, e4, "rework", note="still open").status_code == 200
    rejected = act(client, accounts, "district_operator", p1, "reject", note="a bird")
    assert rejected.status_code == 200
    hotline = client.post(
        "/api/v1/events",
        headers=accounts.headers(operator),
        json={
            "source": "hotline_12345", "event_code": "0801", "title": "someone climbing the fence",
            "location": {"lat": 30.2550, "lon": 120.1200},
            "occurred_at": "2026-12-01T10:00:00Z",
        },
    )  # fmt: skip
    assert hotline.status_code == 201, hotline.text
    for event_id, dispatched, closed_after in [(e2, 10, 60), (e3, 20, 120), (e4, 30, None)]:
        _set(
            client, event_id, reported_at=T0, dispatched_at=T0 + timedelta(minutes=dispatched),
            closed_at=T0 + timedelta(minutes=closed_after) if closed_after else None,
        )  # fmt: skip


def _evaluation(client: TestClient, accounts: Accounts, user: str, **params: str) -> Any:
    response = client.get("/api/v1/evaluation", headers=accounts.headers(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _rows(body: Any) -> dict[str | None, dict[str, Any]]:
    return {row["key"]: row for row in body["rows"]}


EDUCATION = {
    "key": "education-bureau", "name": "District Education Bureau",
    "reported": 5, "occurrences": 5, "filed": 3, "dispatched": 3, "handled": 3,
    "handled_on_time": 2,
    "reworked": 1, "reworks": 1, "closed": 2, "false_alarms": 1,
    "on_time_rate": 0.6667, "closure_rate": 0.6667, "rework_rate": 0.3333,
    "false_alarm_rate": 0.25,  # 1 false alarm against 3 confirmed, video only
    "median_minutes_to_dispatch": 20.0, "median_minutes_to_close": 90.0,
}  # fmt: skip


def test_figures_by_department_grid_worker_and_camera(
    api_client: TestClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(api_client, accounts)
    body = _evaluation(api_client, accounts, "admin", by="department")
    # Ids are looked up in chunks (SQLite's parameter limit); one id a chunk counts the same.
    monkeypatch.setattr("api.figures.BATCH", 1)
    assert _evaluation(api_client, accounts, "admin", by="department") == body
    monkeypatch.undo()
    rows = _rows(body)
    assert rows["education-bureau"] == EDUCATION
    police = rows["public-security-bureau"]  # p1 (video, rejected) and m1 (hotline)
    assert (police["reported"], police["filed"], police["false_alarms"]) == (2, 0, 1)
    assert (police["false_alarm_rate"], police["closure_rate"], police["on_time_rate"]) == (
        1.0, None, None,
    )  # fmt: skip
    assert body["total"]["reported"] == 7 and body["total"]["closed"] == 2
    assert body["false_alarms_by_rule"] == [
        {"rule": "intrusion", "confirmed": 3, "false_alarms": 2, "rate": 0.4}
    ]

    workers = _rows(_evaluation(api_client, accounts, "admin", by="grid_worker"))
    school = workers["school_worker"]  # e1-e5 and m1 are in the school's cell
    assert (school["reported"], school["filed"], school["closed"], school["false_alarm_rate"]) == (
        6, 3, 2, 0.25,
    )  # fmt: skip

    cameras = _rows(_evaluation(api_client, accounts, "admin", by="camera"))
    assert set(cameras) == {"school-no1-gate", "public-square-north"}  # m1 has no camera
    assert {k: v for k, v in cameras["school-no1-gate"].items() if k not in ("key", "name")} == {
        k: v for k, v in EDUCATION.items() if k not in ("key", "name")
    }

    # A time range: m1 occurred on 1 December, the rest on 27 November.
    in_range = _evaluation(
        api_client, accounts, "admin", by="grid",
        **{"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"},
    )  # fmt: skip
    assert _rows(in_range)[SCHOOL_CELL]["reported"] == 5
    assert in_range["total"]["reported"] == 6


def test_figures_are_scoped_to_the_caller(api_client: TestClient, accounts: Accounts) -> None:
    _seed(api_client, accounts)
    handler = _evaluation(api_client, accounts, "education_handler", by="department")
    assert list(_rows(handler)) == ["education-bureau"]
    worker = _evaluation(api_client, accounts, "school_worker", by="grid")
    assert list(_rows(worker)) == [SCHOOL_CELL] and worker["total"]["reported"] == 6


def test_figures_as_csv(api_client: TestClient, accounts: Accounts) -> None:
    _seed(api_client, accounts)
    headers = {**accounts.headers("admin"), "Accept": "text/csv"}
    response = api_client.get("/api/v1/evaluation", headers=headers, params={"by": "department"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "evaluation-by-department.csv" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    by_key = {row["key"]: row for row in table}
    assert by_key["education-bureau"]["on_time_rate"] == "0.6667"
    assert by_key["education-bureau"]["median_minutes_to_close"] == "90.0"
    assert by_key["public-security-bureau"]["closure_rate"] == ""
    assert by_key["(total)"]["reported"] == "7"
    same = api_client.get(
        "/api/v1/evaluation",
        headers=accounts.headers("admin"),
        params={"by": "department", "format": "csv"},
    )
    assert same.text == response.text
    bad = api_client.get(
        "/api/v1/evaluation", headers=accounts.headers("admin"), params={"by": "street"}
    )
    assert bad.status_code == 422
