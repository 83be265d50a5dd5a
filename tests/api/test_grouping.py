"""One situation, one item: incidents of one camera, rule and zone join an open event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, insert, select
from sqlalchemy.orm import Session

from api import migrate
from api.app import create_app
from api.db import make_engine
from api.events import Registration, register_incident
from api.grouping import ONGOING_QUIET
from api.models import GridEvent, Incident
from contract.incident import IncidentReport
from tests.api.helpers import WORKER
from tests.conftest import REPO, Accounts, _postgres_database
from tests.factories import incident_form, incident_metadata, jpeg

T0 = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def post(client: TestClient, **overrides: Any) -> Any:
    """Post an incident as a worker; the response (201 for a new incident, 200 for a repeat)."""
    snapshot = jpeg(shade=int(overrides.pop("shade", 128)))
    metadata = incident_metadata(snapshot, **overrides)
    return client.post("/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot))


def report(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = post(client, **overrides)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def events(client: TestClient, accounts: Accounts) -> list[dict[str, Any]]:
    page = client.get("/api/v1/events", headers=accounts.headers("admin")).json()
    items: list[dict[str, Any]] = page["items"]
    return items


def test_a_repeat_within_the_window_joins_the_open_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    first = report(api_client, detected_at=T0, track_id=7, confidence=0.6, shade=40)
    second = report(
        api_client, detected_at=T0 + timedelta(minutes=20), track_id=9, object_class="bicycle",
        confidence=0.9, shade=200, ongoing=True,
    )  # fmt: skip

    assert second["id"] == first["id"]
    assert [event["id"] for event in events(api_client, accounts)] == [first["id"]]
    assert second["occurrence_count"] == 2
    assert datetime.fromisoformat(second["first_seen_at"]) == T0 - timedelta(seconds=2)
    assert datetime.fromisoformat(second["last_seen_at"]) == T0 + timedelta(minutes=20)
    # It still went on when last seen, two days ago: long past the quiet period, so not now.
    assert second["ongoing"] is False
    assert datetime.fromisoformat(second["ongoing_until"]) == T0 + timedelta(minutes=22)
    assert second["object_classes"] == ["person", "bicycle"]
    assert second["track_ids"] == [7, 9]
    # The event still shows the incident that opened it; its picture is the most confident one.
    assert second["incident"]["id"] == first["incident"]["id"]
    picture = api_client.get(second["snapshot_url"], headers=accounts.headers("admin"))
    assert picture.content == jpeg(shade=200)

    page = api_client.get(
        f"/api/v1/events/{first['id']}/occurrences", headers=accounts.headers("west_operator")
    ).json()
    assert page["total"] == 2
    assert [item["object_class"] for item in page["items"]] == ["bicycle", "person"]
    assert page["items"][1]["incident_id"] == first["incident"]["id"]
    # Each occurrence says where its object was, so a region (a suppression) can be checked.
    assert page["items"][1]["box_xyxy"] == first["incident"]["box_xyxy"]
    assert [page["items"][1]["frame_width"], page["items"][1]["frame_height"]] == [
        first["incident"]["frame_width"], first["incident"]["frame_height"],
    ]  # fmt: skip
    assert page["items"][0]["clip_url"] is None
    snapshot = api_client.get(page["items"][1]["snapshot_url"], headers=accounts.headers("admin"))
    assert snapshot.content == jpeg(shade=40)
    # Scoped like the event: the east operator sees neither the event nor its occurrences.
    hidden = api_client.get(
        f"/api/v1/events/{first['id']}/occurrences", headers=accounts.headers("east_operator")
    )
    assert hidden.status_code == 404

    # One step in the audit trail for the first repeat, not one per occurrence.
    detail = api_client.get(f"/api/v1/events/{first['id']}", headers=accounts.headers("admin"))
    assert [step["action"] for step in detail.json()["history"]] == ["report", "occurrence"]


def test_ongoing_clears_once_the_situation_is_not_seen_for_the_quiet_period(
    api_client: TestClient, accounts: Accounts
) -> None:
    now = datetime.now(UTC)
    # Last seen going on six minutes ago, and not since: it has ended, no new message needed.
    stale = report(api_client, detected_at=now - timedelta(minutes=6), track_id=1, ongoing=True)
    assert (stale["ongoing"], stale["occurrence_count"]) == (False, 1)
    assert datetime.fromisoformat(stale["ongoing_until"]) == now - timedelta(minutes=4)
    # Seen again going on a moment ago: ongoing for the quiet period after that.
    fresh = report(api_client, detected_at=now - timedelta(seconds=5), track_id=2, ongoing=True)
    assert fresh["id"] == stale["id"]
    assert fresh["ongoing"] is True
    until = datetime.fromisoformat(fresh["ongoing_until"])
    assert until == now - timedelta(seconds=5) + ONGOING_QUIET
    listed = events(api_client, accounts)
    assert [(item["id"], item["ongoing"]) for item in listed] == [(stale["id"], True)]
    # An occurrence that ended (its clip saw the condition stop) ends it at once.
    ended = report(api_client, detected_at=now - timedelta(seconds=2), track_id=3, ongoing=False)
    assert (ended["ongoing"], ended["ongoing_until"]) == (False, None)


def test_occurrences_page_newest_first(api_client: TestClient, accounts: Accounts) -> None:
    for minute in range(12):
        event = report(api_client, detected_at=T0 + timedelta(minutes=minute), track_id=minute)
    assert event["occurrence_count"] == 12
    url = f"/api/v1/events/{event['id']}/occurrences?limit=5&offset=5"
    page = api_client.get(url, headers=accounts.headers("admin")).json()
    assert (page["total"], page["limit"], page["offset"]) == (12, 5, 5)
    assert [item["track_id"] for item in page["items"]] == [6, 5, 4, 3, 2]
    detail = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers("admin"))
    assert [step["details"].get("occurrence_count") for step in detail.json()["history"]] == [
        None, 2, 10,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({}, {"detected_at": T0 + timedelta(minutes=31)}, id="after-the-window"),
        pytest.param({}, {"zone": "playground"}, id="another-zone"),
        pytest.param({}, {"rule": "loitering"}, id="another-rule"),
        pytest.param({}, {"camera_id": "public-square-north"}, id="another-camera"),
        pytest.param(
            {"rule": "line_crossing", "zone": "gate_line", "details": {"direction": "in"}},
            {"rule": "line_crossing", "zone": "gate_line", "details": {"direction": "out"}},
            id="another-direction",
        ),
    ],
)
def test_another_situation_or_a_late_repeat_opens_a_new_event(
    api_client: TestClient, accounts: Accounts, first: dict[str, Any], second: dict[str, Any]
) -> None:
    opened = report(api_client, detected_at=T0, **first)
    again = report(api_client, **{"detected_at": T0 + timedelta(minutes=1), **first, **second})

    assert again["id"] != opened["id"]
    assert (opened["occurrence_count"], again["occurrence_count"]) == (1, 1)
    assert len(events(api_client, accounts)) == 2


def test_line_crossings_of_one_direction_are_counted_on_one_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    crossing = {"rule": "line_crossing", "zone": "gate_line", "details": {"direction": "in"}}
    for person in range(5):
        event = report(
            api_client, detected_at=T0 + timedelta(seconds=40 * person), track_id=person,
            **crossing,
        )  # fmt: skip
    assert event["occurrence_count"] == 5
    assert event["track_ids"] == [0, 1, 2, 3, 4]
    assert len(events(api_client, accounts)) == 1


def _dispatch(client: TestClient, accounts: Accounts, event_id: int) -> None:
    for action in ("confirm", "dispatch"):
        response = client.post(
            f"/api/v1/events/{event_id}/actions/{action}", headers=accounts.headers("west_operator")
        )
        assert response.status_code == 200, response.text


def test_a_dispatched_event_absorbs_repeats_only_where_the_policy_says(
    api_client: TestClient, accounts: Accounts
) -> None:
    # public_safety: a repeat after dispatch is a new case.
    intrusion = report(api_client, detected_at=T0)
    _dispatch(api_client, accounts, intrusion["id"])
    later = report(api_client, detected_at=T0 + timedelta(minutes=2))
    assert later["id"] != intrusion["id"]

    # fire_hazard (policy.yaml: absorb_dispatched): the crew already sent needs no second case.
    fire = {"rule": "fire", "zone": "kitchen", "category": "fire_hazard"}
    smoke = report(api_client, detected_at=T0, **fire)
    _dispatch(api_client, accounts, smoke["id"])
    again = report(api_client, detected_at=T0 + timedelta(minutes=2), **fire)
    assert again["id"] == smoke["id"]
    assert (again["status"], again["occurrence_count"]) == ("dispatched", 2)


def _set_rule_grouping(client: TestClient, accounts: Accounts, grouping: dict[str, Any]) -> None:
    """The school camera file with its intrusion rule's `grouping:` block, through the API."""
    camera = yaml.safe_load((REPO / "camera_configs" / "school_gate.yaml").read_text())
    rules = [
        {**rule, "grouping": grouping} if rule["kind"] == "intrusion" else rule
        for rule in camera["rules"]
    ]
    response = client.patch(
        "/api/v1/cameras/school-no1-gate",
        headers=accounts.headers("school_owner"),
        json={"rules": rules},
    )
    assert response.status_code == 200, response.text


