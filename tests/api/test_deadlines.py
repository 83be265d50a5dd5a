"""Deadlines as the district policy sets them: per event code in working time, urgency tiers,
the severity default, the loader's errors, and the deadline an event gets through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.district import (
    DistrictPolicy,
    LimitUnit,
    PolicyError,
    TimeLimit,
    Urgency,
    check_time_limits,
    load_policy,
)
from api.escalation import escalate_overdue
from api.models import GridEvent
from api.taxonomy import load_taxonomy
from api.worktime import is_working_day
from tests.api.test_lifecycle import act
from tests.conftest import REPO, Accounts

DISTRICT = REPO / "camera_configs" / "district"
SHANGHAI_TUESDAY_4PM = datetime(2025, 9, 30, 8, 0, tzinfo=UTC)  # the eve of National Day


@pytest.fixture(scope="module")
def policy() -> DistrictPolicy:
    loaded = load_policy(DISTRICT / "policy.yaml")
    return loaded.model_copy(update={"taxonomy": load_taxonomy(DISTRICT / "taxonomy.yaml")})


@pytest.mark.parametrize(
    ("state", "severity", "code", "limit"),
    [
        # An event code's own limit beats the severity's minutes...
        ("handling", "low", "0102", TimeLimit(limit=1, unit=LimitUnit.working_days)),
        ("dispatched", "low", "0102", TimeLimit(limit=1, unit=LimitUnit.working_hours)),
        ("handling", "low", "0701", TimeLimit(limit=60, unit=LimitUnit.minutes)),
        # ...and the severity's minutes stay for the states and codes without one.
        ("reported", "low", "0102", TimeLimit(limit=240, unit=LimitUnit.minutes)),
        ("handling", "high", "0801", TimeLimit(limit=480, unit=LimitUnit.minutes)),
        ("handling", "medium", None, TimeLimit(limit=1440, unit=LimitUnit.minutes)),
        # Urgency tiers: the code's own tier limit, else the tier's factor.
        ("handling", "high", "0102", TimeLimit(limit=4, unit=LimitUnit.working_hours)),
        ("handling", "critical", "0102", TimeLimit(limit=2, unit=LimitUnit.working_hours)),
        ("handling", "high", "0104", TimeLimit(limit=2, unit=LimitUnit.working_hours)),
        ("handling", "critical", "0104", TimeLimit(limit=1, unit=LimitUnit.working_hours)),
        ("handling", "critical", "0701", TimeLimit(limit=15, unit=LimitUnit.minutes)),
    ],
)
def test_the_limit_of_a_state(
    policy: DistrictPolicy, state: str, severity: str, code: str | None, limit: TimeLimit
) -> None:
    assert policy.time_limit(state, severity, code) == limit


def test_urgency_tiers_come_from_severity(policy: DistrictPolicy) -> None:
    tiers = {severity: policy.urgency_for(severity) for severity in ("low", "high", "critical")}
    assert tiers == {
        "low": Urgency.general,
        "high": Urgency.urgent,
        "critical": Urgency.extra_urgent,
    }
    assert [tier.name_zh for tier in tiers.values()] == ["一般", "紧急", "特急"]


def test_deadlines_count_working_time_or_natural_time(policy: DistrictPolicy) -> None:
    since = SHANGHAI_TUESDAY_4PM
    # One working day from 16:00 before the National Day holiday: 16:00 on Thursday 9 October.
    assert policy.deadline("handling", "low", since, "0102") == datetime(
        2025, 10, 9, 8, 0, tzinfo=UTC
    )
    # An urgent one: 4 working hours, 1.5 of them that day, the rest from 08:30 on 9 October.
    assert policy.deadline("handling", "high", since, "0102") == datetime(
        2025, 10, 9, 3, 0, tzinfo=UTC
    )
    # Natural minutes for illegal parking and for a code without limits: holidays do not count.
    assert policy.deadline("handling", "low", since, "0701") == since + timedelta(minutes=60)
    assert policy.deadline("handling", "low", since, "0801") == since + timedelta(minutes=4320)
    assert policy.deadline("closed", "low", since, "0102") is None


def test_working_hours_and_zone_come_from_the_policy(tmp_path: Path) -> None:
    path = _policy_file(
        tmp_path,
        working_time={"timezone": "Asia/Urumqi", "hours": ["10:00-14:00", "15:30-19:30"]},
    )
    policy = load_policy(path)
    # Tuesday 30 Sep 18:00 in Urumqi (UTC+6): 1.5 h that day, 2.5 h from 10:00 on 9 October.
    since = datetime(2025, 9, 30, 12, 0, tzinfo=UTC)
    assert policy.deadline("handling", "high", since, "0102") == datetime(
        2025, 10, 9, 6, 30, tzinfo=UTC
    )


def _policy_file(tmp_path: Path, **changes: Any) -> Path:
    document = yaml.safe_load((DISTRICT / "policy.yaml").read_text(encoding="utf-8"))
    document.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


HANDLING = {"limit": 1, "unit": "working_days"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_limits": {"0102": {"closed": HANDLING}}}, "time_limits.0102.closed: not an open"),
        ({"time_limits": {"garbage": {"handling": HANDLING}}}, "time_limits.garbage: not an event"),
        (
            {"time_limits": {"0102": {"handling": {"limit": 1, "unit": "fortnights"}}}},
            "time_limits.0102.handling.unit",
        ),
        (
            {"time_limits": {"0102": {"handling": {"limit": 0, "unit": "minutes"}}}},
            "time_limits.0102.handling.limit",
        ),
        (
            {"time_limits": {"0102": {"handling": {**HANDLING, "urgentest": HANDLING}}}},
            "time_limits.0102.handling.urgentest",
        ),
        ({"working_time": {"timezone": "Asia/Nowhere"}}, "unknown time zone 'Asia/Nowhere'"),
        ({"working_time": {"hours": ["8:30-12:00"]}}, "'8:30-12:00' is not 'HH:MM-HH:MM'"),
        ({"working_time": {"hours": ["13:30-12:00"]}}, "13:30-12:00 ends before it starts"),
        ({"urgency": {"factors": {"urgent": 2}}}, "urgency.factors: urgent: 2.0 is not in (0, 1]"),
        ({"urgency": {"by_severity": {"high": "urgentest"}}}, "urgency.by_severity.high"),
    ],
)
def test_the_loader_names_file_field_and_reason(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = _policy_file(tmp_path, **changes)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_limits_for_a_code_outside_the_taxonomy_are_refused(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, time_limits={"0303": {"handling": HANDLING}})
    policy = load_policy(path).model_copy(
        update={"taxonomy": load_taxonomy(DISTRICT / "taxonomy.yaml")}
    )
    with pytest.raises(PolicyError, match=r"time_limits\.0303: not an event code in the taxonomy"):
        check_time_limits(policy, path)


def _at(detail: dict[str, Any], action: str) -> datetime:
    step = next(step for step in reversed(detail["history"]) if step["action"] == action)
    return datetime.fromisoformat(step["at"])


def test_an_event_with_a_working_day_code_gets_its_deadline_through_the_api(
    api_client: TestClient, accounts: Accounts, policy: DistrictPolicy
) -> None:
    operator = "district_operator"
    created = api_client.post(
        "/api/v1/events",
        headers=accounts.headers(operator),
        json={
            "source": "hotline_12345", "event_code": "0102", "title": "garbage by the gate",
            "location": {"lat": 30.2550, "lon": 120.1200},
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["severity"], event["urgency"], event["urgency_name_zh"]) == (
        "low",
        "general",
        "一般",
    )
    # Reported: the code names no limit for it, so the severity's 240 natural minutes.
    reported_at = datetime.fromisoformat(event["reported_at"])
    assert datetime.fromisoformat(event["deadline_at"]) - reported_at == timedelta(minutes=240)
    assert event["deadline_working_time"] is False

    calendar = policy.working_time.calendar
    assert act(api_client, accounts, operator, event["id"], "confirm").status_code == 200
    dispatched = act(api_client, accounts, operator, event["id"], "dispatch").json()
    # Dispatched: the department takes the case on within one working hour.
    assert datetime.fromisoformat(dispatched["deadline_at"]) == calendar.add_working_hours(
        datetime.fromisoformat(dispatched["dispatched_at"]), 1
    )
    accepted = act(api_client, accounts, "urban_handler", event["id"], "accept")
    assert accepted.status_code == 200, accepted.text
    detail = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers(operator))
    body = detail.json()
    assert (body["status"], body["department_id"]) == ("handling", "urban-management-bureau")
    accepted_at, deadline = _at(body, "accept"), datetime.fromisoformat(body["deadline_at"])
    assert deadline == calendar.add_working_days(accepted_at, 1)
    assert calendar.working_time_between(accepted_at, deadline) == timedelta(hours=7, minutes=30)
    local = deadline.astimezone(calendar.timezone)
    assert is_working_day(local.date())
    assert any(start <= local.time() <= end for start, end in calendar.periods)
    assert body["deadline_working_time"] is True

    # The evaluation's on-time figure is judged against that same working-day deadline.
    resolved = act(api_client, accounts, "urban_handler", event["id"], "resolve", note="cleared")
    assert resolved.status_code == 200, resolved.text
    detail = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers(operator))
    resolve = detail.json()["history"][-1]["details"]
    assert (datetime.fromisoformat(resolve["deadline_at"]), resolve["on_time"]) == (deadline, True)
    figures = api_client.get("/api/v1/evaluation", headers=accounts.headers(operator)).json()
    assert figures["total"]["handled_on_time"] == 1

    listed = api_client.get("/api/v1/events", headers=accounts.headers(operator)).json()
    assert any(
        item["id"] == event["id"] and item["urgency"] == "general" for item in listed["items"]
    )


def test_the_deadline_watch_restarts_a_working_day_clock(
    api_client: TestClient, accounts: Accounts, policy: DistrictPolicy
) -> None:
    operator = "district_operator"
    created = api_client.post(
        "/api/v1/events",
        headers=accounts.headers(operator),
        json={
            "source": "wechat", "event_code": "0106", "title": "bricks piled on the pavement",
            "location": {"lat": 30.2550, "lon": 120.1200},
        },
    )  # fmt: skip
    event_id = created.json()["id"]
    assert act(api_client, accounts, operator, event_id, "confirm").status_code == 200
    assert act(api_client, accounts, operator, event_id, "dispatch").status_code == 200
    assert act(api_client, accounts, "urban_handler", event_id, "accept").status_code == 200
    factory = api_client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        event = session.get(GridEvent, event_id)
        assert event is not None and event.deadline_at is not None
        later = event.deadline_at + timedelta(minutes=1)
        assert [e.id for e in escalate_overdue(session, policy, now=later)] == [event_id]
    with factory() as session:
        event = session.get(GridEvent, event_id)
        assert event is not None and event.status == "handling"
        # Piled materials: 3 working days, counted afresh from the escalation.
        assert event.deadline_at == policy.working_time.calendar.add_working_days(later, 3)
