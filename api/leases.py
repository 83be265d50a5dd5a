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

import hashlib
import json
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.models import Camera, CameraLease, CameraTenure, FleetWorker
from contract.camera import WatchPriorityConfig
from detectors.schedule import Schedule, schedule_from_config


@dataclass(frozen=True)
class Held:
    """A camera a worker holds: the epoch (fencing token) of its tenure, and the version of its
    configuration (`config_version`), so that a renewal resends only what changed."""

    camera_id: str
    epoch: int
    version: str


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
    # GB/T 28181 channels are leased like every camera: the worker asks the SIP service for
    # their stream (ingest.gb28181).
    return and_(Camera.retired_at.is_(None), Camera.enabled.is_(True))


def priority_at(watch_priority: dict[str, Any], now: datetime) -> int:
    """A camera's watch priority at `now` (0 to 100): that of the first of its windows that holds
    in its time zone, else its base (see contract.camera.WatchPriorityConfig)."""
    return _priority_rule(json.dumps(watch_priority or {}, sort_keys=True)).at(now)


@dataclass(frozen=True)
class _PriorityRule:
    base: int
    windows: tuple[tuple[Schedule, int], ...]

    def at(self, now: datetime) -> int:
        for schedule, priority in self.windows:
            if schedule.active(now):
                return priority
        return self.base


@lru_cache(maxsize=4096)
def _priority_rule(document: str) -> _PriorityRule:
    """A stored watch priority, parsed once: a district has few distinct ones."""
    values = json.loads(document)
    timezone = str(values.pop("timezone", None) or "UTC")
    config = WatchPriorityConfig.model_validate(values)
    return _PriorityRule(
        config.base,
        tuple((schedule_from_config(w, timezone), w.priority) for w in config.windows),
    )


# Up to this many distinct watch priorities among the cameras, the database orders the waiting
# cameras itself and only the first few reach the API; beyond, the API ranks them all.
_RANKED_IN_DATABASE = 64


def _waiting(
    session: Session, now: datetime, limit: int | None = None, *, lock: bool = False
) -> list[tuple[str, int, datetime]]:
    """Active cameras no live lease holds, in the order workers with room take them: highest
    priority now first, then the one dark longest (since its last lease ran out, or since it
    was registered if it never had one), then by id. Each as (id, priority, dark since).

    Cameras share few distinct priorities: each is judged once per call, and the database
    orders by the judgement, so that a worker asking for 20 of 5,000 waiting cameras reads 20
    rows, not 5,000.

    With `lock` (on PostgreSQL), the cameras returned are locked until the transaction ends and
    those another transaction has locked are skipped: workers claiming at the same moment are
    each given different cameras, the next ones in order, by the one statement that picks them.
    The lock is FOR NO KEY UPDATE, so that incidents of these cameras (whose foreign keys lock
    their rows FOR KEY SHARE) are not held up meanwhile."""
    dark_since = func.coalesce(CameraLease.expires_at, Camera.created_at)
    document = cast(Camera.watch_priority, String)
    documents = list(session.scalars(select(document).where(_active()).distinct()))
    judged = {d: _priority_rule(_canonical(d)).at(now) for d in documents}
    waiting = (
        select(Camera.id, document, dark_since)
        .outerjoin(CameraLease, CameraLease.camera_id == Camera.id)
        .where(_active(), or_(CameraLease.camera_id.is_(None), CameraLease.expires_at <= now))
    )
    locking = lock and session.get_bind().dialect.name == "postgresql"
    if len(judged) <= _RANKED_IN_DATABASE:
        priority = case(judged, value=document, else_=0) if judged else literal(0)
        query = waiting.order_by(priority.desc(), dark_since, Camera.id).limit(limit)
        if locking:
            query = query.with_for_update(of=Camera, skip_locked=True, key_share=True)
        rows = session.execute(query).all()
        return [(camera_id, judged.get(d, 0), since) for camera_id, d, since in rows]
    ranked = [(camera_id, judged[d], since) for camera_id, d, since in session.execute(waiting)]
    ranked.sort(key=lambda row: (-row[1], row[2], row[0]))
    if not locking:
        return ranked if limit is None else ranked[:limit]
    # Ranked here: lock the first few in rank order (more than wanted, since other workers may
    # be claiming some of them), and keep the first `limit` of those locked.
    candidates = ranked if limit is None else ranked[: limit * 4 + 8]
    locked = set(
        session.scalars(
            select(Camera.id)
            .where(Camera.id.in_([camera_id for camera_id, _, _ in candidates]))
            .with_for_update(skip_locked=True, key_share=True)
        )
    )
    chosen = [row for row in candidates if row[0] in locked]
    return chosen if limit is None else chosen[:limit]


