"""Live alerts reach exactly the operators in scope; overdue events escalate; the figures add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.escalation import escalate_overdue
from api.models import GridEvent
from tests.api.helpers import report_incident
from tests.api.test_lifecycle import act
from tests.conftest import Accounts
from tests.factories import jpeg


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(accounts: Accounts, username: str) -> str:
    return accounts.headers(username)["Authorization"].removeprefix("Bearer ")


def test_websocket_delivers_new_and_changed_events_in_scope(
    api_client: TestClient, accounts: Accounts
) -> None:
    west = token_of(accounts, "west_operator")
    east = token_of(accounts, "east_operator")
    with (
        api_client.websocket_connect("/api/v1/live/ws", headers=bearer(west)) as west_socket,
        api_client.websocket_connect("/api/v1/live/ws", headers=bearer(east)) as east_socket,
    ):
        assert west_socket.receive_json()["type"] == "hello"
        assert east_socket.receive_json()["type"] == "hello"
        school = report_incident(api_client)  # west street
        works = report_incident(
            api_client, camera_id="urban-works-west", category="urban_management"
        )

        created = west_socket.receive_json()
        assert (created["type"], created["event"]["id"]) == ("event.created", school["id"])
        assert created["event"]["snapshot_url"].endswith(".jpg")
        act(api_client, accounts, "west_operator", school["id"], "confirm")
        changed = west_socket.receive_json()
        assert (changed["type"], changed["event"]["status"]) == ("event.updated", "confirmed")

        # The east operator gets the east event only.
        assert east_socket.receive_json()["event"]["id"] == works["id"]


def test_websocket_without_a_valid_token_is_closed(
    api_client: TestClient, accounts: Accounts
) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        with api_client.websocket_connect("/api/v1/live/ws", headers=bearer("nonsense")) as socket:
            socket.receive_json()
        raise AssertionError("the socket should have been closed")
    except WebSocketDisconnect as closed:
        assert closed.code == 4401


@pytest.mark.parametrize("parameter", ["token", "access_token"])
def test_a_token_in_the_websocket_address_is_refused_even_when_valid(
    api_client: TestClient, accounts: Accounts, parameter: str
) -> None:
    from starlette.websockets import WebSocketDisconnect

    west = token_of(accounts, "west_operator")
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        api_client.websocket_connect(f"/api/v1/live/ws?{parameter}={west}") as socket,
    ):
        socket.receive_json()
    assert closed.value.code == 4400
    assert "address" in closed.value.reason


def test_server_sent_events_stream(api_client: TestClient, accounts: Accounts) -> None:
    hub = api_client.app.state.hub
    with api_client.stream(
        "GET", "/api/v1/live/events", headers=accounts.headers("district_operator")
    ) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        assert hub.subscribers == 1
        event = report_incident(api_client)
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data.removeprefix("data: "))["event"]["id"] == event["id"]


def test_overdue_events_escalate_one_level(api_client: TestClient, accounts: Accounts) -> None:
    event_id = report_incident(api_client, severity="medium")["id"]  # community level, 60 min
    factory = api_client.app.state.session_factory
    policy = api_client.app.state.policy
    with factory() as session:
        assert escalate_overdue(session, policy) == []
        later = datetime.now(UTC) + timedelta(minutes=61)
        escalated = escalate_overdue(session, policy, now=later)
        assert [event.id for event in escalated] == [event_id]
    detail = api_client.get(f"/api/v1/events/{event_id}", headers=accounts.headers("admin")).json()
    assert (detail["level"], detail["escalations"], detail["status"]) == ("town", 1, "reported")
    assert detail["history"][-1]["actor"] == "user:deadline-watch"
    assert "past its deadline" in detail["history"][-1]["note"]
    with factory() as session:
        event = session.get(GridEvent, event_id)
        assert event is not None and event.deadline_at is not None
        assert event.deadline_at > later  # a fresh clock at the new level


def test_stats_add_up(
    api_client: TestClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four situations (zones), so four events rather than one with four occurrences.
    events = [report_incident(api_client, track_id=i, zone=f"zone-{i}")["id"] for i in range(4)]
    operator = "west_operator"
    act(api_client, accounts, operator, events[0], "reject", note="a shadow")
    act(api_client, accounts, operator, events[1], "confirm")
    act(api_client, accounts, operator, events[2], "confirm")
    act(api_client, accounts, operator, events[2], "dispatch")
    for action in ("accept", "resolve"):
        act(api_client, accounts, "education_handler", events[2], action)
    closed = act(api_client, accounts, "school_worker", events[2], "close", photos=[jpeg()])
    assert closed.status_code == 200, closed.text

    stats = api_client.get("/api/v1/stats", headers=accounts.headers("admin")).json()
    assert stats["events"] == 4
    assert stats["by_status"] == {"false_alarm": 1, "confirmed": 1, "closed": 1, "reported": 1}
    assert stats["closed"] == 1
    assert stats["closure_rate"] == round(1 / 3, 4)
    assert (
        stats["median_minutes_to_dispatch"] is not None
        and stats["median_minutes_to_close"] is not None
    )
    rate = stats["false_alarm_rate_by_camera"]["school-no1-gate"]
    assert rate == {"confirmed": 2, "false_alarms": 1, "rate": round(1 / 3, 4)}
    assert stats["false_alarm_rate_by_rule"]["intrusion"]["false_alarms"] == 1
    assert stats["open_by_department"] == {"education-bureau": 2}
    east = api_client.get("/api/v1/stats", headers=accounts.headers("east_operator")).json()
    assert east["events"] == 0
    # Ids are looked up in chunks (SQLite's parameter limit); one id a chunk counts the same.
    monkeypatch.setattr("api.figures.BATCH", 1)
    assert api_client.get("/api/v1/stats", headers=accounts.headers("admin")).json() == stats


def test_events_the_api_opens_by_itself_reach_the_wall_like_any_other(
    api_client: TestClient, accounts: Accounts
) -> None:
    """The deadline watch runs outside any request; its video-loss event must still arrive with
    the event itself, as the console's wall and map read it."""
    from api.health import mark_silent_cameras
    from tests.api.helpers import WORKER

    app = api_client.app
    assert (
        api_client.put(
            "/api/v1/cameras/school-no1-gate/health", json={"status": "online"}, headers=WORKER
        ).status_code
        == 204
    )
    west = token_of(accounts, "west_operator")
    with api_client.websocket_connect("/api/v1/live/ws", headers=bearer(west)) as socket:
        assert socket.receive_json()["type"] == "hello"
        with app.state.session_factory() as session:  # type: ignore[attr-defined]
            opened = mark_silent_cameras(
                session, app.state.policy,  # type: ignore[attr-defined]
                grace=timedelta(seconds=60), now=datetime.now(UTC) + timedelta(minutes=5),
            )  # fmt: skip
            loss = next(event for event in opened if event.camera_id == "school-no1-gate")
            loss_id = loss.id
        message = socket.receive_json()
    assert message["type"] == "event.created"
    assert message["event_id"] == message["event"]["id"] == loss_id
    assert message["event"]["camera_id"] == "school-no1-gate"
    assert message["event"]["category"] == "device_fault"
    assert message["level"] == message["event"]["level"]
    detail = api_client.get(f"/api/v1/events/{loss_id}", headers=accounts.headers("admin"))
    assert detail.json()["title"] == message["event"]["title"]
