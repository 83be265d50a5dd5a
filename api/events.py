"""Grid events: opening them (from incidents and other sources), and shaping them for the API."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, cast

from fastapi import FastAPI, Request
from sqlalchemy import Table, Update, bindparam, exists, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, load_only
from sqlalchemy.orm.attributes import set_committed_value
from starlette.datastructures import URLPath

from api import changes, evidence, suppressions
from api.changes import GridEventChange, Listener, json_safe
from api.db import insert_as_loaded, row_values, set_loaded
from api.district import OPEN_STATES, DistrictPolicy
from api.fanout import PostgresFanout
from api.grids import locate_grid
from api.grouping import (
    OCCURRENCE_COLUMNS,
    SITUATION_LOCK,
    find_open_situation,
    group_key,
    grouping_settings,
    locks_situations,
    occurrence,
    ongoing_until,
    start_situation,
)
from api.integrations import outbox
from api.leases import check_fence
from api.lifecycle import allowed_actions, take_in
from api.live import Audience, LiveHub
from api.models import Camera, Grid, GridEvent, GridEventHistory, Incident
from api.principal import Principal
from api.schemas import (
    AttachmentPublic,
    GridEventDetail,
    GridEventPublic,
    HistoryPublic,
    IncidentPublic,
    Location,
    OccurrencePublic,
)
from api.titles import (
    DEFAULT_LANGUAGE,
    Language,
    incident_description,
    incident_title,
    reader_language,
    video_loss_description,
    video_loss_title,
)
from contract.incident import IncidentReport

log = logging.getLogger(__name__)

SOURCE_VIDEO = "video"
STATUS_REPORTED = "reported"


class UnknownCamera(LookupError):
    """The incident names a camera the API does not know. Not retried until it is registered."""


def open_event_clock(
    event: GridEvent,
    policy: DistrictPolicy,
    owner_kind: str | None,
    actor: str,
    note: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Route a new event to its department and level, and start its clock. `note` is the
    report step's English line; `details` ({"origin": "camera" | "source" | "video_loss", ...})
    what a client words it from in its reader's language."""
    now = datetime.now(UTC)
    event.status = STATUS_REPORTED
    event.department_id = policy.route(event.category, owner_kind, event.event_code)
    event.level = policy.level_for(event.severity)
    event.reported_at = now
    event.updated_at = now
    event.deadline_at = policy.deadline(STATUS_REPORTED, event.severity, now, event.event_code)
    event.history.append(
        GridEventHistory(
            actor=actor,
            action="report",
            from_status=None,
            to_status=STATUS_REPORTED,
            note=note,
            details=details or {},
            at=now,
        )
    )


# Report fields without a column of their own, kept with the rule's findings in `details`.
_KEPT_IN_DETAILS = ("ongoing", "clip_frame_count", "lease_epoch")


@functools.cache
def _reported_columns() -> set[str]:
    """The incident's columns that the report fills by name (worked out once: every incident
    asks; not to be changed by the caller)."""
    return set(inspect(Incident).columns.keys()) & set(IncidentReport.model_fields)


def incident_values(report: IncidentReport, **stored: Any) -> dict[str, Any]:
    """The incident's column values, from the report: each field with a column of its name, and
    the few without one added to `details`; `stored` fills the API's own columns (paths,
    reporter). Columns left out take their defaults."""
    values = report.model_dump(include=_reported_columns())
    kept = {name: getattr(report, name) for name in _KEPT_IN_DETAILS}
    values["details"] = {**report.details, **{k: v for k, v in kept.items() if v is not None}}
    values.update(category=report.category.value, severity=report.severity.value)
    return {**values, **stored}


class Registration(StrEnum):
    """What reporting an incident did to the grid events."""

    opened = "opened"  # a new event
    joined = "joined"  # an occurrence of an open event of the same situation
    already = "already"  # reported before: nothing changed
    suppressed = "suppressed"  # held back by a suppression: stored, no event


