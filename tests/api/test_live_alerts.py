"""Every change to a grid event, by whichever route, reaches each viewer in scope exactly once,
after it commits; a change that fails or rolls back reaches nobody."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.escalation import escalate_overdue
from api.health import mark_silent_cameras
from api.lifecycle import ActionRequest, apply_action
from api.live import Audience, LiveHub, Subscription, ViewerScope
from api.models import GridEvent, User
from api.principal import Principal
from tests.api.helpers import WORKER, report_incident
from tests.api.test_cameras import GATE
from tests.api.test_lifecycle import act
from tests.conftest import Accounts
from tests.factories import incident_form, incident_metadata, jpeg

# Viewers of every role and reach: the whole district, each street, a grid cell, a department,
# a camera owner.
VIEWERS = (
    "district_operator",
    "west_operator",
    "east_operator",
    "school_worker",
    "education_handler",
    "urban_handler",
    "school_owner",
)
WEST = {"lat": 30.2550, "lon": 120.1200}  # grid cell D01-T01-C01-G01, the school's
EAST = {"lat": 30.29, "lon": 120.19}


@dataclass
class Viewer:
    name: str
    scope: ViewerScope
    subscription: Subscription


@dataclass
class LiveWall:
    """Live subscriptions of the VIEWERS, read after each step up to a marker sent behind it."""

    client: TestClient
    accounts: Accounts
    viewers: list[Viewer]
    _markers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def hub(self) -> LiveHub:
        hub: LiveHub = self.client.app.state.hub  # type: ignore[attr-defined]
        return hub

    def received(self) -> dict[str, list[dict[str, Any]]]:
        """What each viewer got since the last call. A marker sent now through the same hub
        (and, on PostgreSQL, the same NOTIFY channel) arrives after everything sent before."""
        marker = next(self._markers)
        for viewer in self.viewers:
            scope = viewer.scope
            self.hub.publish(
                {"type": "marker", "marker": marker, "to": viewer.name},
                Audience(  # one the viewer sees, whatever its role
                    grid_id=next(iter(scope.grid_ids), None),
                    grid_path=scope.region_path or "",
                    department_id=scope.department_id,
                    organisation_id=scope.organisation_id,
                ),
            )
        return {viewer.name: self._until(viewer, marker) for viewer in self.viewers}

    def _until(self, viewer: Viewer, marker: int) -> list[dict[str, Any]]:
        async def next_message() -> str:
            return await asyncio.wait_for(viewer.subscription.queue.get(), 15)

        messages = []
        while True:
            message = json.loads(self.client.portal.call(next_message))  # type: ignore[union-attr]
            if message["type"] != "marker":
                messages.append(message)
            elif (message["marker"], message["to"]) == (marker, viewer.name):
                return messages

    def sees(self, viewer: str, event_id: int) -> bool:
        """Whether the viewer may open the event in the API, as it stands now."""
        headers = self.accounts.headers(viewer)
        response = self.client.get(f"/api/v1/events/{event_id}", headers=headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    def expect(self, changes: dict[int, str]) -> None:
        """Each viewer got exactly one message of the given type per changed event it sees."""
        received = self.received()
        assert any(received.values()) or not changes, "nobody was told"
        for viewer in VIEWERS:
            expected = sorted(
                (event_id, kind)
                for event_id, kind in changes.items()
                if self.sees(viewer, event_id)
            )
            got = sorted((message["event_id"], message["type"]) for message in received[viewer])
            assert got == expected, viewer
            for message in received[viewer]:
                _check_message(message)

    def expect_nothing(self) -> None:
        assert self.received() == {viewer: [] for viewer in VIEWERS}


def _check_message(message: dict[str, Any]) -> None:
    """The event as the API shows it, its links the same for every viewer (site-root paths)."""
    event = message["event"]
    assert event["id"] == message["event_id"] and message["level"] == event["level"]
    for url in (event["snapshot_url"], (event["incident"] or {}).get("clip_url")):
        assert url is None or url.startswith("/api/v1/incidents/"), url


@pytest.fixture
def wall(api_client: TestClient, accounts: Accounts) -> Iterator[LiveWall]:
    hub: LiveHub = api_client.app.state.hub  # type: ignore[attr-defined]
    with (
        api_client.app.state.session_factory() as session,  # type: ignore[attr-defined]
        contextlib.ExitStack() as stack,
    ):
        viewers = []
        for name in VIEWERS:
            user = session.scalars(select(User).where(User.username == name)).one()
            scope = ViewerScope.of(Principal(user.role, user.username, user))
            viewers.append(Viewer(name, scope, stack.enter_context(hub.subscription(scope))))
        yield LiveWall(api_client, accounts, viewers)


def _post_event(wall: LiveWall, user: str, **fields: Any) -> Any:
    return wall.client.post("/api/v1/events", json=fields, headers=wall.accounts.headers(user))


def _act(wall: LiveWall, user: str, event_id: int, action: str, **form: Any) -> None:
    response = act(wall.client, wall.accounts, user, event_id, action, **form)
    assert response.status_code == 200, response.text


def _health(wall: LiveWall, status: str, **fields: Any) -> None:
    response = wall.client.put(
        "/api/v1/cameras/school-no1-gate/health", json={"status": status, **fields}, headers=WORKER
    )
    assert response.status_code == 204, response.text


def test_every_route_that_changes_an_event_announces_it_once_in_scope(wall: LiveWall) -> None:
    client, accounts = wall.client, wall.accounts
    wall.expect_nothing()

    # Reported by a person: a manual event in the west, a grid worker's, a hotline one in the east.
    west = _post_event(
        wall, "west_operator", source="manual", category="public_safety", title="A fight",
        location=WEST,
    )  # fmt: skip
    assert west.status_code == 201, west.text
    wall.expect({west.json()["id"]: "event.created"})
    east = _post_event(
        wall, "district_operator", source="hotline_12345", category="urban_management",
        title="Bins", location=EAST,
    )  # fmt: skip
    wall.expect({east.json()["id"]: "event.created"})

    # Open311, with a worker token.
    issued = client.post(
        "/api/v1/tokens",
        headers=accounts.headers("admin"),
        json={"name": "hotline-12345", "scopes": ["open311"]},
    )
    posted = client.post(
        "/open311/v2/requests.json",
        data={"api_key": issued.json()["token"], "service_code": "urban_management",
              "lat": str(WEST["lat"]), "long": str(WEST["lon"]), "description": "Bins"},
    )  # fmt: skip
    assert posted.status_code == 201, posted.text
    wall.expect({int(posted.json()[0]["service_request_id"]): "event.created"})

    # An incident from a worker; the same incident again is no change.
    snapshot = jpeg(shade=7)
    metadata = incident_metadata(snapshot)
    first = client.post("/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot))
    assert first.status_code == 201, first.text
    incident = first.json()["id"]
    wall.expect({incident: "event.created"})
    again = client.post("/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot))
    assert again.status_code == 200
    wall.expect_nothing()

    # Every lifecycle action, each its own change.
    worker_id = accounts.user_id("school_worker")
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("west_operator", "acknowledge", {}),
        ("west_operator", "verify", {"assignee_id": worker_id}),
        ("school_worker", "comment", {"note": "on my way"}),
        ("school_worker", "confirm", {"note": "at the gate", "photos": [jpeg(shade=40)]}),
        ("west_operator", "escalate", {"note": "needs the street office"}),
        ("west_operator", "dispatch", {"department_id": "education-bureau"}),
        ("education_handler", "accept", {}),
        ("education_handler", "resolve", {"note": "moved on"}),
        ("school_worker", "rework", {"note": "still there"}),
        ("education_handler", "resolve", {"note": "gone now"}),
        ("school_worker", "close", {"photos": [jpeg(shade=90)]}),
    ]
    for user, action, form in steps:
        _act(wall, user, incident, action, **form)
        wall.expect({incident: "event.escalated" if action == "escalate" else "event.updated"})
    second = report_incident(client, track_id=8)["id"]
    wall.expect({second: "event.created"})
    _act(wall, "west_operator", second, "reject", note="a shadow")
    wall.expect({second: "event.updated"})
    third = report_incident(client, track_id=9)["id"]
    fourth = report_incident(client, track_id=10, zone="playground")["id"]
    wall.expect({third: "event.created", fourth: "event.created"})
    _act(wall, "west_operator", fourth, "merge", into_event_id=third, note="same people")
    wall.expect({fourth: "event.updated"})
    for user, action, form in [
        ("west_operator", "confirm", {}),
        ("west_operator", "dispatch", {}),
        ("education_handler", "accept", {}),
        ("education_handler", "resolve", {"note": "done"}),
        ("west_operator", "operator_close", {"note": "seen on camera"}),
    ]:
        _act(wall, user, third, action, **form)
        wall.expect({third: "event.updated"})

    # Requests that fail change nothing and tell nobody: refused before any change, and refused
    # after the change was flushed (a photo that is no image rolls the action back).
    assert act(client, accounts, "education_handler", second, "accept").status_code == 409
    refused = act(client, accounts, "school_worker", third, "comment", photos=[b"%PDF-1.4"])
    assert refused.status_code == 415, refused.text
    wall.expect_nothing()

    # Cameras: registering one changes no event; its health opens and closes a video-loss event.
    registered = client.post("/api/v1/cameras", json=GATE, headers=accounts.headers("school_owner"))
    assert registered.status_code == 201, registered.text
    _health(wall, "online", fps=10.0)
    wall.expect_nothing()
    lost = (datetime.now(UTC) - timedelta(seconds=120)).isoformat()
    _health(wall, "offline", offline_since=lost, error="stream lost")
    (loss,) = wall.received()["district_operator"]
    assert (loss["type"], loss["event"]["category"]) == ("event.created", "device_fault")
    _health(wall, "offline", offline_since=lost, error="stream lost")
    wall.expect_nothing()  # the same outage: the open event stands
    _health(wall, "online", fps=10.0)
    wall.expect({loss["event_id"]: "event.updated"})


def test_the_deadline_watch_announces_what_it_changes(wall: LiveWall) -> None:
    """The watch runs outside any request; what it changes reaches the wall all the same."""
    client = wall.client
    app: Any = client.app
    event_id = report_incident(client, severity="medium")["id"]
    wall.expect({event_id: "event.created"})
    _health(wall, "online")
    wall.expect_nothing()
    later = datetime.now(UTC) + timedelta(minutes=61)
    with app.state.session_factory() as session:
        assert [event.id for event in escalate_overdue(session, app.state.policy, now=later)] == [
            event_id
        ]
    wall.expect({event_id: "event.escalated"})
    with app.state.session_factory() as session:
        opened = mark_silent_cameras(
            session, app.state.policy, grace=timedelta(seconds=60), now=later
        )
        (loss,) = [event.id for event in opened if event.camera_id == "school-no1-gate"]
        others = {event.id: "event.created" for event in opened if event.id != loss}
    wall.expect({loss: "event.created", **others})


def test_a_change_rolled_back_is_announced_to_nobody(wall: LiveWall) -> None:
    app: Any = wall.client.app
    event_id = report_incident(wall.client)["id"]
    wall.expect({event_id: "event.created"})
    with app.state.session_factory() as session:
        event = session.get(GridEvent, event_id)
        assert event is not None
        operator = Principal("operator", "someone")
        apply_action(session, event, "confirm", operator, ActionRequest(), app.state.policy)
        session.rollback()
    wall.expect_nothing()
    with app.state.session_factory() as session:
        event = session.get(GridEvent, event_id)
        assert event is not None and event.status == "reported"
        apply_action(session, event, "confirm", operator, ActionRequest(), app.state.policy)
        session.commit()
    wall.expect({event_id: "event.updated"})
