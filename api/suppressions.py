"""Suppressions: what an operator's "false alarm, do not raise this again" leaves behind, which
incidents they hold back, and the masks evaluation suggests for a camera's false alarms.

Regions are polygons in image coordinates normalised to [0, 1] (x to the right, y down), so a
suppression made on a snapshot holds whatever resolution the worker later sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import shapely
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box
from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from api.models import Camera, Incident, Suppression
from api.schemas import SuppressOnReject
from contract.incident import IncidentReport

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
# An object counts as inside a region when its box's centre is, or at least this share of its box.
MIN_OVERLAP = 0.5
FRAME = shapely_box(0.0, 0.0, 1.0, 1.0)


def normalised_box(box_xyxy: Sequence[float], frame_width: int, frame_height: int) -> Polygon:
    """A pixel box [x1, y1, x2, y2] as a polygon in [0, 1] image coordinates."""
    x1, y1, x2, y2 = box_xyxy
    return shapely_box(
        x1 / frame_width, y1 / frame_height, x2 / frame_width, y2 / frame_height
    ).intersection(FRAME)


def _points(polygon: Polygon) -> list[list[float]]:
    """The polygon's outline as [[x, y], ...] (not closed), rounded to 1/10000 of the frame."""
    coordinates = list(polygon.exterior.coords)[:-1]
    return [[round(x, 4), round(y, 4)] for x, y in coordinates]


def region_around(
    box_xyxy: Sequence[float], frame_width: int, frame_height: int, margin: float
) -> list[list[float]]:
    """The object's box grown by `margin` (a fraction of its width and height) on each side and
    kept inside the frame, as a normalised polygon [[x, y], ...].

    Raises:
        ValueError: the box has no area inside the frame.
    """
    x1, y1, x2, y2 = box_xyxy
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0.0, (x1 - dx) / frame_width), max(0.0, (y1 - dy) / frame_height)
    right, bottom = min(1.0, (x2 + dx) / frame_width), min(1.0, (y2 + dy) / frame_height)
    if right <= left or bottom <= top:
        raise ValueError(f"the object's box {list(box_xyxy)} has no area inside the frame")
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return [[round(x, 4), round(y, 4)] for x, y in corners]


def covers(
    region: Sequence[Sequence[float]],
    box_xyxy: Sequence[float],
    frame_width: int,
    frame_height: int,
) -> bool:
    """Whether the object's box lies in the region: its centre inside, or most of its area."""
    area = Polygon(region)
    if not area.is_valid or area.is_empty:
        return False
    obj = normalised_box(box_xyxy, frame_width, frame_height)
    if obj.is_empty:
        return False
    if area.covers(obj.centroid):
        return True
    return obj.area > 0 and area.intersection(obj).area >= MIN_OVERLAP * obj.area


def in_window(starts: time | None, ends: time | None, at: datetime, timezone: str) -> bool:
    """Whether `at` falls in the local time-of-day window [starts, ends), which may wrap
    midnight; always true without a window."""
    if starts is None or ends is None:
        return True
    local = at.astimezone(_zone(timezone)).time().replace(tzinfo=None)
    if starts < ends:
        return starts <= local < ends
    return local >= starts or local < ends


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def camera_timezone(camera: Camera) -> str:
    """The camera's IANA time zone, as its configuration sets it."""
    return str(camera.config.get("timezone") or DEFAULT_TIMEZONE)


def is_active(suppression: Suppression, at: datetime) -> bool:
    """Not expired at `at` (the time of day is checked per incident)."""
    return suppression.expires_at is None or at < suppression.expires_at


def holds_for(suppression: Suppression, incident: Incident) -> bool:
    """Whether the suppression keeps this incident from the operators: same camera, rule, zone
    and object class, the object in the region, at a time of day in the window, not expired
    when it was detected."""
    return (
        suppression.camera_id == incident.camera_id
        and suppression.rule == incident.rule
        and suppression.zone == incident.zone
        and suppression.object_class == incident.object_class
        and is_active(suppression, incident.detected_at)
        and in_window(
            suppression.starts_at_time,
            suppression.ends_at_time,
            incident.detected_at,
            suppression.timezone,
        )
        and covers(
            suppression.region, incident.box_xyxy, incident.frame_width, incident.frame_height
        )
    )


