"""Camera leases: workers share the district's cameras, each camera watched by exactly one.

A worker asks for up to `capacity` cameras and renews what it holds on every call (its
heartbeat). A lease not renewed before it expires is free again, so the cameras of a worker that
died are taken over by the others within one lease time. On PostgreSQL free cameras are claimed
with SELECT ... FOR UPDATE SKIP LOCKED, so workers asking at the same moment never get the same
camera.

Fencing (split brain). A lease alone cannot keep a camera from being watched twice: a worker cut
off from the API (the link, not the API, is down) cannot learn that its lease ran out, and the
camera is taken over while it still looks. So:

- every new holder of a camera's lease (another worker, or the same one after its lease lapsed)
  starts a *tenure* with the next *epoch*, a counter per camera (`CameraTenure`); the grant tells
  the worker each camera's epoch;
- the worker stops analysing its cameras once their lease has lapsed on its own clock (the time
  it sent the last successful renewal, plus the lease time, minus a margin for clock drift), so
  it never looks at a camera for a time the API may have given to someone else;
- every incident carries the epoch its worker held, and the API refuses (409) one whose camera a
  later tenure had already taken when the incident was detected (`check_fence`): a stale holder
  can never report a time another holder owned, even a worker that does not stop;
- an incident recorded before the lapse is accepted whenever it arrives: a worker that could not
  reach the API (the API down, or the link) keeps it in its outbox and delivers it later, as
  before. Nothing recorded under a valid lease is lost.

Refusing rather than folding keeps one rule simple to audit: for any moment, incidents of a
camera come from one holder. The new holder watches the camera itself, so what the stale holder
saw after the takeover is seen (and reported) again by the rightful one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from api.models import Camera, CameraLease, CameraTenure


@dataclass(frozen=True)
class Held:
    """A camera a worker holds, with the epoch (fencing token) of its tenure."""

    camera: Camera
    epoch: int


class StaleLease(Exception):
    """An incident from a holder whose camera another tenure had already taken at its time.

    Attributes:
        camera_id: The camera.
        epoch: The reporting worker's epoch.
        taken_by: The later tenure's epoch.
        taken_at: When that tenure started (the API's clock).
    """

    def __init__(self, camera_id: str, epoch: int, taken_by: int, taken_at: datetime):
        super().__init__(
            f"camera {camera_id} was taken over by lease epoch {taken_by} at"
            f" {taken_at.isoformat()}; an incident of epoch {epoch} after that comes from a"
            " holder whose lease had lapsed"
        )
        self.camera_id, self.epoch, self.taken_by, self.taken_at = (
            camera_id, epoch, taken_by, taken_at,
        )  # fmt: skip


def _active() -> ColumnElement[bool]:
    return and_(Camera.retired_at.is_(None), Camera.enabled.is_(True))


def claim(
    session: Session, worker: str, capacity: int, lease: timedelta, *, now: datetime | None = None
) -> list[Held]:
    """Renew `worker`'s leases and claim free cameras up to `capacity`; returns its cameras,
    each with its epoch, in id order."""
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
        claimed = list(session.scalars(query))
        epochs = _next_epochs(session, [camera.id for camera in claimed])
        for camera in claimed:
            epoch = epochs[camera.id]
            session.add(
                CameraTenure(camera_id=camera.id, epoch=epoch, worker=worker, started_at=now)
            )
            existing = session.get(CameraLease, camera.id)
            if existing is None:
                session.add(
                    CameraLease(
                        camera_id=camera.id,
                        worker=worker,
                        acquired_at=now,
                        expires_at=expires,
                        epoch=epoch,
                    )
                )
            else:
                # An expired lease of a worker that stopped renewing: taken over.
                existing.worker, existing.acquired_at, existing.expires_at = worker, now, expires
                existing.epoch = epoch
    session.commit()
    return [
        Held(camera, epoch)
        for camera, epoch in session.execute(
            select(Camera, CameraLease.epoch)
            .join(CameraLease, CameraLease.camera_id == Camera.id)
            .where(CameraLease.worker == worker)
            .order_by(Camera.id)
        )
    ]


def _next_epochs(session: Session, camera_ids: list[str]) -> dict[str, int]:
    """The epoch each camera's next tenure gets: one more than its last (1 for the first)."""
    epochs = dict.fromkeys(camera_ids, 1)
    if camera_ids:
        last = session.execute(
            select(CameraTenure.camera_id, func.max(CameraTenure.epoch))
            .where(CameraTenure.camera_id.in_(camera_ids))
            .group_by(CameraTenure.camera_id)
        )
        for camera_id, epoch in last:
            epochs[camera_id] = epoch + 1
    return epochs


def release(session: Session, worker: str) -> int:
    """Give back every lease of `worker` (a clean stop); returns how many."""
    result = session.execute(delete(CameraLease).where(CameraLease.worker == worker))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def check_fence(session: Session, camera_id: str, epoch: int | None, at: datetime) -> None:
    """Refuse an incident of `camera_id` detected `at` by the holder of lease `epoch` if a
    later tenure had taken the camera by then.

    An incident without an epoch (a worker watching camera files, not leases) is not fenced.

    Raises:
        StaleLease: A later tenure started at or before `at`.
    """
    if epoch is None:
        return
    later = session.execute(
        select(CameraTenure.epoch, CameraTenure.started_at)
        .where(
            CameraTenure.camera_id == camera_id,
            CameraTenure.epoch > epoch,
            CameraTenure.started_at <= at,
        )
        .order_by(CameraTenure.epoch)
        .limit(1)
    ).first()
    if later is not None:
        raise StaleLease(camera_id, epoch, later[0], later[1])
