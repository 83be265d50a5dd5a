"""Grid events: registering incidents as events, and shaping events for the API."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import evidence
from api.models import Camera, GridEvent, GridEventHistory, Incident
from api.schemas import (
    GridEventDetail,
    GridEventPublic,
    HistoryPublic,
    IncidentCreate,
    IncidentPublic,
    Location,
)

log = logging.getLogger(__name__)

SOURCE_VIDEO = "video"
STATUS_REPORTED = "reported"


class UnknownCamera(LookupError):
    """The incident names a camera the API does not know. Not retried until it is registered."""


def register_incident(
    session: Session,
    report: IncidentCreate,
    snapshot: bytes,
    *,
    evidence_root: Path,
    actor: str,
) -> tuple[GridEvent, bool]:
    """Store an incident and open its grid event; returns (event, created).

    Idempotent on the incident id: a second report of the same incident returns the event the
    first one opened and changes nothing. The snapshot is on disk before the rows commit, so an
    event never points at missing evidence.
    """
    existing = _event_for_incident(session, report.id)
    if existing is not None:
        return existing, False
    camera = session.get(Camera, report.camera_id)
    if camera is None:
        raise UnknownCamera(report.camera_id)

    relative = evidence.snapshot_relative_path(report.id, report.detected_at)
    evidence.store(evidence_root, relative, snapshot)

    incident = Incident(
        **report.model_dump(exclude={"category", "severity"}),
        category=report.category.value,
        severity=report.severity.value,
        snapshot_path=relative.as_posix(),
        reported_by=actor,
    )
    event = GridEvent(
        source=SOURCE_VIDEO,
        incident=incident,
        category=report.category.value,
        severity=report.severity.value,
        status=STATUS_REPORTED,
        title=f"{report.summary} — {camera.name}",
        description=(
            f"{report.object_class} detected by rule {report.rule} in zone {report.zone} "
            f"(confidence {report.confidence:.2f}, track {report.track_id})."
        ),
        grid_id=camera.grid_id,
        camera_id=camera.id,
        lat=camera.lat,
        lon=camera.lon,
        occurred_at=report.started_at,
    )
    event.history.append(
        GridEventHistory(
            actor=actor,
            action="report",
            from_status=None,
            to_status=STATUS_REPORTED,
            note=f"incident {report.id} from camera {camera.id}",
        )
    )
    session.add(event)
    try:
        session.commit()
    except IntegrityError:
        # Another request registered the same incident between our check and our insert.
        session.rollback()
        existing = _event_for_incident(session, report.id)
        if existing is None:
            raise
        return existing, False
    log.info("%s: incident %s opened grid event %s", camera.id, report.id, event.id)
    return event, True


def _event_for_incident(session: Session, incident_id: str) -> GridEvent | None:
    return session.scalars(select(GridEvent).where(GridEvent.incident_id == incident_id)).first()


def to_public(event: GridEvent, request: Request) -> GridEventPublic:
    incident = event.incident
    location = (
        Location(lat=event.lat, lon=event.lon)
        if event.lat is not None and event.lon is not None
        else None
    )
    return GridEventPublic(
        id=event.id,
        source=event.source,
        category=event.category,
        severity=event.severity,
        status=event.status,
        title=event.title,
        description=event.description,
        grid_id=event.grid_id,
        grid_name=event.grid.name if event.grid else None,
        camera_id=event.camera_id,
        camera_name=event.camera.name if event.camera else None,
        location=location,
        occurred_at=event.occurred_at,
        reported_at=event.reported_at,
        updated_at=event.updated_at,
        incident=IncidentPublic.model_validate(incident) if incident else None,
        snapshot_url=(
            str(request.url_for("incident_snapshot", incident_id=incident.id)) if incident else None
        ),
    )


def to_detail(event: GridEvent, request: Request) -> GridEventDetail:
    public = to_public(event, request)
    history = [HistoryPublic.model_validate(step) for step in event.history]
    return GridEventDetail(**public.model_dump(), history=history)