# Built once: every incident runs it.
_IS_CANDIDATE = (
    Suppression.camera_id == bindparam("camera_id"),
    Suppression.rule == bindparam("rule"),
    Suppression.zone == bindparam("zone"),
    Suppression.object_class == bindparam("object_class"),
    or_(Suppression.expires_at.is_(None), Suppression.expires_at > bindparam("detected_at")),
)
_CANDIDATES = select(Suppression).where(*_IS_CANDIDATE).order_by(Suppression.id)
# Whether `suppress` has anything to look at, for a query that reads it along with other things
# (intake asks with the camera): most incidents have no suppression to check.
ANY_CANDIDATE = exists().where(*_IS_CANDIDATE)


def candidate_parameters(incident: Incident | IncidentReport) -> dict[str, Any]:
    """The bound values of `ANY_CANDIDATE` (and of the candidates' query) for `incident`."""
    return {
        "camera_id": incident.camera_id,
        "rule": incident.rule,
        "zone": incident.zone,
        "object_class": incident.object_class,
        "detected_at": incident.detected_at,
    }


def suppress(session: Session, camera: Camera, incident: Incident) -> Suppression | None:
    """The suppression that holds `incident` back, if any; it and the camera count one more, and
    the incident records which one (in the caller's transaction, so a repeated report that rolls
    back counts nothing)."""
    candidates = session.scalars(_CANDIDATES, candidate_parameters(incident)).all()
    suppression = next((item for item in candidates if holds_for(item, incident)), None)
    if suppression is None:
        return None
    now = datetime.now(UTC)
    # Counted in SQL, so that concurrent reports do not lose increments.
    suppression.suppressed_count = Suppression.suppressed_count + 1
    suppression.last_suppressed_at = now
    camera.suppressed_incidents = Camera.suppressed_incidents + 1
    camera.last_suppressed_at = now
    incident.suppression_id = suppression.id
    log.info("%s: incident %s suppressed by suppression %s", camera.id, incident.id, suppression.id)
    return suppression


def suppression_from_incident(
    incident: Incident,
    spec: SuppressOnReject,
    *,
    actor: str,
    grid_event_id: int | None,
    note: str,
    now: datetime,
) -> Suppression:
    """A suppression around the incident's object, as a false-alarm verdict asks for it."""
    return Suppression(
        camera_id=incident.camera_id,
        rule=incident.rule,
        zone=incident.zone,
        object_class=incident.object_class,
        region=region_around(
            incident.box_xyxy, incident.frame_width, incident.frame_height, spec.margin
        ),
        starts_at_time=spec.starts_at_time,
        ends_at_time=spec.ends_at_time,
        timezone=camera_timezone(incident.camera),
        expires_at=now + timedelta(days=spec.expires_in_days) if spec.expires_in_days else None,
        note=note,
        created_by=actor,
        grid_event_id=grid_event_id,
        created_at=now,
        suppressed_count=0,
    )


def suggested_mask(boxes: Iterable[Polygon]) -> list[list[float]]:
    """A normalised polygon covering every box: the convex hull of their union; [] for none."""
    shapes = [item for item in boxes if not item.is_empty]
    if not shapes:
        return []
    hull = shapely.union_all(shapes).convex_hull
    if not isinstance(hull, Polygon):  # boxes of no area: a point or a line
        hull = hull.buffer(0.01, cap_style="square").intersection(FRAME)
    return _points(hull)


def suppressed_counts(
    session: Session,
    camera_ids: Sequence[str],
    detected_from: datetime | None,
    detected_to: datetime | None,
) -> dict[tuple[str, str, str, str], int]:
    """Incidents held back by a suppression, per (camera, rule, zone, object class), detected in
    [from, to) (either end open)."""
    if not camera_ids:
        return {}
    query = (
        select(
            Incident.camera_id, Incident.rule, Incident.zone, Incident.object_class, func.count()
        )
        .where(Incident.suppression_id.is_not(None), Incident.camera_id.in_(camera_ids))
        .group_by(Incident.camera_id, Incident.rule, Incident.zone, Incident.object_class)
    )
    if detected_from is not None:
        query = query.where(Incident.detected_at >= detected_from)
    if detected_to is not None:
        query = query.where(Incident.detected_at < detected_to)
    return {
        (camera_id, rule, zone, object_class): count
        for camera_id, rule, zone, object_class, count in session.execute(query).all()
    }
