"""Deadlines: an event that stays in a state past its deadline goes one level up; an alert
nobody verified before it expires leaves the queue."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.district import OPEN_STATES, DistrictPolicy, next_level
from api.lifecycle import ActionRequest, apply_action, awaits_verdict
from api.models import GridEvent
from api.principal import Principal

log = logging.getLogger(__name__)
SYSTEM = Principal("admin", "deadline-watch")


def escalate_overdue(
    session: Session, policy: DistrictPolicy, *, now: datetime | None = None, limit: int = 200
) -> list[GridEvent]:
    """Escalate every open event past its deadline; returns them (committed).

    Rows are locked with SKIP LOCKED on PostgreSQL, so several API processes share the work
    without escalating one event twice.
    """
    now = now or datetime.now(UTC)
    query = (
        select(GridEvent)
        .where(
            GridEvent.status.in_(OPEN_STATES),
            GridEvent.deadline_at.is_not(None),
            GridEvent.deadline_at < now,
        )
        .order_by(GridEvent.deadline_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    escalated = []
    for event in session.scalars(query).all():
        if next_level(event.level) is None:
            # Already at the top: keep it overdue (visible as such) without escalating again.
            event.deadline_at = None
            continue
        overdue_by = now - event.deadline_at if event.deadline_at else None
        apply_action(
            session, event, "escalate", SYSTEM,
            ActionRequest(
                note=f"{event.status} past its deadline by {overdue_by}",
                # What the console words in its reader's language (the note is English).
                details={
                    "reason": "overdue",
                    "status": event.status,
                    "overdue_minutes": round(overdue_by.total_seconds() / 60) if overdue_by else 0,
                },
            ),
            policy, now=now,
        )  # fmt: skip
        escalated.append(event)
    session.commit()
    for event in escalated:
        log.info("grid event %d escalated to %s level", event.id, event.level)
    return escalated


def expire_unverified(
    session: Session, policy: DistrictPolicy, *, now: datetime | None = None, limit: int = 200
) -> list[GridEvent]:
    """End every alert taken in for verification (intake: verify) that nobody verified before
    its `expires_at`: state expired, the reason in its history; returns them (committed).

    Locked with SKIP LOCKED on PostgreSQL, like `escalate_overdue`.
    """
    now = now or datetime.now(UTC)
    query = (
        select(GridEvent)
        .where(
            GridEvent.status == "reported",
            GridEvent.intake == "verify",
            GridEvent.expires_at.is_not(None),
            GridEvent.expires_at < now,
        )
        .order_by(GridEvent.expires_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    expired = []
    for event in session.scalars(query).all():
        if not awaits_verdict(event) or event.expires_at is None:
            continue
        waited = round((event.expires_at - event.reported_at).total_seconds() / 60)
        apply_action(
            session, event, "expire", SYSTEM,
            ActionRequest(
                note=f"not verified within {waited} minutes",
                details={
                    "reason": "unverified",
                    "minutes": waited,
                    "expires_at": event.expires_at.isoformat(),
                },
            ),
            policy, now=now,
        )  # fmt: skip
        expired.append(event)
    session.commit()
    for event in expired:
        log.info("grid event %d expired unverified", event.id)
    return expired
