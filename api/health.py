"""Camera health as workers report it, and video-loss events when a camera stays dark."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ColumnElement, cast, func, literal, null, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from api.district import OPEN_STATES, DistrictPolicy
from api.events import open_event_clock
from api.leases import fleet_status, leasing, unheld
from api.models import Camera, CameraLease, GridEvent, GridEventHistory
from api.redaction import mask_secrets
from api.titles import DEFAULT_LANGUAGE, video_loss_description, video_loss_title

log = logging.getLogger(__name__)

VIDEO_LOSS = "video-loss"


def _open_video_loss(session: Session, camera: Camera) -> GridEvent | None:
    """The event of the camera's current outage. One whose recovery is recorded belongs to an
    earlier outage, even while it waits to be handled: a new outage gets an event of its own."""
    recovered = select(GridEventHistory.id).where(
        GridEventHistory.grid_event_id == GridEvent.id, GridEventHistory.action == "recover"
    )
    return session.scalars(
        select(GridEvent).where(
            GridEvent.camera_id == camera.id,
            GridEvent.source_reference.startswith(f"{VIDEO_LOSS}:{camera.id}:"),
            GridEvent.status.in_(OPEN_STATES),
            ~recovered.exists(),
        )
    ).first()


def record_health(
    session: Session,
    camera: Camera,
    report: dict[str, Any],
    *,
    policy: DistrictPolicy,
    grace: timedelta,
    now: datetime | None = None,
) -> tuple[GridEvent | None, bool]:
    """Store a worker's health report; returns (video-loss event touched, created).

    A camera offline for longer than `grace` opens one device_fault event per outage, dated
    from the report's `offline_since` (when the worker saw the picture stop) if it has one;
    when the camera comes back the same event records the recovery.
    """
    now = now or datetime.now(UTC)
    if report.get("error"):
        # It becomes the camera's health and the video-loss event's history for every operator
        # to read: no address in it keeps its credentials, whichever worker wrote it.
        report = {**report, "error": mask_secrets(report["error"])}
    status = report["status"]
    was_offline = camera.status == "offline" and camera.status_since is not None
    if status != camera.status:
        log.info("%s: %s -> %s", camera.id, camera.status, status)
        camera.status_since = now
    if status == "offline" and report.get("offline_since"):
        # The worker saw the picture stop; its clock of the outage is the one that counts (not
        # the report's arrival). A worker that restarted mid-outage knows only a later start,
        # and a clock ahead of ours does not date an outage in the future.
        since = min(report["offline_since"], now)
        if was_offline and camera.status_since is not None:
            since = min(since, camera.status_since)
        camera.status_since = since
    camera.status = status
    camera.last_report_at = now
    camera.last_frame_at = report.get("last_frame_at") or camera.last_frame_at
    camera.health = {key: value for key, value in report.items() if key not in ("status",)}
    camera.health = _jsonable(camera.health)
    touched, created = None, False
    if status == "offline":
        touched, created = _video_loss(session, camera, policy, grace, now)
    else:
        touched = _recovered(session, camera, now)
    session.commit()
    return touched, created


def _video_loss(
    session: Session, camera: Camera, policy: DistrictPolicy, grace: timedelta, now: datetime
) -> tuple[GridEvent | None, bool]:
    since = camera.status_since or now
    if now - since < grace or not camera.enabled or camera.retired_at is not None:
        return None, False
    existing = _open_video_loss(session, camera)
    if existing is not None:
        return existing, False
    detail = camera.health.get("error") or None
    reason = camera.health.get("reason") or ("worker_silent" if detail == SILENT else "no_frames")
    zone = str((camera.config or {}).get("timezone") or "UTC")
    event = GridEvent(
        source="video",
        source_reference=f"{VIDEO_LOSS}:{camera.id}:{since.isoformat()}",
        category="device_fault",
        event_code=policy.taxonomy.for_rule("video_loss", "device_fault"),
        severity="medium",
        # Stored in the default language; shown in the reader's (api.events.to_public).
        title=video_loss_title(camera.name, DEFAULT_LANGUAGE),
        description=video_loss_description(
            camera.name, since, zone, reason, detail, DEFAULT_LANGUAGE
        ),
        grid_id=camera.grid_id,
        camera_id=camera.id,
        lat=camera.lat,
        lon=camera.lon,
        occurred_at=since,
        escalations=0,
        reworks=0,
    )
    open_event_clock(
        event, policy, camera.organisation.kind, "system:camera-health", "video loss",
        {"origin": "video_loss", "since": since.isoformat(), "timezone": zone, "reason": reason,
         "error": detail},
    )  # fmt: skip
    session.add(event)
    session.flush()
    log.warning("%s: offline since %s; video-loss event %s opened", camera.id, since, event.id)
    return event, True


def _recovered(session: Session, camera: Camera, now: datetime) -> GridEvent | None:
    event = _open_video_loss(session, camera)
    if event is None:
        return None
    lost = event.occurred_at
    before = event.status
    # Nobody has acted on it yet: the fault is over, so the event closes itself. Once people
    # work on it (dispatched to a technician, say), they close it; the recovery is noted.
    if before in ("reported", "verifying"):
        event.status, event.closed_at, event.deadline_at = "closed", now, None
    event.history.append(
        GridEventHistory(
            actor="system:camera-health",
            action="recover",
            from_status=before,
            to_status=event.status,
            note=f"video restored after {now - lost}",
            details={
                "recovered_at": now.isoformat(),
                "lost_minutes": round((now - lost).total_seconds() / 60),
            },
            at=now,
        )
    )
    event.updated_at = now
    log.info("%s: video restored; recorded on event %s", camera.id, event.id)
    return event


# The detail the API writes when no worker reports on a camera any more.
SILENT = "no health report from any worker"
UNASSIGNED = "unassigned"
UNASSIGNED_REASON = "no worker holds this camera: every worker is at capacity, or none is running"


def mark_unassigned_cameras(
    session: Session, *, lease: timedelta, now: datetime | None = None
) -> ColumnElement[bool] | None:
    """Cameras that no worker has held for a lease time (while workers lease cameras) are
    `unassigned`: a shortage of workers, not a fault of the camera. A camera free for less is
    not: a stopping worker's cameras, or a whole district's while its workers start, are taken
    within a poll, and marking them meanwhile raised the admins' alarm for thousands of cameras
    at every restart while the update of their rows made the claims that would take them skip
    them. They open no video-loss event and raise the admins'
    alarm (an error in the log, the fleet's `waiting` list and the `gridwatch_cameras_unassigned`
    gauge) instead of the owner's. Returns the condition of such a camera (None when workers do
    not lease cameras); the session is not committed.

    One UPDATE whatever the number of cameras (the health's reason merged in the database):
    when every worker of a district restarts at once, thousands wait at the same look, and
    loading each as an object to mark it, one UPDATE each, held the API's process and the
    cameras' rows for seconds, while the claims that would end the wait skipped the rows it had
    locked and it waited for theirs."""
    now = now or datetime.now(UTC)
    if not leasing(session, lease, now):
        return None
    waiting = aliased(Camera)
    if session.get_bind().dialect.name == "postgresql":
        merged = cast(Camera.health, JSONB).op("||")(
            func.jsonb_build_object("reason", null(), "error", literal(UNASSIGNED_REASON))
        )
        health: Any = cast(merged, JSON)
    else:
        health = func.json_set(Camera.health, "$.reason", null(), "$.error", UNASSIGNED_REASON)
    # A camera a worker is claiming right now (its row locked by the claim) is skipped: it is
    # about to be held, and the claim is not held up by this statement.
    newly = list(
        session.scalars(
            update(Camera)
            .where(
                Camera.id.in_(
                    select(waiting.id)
                    .where(
                        unheld(now, waiting),
                        waiting.status != UNASSIGNED,
                        _dark_since(waiting) <= now - lease,
                    )
                    .with_for_update(skip_locked=True, key_share=True)
                )
            )
            .values(status=UNASSIGNED, status_since=_dark_since(Camera), health=health)
            .returning(Camera.id)
            .execution_options(synchronize_session=False)
        )
    )
    if newly:
        status = fleet_status(session, lease, now=now, waiting=False)
        log.error(
            "%d cameras watched by no worker (%s); the fleet has %d workers, capacity %d,"
            " holding %d; add workers or capacity",
            len(newly), ", ".join(sorted(newly)[:10]), len(status.workers), status.capacity,
            status.held,
        )  # fmt: skip
    return unheld(now)


def _dark_since(camera: Any) -> ColumnElement[datetime]:
    """Since when `camera` (Camera or an alias) has had no holder: its last lease's end, or its
    registration if it never had one."""
    last_lease_end = (
        select(CameraLease.expires_at).where(CameraLease.camera_id == camera.id).scalar_subquery()
    )
    return func.coalesce(last_lease_end, camera.created_at)


def mark_silent_cameras(
    session: Session,
    policy: DistrictPolicy,
    *,
    grace: timedelta,
    lease: timedelta | None = None,
    now: datetime | None = None,
) -> list[GridEvent]:
    """Cameras whose worker stopped reporting are offline too (a dead worker, a cut network);
    with `lease` (the lease time), those that no worker holds any more are `unassigned`
    instead (see `mark_unassigned_cameras`)."""
    now = now or datetime.now(UTC)
    unassigned = None if lease is None else mark_unassigned_cameras(session, lease=lease, now=now)
    session.commit()  # the marked rows' locks go now, not after the look for silent cameras
    silent = session.scalars(
        select(Camera).where(
            Camera.retired_at.is_(None),
            Camera.enabled.is_(True),
            Camera.last_report_at.is_not(None),
            Camera.last_report_at < now - grace,
            *(() if unassigned is None else (~unassigned,)),
        )
    ).all()
    opened = []
    for camera in silent:
        if camera.status != "offline":
            camera.status, camera.status_since = "offline", camera.last_report_at
            camera.health = {**camera.health, "reason": None, "error": SILENT}
        event, created = _video_loss(session, camera, policy, grace, now)
        if created and event is not None:
            opened.append(event)
    session.commit()
    return opened


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}
