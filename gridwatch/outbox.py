"""The worker's durable outbox: incidents, and the clips that follow them, wait here until the
API has taken them, exactly once.

An incident is written to a local SQLite file before anything is sent, and removed only after the
API has answered that it holds it. Writing it there costs the detection thread no wait for the
disk: the write survives the worker's crash at once, and the disk's own flush, which only a loss
of power or of the operating system needs, follows within a fraction of a second on a thread of
its own (see `Outbox`). The API is idempotent on the incident id, so a delivery that
succeeded but whose answer was lost is simply sent again and counted once. A clip recorded after
its incident went out waits in a table of its own and is sent only once its incident has left the
outbox; attaching it is idempotent too.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from detectors.incident import Incident, IncidentClip
from gridwatch.api_client import ApiClient, ApiError, ApiRefused
from ingest.backoff import Backoff

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    metadata TEXT NOT NULL,
    snapshot BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    clip BLOB
)
"""
# Outboxes written before clips existed lack the column; incidents waiting in them still count.
_ADD_CLIP = "ALTER TABLE outbox ADD COLUMN clip BLOB"
# Clips that follow an incident already kept (or delivered), one per incident.
_CLIP_SCHEMA = """
CREATE TABLE IF NOT EXISTS clip_outbox (
    incident_id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    metadata TEXT NOT NULL,
    clip BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT
)
"""


@dataclass(frozen=True)
class PendingIncident:
    id: str
    camera_id: str
    metadata: str
    snapshot: bytes
    attempts: int
    clip: bytes | None = None


@dataclass(frozen=True)
class PendingClip:
    """A clip waiting to be attached to its incident: `metadata` is its `ClipReport` as JSON."""

    incident_id: str
    camera_id: str
    metadata: str
    clip: bytes
    attempts: int


SYNC_S = 0.2
"""Seconds within which what was kept in an outbox is flushed to its disk, by default."""


