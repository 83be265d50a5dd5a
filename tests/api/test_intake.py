"""Intake policy and acknowledgement: a video incident files a case at once or waits in the
alert queue for an operator's verdict, unverified alerts expire with a recorded reason, and an
operator acknowledges an event in one click without changing its state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.district import PolicyError, load_policy
from api.escalation import escalate_overdue, expire_unverified
from api.models import GridEvent
from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.test_deadlines import _policy_file
from tests.api.test_lifecycle import act
from tests.conftest import Accounts, seed_accounts

# The school camera's incidents are public_safety; loitering waits, intrusion expires in 30 min.
INTAKE = [
    {"category": "public_safety", "intake": "verify", "expire_after_minutes": 30},
    {"category": "public_safety", "rule": "loitering", "intake": "file"},
]


@pytest.fixture
def queue_client(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[TestClient]:
    """The API with a district policy whose public-safety alerts wait for verification."""
    policy = _policy_file(tmp_path, intake=INTAKE)
    with TestClient(create_app(settings_factory(database_url, district_file=policy))) as client:
        seed_accounts(client.app)
        yield client


def _detail(client: TestClient, accounts: Accounts, event_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/events/{event_id}", headers=accounts.headers("west_operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_alert_waits_unrouted_and_the_verdict_files_it(queue_client: TestClient) -> None:
    accounts = Accounts(queue_client)
    alert = report_incident(queue_client)
    assert (alert["status"], alert["intake"]) == ("reported", "verify")
    assert alert["department_id"] is None and alert["deadline_at"] is None
    reported_at = datetime.fromisoformat(alert["reported_at"])
    assert datetime.fromisoformat(alert["expires_at"]) - reported_at == timedelta(minutes=30)
    report = _detail(queue_client, accounts, alert["id"])["history"][0]
    assert report["details"]["intake"] == "verify" and report["details"]["expires_at"]
    # The deadline watch does not escalate what has no deadline.
    with queue_client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        assert escalate_overdue(session, queue_client.app.state.policy) == []  # type: ignore[attr-defined]

    confirmed = act(queue_client, accounts, "west_operator", alert["id"], "confirm")
    assert confirmed.status_code == 200, confirmed.text
    case = confirmed.json()
    assert (case["status"], case["department_id"]) == ("confirmed", "education-bureau")
    assert case["deadline_at"] is not None and case["expires_at"] is None
    assert case["history"][-1]["details"] == {"filed": True, "department_id": "education-bureau"}

    # A rule with an entry of its own follows it: loitering files at once.
    filed = report_incident(queue_client, rule="loitering", track_id=5)
    assert (filed["intake"], filed["department_id"]) == ("file", "education-bureau")
    assert filed["deadline_at"] is not None and filed["expires_at"] is None


def test_an_alert_nobody_verified_expires_with_its_reason(queue_client: TestClient) -> None:
    accounts = Accounts(queue_client)
    alert = report_incident(queue_client)
    verified = report_incident(queue_client, track_id=3, zone="playground")
    assert act(queue_client, accounts, "west_operator", verified["id"], "verify").status_code == 200
    # Operators do not expire alerts by hand; and a case is not an alert.
    assert "expire" not in _detail(queue_client, accounts, alert["id"])["actions"]
    refused = act(queue_client, accounts, "west_operator", alert["id"], "expire", note="old")
    assert refused.status_code == 403

    expires_at = datetime.fromisoformat(alert["expires_at"])
    app = queue_client.app
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        early = expire_unverified(session, app.state.policy, now=expires_at - timedelta(seconds=1))  # type: ignore[attr-defined]
        assert early == []
        later = expires_at + timedelta(seconds=1)
        expired = expire_unverified(session, app.state.policy, now=later)  # type: ignore[attr-defined]
        assert [event.id for event in expired] == [alert["id"]]
    detail = _detail(queue_client, accounts, alert["id"])
    assert detail["status"] == "expired" and detail["actions"] == []
    step = detail["history"][-1]
    assert (step["action"], step["from_status"], step["to_status"]) == (
        "expire", "reported", "expired"
    )  # fmt: skip
    assert (
        step["actor"] == "user:deadline-watch" and step["note"] == "not verified within 30 minutes"
    )
    assert step["details"]["reason"] == "unverified"
    # It has left the queue; the verified one stays a case.
    queue = queue_client.get(
        "/api/v1/events", params={"status": "reported"}, headers=accounts.headers("west_operator")
    ).json()
    assert queue["total"] == 0
    assert _detail(queue_client, accounts, verified["id"])["status"] == "verifying"


def test_acknowledgement_is_one_click_recorded_once_and_changes_no_state(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_incident(api_client)
    assert "acknowledge" in _detail(api_client, accounts, event["id"])["actions"]
    for user in ("school_worker", "education_handler", "school_owner"):
        assert act(api_client, accounts, user, event["id"], "acknowledge").status_code in (403, 404)
    acknowledged = act(api_client, accounts, "west_operator", event["id"], "acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    body = acknowledged.json()
    assert body["status"] == "reported" and body["deadline_at"] == event["deadline_at"]
    assert body["acknowledged_by"] == "west_operator" and body["acknowledged_at"]
    assert "acknowledge" not in body["actions"]
    step = body["history"][-1]
    assert (step["action"], step["actor"], step["from_status"], step["to_status"]) == (
        "acknowledge", "user:west_operator", "reported", "reported"
    )  # fmt: skip
    again = act(api_client, accounts, "district_operator", event["id"], "acknowledge")
    assert again.status_code == 409 and "west_operator" in again.json()["detail"]
    listed = api_client.get("/api/v1/events", headers=accounts.headers("west_operator")).json()
    assert listed["items"][0]["acknowledged_by"] == "west_operator"


@pytest.mark.parametrize(
    ("intake", "message"),
    [
        ([{"category": "public_safety", "intake": "later"}], "intake.0.intake"),
        ([{"category": "weather", "intake": "verify"}], "intake.0.category"),
        (
            [{"category": "public_safety", "intake": "file", "expire_after_minutes": 5}],
            "only alerts that wait (intake: verify) expire",
        ),
        (
            [{"category": "public_safety", "intake": "verify", "expire_after_minutes": 0}],
            "intake.0.expire_after_minutes",
        ),
        (
            [{"category": "public_safety", "rule": "dancing", "intake": "verify"}],
            "intake.0.rule: unknown rule kind 'dancing'",
        ),
        (
            [
                {"category": "fire_hazard", "intake": "verify"},
                {"category": "fire_hazard", "intake": "file"},
            ],
            "intake.1: a second entry for fire_hazard",
        ),
    ],
)
def test_the_loader_names_file_field_and_reason_of_an_intake(
    tmp_path: Path, intake: list[dict[str, Any]], message: str
) -> None:
    path = _policy_file(tmp_path, intake=intake)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_the_shipped_policy_files_every_incident_at_once(tmp_path: Path) -> None:
    from tests.api.test_deadlines import DISTRICT

    policy = load_policy(DISTRICT / "policy.yaml")
    assert policy.intake_for("public_safety", "intrusion") is None


def test_expired_is_a_final_state(queue_client: TestClient) -> None:
    alert = report_incident(queue_client)
    app = queue_client.app
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        event = session.get(GridEvent, alert["id"])
        assert event is not None and event.expires_at is not None
        expire_unverified(session, app.state.policy, now=event.expires_at + timedelta(minutes=1))  # type: ignore[attr-defined]
    accounts = Accounts(queue_client)
    refused = act(queue_client, accounts, "west_operator", alert["id"], "confirm")
    assert refused.status_code == 409
