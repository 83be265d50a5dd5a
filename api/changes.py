"""What a transaction did to grid events, collected by session hooks and announced at commit.

Every session of a factory that `listen` was called on notes, flush by flush, which grid events
it created or changed and by which action. Just before the transaction commits, each listener
gets the changes, once, inside the transaction (the outbox writes its rows there, live alerts
shape their messages there); what a listener returns runs after the commit, and is dropped if
the transaction rolls back. So every code path that changes an event (an API request, the
deadline watch, a script) is announced the same way, and nothing is announced that did not
happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from api.models import GridEvent, GridEventHistory

log = logging.getLogger(__name__)

EVENT_CREATED = "event.created"
EVENT_UPDATED = "event.updated"

_LISTENERS_KEY = "gridwatch.changes.listeners"
_PENDING_KEY = "gridwatch.changes.pending"
_AFTER_COMMIT_KEY = "gridwatch.changes.after_commit"
# Columns whose change alone is no change of the event.
_BOOKKEEPING = frozenset({"updated_at"})


def json_safe(value: Any) -> Any:
    """A column value as JSON can carry it: dates and times in ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass
class GridEventChange:
    """What one transaction did to one grid event, gathered flush by flush."""

    grid_event: GridEvent
    created: bool
    before: dict[str, Any] | None  # columns as the transaction found them; None for a new event
    changed: set[str] = field(default_factory=set)  # names of the columns it changed
    action: str | None = None  # the lifecycle action behind it (dispatch, close, ...), if any

    @property
    def columns_changed(self) -> bool:
        """Whether it is new or changed more than bookkeeping (a comment alone changes none)."""
        return self.created or bool(self.changed - _BOOKKEEPING)

    @property
    def event_type(self) -> str:
        """`event.created` or `event.updated`."""
        return EVENT_CREATED if self.created else EVENT_UPDATED


# Called before commit with the transaction's changes; returns what to run once it committed.
Listener = Callable[[Session, Sequence[GridEventChange]], Callable[[], None] | None]


def listen(factory: sessionmaker[Session], listener: Listener) -> None:
    """Give `listener` the grid-event changes of every transaction of `factory`'s sessions."""
    info = dict(factory.kw.get("info") or {})
    info[_LISTENERS_KEY] = (*info.get(_LISTENERS_KEY, ()), listener)
    factory.configure(info=info)
    if not sa_event.contains(factory, "after_flush", _collect):
        sa_event.listen(factory, "after_flush", _collect)
        sa_event.listen(factory, "before_commit", _before_commit)
        sa_event.listen(factory, "after_commit", _after_commit)
        sa_event.listen(factory, "after_rollback", _after_rollback)


def _before(grid_event: GridEvent) -> tuple[dict[str, Any], set[str]]:
    """The event as it was before this flush, and the names of the columns that changed."""
    state = inspect(grid_event)
    before: dict[str, Any] = {}
    changed: set[str] = set()
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.added:
            changed.add(attr.key)
            before[attr.key] = json_safe(history.deleted[0]) if history.deleted else None
        else:
            before[attr.key] = json_safe(getattr(grid_event, attr.key))
    return before, changed


def columns_of(grid_event: GridEvent) -> dict[str, Any]:
    """The event's columns as they are now, as JSON can carry them (a change's `before`)."""
    return {
        attr.key: json_safe(getattr(grid_event, attr.key))
        for attr in inspect(grid_event).mapper.column_attrs
    }


def written(
    session: Session,
    grid_event: GridEvent,
    *,
    before: dict[str, Any] | None,
    changed: set[str] | frozenset[str] = frozenset(),
    action: str | None = None,
) -> None:
    """Note a change written outside the unit of work (Core statements, then the object set
    as loaded), for the listeners at commit, as `_collect` notes those flushed: `before` the
    event's columns as the transaction found them (`columns_of`; None for a new event),
    `changed` the names of the columns it changed, `action` the history step it wrote, if any.
    Without it the change would commit unannounced."""
    if not session.info.get(_LISTENERS_KEY):
        return
    pending: dict[int, GridEventChange] = session.info.setdefault(_PENDING_KEY, {})
    change = pending.get(id(grid_event))
    if change is None:
        pending[id(grid_event)] = GridEventChange(
            grid_event, created=before is None, before=before, changed=set(changed), action=action
        )
        return
    change.changed |= changed
    change.action = action or change.action


def _collect(session: Session, _flush_context: Any) -> None:
    """After each flush: note which events it created or changed, and by which action.

    One request may flush an event several times (a lazy load flushes what is pending), so the
    listeners are called once, at commit, with the state the transaction started from and the
    state it ends with.
    """
    if not session.info.get(_LISTENERS_KEY):
        return
    pending: dict[int, GridEventChange] = session.info.setdefault(_PENDING_KEY, {})
    for obj in session.new:
        if isinstance(obj, GridEvent):
            pending[id(obj)] = GridEventChange(obj, created=True, before=None)
    for obj in session.dirty:
        if isinstance(obj, GridEvent) and obj not in session.new:
            before, changed = _before(obj)
            change = pending.get(id(obj))
            if change is None:
                pending[id(obj)] = GridEventChange(
                    obj, created=False, before=before, changed=changed
                )
            else:
                change.changed |= changed
    # History rows name the action behind a change (dispatch, close, ...).
    by_id = {change.grid_event.id: change for change in pending.values()}
    for step in session.new:
        if isinstance(step, GridEventHistory) and step.grid_event_id in by_id:
            by_id[step.grid_event_id].action = step.action


def _before_commit(session: Session) -> None:
    listeners: tuple[Listener, ...] = session.info.get(_LISTENERS_KEY, ())
    if not listeners:
        return
    session.flush()  # so that the last changes are collected too
    pending: dict[int, GridEventChange] = session.info.pop(_PENDING_KEY, {})
    # A step in the event's history (a comment, a photo) is news even when no column moved.
    changes = [
        change for change in pending.values() if change.columns_changed or change.action is not None
    ]
    if not changes:
        return
    after: list[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT_KEY, [])
    for listener in listeners:
        then = listener(session, changes)
        if then is not None:
            after.append(then)


def _after_commit(session: Session) -> None:
    for then in session.info.pop(_AFTER_COMMIT_KEY, []):
        try:
            then()
        except Exception:
            # The change is committed; one announcement failing must not fail its request.
            log.exception("announcing a committed grid-event change failed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_AFTER_COMMIT_KEY, None)