def register_incident(
    session: Session,
    report: IncidentReport,
    snapshot: bytes,
    *,
    clip: bytes | None = None,
    evidence_root: Path,
    actor: str,
    policy: DistrictPolicy,
) -> tuple[GridEvent | None, Registration]:
    """Store an incident and open its grid event, or add it to the open event of the same
    situation (see api.grouping); returns (event, what happened).

    Idempotent on the incident id: a second report of the same incident returns the event the
    first one opened or joined and changes nothing. The snapshot is on disk before the rows
    commit, so an event never points at missing evidence. An incident that a suppression holds
    back is stored with its evidence but opens no event: the event is then None.
    """
    key = group_key(report.camera_id, report.rule, report.zone, report.details)
    # From the situation's lock (taken with the camera, whose row it comes with) to the commit
    # nothing waits on the event loop: a lock held across an await would stall every other
    # request of this process that waits for it. Any way out before the commit rolls back,
    # and with it the lock, as the request's session closes.
    locking = locks_situations(session)
    found = session.execute(
        _CAMERA_KNOWN_AND_LOCK if locking else _CAMERA_AND_KNOWN,
        {**suppressions.candidate_parameters(report), "incident_id": report.id, "key": key},
    ).first()
    if found is None:  # no such camera; but a report already taken is answered as such
        known = session.execute(_KNOWN_INCIDENT, {"incident_id": report.id}).first()
        if known is None:
            raise UnknownCamera(report.camera_id)
        reported, known_event_id = True, known.grid_event_id
    else:
        camera, reported, known_event_id, suppressible, webhooks_generation = found[:5]
        outbox.note_webhooks_generation(session, webhooks_generation)
    if reported:
        if known_event_id is None:  # held back by a suppression before
            return None, Registration.already
        return session.get(GridEvent, known_event_id), Registration.already
    check_fence(session, camera.id, report.lease_epoch, report.detected_at)
    if report.event_code is not None:
        event_code: str | None = policy.taxonomy.check(report.event_code).code
    else:
        event_code = policy.taxonomy.for_rule(report.rule, report.category.value)

    relative = evidence.snapshot_relative_path(report.id, report.detected_at)
    evidence.store(evidence_root, relative, snapshot)
    clip_relative = None
    if clip is not None:
        clip_relative = relative.with_suffix(".mp4")
        evidence.store(evidence_root, clip_relative, clip)

    values = incident_values(
        report,
        snapshot_path=relative.as_posix(),
        clip_path=clip_relative.as_posix() if clip_relative else None,
        reported_by=actor,
        received_at=datetime.now(UTC),
    )
    incident = Incident(**values)
    if suppressible and suppressions.suppress(session, camera, incident) is not None:
        return _store_suppressed(session, incident)
    grouping = grouping_settings(policy, camera, report.rule, report.zone, report.category.value)
    try:
        situation = find_open_situation(session, key, report.started_at, grouping)
        if situation is not None:
            _shown_with(situation, camera)
            incident.grid_event_id = situation.id
            try:
                _join(session, situation, incident, actor)
            except IntegrityError as err:  # the incident's row: reported meanwhile
                return _already(session, report.id, err)
            return _commit(session, report.id, situation, Registration.joined, camera.id)
        # The incident's row goes in before the event that names it, and is linked to it once
        # the event has its id (the two rows point at each other).
        try:
            insert_as_loaded(session, incident)
        except IntegrityError as err:
            return _already(session, report.id, err)
        event = _video_event(report, incident, camera, event_code, policy)
        _shown_with(event, camera)
        open_event_clock(
            event, policy, camera.organisation.kind, actor,
            f"incident {report.id} from camera {camera.id}",
            {"origin": "camera", "incident_id": report.id, "camera_id": camera.id},
        )  # fmt: skip
        take_in(event, policy, report.rule)
        start_situation(event, incident, key)
        _open(session, event, incident)
        return _commit(session, report.id, event, Registration.opened, camera.id)
    except BaseException:
        session.rollback()  # and with it the situation's lock
        raise


