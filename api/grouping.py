"""One situation, one item: whether an incident joins an open grid event as an occurrence.

A situation is one camera, rule and zone (for line crossings also the direction crossed). An
incident of a situation whose event is still open, and was last seen within the grouping window
before the incident started, joins that event instead of opening a new one. The window and
whether a dispatched event still absorbs repeats come from the rule's `grouping:` block in the
camera file, else from the district policy's entry for the event's category.

Example:
    >>> key = group_key("school-no1-gate", "line_crossing", "gate_line", {"direction": "in"})
    >>> key
    'school-no1-gate|line_crossing|gate_line|in'
    >>> event = find_open_situation(session, key, incident.started_at, GroupingConfig())
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from api.district import DistrictPolicy
from api.models import Camera, GridEvent, GridEventHistory, Incident
from contract.rules import GroupingConfig

log = logging.getLogger(__name__)

# Before dispatch: an operator has not yet handed the event to anyone.
UNDISPATCHED_STATES = ("reported", "verifying", "confirmed")
# After dispatch but not finished: absorbs repeats only where the grouping says so.
DISPATCHED_STATES = ("dispatched", "handling", "resolved")
# The audit trail gets a step when the count reaches one of these (and every power of ten
# after), not one per occurrence: a crowd that stays all afternoon leaves a readable trail.
_MILESTONES = (2, 10)
# Bounds the event's list of objects; the occurrences keep every track id anyway.
MAX_TRACK_IDS = 500
# How long a situation counts as going on after it was last seen still going on. The worker's
# last word on a situation is its latest occurrence's clip, a few seconds after the rule
# concluded; a rule fires once per stay, so nothing more comes while the same people stay, nor
# when they leave. Past this quiet period "ongoing" would be a guess: it clears, and the live
# view tells whether it is still there. (Not the grouping window: that says whether a repeat
# belongs to the same case, half an hour by default, far too long to call a situation current.)
ONGOING_QUIET = timedelta(seconds=120)


# The situation's lock, as a column (PostgreSQL): the statement that selects it takes the lock,
# so the lock costs no round trip of its own. See `locks_situations`.
SITUATION_LOCK = func.pg_advisory_xact_lock(
    func.hashtextextended(bindparam("key", type_=String), 0)
).label("situation_locked")


def _find_situation(states: tuple[str, ...]) -> Select[GridEvent]:
    # The states as plain equalities, not IN: an IN list is expanded into the statement's text
    # on every execution, and this statement is long (an event and two incidents).
    return (
        select(GridEvent)
        .where(
            GridEvent.group_key == bindparam("key"),
            or_(*(GridEvent.status == state for state in states)),
            GridEvent.last_seen_at >= bindparam("earliest"),
            GridEvent.first_seen_at <= bindparam("latest"),
        )
        .order_by(GridEvent.last_seen_at.desc(), GridEvent.id.desc())
        .limit(1)
        # Joining reads the best snapshot's confidence (and the answer links it), and the answer
        # shows the first one whole. Most often the two are one row, loaded whole once.
        .options(
            joinedload(GridEvent.incident),
            joinedload(GridEvent.best_incident).load_only(Incident.id, Incident.confidence),
        )
    )


# Built once, by whether dispatched events absorb repeats: every incident runs one, and a
# statement built anew is built, and its cache key computed, on every call.
_FIND_SITUATION = {
    absorb: _find_situation(UNDISPATCHED_STATES + (DISPATCHED_STATES if absorb else ()))
    for absorb in (False, True)
}


def group_key(camera_id: str, rule: str, zone: str, details: dict[str, Any] | None) -> str:
    """The situation an incident belongs to: "camera|rule|zone", plus "|direction" for a line
    crossing, so crossings one way and the other are two situations."""
    direction = (details or {}).get("direction") if rule == "line_crossing" else None
    return "|".join([camera_id, rule, zone, *([str(direction)] if direction else [])])


def grouping_settings(
    policy: DistrictPolicy, camera: Camera, rule: str, zone: str, category: str
) -> GroupingConfig:
    """The camera file's grouping for the rule that fired (matched by kind and zone or line),
    else the district's for the category."""
    for rule_config in (camera.config or {}).get("rules", []):
        watched = rule_config.get("zone", rule_config.get("line"))
        if rule_config.get("kind") == rule and watched in (zone, None):
            if rule_config.get("grouping"):
                return GroupingConfig.model_validate(rule_config["grouping"])
            break
    return policy.grouping_for(category)


def locks_situations(session: Session) -> bool:
    """Whether the session's database needs the situation's lock (`SITUATION_LOCK`, bound to
    the situation's key as "key"), held until the transaction ends, so that two incidents of one
    situation arriving at once (on two API processes) cannot both open an event.

    PostgreSQL: a transaction-scoped advisory lock on the key's hash, selected before the
    situation is looked for (`find_open_situation` reads with a snapshot taken after it). SQLite
    has one writer at a time and the API registers incidents one by one in its event loop, so
    it needs none.
    """
    return session.get_bind().dialect.name == "postgresql"