def test_the_camera_file_overrides_the_policy_per_rule(
    api_client: TestClient, accounts: Accounts
) -> None:
    _set_rule_grouping(api_client, accounts, {"window_s": 0})
    first = report(api_client, detected_at=T0)
    second = report(api_client, detected_at=T0 + timedelta(seconds=5))
    assert first["id"] != second["id"]

    # A wider window than the district's, and repeats after dispatch still join.
    _set_rule_grouping(api_client, accounts, {"window_s": 7200, "absorb_dispatched": True})
    _dispatch(api_client, accounts, second["id"])
    third = report(api_client, detected_at=T0 + timedelta(minutes=90))
    assert third["id"] == second["id"]
    assert third["occurrence_count"] == 2

    bad = api_client.patch(
        "/api/v1/cameras/school-no1-gate",
        headers=accounts.headers("school_owner"),
        json={"rules": [{"kind": "intrusion", "zone": "gate_path", "grouping": {"window_s": -1}}]},
    )
    assert bad.status_code == 422


def test_reposting_an_occurrence_changes_nothing(
    api_client: TestClient, accounts: Accounts
) -> None:
    snapshot = jpeg()
    first = report(api_client, detected_at=T0)
    metadata = incident_metadata(snapshot, detected_at=T0 + timedelta(minutes=1))
    form = incident_form(metadata, snapshot)

    joined = api_client.post("/api/v1/incidents", headers=WORKER, **form)
    again = api_client.post("/api/v1/incidents", headers=WORKER, **form)

    assert (joined.status_code, again.status_code) == (201, 200)
    assert joined.json()["id"] == again.json()["id"] == first["id"]
    assert again.json()["occurrence_count"] == 2