# A new event's rows and an occurrence's change of its event are written with Core statements,
# and the objects set as loaded: the unit of work would write the same rows with several times
# the work (ordering, cascades, per-attribute bookkeeping) on every incident a worker reports.
# What they change is announced as a flush would announce it (api.changes.written).


def _open(session: Session, event: GridEvent, incident: Incident) -> None:
    """Write a new event's rows (the event, its report step, and its incident's link to it)
    and note it for the announcements at commit."""
    (step,) = event.history  # open_event_clock's report step: the event's row comes first
    set_committed_value(event, "history", [])
    if session.get_bind().dialect.name == "postgresql":
        # One round trip for the three, the two new rows as data-modifying CTEs.
        parameters = {f"event_{k}": v for k, v in row_values(event).items()}
        for key, value in row_values(step).items():
            if key != "grid_event_id":  # the new event's, in the statement
                parameters[f"step_{key}"] = value
        parameters["incident_id"] = incident.id
        written = session.connection().execute(_OPEN_EVENT, parameters).one()
        inspect(event).dict["id"] = step.grid_event_id = written.grid_event_id
        inspect(step).dict["id"] = written.step_id
        set_loaded(session, event)
        set_loaded(session, step)
    else:
        insert_as_loaded(session, event)
        step.grid_event_id = event.id
        insert_as_loaded(session, step)
        session.connection().execute(
            _LINK_INCIDENT, {"incident_id": incident.id, "grid_event_id": event.id}
        )
    set_committed_value(incident, "grid_event_id", event.id)
    set_committed_value(event, "history", [step])
    changes.written(session, event, before=None, action=step.action)


def _join(session: Session, event: GridEvent, incident: Incident, actor: str) -> None:
    """Write `incident`'s row and fold it into its situation's open `event` (see
    api.grouping.occurrence), and note the change for the announcements at commit.

    Raises:
        sqlalchemy.exc.IntegrityError: The incident's row was refused (reported meanwhile).
    """
    values, step = occurrence(event, incident, actor, datetime.now(UTC))
    before = changes.columns_of(event)
    if session.get_bind().dialect.name == "postgresql":
        # One round trip for both, the incident's row as a data-modifying CTE.
        parameters = {f"joined_{k}": v for k, v in row_values(incident).items()}
        parameters.update({f"event_{k}": v for k, v in values.items()}, event_id=event.id)
        session.connection().execute(_JOIN_EVENT, parameters)
        set_loaded(session, incident)
    else:
        insert_as_loaded(session, incident)
        session.connection().execute(_UPDATE_OCCURRENCE, {**values, "event_id": event.id})
    for name, value in values.items():
        set_committed_value(event, name, value)
    if values["best_incident_id"] == incident.id:
        set_committed_value(event, "best_incident", incident)
    if step is not None:
        insert_as_loaded(session, step)
        if "history" in inspect(event).dict:  # shown as loaded, else read when asked for
            set_committed_value(event, "history", [*event.history, step])
    changed = {name for name, value in values.items() if before[name] != json_safe(value)}
    changes.written(
        session, event, before=before, changed=changed, action=step.action if step else None
    )


# Built once (each incident runs them): a statement built anew is built, and its cache key
# computed, on every call.
_LINK_INCIDENT = (
    update(cast(Table, Incident.__table__))
    .where(Incident.id == bindparam("incident_id"))
    .values(grid_event_id=bindparam("grid_event_id"))
)


