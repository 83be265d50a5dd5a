"""Camera leases: workers share the district's cameras, each camera watched by exactly one.

A worker asks for up to `capacity` cameras and renews what it holds on every call (its
heartbeat). A lease not renewed before it expires is free again, so the cameras of a worker that
died are taken over by the others within one lease time. On PostgreSQL free cameras are claimed
with SELECT ... FOR UPDATE SKIP LOCKED, so workers asking at the same moment never get the same
camera.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.orm import Session

from api.models import Camera, CameraLease


def _active() -> ColumnElement[bool]:
    return and_(Camera.retired_at.is_(None), Camera.enabled.is_(True))


def claim(
    session: Session, worker: str, capacity: int, lease: timedelta, *, now: datetime | None = None
) -> list[Camera]:
    """Renew `worker`'s leases and claim free cameras up to `capacity`; returns its cameras."""
    now = now or datetime.now(UTC)
    expires = now + lease
    held = list(
        session.scalars(
            select(CameraLease)
            .join(Camera, Camera.id == CameraLease.camera_id)
            .where(CameraLease.worker == worker, CameraLease.expires_at > now, _active())
            .order_by(CameraLease.camera_id)
        )
    )
    # Held leases beyond the capacity (it was lowered) go back first.
    for surplus in held[capacity:]:
        session.delete(surplus)
    held = held[:capacity]
    for item in held:
        item.expires_at = expires
    # Leases of cameras that were disabled or removed, and this worker's expired ones, go.
    session.execute(
        delete(CameraLease).where(
            CameraLease.worker == worker,
            CameraLease.camera_id.not_in([item.camera_id for item in held] or [""]),
        )
    )
    wanted = capacity - len(held)
    if wanted > 0:
        taken = select(CameraLease.camera_id).where(CameraLease.expires_at > now)
        query = (
            select(Camera)
            .where(_active(), Camera.id.not_in(taken))
            .order_by(Camera.id)
            .limit(wanted)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Camera)
        for camera in session.scalars(query):
            existing = session.get(CameraLease, camera.id)
            if existing is None:
                session.add(
                    CameraLease(
                        camera_id=camera.id, worker=worker, acquired_at=now, expires_at=expires
                    )
                )
            else:
                # An expired lease of a worker that stopped renewing: taken over.
                existing.worker, existing.acquired_at, existing.expires_at = worker, now, expires
    session.commit()
    return list(
        session.scalars(
            select(Camera)
            .join(CameraLease, CameraLease.camera_id == Camera.id)
            .where(CameraLease.worker == worker)
            .order_by(Camera.id)
        )
    )


def release(session: Session, worker: str) -> int:
    """Give back every lease of `worker` (a clean stop); returns how many."""
    result = session.execute(delete(CameraLease).where(CameraLease.worker == worker))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