@lru_cache(maxsize=4096)
def _canonical(document: str | None) -> str:
    return json.dumps(json.loads(document or "{}") or {}, sort_keys=True)


def config_version(config: str, source_encrypted: str | None, addresses: str | None) -> str:
    """The version of a camera's configuration as a worker gets it (`api.cameras.full_config`):
    20 hex digits of the SHA-256 of the stored configuration (as the database writes it) and of
    its encrypted addresses. Every write of a camera seals its addresses again
    (`api.cameras.seal_addresses`, a fresh ciphertext each time), so any write changes it;
    health reports, which touch other columns, do not."""
    digest = hashlib.sha256()
    for part in (config, source_encrypted or "", addresses or ""):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def claim(
    session: Session, worker: str, capacity: int, lease: timedelta, *, now: datetime | None = None
) -> list[Held]:
    """Renew `worker`'s leases and claim free cameras up to `capacity`; returns its cameras,
    each with its epoch and configuration version, in id order. Committed.

    Free cameras are taken highest priority now first, then dark longest (see `_waiting`):
    when there are too few workers, the cameras that wait are the least important ones, and a
    worker that restarts takes first the cameras that have been watched by nobody longest.
    Every call is also the worker's heartbeat in the fleet (`FleetWorker`).

    A renewal that takes nothing new costs a fixed number of statements whatever the worker
    holds: on PostgreSQL one statement, outside any transaction (the heartbeat, the renewal and
    the versions of what it holds, see `_renew`); on SQLite those three in one transaction. A
    worker with room asks once more whether any camera waits (`_anything_waits`, one query that
    reads the leases and the cameras' ids, not their configurations; on PostgreSQL outside any
    transaction too); only if one does is a
    transaction opened to take free cameras, in a fixed few statements whatever their number:
    the distinct priorities and the free cameras picked and locked (two queries, see
    `_waiting`), the take (one upsert) and the tenures (one insert), once more only for
    cameras another worker took meanwhile, and the versions of those taken.
    """
    now = now or datetime.now(UTC)
    expires = now + lease
    held, waits = _renew(session, worker, capacity, now, expires)
    if len(held) > capacity:
        # The capacity was lowered: the leases beyond it end now.
        ended = sorted(held)[capacity:]
        session.execute(
            update(CameraLease)
            .where(CameraLease.worker == worker, CameraLease.camera_id.in_(ended))
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        for camera_id in ended:
            del held[camera_id]
    wanted = capacity - len(held)
    if wanted > 0 and waits:
        taken: list[str] = []
        # Workers starting together want the same first cameras: the statement that picks them
        # skips those another worker is claiming (see `_waiting`). A camera another worker took
        # between that statement's snapshot and its lock is not taken here (see `_take`), and
        # the next round looks again at what is still free, rather than leaving it to the next
        # renewal.
        for _ in range(3):
            free = [camera_id for camera_id, _, _ in _waiting(session, now, wanted, lock=True)]
            took = _take(session, free, worker, now, expires)
            _start_tenures(session, took, worker, now)
            taken += took
            wanted -= len(took)
            if wanted <= 0 or len(took) == len(free):
                break
        session.commit()
        if taken:
            held.update(_versions(session, worker, now, taken))
            session.commit()
    return [held[camera_id] for camera_id in sorted(held)]


def _renew(
    session: Session, worker: str, capacity: int, now: datetime, expires: datetime
) -> tuple[dict[str, Held], bool]:
    """The heartbeat and the renewal of `worker`'s leases; returns what it still holds, and
    whether any camera waits if it holds fewer than `capacity` (else False, not asked). Leases
    of cameras disabled or removed end (ended leases stay as rows: when each camera went dark).
    Committed.

    On PostgreSQL it is one statement (the heartbeat and the renewal as data-modifying WITH
    clauses, the versions read from the renewal's RETURNING) sent outside any transaction: one
    round trip to the server and its commit, instead of BEGIN, three statements and COMMIT,
    each of which a busy server answers late; a worker with room asks `_anything_waits` on the
    same footing, a second round trip. SQLite, which has no data-modifying WITH, runs the
    three in one transaction."""
    heartbeat = _heartbeat(session, worker, capacity, now)
    active = select(Camera.id).where(Camera.id == CameraLease.camera_id, _active()).exists()
    stamp = CameraLease.__table__.c.expires_at.type
    renewal = (
        update(CameraLease)
        .where(CameraLease.worker == worker, CameraLease.expires_at > now)
        .values(expires_at=case((active, literal(expires, stamp)), else_=literal(now, stamp)))
        .returning(
            CameraLease.camera_id, CameraLease.epoch, (CameraLease.expires_at > now).label("kept")
        )
    )
    if session.get_bind().dialect.name != "postgresql":
        session.execute(heartbeat)
        renewed = session.execute(renewal.execution_options(synchronize_session=False)).all()
        session.commit()
        kept = [camera_id for camera_id, _, still in renewed if still]
        held = _versions(session, worker, now, kept) if kept else {}
        waits = len(held) < capacity and _anything_waits(session, now)
        session.commit()
        return held, waits
    renewed_cte = renewal.cte("renewed")
    statement = (
        select(
            renewed_cte.c.camera_id,
            renewed_cte.c.epoch,
            cast(Camera.config, String),
            Camera.source_encrypted,
            Camera.addresses_encrypted,
        )
        .join_from(renewed_cte, Camera, Camera.id == renewed_cte.c.camera_id)
        .where(renewed_cte.c.kept)
        .add_cte(heartbeat.cte("heartbeat"))
    )
    if not session.in_transaction():
        # Reset to the pool's default when the connection goes back to the pool (the commit
        # below), so what follows in this session runs in a transaction as usual.
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    rows = session.execute(statement).all()
    waits = len(rows) < capacity and _anything_waits(session, now)
    session.commit()
    held = {
        camera_id: Held(camera_id, epoch, config_version(config, source, addresses))
        for camera_id, epoch, config, source, addresses in rows
    }
    return held, waits


def _versions(
    session: Session, worker: str, now: datetime, camera_ids: list[str]
) -> dict[str, Held]:
    """`worker`'s live leases among `camera_ids`, with their epochs and configuration versions
    (one query)."""
    return {
        camera_id: Held(camera_id, epoch, config_version(config, source, addresses))
        for camera_id, epoch, config, source, addresses in session.execute(
            select(
                Camera.id,
                CameraLease.epoch,
                cast(Camera.config, String),
                Camera.source_encrypted,
                Camera.addresses_encrypted,
            )
            .join(CameraLease, CameraLease.camera_id == Camera.id)
            .where(
                CameraLease.worker == worker,
                CameraLease.expires_at > now,
                CameraLease.camera_id.in_(camera_ids),
            )
        )
    }


def unheld(now: datetime, camera: Any = Camera) -> ColumnElement[bool]:
    """The condition of an active camera (`Camera`, or an alias of it) that no live lease
    holds at `now`: a camera that waits for a worker (one statement reads it, whatever the
    number of cameras)."""
    live = (
        select(CameraLease.camera_id)
        .where(CameraLease.camera_id == camera.id, CameraLease.expires_at > now)
        .exists()
    )
    return and_(camera.retired_at.is_(None), camera.enabled.is_(True), ~live)


def leasing(session: Session, lease: timedelta, now: datetime) -> bool:
    """Whether workers lease the cameras (some worker alive within `lease`, or a camera leased
    once), rather than watch camera files."""
    alive = select(FleetWorker.name).where(FleetWorker.last_seen_at > now - lease).exists()
    leased = select(CameraLease.camera_id).exists()
    return bool(session.scalar(select(or_(alive, leased))))


def _anything_waits(session: Session, now: datetime) -> bool:
    """Whether any active camera has no live lease: what a worker with room asks at every
    renewal, and in a fleet with spare capacity the answer is almost always no. One query that
    stops at the first camera found; it reads the leases and the cameras' ids and flags, not
    the priorities every waiting camera would have to be ranked by (`_waiting`)."""
    return bool(session.scalar(select(select(Camera.id).where(unheld(now)).exists())))


def _take(
    session: Session, camera_ids: list[str], worker: str, now: datetime, expires: datetime
) -> dict[str, int]:
    """Make `worker` the holder of those of `camera_ids` whose lease has ended (or that never had
    one), each under a new epoch (one more than its lease's last, 1 for a first lease); returns
    them with their epochs. One statement whatever their number.

    The statement itself decides, not what this transaction read before: a lease row is taken
    over only if it has still ended once its row lock is had, and a first lease row is inserted
    only if none exists, so two workers claiming at once never both get a camera.
    """
    if not camera_ids:
        return {}
    dialect = session.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    lease = CameraLease.__table__.c
    # The rows go as parameters of one statement whose SQL is the same whatever their number
    # (SQLAlchemy sends them in one INSERT ... VALUES ... RETURNING): it is compiled once per
    # process, not at every claim as a statement with its rows in its VALUES is.
    insert_rows = upsert(typing.cast(Table, CameraLease.__table__))
    statement = insert_rows.on_conflict_do_update(
        index_elements=["camera_id"],
        set_={
            "worker": insert_rows.excluded.worker,
            "acquired_at": insert_rows.excluded.acquired_at,
            "expires_at": insert_rows.excluded.expires_at,
            "epoch": lease.epoch + 1,
        },
        where=lease.expires_at <= bindparam("now"),
    ).returning(lease.camera_id, lease.epoch)
    rows = session.execute(
        statement,
        [
            {
                "camera_id": camera_id,
                "worker": worker,
                "acquired_at": now,
                "expires_at": expires,
                "epoch": 1,
                "now": now,
            }
            for camera_id in camera_ids
        ],
    )
    return {camera_id: epoch for camera_id, epoch in rows}


def _start_tenures(session: Session, taken: dict[str, int], worker: str, now: datetime) -> None:
    """Record the tenure each camera's new holder starts with its epoch (one statement)."""
    if not taken:
        return
    session.execute(
        insert(CameraTenure),
        [
            {"camera_id": camera_id, "epoch": epoch, "worker": worker, "started_at": now}
            for camera_id, epoch in taken.items()
        ],
    )


def _heartbeat(session: Session, worker: str, capacity: int, now: datetime) -> Any:
    """The statement that records that `worker` is alive and would watch `capacity` cameras
    (one upsert)."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = upsert(FleetWorker).values(name=worker, capacity=capacity, last_seen_at=now)
    return statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"capacity": statement.excluded.capacity, "last_seen_at": now},
    )


def release(session: Session, worker: str, *, now: datetime | None = None) -> int:
    """Give back every lease of `worker` (a clean stop); returns how many."""
    now = now or datetime.now(UTC)
    result = session.execute(
        update(CameraLease)
        .where(CameraLease.worker == worker, CameraLease.expires_at > now)
        .values(expires_at=now)
    )
    session.execute(delete(FleetWorker).where(FleetWorker.name == worker))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class FleetStatus:
    """The fleet now: its live workers (name, capacity, cameras held, last heartbeat), and the
    active cameras no worker holds, in the order they would be taken (id, priority now, dark
    since). `leasing` is False when no camera was ever leased (workers watch camera files)."""

    workers: list[tuple[str, int, int, datetime]]
    waiting: list[tuple[str, int, datetime]]
    leasing: bool

    @property
    def capacity(self) -> int:
        return sum(capacity for _, capacity, _, _ in self.workers)

    @property
    def held(self) -> int:
        return sum(held for _, _, held, _ in self.workers)


def fleet_status(
    session: Session, lease: timedelta, *, now: datetime | None = None, waiting: bool = True
) -> FleetStatus:
    """Who watches what: live workers (a heartbeat within `lease`) and the cameras waiting
    (left out, as an empty list, without `waiting`: ranking them reads every one)."""
    now = now or datetime.now(UTC)
    held = dict(
        session.execute(
            select(CameraLease.worker, func.count())
            .join(Camera, Camera.id == CameraLease.camera_id)
            .where(CameraLease.expires_at > now, _active())
            .group_by(CameraLease.worker)
        ).all()
    )
    workers = [
        (entry.name, entry.capacity, int(held.get(entry.name, 0)), entry.last_seen_at)
        for entry in session.scalars(
            select(FleetWorker)
            .where(FleetWorker.last_seen_at > now - lease)
            .order_by(FleetWorker.name)
        )
    ]
    leases = bool(workers) or leasing(session, lease, now)
    return FleetStatus(workers, _waiting(session, now) if leases and waiting else [], leases)


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
