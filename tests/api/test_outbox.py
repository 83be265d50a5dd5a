"""The delivery outbox: rows commit with the change, claims are exclusive, leases expire."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.db import make_engine, session_factory
from api.escalation import escalate_overdue
from api.integrations import outbox
from api.integrations.delivery import RetryPolicy
from api.integrations.outbox import AttemptResult
from api.lifecycle import ActionRequest, apply_action
from api.models import DeliveryAttempt, GridEvent, OutboundDelivery
from api.principal import Principal
from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.integration_helpers import create_webhook
from tests.conftest import Accounts, seed_accounts


@pytest.fixture
def client(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_factory(database_url, outbox_poll_s=0))) as client:
        seed_accounts(client.app, names=("admin",))
        create_webhook(client, Accounts(client).headers("admin"), url="http://127.0.0.1:9/")
        yield client


def _rows(client: TestClient) -> list[OutboundDelivery]:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(OutboundDelivery).order_by(OutboundDelivery.id)))


def test_rows_commit_and_roll_back_with_the_change(client: TestClient) -> None:
    event_id = report_incident(client)["id"]
    assert [(row.event_type, row.grid_event_id) for row in _rows(client)] == [
        ("event.created", event_id)
    ]
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    policy = client.app.state.policy  # type: ignore[attr-defined]
    operator = Principal("operator", "someone")
    with factory() as session:
        event = session.get(GridEvent, event_id)
        apply_action(session, event, "confirm", operator, ActionRequest(), policy)
        session.rollback()
    assert len(_rows(client)) == 1  # the change never happened, so nothing was queued

    # A change made outside any request (the deadline watch) is queued all the same.
    with factory() as session:
        escalated = escalate_overdue(session, policy, now=datetime.now(UTC) + timedelta(days=1))
    assert [event.id for event in escalated] == [event_id]
    escalation = _rows(client)[-1]
    assert (escalation.event_type, escalation.payload["action"]) == ("event.updated", "escalate")
    before, after = escalation.payload["before"], escalation.payload["event"]
    assert (before["escalations"], after["escalations"]) == (0, 1)
    assert before["level"] != after["level"]


def test_a_new_event_and_its_occurrences_are_queued_as_they_were_and_are(
    client: TestClient,
) -> None:
    """Incident intake writes these rows outside the unit of work (api.events): what receivers
    get must still be what the database holds, before and after each change."""
    detected = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)
    opened = report_incident(client, detected_at=detected, confidence=0.6)
    first_id = opened["incident"]["id"]
    seconds = (10, 20)
    joined = [
        report_incident(
            client,
            detected_at=detected + timedelta(seconds=s),
            confidence=0.6 + s / 100,
            track_id=s,
            details={"ongoing": s == 10},
        )
        for s in seconds
    ]
    assert {event["id"] for event in joined} == {opened["id"]}  # occurrences of one event
    created, *updated = _rows(client)
    assert (created.event_type, created.payload["action"], created.payload["before"]) == (
        "event.created", "report", None,
    )  # fmt: skip
    event = created.payload["event"]
    assert (event["id"], event["occurrence_count"], event["incident"]["id"]) == (
        opened["id"], 1, first_id,
    )  # fmt: skip
    assert event["incident"]["grid_event_id"] == opened["id"]  # the link, as committed
    # The second is the count's first milestone (a history step), the third is not.
    assert [(row.event_type, row.payload["action"]) for row in updated] == [
        ("event.updated", "occurrence"), ("event.updated", None),
    ]  # fmt: skip
    for row, count in zip(updated, (2, 3), strict=True):
        before, after = row.payload["before"], row.payload["event"]
        assert (before["occurrence_count"], after["occurrence_count"]) == (count - 1, count)
        assert before["best_incident_id"] != after["best_incident_id"]  # more confident
        assert after["incident"]["id"] == first_id
    last = updated[-1].payload["event"]
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        stored = session.get(GridEvent, opened["id"])
        assert stored is not None
        steps = [step.action for step in stored.history]
        stored_columns = {
            "occurrence_count": stored.occurrence_count,
            "ongoing": stored.ongoing,
            "objects_involved": stored.objects_involved,
            "best_incident_id": stored.best_incident_id,
            "last_seen_at": stored.last_seen_at.isoformat(),
        }
    assert steps == ["report", "occurrence"]
    assert stored_columns == {name: last[name] for name in stored_columns}
    assert (last["ongoing"], last["objects_involved"]["track_ids"]) == (False, [7, 10, 20])


def _queue(client: TestClient, count: int) -> None:
    for track in range(count):
        report_incident(client, track_id=track, zone=f"zone-{track}")  # an event each


def test_concurrent_claims_never_share_a_row(client: TestClient, database_url: str) -> None:
    _queue(client, 12)
    # Two processes: two engines, each with its own connections, claiming at the same moment.
    engines = [make_engine(database_url) for _ in range(2)]
    now = datetime.now(UTC)
    claims: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claim(index: int) -> None:
        factory = session_factory(engines[index])
        start.wait()
        while True:
            with factory() as session:
                batch = outbox.claim(session, now=now, lease=timedelta(minutes=1), limit=2)
            if not batch:
                return
            claims[index].extend(item.id for item in batch)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for engine in engines:
        engine.dispose()
    first, second = claims
    assert not set(first) & set(second)
    assert sorted(first + second) == [row.id for row in _rows(client)]


def test_a_crashed_claim_is_retried_after_its_lease(client: TestClient) -> None:
    _queue(client, 2)
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    lease = timedelta(seconds=60)
    with factory() as session:
        crashed = outbox.claim(session, now=now, lease=lease, limit=10)
    assert len(crashed) == 2
    with factory() as session:
        assert outbox.claim(session, now=now + timedelta(seconds=30), lease=lease, limit=10) == []
        retaken = outbox.claim(session, now=now + timedelta(seconds=61), lease=lease, limit=10)
    assert [item.delivery_id for item in retaken] == [item.delivery_id for item in crashed]
    assert {item.claim_token for item in retaken} != {item.claim_token for item in crashed}

    # The crashed process wakes up: its result no longer settles the row, but is logged.
    late = AttemptResult("delivered", 5.0, 204)
    with factory() as session:
        assert outbox.record(session, crashed[0], late, now=now) is False
        assert outbox.record(session, retaken[0], late, now=now) is True
    rows = _rows(client)
    assert [row.status for row in rows] == ["delivered", "pending"]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 2


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=2, max_s=60, max_attempts=10)
    backoff = policy.backoff(random.Random(7))  # noqa: S311 - jitter, not secrecy
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (9, 60)]:
        delays = [backoff.delay(attempts - 1) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len({round(delay, 6) for delay in delays}) > 1  # jittered, not in lockstep


def test_a_webhook_deleted_mid_send_takes_its_delivery_along(client: TestClient) -> None:
    _queue(client, 1)
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with factory() as session:
        (item,) = outbox.claim(session, now=now, lease=timedelta(seconds=60), limit=10)
    admin = Accounts(client).headers("admin")
    assert client.delete(f"/api/v1/webhooks/{item.webhook_id}", headers=admin).status_code == 204
    with factory() as session:
        assert outbox.record(session, item, AttemptResult("delivered", 1.0, 204), now=now) is False
    assert _rows(client) == []