def _open_event() -> Update:
    """A new event's rows in one statement (PostgreSQL): the event and its report step inserted
    by data-modifying CTEs, and its incident linked to it; returns the ids of the two rows.
    Parameters: each column's value prefixed "event_" and "step_" (api.db.row_values), and
    "incident_id"."""
    events, steps = cast(Table, GridEvent.__table__), cast(Table, GridEventHistory.__table__)
    event = (
        insert(events)
        .values(
            {
                c.key: bindparam(f"event_{c.key}", type_=c.type)
                for c in events.c
                if c is not events.c.id
            }
        )
        .returning(events.c.id)
        .cte("opened_event")
    )
    event_id = select(event.c.id).scalar_subquery()
    step = (
        insert(steps)
        .values(
            {
                c.key: event_id
                if c is steps.c.grid_event_id
                else bindparam(f"step_{c.key}", type_=c.type)
                for c in steps.c
                if c is not steps.c.id
            }
        )
        .returning(steps.c.id)
        .cte("report_step")
    )
    return (
        update(cast(Table, Incident.__table__))
        .where(Incident.id == bindparam("incident_id"))
        .values(grid_event_id=event_id)
        .returning(
            event_id.label("grid_event_id"), select(step.c.id).scalar_subquery().label("step_id")
        )
        .add_cte(event, step)
    )


_OPEN_EVENT = _open_event()


def _join_event() -> Update:
    """An occurrence's rows in one statement (PostgreSQL): its incident inserted by a
    data-modifying CTE, and its event's occurrence columns (`OCCURRENCE_COLUMNS`) updated.
    Parameters: the incident's column values prefixed "joined_", the event's new values
    prefixed "event_", and "event_id"."""
    incidents, events = cast(Table, Incident.__table__), cast(Table, GridEvent.__table__)
    incident = (
        insert(incidents)
        .values({c.key: bindparam(f"joined_{c.key}", type_=c.type) for c in incidents.c})
        .returning(incidents.c.id)
        .cte("joined_incident")
    )
    return (
        update(events)
        .where(events.c.id == bindparam("event_id"))
        .values(
            {
                name: bindparam(f"event_{name}", type_=events.c[name].type)
                for name in OCCURRENCE_COLUMNS
            }
        )
        .add_cte(incident)
    )


_JOIN_EVENT = _join_event()
# The columns an occurrence changes (api.grouping.occurrence gives each), by the event's id.
_UPDATE_OCCURRENCE = update(cast(Table, GridEvent.__table__)).where(
    GridEvent.id == bindparam("event_id")
)
_KNOWN_INCIDENT = select(Incident.grid_event_id).where(Incident.id == bindparam("incident_id"))
# In one round trip: the camera with what registering its incident reads of it (its name, place,
# owner and grid, its rules' grouping in its config, its suppression count; its organisation's
# kind, its grid's name and path for the event's answer and live alert), whether the incident
# was reported before, the event it opened or joined then, whether any suppression could hold
# it back (most often none: their query is then not sent), and the webhooks' generation (the
# outbox reads them only when it moved). The camera's health, addresses
# and bookkeeping are not read: intake needs none of them.
_CAMERA_READ = (
    Camera.name,
    Camera.organisation_id,
    Camera.lat,
    Camera.lon,
    Camera.grid_id,
    Camera.config,
    Camera.suppressed_incidents,
    Camera.last_suppressed_at,
)
_CAMERA_AND_KNOWN = (
    select(
        Camera,
        exists().where(Incident.id == bindparam("incident_id")),
        _KNOWN_INCIDENT.scalar_subquery(),
        suppressions.ANY_CANDIDATE,
        outbox.WEBHOOKS_GENERATION,
    )
    .where(Camera.id == bindparam("camera_id"))
    .options(
        load_only(*_CAMERA_READ),
        joinedload(Camera.organisation),
        joinedload(Camera.grid).load_only(Grid.name, Grid.path),
    )
)
# Where incidents of one situation are serialised by a lock (api.grouping), the same round trip
# takes it: selected with the camera's one row, it is taken when the camera is known.
_CAMERA_KNOWN_AND_LOCK = _CAMERA_AND_KNOWN.add_columns(SITUATION_LOCK)