class Outbox:
    """A durable queue of incidents, and of the clips that follow them, on local disk. Safe to
    use from several threads.

    What `put` (or `put_clip`) has kept survives a crash of the worker, SIGKILL included, the
    moment it returns: it is written to the outbox's write-ahead log, and the operating system
    holds the write whatever becomes of the process. Against a loss of power or a crash of the
    operating system, it is on the disk within `sync_s` seconds: a thread of the outbox's own
    flushes the log (fsync) for every put of that time together, so a detection thread never
    waits for the disk (`bench/outbox.py`: a put took 1.2 ms flushed in it, median, p95 3.5 ms,
    and 0.5 ms, p95 0.9 ms, without, on a 2-core EPYC's virtual disk; a slower disk widens the
    gap). `sync_s=0` flushes in every call before it returns, as before.
    `wait_synced` waits until what was kept is on the disk; `close` flushes what is left.

    What the sender marks delivered reaches the disk with the next flush: an incident whose
    removal a loss of power undid is sent again, and the API, idempotent on the incident id,
    counts it once.

    Raises:
        ValueError: `sync_s` is negative.
    """

    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.time, sync_s: float = SYNC_S
    ):
        if sync_s < 0:
            raise ValueError(f"sync_s must be 0 or more, not {sync_s}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sync_s = sync_s
        self._clock = clock
        self._lock = threading.Lock()
        self.new_incident = threading.Event()  # set by put(), so a sender need not poll
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit is written to the log, which survives the process, and flushed to the
        # disk by the sync thread. Nor does a commit copy the log into the database (which
        # flushes both): the sync thread does that too.
        self._db.execute(f"PRAGMA synchronous={'FULL' if sync_s == 0 else 'NORMAL'}")
        if sync_s:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "clip" not in columns:
            self._db.execute(_ADD_CLIP)
        self._db.execute(_CLIP_SCHEMA)
        # Writes counted as they are made and as they are flushed to the disk.
        self._sync = threading.Condition()
        self._written = self._synced = 0
        self._closing = False
        self._syncer: threading.Thread | None = None
        if sync_s:
            self._syncer = threading.Thread(target=self._flush_log, name="outbox-sync", daemon=True)
            self._syncer.start()

    def _wrote(self) -> None:
        """Count a write made, for the sync thread to flush."""
        with self._sync:
            self._written += 1
            if self._syncer is None:
                self._synced = self._written  # flushed by the commit itself
            self._sync.notify_all()

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every write made so far is on the disk; False if `timeout` passed first."""
        with self._sync:
            target = self._written
            return self._sync.wait_for(lambda: self._synced >= target, timeout)

    def _flush_log(self) -> None:
        """The sync thread: flush the log to the disk within `sync_s` of each write, every write
        of that time together, and copy it into the database (a checkpoint, which keeps the log
        short), on a connection of its own so that writers never wait for it."""
        checkpoints = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        log_path = self.path.with_name(self.path.name + "-wal")
        try:
            while True:
                with self._sync:
                    self._sync.wait_for(lambda: self._written > self._synced or self._closing)
                    if self._written == self._synced and self._closing:
                        return
                    # A write made a moment later is flushed with this one.
                    self._sync.wait_for(lambda: self._closing, self.sync_s)
                    target = self._written
                # Every write counted is in the log (counted after its commit); flushing the log
                # makes them all durable, whether or not the checkpoint can copy them yet.
                descriptor = os.open(log_path, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
                checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)")
                with self._sync:
                    self._synced = max(self._synced, target)
                    self._sync.notify_all()
        except Exception:
            log.exception(
                "outbox %s: the sync thread failed; writes are flushed as made", self.path
            )
            with self._lock:
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA wal_checkpoint(FULL)")  # flushes what the log holds
            with self._sync:
                self._syncer = None
                self._synced = self._written
                self._sync.notify_all()
        finally:
            checkpoints.close()

    def put(self, incident: Incident) -> bool:
        """Keep an incident until delivered; False if it was already kept. Safe from a crash of
        the worker once returned, on the disk within `sync_s` (see `Outbox`)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, camera_id, metadata, snapshot, created_at,"
                " next_attempt_at, clip) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    incident.id,
                    incident.camera_id,
                    json.dumps(incident.metadata()),
                    incident.snapshot_jpeg,
                    self._clock(),
                    self._clock(),
                    incident.clip_mp4,
                ),
            )
            kept = cursor.rowcount == 1
        if kept:
            self._wrote()
            self.new_incident.set()
        return kept

    def put_clip(self, clip: IncidentClip) -> bool:
        """Keep an encoded clip until attached to its incident; False if it was already kept.

        Raises ValueError when the clip is not encoded yet (`IncidentClip.with_video`).
        """
        metadata = clip.report().model_dump_json()
        assert clip.mp4 is not None  # report() checked it
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO clip_outbox (incident_id, camera_id, metadata, clip,"
                " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    clip.incident_id,
                    clip.camera_id,
                    metadata,
                    clip.mp4,
                    self._clock(),
                    self._clock(),
                ),
            )
            kept = cursor.rowcount == 1
        if kept:
            self._wrote()
            self.new_incident.set()
        return kept

    def due(self, limit: int = 20) -> list[PendingIncident]:
        """Incidents whose next delivery attempt is due, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, camera_id, metadata, snapshot, attempts, clip FROM outbox"
                " WHERE next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (self._clock(), limit),
            ).fetchall()
        return [PendingIncident(*row) for row in rows]

    def due_clips(self, limit: int = 20) -> list[PendingClip]:
        """Clips whose next attempt is due and whose incident has left the outbox, oldest
        first: an incident always reaches the API before its clip."""
        with self._lock:
            rows = self._db.execute(
                "SELECT incident_id, camera_id, metadata, clip, attempts FROM clip_outbox"
                " WHERE next_attempt_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.id = clip_outbox.incident_id)"
                " ORDER BY created_at LIMIT ?",
                (self._clock(), limit),
            ).fetchall()
        return [PendingClip(*row) for row in rows]

    def delivered(self, incident_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (incident_id,))

    def drop(self, incident_id: str) -> None:
        """Remove an incident the API refused for good, and the clip that would follow it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (incident_id,))
            self._db.execute("DELETE FROM clip_outbox WHERE incident_id = ?", (incident_id,))

    def clip_delivered(self, incident_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM clip_outbox WHERE incident_id = ?", (incident_id,))

    def retry_clip_later(self, incident_id: str, delay: float, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE clip_outbox SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE incident_id = ?",
                (self._clock() + delay, error[:500], incident_id),
            )

    def retry_later(self, incident_id: str, delay: float, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE id = ?",
                (self._clock() + delay, error[:500], incident_id),
            )

    def pending(self) -> int:
        """Incidents and clips waiting, together."""
        return self.pending_incidents() + self.pending_clips()

    def pending_incidents(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def pending_clips(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM clip_outbox").fetchone()
        return int(count)

    def next_due_in(self) -> float | None:
        """Seconds until the next attempt is due (0 if one is due now); None when empty."""
        with self._lock:
            (earliest,) = self._db.execute(
                # A clip behind its incident is due no sooner than the incident.
                "SELECT MIN(at) FROM (SELECT next_attempt_at AS at FROM outbox"
                " UNION ALL SELECT next_attempt_at FROM clip_outbox WHERE NOT EXISTS"
                " (SELECT 1 FROM outbox WHERE outbox.id = clip_outbox.incident_id))"
            ).fetchone()
        return None if earliest is None else max(0.0, earliest - self._clock())

    def close(self) -> None:
        """Flush what was kept to the disk, and close the file."""
        with self._sync:
            self._closing = True
            self._sync.notify_all()
        if self._syncer is not None:
            self._syncer.join()
        with self._lock:
            self._db.close()


# The sender reads only the status of the API's answer to an incident: it asks for the short
# answer, not the whole grid event shaped for it (RFC 7240's `Prefer`).
ANSWER_WANTED = "return=minimal"


class IncidentSender:
    """Delivers the outbox to the API over HTTP, retrying with backoff while it is unreachable:
    incidents first, then the clips whose incident the API holds."""

    path = "/api/v1/incidents"

    def __init__(
        self,
        outbox: Outbox,
        api_url: str,
        token: str,
        *,
        worker_name: str = "worker",
        client: httpx.Client | None = None,
        timeout: float = 15.0,
    ):
        self.outbox = outbox
        self.api = ApiClient(
            api_url, token, worker_name=worker_name, timeout=timeout, client=client
        )
        self.delivered_count = 0
        self.delivered_clip_count = 0
        self.dropped_count = 0  # refused for good (a stale lease)
        self.consecutive_failures = 0
        # While the API is down or refuses the token: half a second, doubling to 30 s.
        self.unavailable_backoff = Backoff(initial_s=0.5, cap_s=30.0, jitter=0.5)
        # A refused report will not pass a second later: a minute, doubling to an hour.
        self.refused_backoff = Backoff(initial_s=60.0, cap_s=3600.0, jitter=0.5)
        # A clip whose incident the API does not hold yet (another worker's request in flight,
        # or the incident refused for now): a second, doubling to five minutes.
        self.missing_backoff = Backoff(initial_s=1.0, cap_s=300.0, jitter=0.5)

    def deliver_due(self) -> int:
        """One pass over the due incidents, then the due clips; returns how many the API took.

        A connection failure, a 5xx or a refused token ends the pass and backs the whole sender
        off (the API is down or misconfigured: the other items would fail the same way). Any
        other refusal backs off that one item, which stays in the outbox; an incident the API
        refuses because another worker held its camera then (409, a stale lease) is dropped with
        its clip, and a clip the API refuses because its incident has another clip (409) is
        dropped, as neither will ever pass.
        """
        taken = self._deliver_incidents()
        if self.consecutive_failures:
            return taken  # the API is failing: the clips wait for the next pass
        return taken + self._deliver_clips()

    def _deliver_incidents(self) -> int:
        taken = 0
        for item in self.outbox.due():
            files = {"snapshot": (f"{item.id}.jpg", item.snapshot, "image/jpeg")}
            if item.clip is not None:
                files["clip"] = (f"{item.id}.mp4", item.clip, "video/mp4")
            try:
                self.api.request(
                    "POST",
                    self.path,
                    headers={"Prefer": ANSWER_WANTED},
                    data={"metadata": item.metadata},
                    files=files,
                )
            except ApiRefused as err:
                error = f"API answered {err.status_code}: {err.detail}"
                if err.api_unavailable:
                    self._api_unavailable(item, error)
                    break
                if err.status_code == 409:
                    # From a stale camera lease: another worker held the camera at its time
                    # and reports that time itself. It will never pass.
                    log.error("%s: incident %s dropped: %s", item.camera_id, item.id, error)
                    self.outbox.drop(item.id)
                    self.dropped_count += 1
                    continue
                delay = self.refused_backoff.delay(item.attempts)
                log.error(
                    "%s: incident %s refused (%s); retry in %.0fs",
                    item.camera_id,
                    item.id,
                    error,
                    delay,
                )
                self.outbox.retry_later(item.id, delay, error)
                continue
            except ApiError as err:
                self._api_unavailable(item, str(err))
                break
            self.outbox.delivered(item.id)
            self.delivered_count += 1
            self.consecutive_failures = 0
            taken += 1
        return taken

    def _deliver_clips(self) -> int:
        taken = 0
        for item in self.outbox.due_clips():
            path = f"{self.path}/{item.incident_id}/clip"
            files = {"clip": (f"{item.incident_id}.mp4", item.clip, "video/mp4")}
            try:
                self.api.request("PUT", path, data={"metadata": item.metadata}, files=files)
            except ApiRefused as err:
                error = f"API answered {err.status_code}: {err.detail}"
                if err.api_unavailable:
                    self._api_unavailable_for_clip(item, error)
                    break
                if err.status_code == 409:
                    log.error(
                        "%s: clip of incident %s dropped: %s", item.camera_id, item.incident_id,
                        error,
                    )  # fmt: skip
                    self.outbox.clip_delivered(item.incident_id)
                    continue
                backoff = self.missing_backoff if err.status_code == 404 else self.refused_backoff
                delay = backoff.delay(item.attempts)
                log.warning(
                    "%s: clip of incident %s not taken (%s); retry in %.0fs",
                    item.camera_id, item.incident_id, error, delay,
                )  # fmt: skip
                self.outbox.retry_clip_later(item.incident_id, delay, error)
                continue
            except ApiError as err:
                self._api_unavailable_for_clip(item, str(err))
                break
            self.outbox.clip_delivered(item.incident_id)
            self.delivered_clip_count += 1
            self.consecutive_failures = 0
            taken += 1
        return taken

    def _api_unavailable(self, item: PendingIncident, error: str) -> None:
        self.consecutive_failures += 1
        self.outbox.retry_later(item.id, 0, error)
        self._warn_unavailable(item.camera_id, f"incident {item.id}", error)

    def _api_unavailable_for_clip(self, item: PendingClip, error: str) -> None:
        self.consecutive_failures += 1
        self.outbox.retry_clip_later(item.incident_id, 0, error)
        self._warn_unavailable(item.camera_id, f"clip of incident {item.incident_id}", error)

    def _warn_unavailable(self, camera_id: str, what: str, error: str) -> None:
        if self.consecutive_failures == 1 or self.consecutive_failures % 10 == 0:
            log.warning(
                "%s: %s not delivered: %s; %d waiting in the outbox",
                camera_id, what, error, self.outbox.pending(),
            )  # fmt: skip

    def backoff(self) -> float:
        """Seconds to wait before the next pass while the API is failing (0 when it is not)."""
        if not self.consecutive_failures:
            return 0.0
        return self.unavailable_backoff.delay(self.consecutive_failures - 1)

    def run(self, stop: threading.Event, *, idle_wait: float = 0.5) -> None:
        """Deliver until `stop` is set."""
        while not stop.is_set():
            self.outbox.new_incident.clear()
            self.deliver_due()
            due_in = self.outbox.next_due_in()
            wait = idle_wait if due_in is None else min(max(due_in, 0.05), idle_wait)
            backoff = self.backoff()
            if backoff:
                stop.wait(max(wait, backoff))
            else:
                # A new incident wakes the sender at once; stop is checked at least every `wait`.
                self.outbox.new_incident.wait(wait)

    def drain(self, deadline_s: float) -> bool:
        """Try to deliver everything within `deadline_s`; True if the outbox is empty."""
        end = time.monotonic() + deadline_s
        while self.outbox.pending() and time.monotonic() < end:
            self.deliver_due()
            wait = max(self.outbox.next_due_in() or 0.0, self.backoff())
            if wait:
                time.sleep(min(wait, max(0.0, end - time.monotonic()), 1.0))
        return self.outbox.pending() == 0

    def close(self) -> None:
        self.api.close()
