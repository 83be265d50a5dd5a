"""Evaluation figures per department, grid, grid worker or camera, as GB/T 30428 evaluates the
closed loop: how many events were reported, filed, dispatched, handled on time, reworked and
closed, and how fast.

Over the events in the caller's scope that occurred in [from, to):

- reported: events, each situation once; occurrences: the incidents (and reports) behind them,
  as a camera's repeats of one situation join its event; filed: confirmed real (a confirm
  step); dispatched: sent to a department;
  handled: resolved at least once; handled_on_time: the last resolve came before the handling
  deadline then in force; reworked: sent back at least once (reworks counts every send-back);
  closed: closed, by the on-site check or by an operator; false_alarms: rejected.
- on_time_rate = handled_on_time / dispatched; closure_rate = closed / filed;
  rework_rate = reworked / handled; false_alarm_rate = false_alarms / (filed + false_alarms),
  over video events only (a camera's or rule's own false alarms).
- medians: minutes from report to dispatch, and from report to close.

By grid worker, an event counts for every grid worker of its cell.

False-alarm sources: per camera, the rule, zone and object class of its rejected video events,
most rejected first, with the incidents a suppression has since held back (detected in the same
range) and a mask that would cover every rejected object.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime
from sqlalchemy import select

from api.auth import UserDep
from api.deps import SessionDep
from api.figures import batches, events_in_range, history_steps, incident_rules, minutes
from api.models import (
    Camera,
    Department,
    Grid,
    GridEvent,
    Incident,
    User,
    UserGrid,
)
from api.schemas import (
    CameraFalseAlarms,
    Evaluation,
    EvaluationRow,
    FalseAlarmSource,
    GroupBy,
    RuleFalseAlarms,
)
from api.suppressions import normalised_box, suggested_mask, suppressed_counts

router = APIRouter(prefix="/api/v1/evaluation", tags=["evaluation"])


@dataclass
class _Facts:
    """What the history says about one event."""

    filed: bool = False
    rejected: bool = False
    resolved: bool = False
    on_time: bool = False


@dataclass
class _Tally:
    events: list[tuple[GridEvent, _Facts]] = field(default_factory=list)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _row(key: str | None, name: str | None, items: list[tuple[GridEvent, _Facts]]) -> EvaluationRow:
    filed = sum(1 for _, facts in items if facts.filed)
    handled = sum(1 for _, facts in items if facts.resolved)
    dispatched = sum(1 for event, _ in items if event.dispatched_at is not None)
    on_time = sum(1 for _, facts in items if facts.resolved and facts.on_time)
    reworked = sum(1 for event, _ in items if event.reworks)
    closed = [event for event, _ in items if event.status == "closed"]
    false_alarms = sum(1 for _, facts in items if facts.rejected)
    video = [(event, facts) for event, facts in items if event.source == "video"]
    video_filed = sum(1 for _, facts in video if facts.filed)
    video_rejected = sum(1 for _, facts in video if facts.rejected)
    to_dispatch = [
        m
        for event, _ in items
        if (m := minutes(event.dispatched_at, event.reported_at)) is not None
    ]
    to_close = [m for e in closed if (m := minutes(e.closed_at, e.reported_at)) is not None]
    return EvaluationRow(
        key=key, name=name, reported=len(items),
        occurrences=sum(event.occurrence_count for event, _ in items), filed=filed,
        dispatched=dispatched,
        handled=handled, handled_on_time=on_time, reworked=reworked,
        reworks=sum(event.reworks for event, _ in items), closed=len(closed),
        false_alarms=false_alarms, on_time_rate=_ratio(on_time, dispatched),
        closure_rate=_ratio(len(closed), filed), rework_rate=_ratio(reworked, handled),
        false_alarm_rate=_ratio(video_rejected, video_filed + video_rejected),
        median_minutes_to_dispatch=_median(to_dispatch), median_minutes_to_close=_median(to_close),
    )  # fmt: skip


def _facts(session: SessionDep, ids: list[int]) -> dict[int, _Facts]:
    facts: dict[int, _Facts] = {event_id: _Facts() for event_id in ids}
    for event_id, action, details in history_steps(session, ids, ("confirm", "reject", "resolve")):
        item = facts[event_id]
        if action == "confirm":
            item.filed = True
        elif action == "reject":
            item.rejected = True
        else:  # the last resolve decides
            item.resolved = True
            item.on_time = bool((details or {}).get("on_time"))
    return facts


def _pairs(session: SessionDep, events: list[GridEvent]) -> list[tuple[GridEvent, _Facts]]:
    facts = _facts(session, [event.id for event in events])
    return [(event, facts[event.id]) for event in events]


def evaluate(
    session: SessionDep,
    pairs: list[tuple[GridEvent, _Facts]],
    by: GroupBy,
) -> tuple[list[EvaluationRow], EvaluationRow, list[RuleFalseAlarms]]:
    events = [event for event, _ in pairs]
    groups: dict[str | None, list[tuple[GridEvent, _Facts]]] = defaultdict(list)
    names: dict[str | None, str | None] = {}
    if by is GroupBy.grid_worker:
        cells = {event.grid_id for event in events if event.grid_id}
        workers: dict[str, list[User]] = defaultdict(list)
        for link, user in session.execute(
            select(UserGrid, User)
            .join(User, User.id == UserGrid.user_id)
            .where(UserGrid.grid_id.in_(cells), User.role == "grid_worker")
        ).all():
            workers[link.grid_id].append(user)
        for pair in pairs:
            for user in workers.get(pair[0].grid_id or "", []):
                groups[user.username].append(pair)
                names[user.username] = user.full_name or user.username
    else:
        column = {
            GroupBy.department: "department_id",
            GroupBy.grid: "grid_id",
            GroupBy.camera: "camera_id",
        }[by]
        for pair in pairs:
            key = getattr(pair[0], column)
            if by is GroupBy.camera and key is None:
                continue  # reported by people: no camera to evaluate
            groups[key].append(pair)
        model: Any = {GroupBy.department: Department, GroupBy.grid: Grid, GroupBy.camera: Camera}[
            by
        ]
        keys = [key for key in groups if key is not None]
        if keys:
            names.update(
                dict(session.execute(select(model.id, model.name).where(model.id.in_(keys))).all())
            )
    rows = [
        _row(key, names.get(key), items)
        for key, items in sorted(groups.items(), key=lambda pair: (pair[0] is None, pair[0] or ""))
    ]
    return rows, _row(None, None, pairs), _by_rule(session, pairs)


def _by_rule(session: SessionDep, pairs: list[tuple[GridEvent, _Facts]]) -> list[RuleFalseAlarms]:
    rules = incident_rules(session, [event.incident_id for event, _ in pairs if event.incident_id])
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for event, facts in pairs:
        rule = rules.get(event.incident_id or "")
        if rule is None or not (facts.filed or facts.rejected):
            continue
        counts[rule][0 if facts.filed else 1] += 1
    return [
        RuleFalseAlarms(
            rule=rule,
            confirmed=confirmed,
            false_alarms=rejected,
            rate=_ratio(rejected, confirmed + rejected),
        )
        for rule, (confirmed, rejected) in sorted(counts.items())
    ]


SOURCES_PER_CAMERA = 5


def false_alarm_sources(
    session: SessionDep,
    pairs: list[tuple[GridEvent, _Facts]],
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> list[CameraFalseAlarms]:
    """Each camera's top false-alarm sources among the events given (the caller's scope)."""
    rejected = [
        event.incident_id
        for event, facts in pairs
        if facts.rejected and event.source == "video" and event.incident_id
    ]
    objects: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    for chunk in batches(rejected):
        for incident in session.scalars(select(Incident).where(Incident.id.in_(chunk))):
            key = (incident.camera_id, incident.rule, incident.zone, incident.object_class)
            objects[key].append(
                normalised_box(incident.box_xyxy, incident.frame_width, incident.frame_height)
            )
    cameras = sorted({key[0] for key in objects})
    held = suppressed_counts(session, cameras, occurred_from, occurred_to)
    names = dict(
        session.execute(select(Camera.id, Camera.name).where(Camera.id.in_(cameras))).all()
    )
    result = []
    for camera_id in cameras:
        keys = sorted(
            (key for key in objects if key[0] == camera_id),
            key=lambda key: (-len(objects[key]), key),
        )[:SOURCES_PER_CAMERA]
        sources = [
            FalseAlarmSource(
                rule=key[1], zone=key[2], object_class=key[3],
                false_alarms=len(objects[key]), suppressed=held.get(key, 0),
                suggested_mask=suggested_mask(objects[key]),
            )
            for key in keys
        ]  # fmt: skip
        result.append(
            CameraFalseAlarms(camera_id=camera_id, camera_name=names[camera_id], sources=sources)
        )
    return result


CSV_COLUMNS = list(EvaluationRow.model_fields)
# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """`value` fit for a CSV cell a spreadsheet will open: text that a spreadsheet would run as a
    formula gets a leading apostrophe (shown as text, not evaluated); numbers and None (an empty
    cell) are kept as they are.

    Example:
        >>> csv_cell('=HYPERLINK("http://x")'), csv_cell(-1.5), csv_cell(None)
        ('\'=HYPERLINK("http://x")', -1.5, '')
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_TRIGGERS):
        return "'" + value
    return value