def _shown_with(event: GridEvent, camera: Camera) -> None:
    """Give the event the camera and grid already loaded, as loaded (no change to write): its
    answer and live alert read them, and the session holds loaded rows only while something
    else does, so they would otherwise be read again once this function returned."""
    if event.camera_id == camera.id:
        set_committed_value(event, "camera", camera)
    if event.grid_id == camera.grid_id:  # an event keeps the grid it opened in
        set_committed_value(event, "grid", camera.grid)


def _video_event(
    report: IncidentReport,
    incident: Incident,
    camera: Camera,
    event_code: str | None,
    policy: DistrictPolicy,
) -> GridEvent:
    event_type = policy.taxonomy.get(event_code)
    return GridEvent(
        source=SOURCE_VIDEO,
        incident_id=incident.id,  # the object is shown by start_situation, not added
        category=report.category.value,
        event_code=event_code,
        severity=report.severity.value,
        title=incident_title(incident, event_type, camera.name, DEFAULT_LANGUAGE)[:300],
        description=incident_description(incident, event_type, camera.name, DEFAULT_LANGUAGE),
        grid_id=camera.grid_id,
        camera_id=camera.id,
        lat=camera.lat,
        lon=camera.lon,
        occurred_at=report.started_at,
        escalations=0,
        reworks=0,
    )


def _commit(
    session: Session, incident_id: str, event: GridEvent, done: Registration, camera_id: str
) -> tuple[GridEvent, Registration]:
    try:
        session.commit()
    except IntegrityError as err:
        return _already(session, incident_id, err)
    log.info("%s: incident %s %s grid event %s", camera_id, incident_id, done.value, event.id)
    return event, done


def _already(
    session: Session, incident_id: str, refused: IntegrityError
) -> tuple[GridEvent, Registration]:
    """After an insert `refused`: another request registered the same incident between our
    check and our insert, and its event is the answer; anything else refused is raised again."""
    session.rollback()
    existing = _event_for_incident(session, incident_id)
    if existing is None:
        raise refused
    return existing, Registration.already


def _store_suppressed(
    session: Session, incident: Incident
) -> tuple[GridEvent | None, Registration]:
    """Commit a suppressed incident (no event); a concurrent report of it counts nothing."""
    session.add(incident)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return _event_for_incident(session, incident.id), Registration.already
    return None, Registration.suppressed


@dataclass(frozen=True)
class ReportedEvent:
    """An event reported by a person or another system (hotline, WeChat, grid worker, manual)."""

    source: str
    category: str
    event_code: str | None
    severity: str
    title: str
    description: str
    lat: float
    lon: float
    address: str
    occurred_at: datetime
    source_reference: str | None
    reporter: str


def open_reported_event(
    session: Session, report: ReportedEvent, *, actor: str, policy: DistrictPolicy
) -> GridEvent:
    grid = locate_grid(session, report.lon, report.lat)
    event = GridEvent(
        source=report.source,
        source_reference=report.source_reference,
        category=report.category,
        event_code=report.event_code,
        severity=report.severity,
        title=report.title,
        description=report.description,
        address=report.address,
        reporter=report.reporter,
        grid_id=grid.id if grid else None,
        lat=report.lat,
        lon=report.lon,
        occurred_at=report.occurred_at,
        escalations=0,
        reworks=0,
    )
    open_event_clock(
        event, policy, None, actor, f"reported through {report.source}",
        {"origin": "source", "source": report.source},
    )  # fmt: skip
    session.add(event)
    session.commit()
    return event


def _event_for_incident(session: Session, incident_id: str) -> GridEvent | None:
    """The event the incident opened or joined."""
    return session.scalars(
        select(GridEvent)
        .join(Incident, Incident.grid_event_id == GridEvent.id)
        .where(Incident.id == incident_id)
    ).first()