def find_open_situation(
    session: Session, key: str, at: datetime, settings: GroupingConfig
) -> GridEvent | None:
    """The open event of situation `key` that an incident starting `at` joins, if any.

    It is the most recently seen event of the key that is not yet dispatched (or, with
    `absorb_dispatched`, dispatched but not finished) and was last seen no more than
    `settings.window_s` seconds before `at`. A window of 0 never groups. Where
    `locks_situations`, select `SITUATION_LOCK` first in the same transaction.
    """
    if settings.window_s <= 0:
        return None
    window = timedelta(seconds=settings.window_s)
    return session.scalars(
        _FIND_SITUATION[settings.absorb_dispatched],
        {"key": key, "earliest": at - window, "latest": at + window},
    ).first()


def ongoing_until(event: GridEvent) -> datetime | None:
    """Until when `event`'s situation counts as going on: `ONGOING_QUIET` after it was last
    seen, if it was still going on then; None when it was not (or was never seen).

    Example:
        >>> from datetime import UTC
        >>> event = GridEvent(ongoing=True, last_seen_at=datetime(2026, 5, 4, 8, 0, tzinfo=UTC))
        >>> ongoing_until(event).isoformat()
        '2026-05-04T08:02:00+00:00'
    """
    if not event.ongoing or event.last_seen_at is None:
        return None
    return event.last_seen_at + ONGOING_QUIET


def _seen_until(incident: Incident) -> datetime:
    return incident.ended_at or incident.detected_at


def seen_values(event: GridEvent, incident: Incident) -> dict[str, Any]:
    """What `incident` (one of `event`'s occurrences) says of the situation, as the event's
    columns: last seen, and whether it goes on, when it is the latest word (else nothing)."""
    seen_until = _seen_until(incident)
    if event.last_seen_at is None or seen_until >= event.last_seen_at:
        return {"last_seen_at": seen_until, "ongoing": bool(incident.details.get("ongoing"))}
    return {}


def seen_again(event: GridEvent, incident: Incident) -> None:
    """Set on `event` what `incident` now says of the situation (`seen_values`): called when an
    occurrence's clip arrives with how long the situation was seen after the rule concluded."""
    for key, value in seen_values(event, incident).items():
        setattr(event, key, value)


def _objects(incidents: list[Incident], known: dict[str, Any] | None = None) -> dict[str, Any]:
    classes = list((known or {}).get("classes", []))
    track_ids = set((known or {}).get("track_ids", []))
    for incident in incidents:
        if incident.object_class not in classes:
            classes.append(incident.object_class)
        track_ids |= {incident.track_id, *incident.track_ids}
    return {"classes": classes, "track_ids": sorted(track_ids)[:MAX_TRACK_IDS]}


def start_situation(event: GridEvent, incident: Incident, key: str) -> None:
    """Make a new event the situation of the incident that opened it. The incident's row is in
    the database already (its event's id is set once the event has one) and the event in the
    session: the event shows the object as its first and best incident without adding it."""
    event.group_key = key
    event.occurrence_count = 1
    event.first_seen_at = incident.started_at
    event.last_seen_at = _seen_until(incident)
    event.ongoing = bool(incident.details.get("ongoing"))
    event.objects_involved = _objects([incident])
    event.best_incident_id = incident.id
    set_committed_value(event, "incident", incident)
    set_committed_value(event, "best_incident", incident)
    set_committed_value(incident, "grid_event", event)


# The event's columns an occurrence sets (`occurrence`).
OCCURRENCE_COLUMNS = (
    "occurrence_count",
    "first_seen_at",
    "last_seen_at",
    "ongoing",
    "best_incident_id",
    "objects_involved",
    "updated_at",
)


def occurrence(
    event: GridEvent, incident: Incident, actor: str, now: datetime
) -> tuple[dict[str, Any], GridEventHistory | None]:
    """What folding `incident` into `event` makes of the event, without changing it: its new
    count, first and last seen, ongoing (from the latest occurrence), objects involved, best
    snapshot (highest confidence) and `updated_at`, as column values (each of
    `OCCURRENCE_COLUMNS`, changed or not), and the history step to add, only at the count's
    milestones (2, 10, 100, ...), else None. The caller writes them (api.events)."""
    count = event.occurrence_count + 1
    first_seen = event.first_seen_at
    if first_seen is None or incident.started_at < first_seen:
        first_seen = incident.started_at
    best = event.best_incident
    values: dict[str, Any] = {
        "occurrence_count": count,
        "first_seen_at": first_seen,
        "last_seen_at": event.last_seen_at,
        "ongoing": event.ongoing,
        **seen_values(event, incident),
        "best_incident_id": (
            incident.id
            if best is None or incident.confidence > best.confidence
            else event.best_incident_id
        ),
        "objects_involved": _objects([incident], event.objects_involved),
        "updated_at": now,
    }
    step = None
    if count in _MILESTONES or (count > _MILESTONES[-1] and _is_power_of_ten(count)):
        step = GridEventHistory(
            grid_event_id=event.id,
            actor=actor,
            action="occurrence",
            from_status=event.status,
            to_status=event.status,
            note=f"{count} occurrences; latest incident {incident.id}",
            details={"occurrence_count": count, "incident_id": incident.id},
            at=now,
        )
    return values, step


def _is_power_of_ten(number: int) -> bool:
    while number % 10 == 0 and number > 1:
        number //= 10
    return number == 1