def _csv(rows: Iterable[EvaluationRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: csv_cell(value) for key, value in row.model_dump().items()})
    return buffer.getvalue()


@router.get(
    "",
    response_model=Evaluation,
    responses={200: {"content": {"text/csv": {}}}},
    summary="Evaluation figures per department, grid, grid worker or camera (JSON or CSV).",
)
def get_evaluation(
    request: Request,
    session: SessionDep,
    principal: UserDep,
    by: Annotated[
        GroupBy, Query(description="Group by department, grid, grid_worker or camera.")
    ] = GroupBy.department,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    format: Annotated[
        str | None, Query(pattern="^(json|csv)$", description="csv: a CSV file.")
    ] = None,
) -> Evaluation | Response:
    query = events_in_range(principal, occurred_from, occurred_to)
    events = list(session.scalars(query.order_by(GridEvent.id)).all())
    pairs = _pairs(session, events)
    rows, total, by_rule = evaluate(session, pairs, by)
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        total_row = total.model_copy(update={"key": "(total)"})
        return Response(
            _csv([*rows, total_row]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="evaluation-by-{by.value}.csv"'},
        )
    return Evaluation(
        by=by, occurred_from=occurred_from, occurred_to=occurred_to, rows=rows, total=total,
        false_alarms_by_rule=by_rule,
        false_alarm_sources=false_alarm_sources(session, pairs, occurred_from, occurred_to),
    )  # fmt: skip