def audience(event: GridEvent) -> Audience:
    return Audience(
        grid_id=event.grid_id,
        grid_path=event.grid.path if event.grid else "",
        department_id=event.department_id,
        organisation_id=event.camera.organisation_id if event.camera else None,
    )


@dataclass(frozen=True)
class AppLinks:
    """What `to_public` needs of a request, for what is shaped for no one request (live alerts
    go to every operator in scope): links are paths from the site's root, which the console
    resolves against its own origin."""

    app: FastAPI

    def url_for(self, name: str, /, **path_params: Any) -> str:
        return str(self.app.url_path_for(name, **path_params))


Links = Request | AppLinks

# Stands for the incident id in the path templates of `evidence_url` (ids are UUIDs).
_INCIDENT_ID_SLOT = "{incident_id}"


def evidence_url(
    links: Links, route: Literal["incident_snapshot", "incident_clip"], incident_id: str
) -> str:
    """What `links.url_for(route, incident_id=incident_id)` gives (an absolute URL for a
    request, a path from the site's root for `AppLinks`), with the route's path found once per
    app: finding it tries the app's routes one by one, and every event an answer, a list or a
    live alert shows names its evidence."""
    templates: dict[str, str] | None = getattr(links.app.state, "evidence_paths", None)
    if templates is None:
        templates = links.app.state.evidence_paths = {}
    template = templates.get(route)
    if template is None:
        template = str(links.app.url_path_for(route, incident_id=_INCIDENT_ID_SLOT))
        templates[route] = template
    path = template.replace(_INCIDENT_ID_SLOT, incident_id)
    if isinstance(links, Request):
        return str(URLPath(path).make_absolute_url(base_url=links.base_url))
    return path


EVENT_ESCALATED = "event.escalated"


def live_message(change: GridEventChange, links: Links) -> dict[str, Any]:
    """The live alert of one change: its type (`event.created`, `event.updated`, or
    `event.escalated` for an escalation), the state it left (`from_status`, None for a new
    event), and the event as the API shows it."""
    grid_event = change.grid_event
    kind = EVENT_ESCALATED if not change.created and change.action == "escalate" else None
    return {
        "type": kind or change.event_type,
        "event_id": grid_event.id,
        # What it was, so that a list can move it between its tabs without asking again.
        "from_status": change.before.get("status") if change.before else None,
        "level": grid_event.level,
        "event": to_public(grid_event, links).model_dump(mode="json"),
    }


def live_alerts(app: FastAPI) -> Listener:
    """A listener (`api.changes.listen`) that tells connected operators in scope about every
    grid event created or changed, once its transaction commits, whichever code path made it."""
    links = AppLinks(app)

    def prepare(session: Session, changed: Sequence[GridEventChange]) -> Callable[[], None] | None:
        hub: LiveHub = app.state.hub
        if not hub.watched():
            return None  # nobody to tell, here or in another API process
        # Shaped now, inside the transaction, where the event's relations can still be loaded.
        try:
            messages = [
                (live_message(change, links), audience(change.grid_event)) for change in changed
            ]
        except Exception:
            # Live alerts are best effort (clients reload on reconnect); the change itself,
            # and its webhooks, must not fail for them.
            log.exception("could not shape the live alerts of %d changes", len(changed))
            return None
        fanout: PostgresFanout | None = getattr(app.state, "fanout", None)
        if fanout is not None and hub.relay == fanout.send:
            # Relayed by the transaction itself: the other processes hear it as it commits.
            connection = session.connection()
            relayed = [fanout.notify(connection, message, who) for message, who in messages]

            def deliver_here() -> None:
                listening = fanout.listening.is_set()
                for (message, who), queued in zip(messages, relayed, strict=True):
                    if not (queued and listening):
                        # This process's listener will not hear it (reconnecting, or the
                        # message does not fit a NOTIFY): its own operators get it directly.
                        hub.publish_local(message, who)

            return deliver_here

        def send() -> None:
            for message, who in messages:
                hub.publish(message, who)

        return send

    return prepare


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def merge_candidates(
    session: Session, event: GridEvent, *, radius_m: float, window: timedelta
) -> list[tuple[GridEvent, float]]:
    """Open events of the same category near this one in space and time, newest first (the
    operator looks for the duplicate of what just happened)."""
    if event.lat is None or event.lon is None:
        return []
    # A degree of latitude is ~111 km; the box is a cheap pre-filter before the exact distance.
    dlat = radius_m / 111_000
    dlon = radius_m / (111_000 * max(0.01, math.cos(math.radians(event.lat))))
    rows = session.scalars(
        select(GridEvent).where(
            GridEvent.id != event.id,
            GridEvent.category == event.category,
            GridEvent.status.in_(OPEN_STATES),
            GridEvent.lat.between(event.lat - dlat, event.lat + dlat),
            GridEvent.lon.between(event.lon - dlon, event.lon + dlon),
            GridEvent.occurred_at.between(event.occurred_at - window, event.occurred_at + window),
        )
    ).all()
    near = []
    for other in rows:
        assert other.lat is not None and other.lon is not None
        metres = distance_m(event.lat, event.lon, other.lat, other.lon)
        if metres <= radius_m:
            near.append((other, metres))
    return sorted(near, key=lambda pair: (pair[0].occurred_at, pair[0].id), reverse=True)


