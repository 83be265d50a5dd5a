"""Figures the district watches: closure rate, time to dispatch and close, false alarms, backlog."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.auth import UserDep
from api.deps import SessionDep
from api.district import OPEN_STATES
from api.figures import events_in_range, history_steps, incident_rules, minutes
from api.schemas import FalseAlarmRate, Stats

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("", response_model=Stats, summary="Figures over events that occurred in a time range.")
def get_stats(
    session: SessionDep,
    principal: UserDep,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> Stats:
    events = session.scalars(events_in_range(principal, occurred_from, occurred_to)).all()
    # Should an event have had more than one verdict, the latest counts.
    verdicts = {
        event_id: action
        for event_id, action, _details in history_steps(
            session, [event.id for event in events], ("confirm", "reject")
        )
    }
    rules = incident_rules(session, [e.incident_id for e in events if e.incident_id])

    by_camera: dict[str, Counter[str]] = defaultdict(Counter)
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        verdict = verdicts.get(event.id)
        if verdict is None or event.source != "video":
            continue
        if event.camera_id:
            by_camera[event.camera_id][verdict] += 1
        if event.incident_id and event.incident_id in rules:
            by_rule[rules[event.incident_id]][verdict] += 1

    def rate(counts: Counter[str]) -> FalseAlarmRate:
        total = counts["confirm"] + counts["reject"]
        return FalseAlarmRate(
            confirmed=counts["confirm"], false_alarms=counts["reject"],
            rate=round(counts["reject"] / total, 4) if total else None,
        )  # fmt: skip

    real = [e for e in events if e.status not in ("false_alarm", "merged")]
    closed = [e for e in events if e.status == "closed"]
    to_dispatch = [m for e in events if (m := minutes(e.dispatched_at, e.reported_at)) is not None]
    to_close = [m for e in closed if (m := minutes(e.closed_at, e.reported_at)) is not None]
    open_events = [e for e in events if e.status in OPEN_STATES]
    now = datetime.now(tz=events[0].reported_at.tzinfo) if events else None
    return Stats(
        events=len(events),
        occurrences=sum(e.occurrence_count for e in events),
        by_status=dict(Counter(e.status for e in events)),
        by_category=dict(Counter(e.category for e in events)),
        by_source=dict(Counter(e.source for e in events)),
        closed=len(closed),
        closure_rate=round(len(closed) / len(real), 4) if real else None,
        median_minutes_to_dispatch=round(statistics.median(to_dispatch), 2)
        if to_dispatch
        else None,
        median_minutes_to_close=round(statistics.median(to_close), 2) if to_close else None,
        open_by_grid=dict(Counter(e.grid_id or "(outside grids)" for e in open_events)),
        open_by_department=dict(Counter(e.department_id or "(unrouted)" for e in open_events)),
        overdue_open=sum(1 for e in open_events if e.deadline_at and now and e.deadline_at < now),
        false_alarm_rate_by_camera={camera: rate(c) for camera, c in sorted(by_camera.items())},
        false_alarm_rate_by_rule={rule: rate(c) for rule, c in sorted(by_rule.items())},
    )
