"""What the statistics and the evaluation both count from: the events of a time range in the
caller's scope, the steps of their history, and the rules that raised their incidents."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.models import GridEvent, GridEventHistory, Incident
from api.principal import Principal
from api.scope import scope_events

# SQLite allows 999 bound parameters in a statement; lists of ids go in chunks below that.
BATCH = 900

T = TypeVar("T")


def events_in_range(
    principal: Principal, occurred_from: datetime | None, occurred_to: datetime | None
) -> Select[GridEvent]:
    """The caller's events that occurred in [from, to), either end open."""
    query = scope_events(select(GridEvent), principal)
    if occurred_from:
        query = query.where(GridEvent.occurred_at >= occurred_from)
    if occurred_to:
        query = query.where(GridEvent.occurred_at < occurred_to)
    return query


def minutes(later: datetime | None, earlier: datetime) -> float | None:
    """Minutes from `earlier` to `later`; None while `later` has not happened."""
    return (later - earlier).total_seconds() / 60 if later else None


def batches(ids: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def history_steps(session: Session, event_ids: Sequence[int], actions: Iterable[str]) -> list[Any]:
    """(event id, action, details) of the events' steps with those actions, oldest first."""
    wanted = tuple(actions)
    steps: list[Any] = []
    for chunk in batches(event_ids):
        steps += session.execute(
            select(
                GridEventHistory.id, GridEventHistory.grid_event_id, GridEventHistory.action,
                GridEventHistory.details,
            ).where(
                GridEventHistory.grid_event_id.in_(chunk), GridEventHistory.action.in_(wanted)
            )
        ).all()  # fmt: skip
    return [(event_id, action, details) for _, event_id, action, details in sorted(steps)]


def incident_rules(session: Session, incident_ids: Sequence[str]) -> dict[str, str]:
    """The rule that raised each incident."""
    rules: dict[str, str] = {}
    for chunk in batches(incident_ids):
        rules.update(
            session.execute(select(Incident.id, Incident.rule).where(Incident.id.in_(chunk))).all()
        )
    return rules