def to_public(event: GridEvent, request: Links) -> GridEventPublic:
    incident = event.incident
    best = event.best_incident or incident
    policy: DistrictPolicy = request.app.state.policy
    event_type = policy.taxonomy.get(event.event_code)
    urgency = policy.urgency_for(event.severity)
    limit = policy.time_limit(event.status, event.severity, event.event_code)
    location = (
        Location(lat=event.lat, lon=event.lon)
        if event.lat is not None and event.lon is not None
        else None
    )
    assignment = _assignment(event)
    title, description = event.title, event.description
    if incident is not None and event.camera is not None:
        language = _language_of(request)
        title = incident_title(incident, event_type, event.camera.name, language)
        description = incident_description(incident, event_type, event.camera.name, language)
    elif (event.source_reference or "").startswith("video-loss:") and event.camera is not None:
        title, description = _video_loss_words(event, event.camera.name, _language_of(request))
    now, until = datetime.now(UTC), ongoing_until(event)
    return GridEventPublic(
        id=event.id,
        source=event.source,
        source_reference=event.source_reference,
        category=event.category,
        event_code=event.event_code,
        event_name_zh=event_type.name_zh if event_type else None,
        event_name_en=event_type.name_en if event_type else None,
        severity=event.severity,
        status=event.status,
        title=title,
        description=description,
        address=event.address,
        reporter=event.reporter,
        grid_id=event.grid_id,
        grid_name=event.grid.name if event.grid else None,
        camera_id=event.camera_id,
        camera_name=event.camera.name if event.camera else None,
        location=location,
        department_id=event.department_id,
        level=event.level,
        assignee=event.assignee.username if event.assignee else None,
        assigned_by=assignment[0] if assignment else None,
        assigned_at=assignment[1] if assignment else None,
        deadline_at=event.deadline_at,
        urgency=urgency.value,
        urgency_name_zh=urgency.name_zh,
        deadline_working_time=bool(event.deadline_at and limit and limit.counts_working_time),
        overdue=bool(event.deadline_at and event.deadline_at < now),
        escalations=event.escalations,
        reworks=event.reworks,
        merged_into_id=event.merged_into_id,
        occurred_at=event.occurred_at,
        reported_at=event.reported_at,
        dispatched_at=event.dispatched_at,
        closed_at=event.closed_at,
        updated_at=event.updated_at,
        incident=_incident_public(incident, request) if incident else None,
        snapshot_url=(evidence_url(request, "incident_snapshot", best.id) if best else None),
        occurrence_count=event.occurrence_count,
        first_seen_at=event.first_seen_at,
        last_seen_at=event.last_seen_at,
        ongoing=until is not None and until > now,
        ongoing_until=until,
        object_classes=event.objects_involved.get("classes", []),
        track_ids=event.objects_involved.get("track_ids", []),
        intake=event.intake or "file",
        expires_at=event.expires_at,
        acknowledged_at=event.acknowledged_at,
        acknowledged_by=event.acknowledged_by,
        category_department_id=policy.category_department(event.category),
        routed_by=policy.routed_by(
            event.category,
            _owner_kind(event, policy),
            event.event_code,
            event.department_id,
        ),
    )