def test_manual_events_are_not_grouped(api_client: TestClient, accounts: Accounts) -> None:
    video = report(api_client, detected_at=T0)
    body = {
        "source": "hotline_12345", "category": "public_safety", "severity": "high",
        "title": "people at the school gate", "description": "caller says a group is there",
        "location": {"lat": 30.2550, "lon": 120.1200}, "occurred_at": T0.isoformat(),
    }  # fmt: skip
    response = api_client.post(
        "/api/v1/events", headers=accounts.headers("west_operator"), json=body
    )
    assert response.status_code == 201, response.text
    assert response.json()["occurrence_count"] == 1
    candidates = api_client.get(
        f"/api/v1/events/{response.json()['id']}/merge-candidates",
        headers=accounts.headers("west_operator"),
    ).json()
    assert [candidate["event"]["id"] for candidate in candidates] == [video["id"]]


@pytest.fixture
def postgres_api(postgres_server: str, settings_factory: Any) -> Iterator[TestClient]:
    """The API on a fresh PostgreSQL database, where API processes can race."""
    for url in _postgres_database(postgres_server):
        with TestClient(create_app(settings_factory(url))) as client:
            yield client


@pytest.mark.postgres
def test_one_situation_reported_at_once_to_two_api_processes_opens_one_event(
    postgres_api: TestClient, tmp_path: Path
) -> None:
    """Each thread plays an API process: its own session and connection, all at the same
    moment, each with its own incident of one situation."""
    app: Any = postgres_api.app
    start = threading.Barrier(8)
    results: list[tuple[int, Registration]] = []
    errors: list[BaseException] = []

    def register(index: int) -> None:
        snapshot = jpeg(shade=index)
        report = IncidentReport.model_validate(
            incident_metadata(snapshot, detected_at=T0 + timedelta(seconds=index))
        )
        with app.state.session_factory() as session:
            start.wait()
            try:
                event, done = register_incident(
                    session, report, snapshot, evidence_root=tmp_path / "evidence",
                    actor="worker:edge-1", policy=app.state.policy,
                )  # fmt: skip
                results.append((event.id, done))
            except BaseException as err:  # asserted below, in the test's own thread
                errors.append(err)

    threads = [threading.Thread(target=register, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({event_id for event_id, _ in results}) == 1
    assert sorted(done.value for _, done in results) == ["joined"] * 7 + ["opened"]
    with app.state.session_factory() as session:
        (event,) = session.scalars(select(GridEvent)).all()
        assert event.occurrence_count == 8


def test_stats_and_evaluation_count_events_and_occurrences_apart(
    api_client: TestClient, accounts: Accounts
) -> None:
    for minute in range(3):
        report(api_client, detected_at=T0 + timedelta(minutes=minute), track_id=minute)
    report(api_client, detected_at=T0, zone="playground")
    admin = accounts.headers("admin")

    stats = api_client.get("/api/v1/stats", headers=admin).json()
    assert (stats["events"], stats["occurrences"]) == (2, 4)
    total = api_client.get("/api/v1/evaluation", headers=admin).json()["total"]
    assert (total["reported"], total["occurrences"]) == (2, 4)


def test_upgrade_gives_existing_events_one_occurrence_each(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine, "0009")
        tables = MetaData()
        tables.reflect(engine)
        opened, now = T0 - timedelta(days=3), datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(insert(tables.tables["organisation"]), [
                {"id": "no1-primary-school", "name": "No.1", "kind": "education",
                 "created_at": now},
            ])  # fmt: skip
            connection.execute(insert(tables.tables["camera"]), [
                {"id": "school-no1-gate", "name": "gate", "organisation_id": "no1-primary-school",
                 "source_display": "file://clip", "lat": 30.255, "lon": 120.12, "enabled": True,
                 "config": {}, "status": "unknown", "health": {}, "created_at": now,
                 "updated_at": now},
            ])  # fmt: skip
            metadata = incident_metadata(jpeg(), detected_at=opened, track_ids=[7, 8])
            incident = {
                key: metadata[key]
                for key in ("id", "camera_id", "rule", "zone", "category", "severity", "summary",
                            "track_id", "object_class", "confidence", "box_xyxy", "frame_width",
                            "frame_height", "model_name", "model_version", "rule_parameters",
                            "snapshot_sha256", "track_ids")
            }  # fmt: skip
            connection.execute(insert(tables.tables["incident"]), [{
                **incident, "started_at": opened, "detected_at": opened, "details": {},
                "snapshot_path": "a.jpg", "reported_by": "worker", "received_at": opened,
            }])  # fmt: skip
            common = {
                "category": "public_safety", "severity": "high", "status": "reported",
                "description": "", "address": "", "reporter": "", "level": "community",
                "escalations": 0, "reworks": 0, "occurred_at": opened, "reported_at": opened,
                "updated_at": opened,
            }  # fmt: skip
            connection.execute(insert(tables.tables["grid_event"]), [
                {**common, "source": "video", "incident_id": incident["id"], "title": "video",
                 "camera_id": "school-no1-gate"},
                {**common, "source": "hotline_12345", "incident_id": None, "title": "a call",
                 "camera_id": None},
            ])  # fmt: skip

        migrate.upgrade(engine)

        with Session(engine) as session:
            video, hotline = session.scalars(select(GridEvent).order_by(GridEvent.id)).all()
            assert (video.occurrence_count, hotline.occurrence_count) == (1, 1)
            assert video.first_seen_at == video.last_seen_at == opened
            assert hotline.first_seen_at == hotline.last_seen_at == opened
            assert (video.ongoing, hotline.ongoing) == (False, False)
            assert video.group_key == "school-no1-gate|intrusion|gate_path"
            assert hotline.group_key is None
            assert video.best_incident_id == incident["id"]
            assert video.objects_involved == {"classes": ["person"], "track_ids": [7, 8]}
            assert hotline.objects_involved == {}
            assert session.get(Incident, incident["id"]).grid_event_id == video.id  # type: ignore[union-attr]
    finally:
        engine.dispose()