def _video_loss_words(event: GridEvent, camera_name: str, language: Language) -> tuple[str, str]:
    """A video-loss event's title and description in `language`, from what its report step
    recorded (api.health); an event recorded before it did keeps its stored words."""
    opened = next((step.details or {} for step in event.history if step.action == "report"), {})
    if opened.get("origin") != "video_loss" or not opened.get("since"):
        return event.title, event.description
    since = datetime.fromisoformat(opened["since"])
    return video_loss_title(camera_name, language), video_loss_description(
        camera_name, since, opened.get("timezone") or "UTC", opened.get("reason"),
        opened.get("error"), language,
    )  # fmt: skip


def _assignment(event: GridEvent) -> tuple[str, datetime] | None:
    """Who asked the event's assignee to verify it, and when: its latest `verify` step naming
    them. Read only for assigned events, the few a list holds."""
    if event.assignee_id is None:
        return None
    for step in reversed(event.history):
        if step.action == "verify" and (step.details or {}).get("assignee_id") == event.assignee_id:
            return step.actor.split(":", 1)[-1], step.at
    return None


def _owner_kind(event: GridEvent, policy: DistrictPolicy) -> str | None:
    """The camera owner's kind, read only when the routing needs explaining (it loads the
    organisation)."""
    if event.camera is None or event.department_id == policy.category_department(event.category):
        return None
    return event.camera.organisation.kind


def to_occurrence(incident: Incident, request: Links) -> OccurrencePublic:
    return OccurrencePublic(
        incident_id=incident.id,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        object_class=incident.object_class,
        confidence=incident.confidence,
        track_id=incident.track_id,
        box_xyxy=list(incident.box_xyxy),
        frame_width=incident.frame_width,
        frame_height=incident.frame_height,
        ongoing=bool(incident.details.get("ongoing")),
        snapshot_url=evidence_url(request, "incident_snapshot", incident.id),
        clip_url=(
            evidence_url(request, "incident_clip", incident.id) if incident.clip_path else None
        ),
    )


def _language_of(request: Links) -> Language:
    """The reader's language; a message shaped for everyone (a live alert) is in the default."""
    if isinstance(request, Request):
        return reader_language(request.headers.get("accept-language"))
    return DEFAULT_LANGUAGE


def _incident_public(incident: Incident, request: Links) -> IncidentPublic:
    public = IncidentPublic.model_validate(incident)
    if incident.clip_path:
        public.clip_url = evidence_url(request, "incident_clip", incident.id)
    return public


def to_detail(event: GridEvent, request: Request, principal: Principal) -> GridEventDetail:
    public = to_public(event, request)
    history = [HistoryPublic.model_validate(step) for step in event.history]
    attachments = [
        AttachmentPublic(
            id=item.id,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
            uploaded_by=item.uploaded_by,
            uploaded_at=item.uploaded_at,
            history_id=item.history_id,
            url=str(request.url_for("event_attachment", event_id=event.id, attachment_id=item.id)),
        )
        for item in event.attachments
    ]
    return GridEventDetail(
        **public.model_dump(),
        history=history,
        attachments=attachments,
        actions=allowed_actions(event, principal),
    )
