"""Faults, each injected into real processes on loopback, with what GridWatch did about them.

Scenarios (run all, or name some):
  api-down         the API is killed and stays down while incidents keep coming
  worker-killed    a real worker process is SIGKILLed mid-run, again and again
  camera-flapping  an RTSP camera dies and comes back 20 times while a worker reports health
  db-restart       the API's PostgreSQL (a throw-away cluster of our own) restarts under load
  disk-full        the evidence directory (a tiny tmpfs) fills up

Each prints its figures and an ok/FAIL line per expectation, then a verdict; the exit status is
1 when any expectation failed.

Usage: python bench/faults.py [SCENARIO ...] [--down-s 60] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    SAMPLE_CAMERAS,
    WORKER_TOKEN,
    ApiProcess,
    PostgresCluster,
    Snapshots,
    Verdict,
    WorkerProcess,
    audit_evidence,
    incident_ids,
    post_incident,
    rss_mib,
    synthetic_incident,
    temporary_folder,
    wait_until,
)
from contract.camera import default_data_dir  # noqa: E402
from detectors.incident import Incident  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import IncidentSender, Outbox  # noqa: E402


class CountingTransport(httpx.HTTPTransport):
    """What each request of the worker's sender ended in: a status code, or the error's name."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.HTTPError as err:
            with self._lock:
                self.outcomes[type(err).__name__] += 1
            raise
        with self._lock:
            self.outcomes[str(response.status_code)] += 1
        return response


class IncidentFeed(threading.Thread):
    """Puts synthetic incidents into an outbox at a steady rate, as a worker's detection does,
    and watches how many wait there."""

    def __init__(self, outbox: Outbox, rate: float, snapshots: Snapshots, *, run: str = ""):
        super().__init__(name="incident-feed", daemon=True)
        self.outbox = outbox
        self.rate = rate
        self.snapshots = snapshots
        self.run_tag = run
        self.ids: list[str] = []
        self.most_pending = 0
        self.largest_snapshot = 0
        self.stop = threading.Event()

    def run(self) -> None:
        cameras = sorted(SAMPLE_CAMERAS)
        started = time.monotonic()
        number = 0
        while not self.stop.is_set():
            incident = synthetic_incident(
                number, cameras[number % len(cameras)], self.snapshots.jpeg(number),
                run=self.run_tag,
            )  # fmt: skip
            if self.outbox.put(incident):
                self.ids.append(incident.id)
                self.largest_snapshot = max(self.largest_snapshot, len(incident.snapshot_jpeg))
            self.most_pending = max(self.most_pending, self.outbox.pending())
            number += 1
            self.stop.wait(max(0.0, started + number / self.rate - time.monotonic()))


def sender_for(outbox: Outbox, api: ApiProcess) -> tuple[IncidentSender, CountingTransport]:
    transport = CountingTransport()
    client = httpx.Client(transport=transport, timeout=10)
    sender = IncidentSender(outbox, api.url, WORKER_TOKEN, worker_name="bench-edge", client=client)
    return sender, transport


def outbox_ids(path: Path) -> set[str]:
    """Ids of the incidents waiting in a worker's outbox file (read on the side, read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in db.execute("SELECT id FROM outbox")}
    finally:
        db.close()


def expect_each_once(verdict: Verdict, sent: set[str], database: str, evidence: Path) -> None:
    """Every incident in `sent` is in exactly one event of the API's database (the one it opened
    or joined), with its evidence intact."""
    stored = incident_ids(database)
    audit = audit_evidence(database, evidence)
    verdict.figure(
        f"API holds {audit.video_events} video events opened by {audit.distinct_incident_ids}"
        f" distinct incidents, counting {audit.occurrences} occurrences ({audit.incidents}"
        f" incident rows, {audit.incidents_in_events} in events); {len(sent)} were sent"
    )
    verdict.expect(
        sent <= stored,
        f"every incident reached the API ({len(sent - stored)} missing)",
    )
    verdict.expect(
        audit.video_events == audit.distinct_incident_ids
        and audit.occurrences == audit.incidents_in_events == audit.incidents,
        "each incident is in exactly one event, opening it or as one of its occurrences"
        " (no duplicates)",
    )
    verdict.expect(
        not audit.missing_files and not audit.digest_mismatches,
        f"every evidence file a row names (snapshots, clips) is on disk with its row's SHA-256"
        f" ({audit.evidence_files} named, {len(audit.missing_files)} missing,"
        f" {len(audit.digest_mismatches)} differ)",
    )
    for problem in (audit.missing_files + audit.digest_mismatches)[:3]:
        verdict.figure(f"  {problem}")


# api-down -----------------------------------------------------------------------------------


def api_down(verdict: Verdict, folder: Path, options: argparse.Namespace) -> None:
    """The API is SIGKILLed (mid-request, as likely as not) and stays down `--down-s` seconds
    while incidents keep coming at `--rate` a second. The incidents are synthetic but go through
    the worker's real Outbox and IncidentSender: every id is known, so "all delivered, each
    once" can be checked exactly, whatever the model would have found."""
    database = f"sqlite:///{folder / 'api.db'}"
    api = ApiProcess(database, folder).start()
    outbox = Outbox(folder / "outbox.sqlite")
    sender, transport = sender_for(outbox, api)
    stop_sender = threading.Event()
    sending = threading.Thread(target=sender.run, args=(stop_sender,), daemon=True)
    feed = IncidentFeed(outbox, options.rate, Snapshots())
    try:
        sending.start()
        feed.start()
        time.sleep(options.warmup_s)
        before = len(feed.ids)
        api.kill()
        down_at = time.monotonic()
        verdict.figure(f"API SIGKILLed after {before} incidents; down for {options.down_s:g} s")
        time.sleep(options.down_s)
        backlog = outbox_ids(outbox.path)
        api.start()
        back_at = time.monotonic()
        verdict.figure(
            f"API back after {back_at - down_at:.1f} s (start included);"
            f" {len(backlog)} incidents waited in the outbox"
        )
        cleared = wait_until(
            lambda: not backlog & outbox_ids(outbox.path), options.drain_timeout_s, 0.2
        )
        backlog_s = time.monotonic() - back_at
        time.sleep(max(0.0, options.after_s - backlog_s))
        feed.stop.set()
        feed.join()
        drained = wait_until(lambda: outbox.pending() == 0, options.drain_timeout_s, 0.2)
        stop_sender.set()
        sending.join(timeout=15)

        verdict.figure(
            f"incidents made {len(feed.ids)} ({options.rate:g}/s), most waiting at once"
            f" {feed.most_pending}; the backlog delivered {backlog_s:.1f} s after the API was back"
        )
        verdict.figure(f"sender's requests ended in: {dict(sorted(transport.outcomes.items()))}")
        verdict.expect(
            feed.most_pending >= options.rate * options.down_s * 0.8,
            "the outbox kept the incidents made while the API was down",
        )
        verdict.expect(cleared and drained, "the outbox delivered its backlog and was empty after")
        expect_each_once(verdict, set(feed.ids), database, api.evidence_dir)
    finally:
        feed.stop.set()
        stop_sender.set()
        sending.join(timeout=15)
        sender.close()
        outbox.close()
        api.stop()


# worker-killed ------------------------------------------------------------------------------

# The runner's line for each incident it keeps (its logger is gridwatch.worker.runner since the
# worker became a package; the old name is matched too).
INCIDENT_LOGGED = re.compile(r"gridwatch\.worker(?:\.runner)?: \S+: incident ([0-9a-f-]{36}) \(")


def outbox_integrity(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def worker_killed(verdict: Verdict, folder: Path, options: argparse.Namespace) -> None:
    """A real `gridwatch worker --fast` (the model on two sample cameras over the demo clip) is
    SIGKILLed `--kills` times, each time after it has reported a few incidents, and started
    again. Before one of the kills the API is SIGKILLed too, so that the worker dies holding
    incidents in its outbox (and the API dies, perhaps between writing evidence and committing
    its row). At the end the worker stops cleanly and everything is audited."""
    database = f"sqlite:///{folder / 'api.db'}"
    api = ApiProcess(database, folder).start()
    cameras = folder / "cameras"
    cameras.mkdir()
    for name in ("public_square.yaml", "school_gate.yaml"):
        shutil.copy(REPO / "camera_configs" / name, cameras / name)
    command = [sys.executable, "-m", "gridwatch", "worker", "--cameras", str(cameras), "--fast"]
    worker = WorkerProcess(command, api, folder)
    kept: set[str] = set()
    integrity: list[str] = []
    api_kill_at = max(1, options.kills // 2)
    try:
        for kill in range(1, options.kills + 1):
            seen = len(incident_ids(database))
            worker.start()
            reporting = wait_until(
                lambda seen=seen: len(incident_ids(database)) >= seen + 3, 90, 0.25
            )
            if not reporting:
                verdict.expect(False, f"run {kill}: the worker reported incidents")
                return
            if kill == api_kill_at:
                api.kill()
                time.sleep(options.api_dead_s)  # incidents now wait in the outbox
            else:
                time.sleep(random.uniform(0, 2))
            worker.kill()
            integrity.append(outbox_integrity(worker.outbox_path))
            waiting = outbox_ids(worker.outbox_path)
            kept |= waiting
            verdict.figure(
                f"kill {kill}: worker SIGKILLed after {len(incident_ids(database)) - seen}"
                f" new events{' (API SIGKILLed first)' if kill == api_kill_at else ''};"
                f" its outbox holds {len(waiting)}, integrity {integrity[-1]}"
            )
            if api.process is None:
                api.start()
        worker.start()
        # Stopped only once it has delivered what the killed runs kept, and worked a little.
        wait_until(lambda: kept <= incident_ids(database), options.drain_timeout_s, 0.5)
        time.sleep(options.after_s)
        code = worker.stop()
        verdict.figure(f"last run stopped with SIGTERM: exit status {code}")
        logged = set(INCIDENT_LOGGED.findall(worker.log()))
        left = outbox_ids(worker.outbox_path)
        verdict.figure(
            f"{worker.starts} worker starts; {len(logged)} incidents the worker logged as kept,"
            f" {len(kept)} found waiting in its outbox after a kill, {len(left)} left at the end"
        )
        verdict.expect(
            all(result == "ok" for result in integrity),
            "the outbox file was intact after every SIGKILL",
        )
        verdict.expect(not left, "the outbox was empty after the clean stop")
        verdict.expect(
            kept <= incident_ids(database),
            "every incident a killed worker had kept was delivered after its restart",
        )
        expect_each_once(verdict, logged | kept, database, api.evidence_dir)
        audit = audit_evidence(database, api.evidence_dir)
        verdict.figure(
            f"audit: integrity {audit.integrity}, events without incident"
            f" {audit.events_without_incident}, incidents without event"
            f" {audit.incidents_without_event}, events without their report step"
            f" {audit.events_without_report_step}"
        )
        verdict.expect(
            audit.integrity == "ok"
            and not audit.events_without_incident
            and not audit.incidents_without_event
            and not audit.events_without_report_step,
            "no half-written event",
        )
        verdict.figure(
            f"evidence files no row names: {len(audit.orphan_files)} whole,"
            f" {len(audit.partial_files)} half-written (.incoming-*)"
        )
        for orphan in audit.orphan_files[:3]:
            verdict.figure(f"  orphan: {orphan}")
        verdict.expect(not audit.orphan_files, "no orphan evidence file")
        verdict.figure(
            "(an API killed between writing a snapshot and committing its row leaves a file no"
            " row names; the worker sends the incident again, to the same path, and the row then"
            " names it: an orphan stays only if the incident never comes back, and a write cut"
            " short leaves an .incoming-* file nothing removes)"
        )
    finally:
        worker.kill()
        api.stop()


# camera-flapping ----------------------------------------------------------------------------

FLAPPING_CAMERA = "flapping-gate"


class StatusWatch(threading.Thread):
    """Polls the API for a camera's health, keeping each status change with its (wall clock)
    time, and the newest frame and error the API knows of."""

    def __init__(self, api: ApiProcess, headers: dict[str, str], camera_id: str):
        super().__init__(name="status-watch", daemon=True)
        self.url = f"{api.url}/api/v1/cameras/{camera_id}/health"
        self.headers = headers
        self.status = "unknown"
        self.last_frame_at: datetime | None = None
        self.error: str | None = None
        self.changes: list[tuple[datetime, str]] = []
        # The last outage as the API has it: since when (the worker's offline_since), and the
        # newest frame of the first report that had the camera back.
        self.offline_since: datetime | None = None
        self.back_frame_at: datetime | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=5) as client:
            while not self.stop.wait(0.1):
                try:
                    camera = client.get(self.url).json()
                    status = str(camera["status"])
                    frame = camera["last_frame_at"]
                    since = camera["status_since"]
                    error = camera["health"].get("error")
                except (httpx.HTTPError, ValueError, KeyError, AttributeError):
                    continue
                self.last_frame_at = None if frame is None else datetime.fromisoformat(frame)
                self.error = error
                if status == "offline" and since is not None:
                    self.offline_since = datetime.fromisoformat(since)
                if status != self.status:
                    self.changes.append((datetime.now(UTC), status))
                    if status == "online":
                        self.back_frame_at = self.last_frame_at
                    self.status = status

    def outage_s(self, after: datetime) -> float:
        """How long the camera's last outage lasted as the API has it (from the picture's loss
        to the first report of its return), if it began after `after`; 0 if the API saw none."""
        if self.offline_since is None or self.back_frame_at is None:
            return 0.0
        if self.offline_since < after - timedelta(seconds=1):
            return 0.0
        return max(0.0, (self.back_frame_at - self.offline_since).total_seconds())

    def back_since(self, moment: datetime) -> bool:
        """Whether the API has the camera online with a frame that arrived after `moment`: a
        recovery, not an 'online' from before a loss the API has not heard of yet."""
        return (
            self.status == "online"
            and self.last_frame_at is not None
            and self.last_frame_at > moment
        )


def camera_flapping(verdict: Verdict, folder: Path, options: argparse.Namespace) -> None:
    """An RTSP camera (gst-rtsp-server, tests/ingest/peers.py) is SIGKILLed and started again
    `--flaps` times, alternately for `--long-outage-s` (past the video-loss grace) and at once
    (a blip shorter than it). The worker is a real worker process with the real adapters,
    reconnection, health reports (every 0.5 s) and outbox, and a detector that finds nothing,
    so that its memory is the capture path's (bench/null_worker.py). The camera counts as back
    once a frame from the restarted server has reached the API: an 'online' from before a loss
    the API has not heard of yet is not a recovery."""
    from tests.ingest.peers import RtspServer, encoded_clip

    clip = encoded_clip(default_data_dir() / "vtest.avi", default_data_dir())
    server = RtspServer(clip, log_path=folder / "rtsp.log").start()
    cameras = folder / "cameras"
    cameras.mkdir()
    (cameras / f"{FLAPPING_CAMERA}.yaml").write_text(
        yaml.safe_dump(
            {
                "id": FLAPPING_CAMERA,
                "name": "Flapping camera at the school gate",
                "organisation": {"id": "bench-org", "name": "Bench", "kind": "public"},
                "source": server.url(),
                "location": {"lat": 30.2550, "lon": 120.1200},
                "detect": {"fps": 2},
                "stream": {"read_timeout_s": 2, "open_timeout_s": 2, "max_backoff_s": 1},
            }
        )
    )
    api = ApiProcess(
        f"sqlite:///{folder / 'api.db'}",
        folder,
        environment={
            "GRIDWATCH_CAMERA_CONFIGS": str(cameras),
            "GRIDWATCH_VIDEO_LOSS_GRACE_S": str(options.grace_s),
        },
    ).start()
    admin = api.create_admin()
    worker = WorkerProcess(
        [sys.executable, str(REPO / "bench" / "null_worker.py"), "--cameras", str(cameras),
         "--health-interval", "0.5"],
        api, folder,
    )  # fmt: skip
    watch = StatusWatch(api, admin, FLAPPING_CAMERA)
    outages: list[Outage] = []
    rss: list[float] = []
    try:
        watch.start()
        worker.start()
        if not verdict.expect(
            wait_until(lambda: watch.status == "online", 60), "the camera came online"
        ):
            return
        time.sleep(options.settle_s)
        for flap in range(options.flaps):
            long = flap % 2 == 0
            lost = datetime.now(UTC)
            server.kill()
            killed = datetime.now(UTC)
            time.sleep(options.long_outage_s if long else 0)
            server.start()
            restarted, restarted_at = time.monotonic(), datetime.now(UTC)
            # Back means a frame from the restarted server has reached the API.
            online = wait_until(
                lambda at=restarted_at: watch.back_since(at), options.recovery_timeout_s
            )
            recovery = time.monotonic() - restarted if online else float("nan")
            outages.append(
                Outage(
                    long, lost, killed, datetime.now(UTC), recovery, watch.error,
                    watch.outage_s(after=lost),
                )
            )  # fmt: skip
            rss.append(rss_mib(worker.pid))
            if not online:
                verdict.expect(False, f"outage {flap + 1}: the camera came back online")
            time.sleep(options.settle_s)
        time.sleep(1.0)  # the last health reports
        watch.stop.set()
        watch.join(timeout=5)
        events = httpx.get(
            f"{api.url}/api/v1/events",
            params={"category": "device_fault", "limit": 500},
            headers=admin,
            timeout=30,
        ).json()["items"]
        health = httpx.get(watch.url, headers=admin, timeout=10).json()["health"]
        verdict.figure(
            f"the worker reported {health.get('reconnects')} reconnects and"
            f" {health.get('dropped_frames')} dropped frames for the camera"
        )
        report_flapping(verdict, options, watch, outages, events, rss)
        recovered = 0
        for event in events:
            detail = httpx.get(f"{api.url}/api/v1/events/{event['id']}", headers=admin).json()
            recovered += any(step["action"] == "recover" for step in detail["history"])
        verdict.expect(recovered == len(events), f"{recovered} of {len(events)} video-loss"
                       " events record the recovery")  # fmt: skip
    finally:
        watch.stop.set()
        worker.stop(timeout_s=20)
        server.stop()
        api.stop()


@dataclass(frozen=True)
class Outage:
    """One kill of the camera's server: when, and what the API showed once it was back."""

    long: bool
    lost: datetime  # just before the SIGKILL
    killed: datetime  # the server gone
    back: datetime  # the API had a frame from the restarted server
    recovery_s: float  # from the restart to then; NaN if it never came back
    error_after: str | None  # the error the API showed for the camera then
    seen_s: float  # its length as the API had it (0: the API never saw it offline)


def report_flapping(
    verdict: Verdict,
    options: argparse.Namespace,
    watch: StatusWatch,
    outages: list[Outage],
    events: list[dict[str, Any]],
    rss: list[float],
) -> None:
    offline_spans = []
    went_offline_at = None
    for at, status in watch.changes:
        if status == "offline":
            went_offline_at = at
        elif went_offline_at is not None:
            offline_spans.append((at - went_offline_at).total_seconds())
            went_offline_at = None
    long_spans = [span for span in offline_spans if span >= options.grace_s]
    verdict.figure(
        f"{len(outages)} outages ({sum(o.long for o in outages)} of {options.long_outage_s:g} s,"
        f" the others a kill and restart at once); video-loss grace {options.grace_s:g} s"
    )
    verdict.figure(
        f"offline as the API saw it: {len(offline_spans)} spans, "
        + ", ".join(f"{span:.1f}" for span in offline_spans)
        + " s"
    )
    recoveries = [o.recovery_s for o in outages]
    verdict.figure(
        "back online (a frame from the restarted server reached the API) after the restart:"
        f" median {statistics.median(recoveries):.1f} s, max {max(recoveries):.1f} s"
        f" (reconnection backoff capped at 1 s)"
    )
    per_outage: list[list[datetime]] = []
    for outage in outages:
        per_outage.append(
            [
                occurred
                for event in events
                if outage.lost - timedelta(seconds=1)
                <= (occurred := datetime.fromisoformat(event["occurred_at"]))
                <= outage.back + timedelta(seconds=1)
            ]
        )
    long_counts = [len(n) for o, n in zip(outages, per_outage, strict=True) if o.long]
    short_counts = [len(n) for o, n in zip(outages, per_outage, strict=True) if not o.long]
    verdict.figure(
        f"video-loss events: {len(events)} in all; per long outage {long_counts},"
        f" per short one {short_counts}"
    )
    # A short outage is a kill, a server start and a reconnection (backoff capped at 1 s): on a
    # loaded machine it can outlast the grace, and then its event is due. Judged by how long
    # each lasted from the picture's loss to its return, as the worker dated them.
    verdict.figure(
        "short outages lasted "
        + ", ".join(f"{o.seen_s:.1f}" for o in outages if not o.long)
        + " s (loss to the first frame back)"
    )
    within_grace = [
        len(n) for o, n in zip(outages, per_outage, strict=True) if o.seen_s < options.grace_s
    ]
    past_grace = [
        len(n)
        for o, n in zip(outages, per_outage, strict=True)
        if not o.long and o.seen_s >= options.grace_s
    ]
    # The worker dates an outage from the last frame before it, not from its report.
    offsets = [
        (occurred - o.lost).total_seconds()
        for o, dated in zip(outages, per_outage, strict=True)
        for occurred in dated
    ]
    late = [
        occurred
        for o, dated in zip(outages, per_outage, strict=True)
        for occurred in dated
        if not o.lost - timedelta(seconds=1) <= occurred <= o.killed + timedelta(seconds=1)
    ]
    if offsets:
        verdict.figure(
            f"video-loss events dated {min(offsets):+.2f} to {max(offsets):+.2f} s from the kill"
        )
    verdict.expect(not late, f"every video-loss event is dated from the kill ({len(late)} not)")
    verdict.expect(
        all(not math.isnan(r) for r in recoveries), "the camera came back after every outage"
    )
    verdict.expect(
        all(r <= options.recovery_report_s for r in recoveries),
        f"every recovery reached the API within {options.recovery_report_s:g} s of the restart",
    )
    stale = [o.error_after for o in outages if o.error_after]
    verdict.expect(
        not stale, f"no error left once the camera was back ({len(stale)} left, e.g. {stale[:1]})"
    )
    verdict.expect(all(n == 1 for n in long_counts), "exactly one video-loss event per long outage")
    verdict.expect(
        all(n == 0 for n in within_grace),
        f"none for an outage shorter than the grace ({len(within_grace)} of them;"
        f" {len(past_grace)} short ones outlasted it, with {sum(past_grace)} events)",
    )
    verdict.expect(all(n <= 1 for n in past_grace), "at most one for a short outage past it")
    verdict.expect(
        sum(map(len, per_outage)) == len(events), "no video-loss event outside the outages"
    )
    verdict.expect(len(long_spans) >= len(long_counts), "the API saw every long outage")
    first, last, most = rss[0], rss[-1], max(rss)
    verdict.figure(f"worker RSS: first {first:.0f} MiB, last {last:.0f} MiB, max {most:.0f} MiB")
    verdict.expect(
        last - first <= max(options.rss_slack_mib, 0.05 * first),
        f"the worker's memory did not grow (last - first {last - first:+.1f} MiB)",
    )


# db-restart ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    kind: str
    started: float
    seconds: float
    outcome: str  # the status code, or the error's name
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome.startswith("2")


class Caller(threading.Thread):
    """Calls the API again and again, as a client does, keeping how each call ended."""

    def __init__(self, kind: str, call: Callable[[httpx.Client], httpx.Response], timeout: float):
        super().__init__(name=f"caller-{kind}", daemon=True)
        self.kind = kind
        self.call = call
        self.timeout = timeout
        self.calls: list[Call] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = self.call(client)
                    outcome, message = str(response.status_code), ""
                    if response.status_code >= 400:
                        message = response.text[:120]
                except httpx.HTTPError as err:
                    outcome, message = type(err).__name__, str(err)[:120]
                self.calls.append(
                    Call(self.kind, started, time.monotonic() - started, outcome, message)
                )
                self.stop.wait(0.1)


class AlertListener(threading.Thread):
    """An operator on the live WebSocket, noting the incident of each alert it receives."""

    def __init__(self, api: ApiProcess, token: str):
        super().__init__(name="alert-listener", daemon=True)
        self.uri = f"ws://127.0.0.1:{api.port}/api/v1/live/ws"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.incidents: dict[str, float] = {}
        self.closed = ""
        self.connected = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        with connect(self.uri, additional_headers=self.headers) as socket:
            socket.recv(timeout=10)  # hello
            self.connected.set()
            while not self.stop.is_set():
                try:
                    message = json.loads(socket.recv(timeout=0.5))
                except TimeoutError:
                    continue
                except ConnectionClosed as closed:
                    self.closed = f"closed by the API: {closed}"
                    return
                incident = (message.get("event") or {}).get("incident") or {}
                if incident.get("id"):
                    self.incidents[incident["id"]] = time.monotonic()


def db_restart(verdict: Verdict, folder: Path, options: argparse.Namespace) -> None:
    """A PostgreSQL cluster of our own (never the machine's shared server) is stopped (fast
    shutdown: sessions cut) for `--db-down-s` seconds and started again, under a running
    `gridwatch serve` that clients keep calling: event lists, incident posts, /healthz, and an
    operator on the live WebSocket."""
    cluster = PostgresCluster().init()
    cluster.start()
    database = cluster.create_database("gridwatch")
    api = ApiProcess(database, folder).start()
    admin = api.create_admin()
    snapshots = Snapshots()
    posted: dict[str, str] = {}  # incident id -> outcome of its post
    incidents: dict[str, Incident] = {}
    numbers = iter(range(1_000_000))

    def post(client: httpx.Client) -> httpx.Response:
        number = next(numbers)
        camera = sorted(SAMPLE_CAMERAS)[number % len(SAMPLE_CAMERAS)]
        incident = synthetic_incident(number, camera, snapshots.jpeg(number), run="db")
        incidents[incident.id] = incident
        posted[incident.id] = "sent"
        response = post_incident(client, api.url, incident)
        posted[incident.id] = str(response.status_code)
        return response

    callers = [
        Caller("list", lambda c: c.get(f"{api.url}/api/v1/events", headers=admin), 10),
        Caller("post", post, 10),
        Caller("healthz", lambda c: c.get(f"{api.url}/healthz"), 10),
    ]
    listener = AlertListener(api, admin["Authorization"].removeprefix("Bearer "))
    try:
        listener.start()
        listener.connected.wait(10)
        for caller in callers:
            caller.start()
        time.sleep(options.warmup_s)
        log_before = api.log_path.stat().st_size
        down_at = time.monotonic()
        cluster.stop("fast")
        stopped_at = time.monotonic()
        time.sleep(options.db_down_s)
        cluster.start()
        up_at = time.monotonic()
        verdict.figure(
            f"PostgreSQL stopped in {stopped_at - down_at:.1f} s, down {up_at - down_at:.1f} s"
            f" (start included); the API process was not touched (pid {api.pid}); its log"
            f" grew {(api.log_path.stat().st_size - log_before) / 1e6:.1f} MB meanwhile"
            f" ({api.log_path.read_text(errors='replace').count('Traceback')} tracebacks)"
        )
        time.sleep(options.db_after_s)
        for caller in callers:
            caller.stop.set()
        for caller in callers:
            caller.join(timeout=30)
        time.sleep(2)  # the last alerts
        listener.stop.set()
        listener.join(timeout=5)
        calls = [call for caller in callers for call in caller.calls]
        report_db_restart(verdict, calls, down_at, up_at, options)
        # Every incident the API took must have been announced to the operator.
        created = {i for i, outcome in posted.items() if outcome == "201"}
        missed = created - set(listener.incidents)
        verdict.figure(
            f"live alerts: {len(created)} incidents created, {len(missed)} never reached the"
            f" operator's WebSocket ({listener.closed or 'connected throughout'})"
        )
        verdict.expect(not missed, "the operator received an alert for every incident created")
        # As a worker's outbox does, what failed is sent again; then each incident is one
        # event, its evidence whole, and no file is left that no row names.
        failed = [i for i, outcome in posted.items() if outcome not in ("201", "sent")]
        before = audit_evidence(database, api.evidence_dir)
        with httpx.Client(timeout=30) as client:
            again = Counter(
                str(post_incident(client, api.url, incidents[i]).status_code) for i in failed
            )
        verdict.figure(
            f"{len(failed)} posts failed, leaving {len(before.orphan_files)} evidence files no"
            f" row names (written before the commit failed); sent again: {dict(again)}"
        )
        expect_each_once(verdict, created | set(failed), database, api.evidence_dir)
        after = audit_evidence(database, api.evidence_dir)
        verdict.expect(
            not after.orphan_files and not after.partial_files,
            f"no orphan evidence once they were sent again ({len(after.orphan_files)} left)",
        )
    finally:
        for caller in callers:
            caller.stop.set()
        listener.stop.set()
        api.stop()
        cluster.destroy()


def report_db_restart(
    verdict: Verdict, calls: list[Call], down_at: float, up_at: float, options: argparse.Namespace
) -> None:
    during = [c for c in calls if down_at <= c.started < up_at]
    after = [c for c in calls if c.started >= up_at]
    for kind in ("list", "post", "healthz"):
        mine = [c for c in during if c.kind == kind]
        outcomes = Counter(c.outcome for c in mine)
        slowest = max((c.seconds for c in mine), default=0.0)
        verdict.figure(
            f"during the outage, {kind}: {dict(outcomes)}, slowest answer {slowest:.2f} s"
        )
        first_ok = next(
            (c.started + c.seconds - up_at for c in after if c.kind == kind and c.ok), math.nan
        )
        verdict.figure(
            f"after it, {kind}: first success {first_ok:.2f} s after PostgreSQL was up;"
            f" {sum(not c.ok for c in after if c.kind == kind)}"
            f" failures of {sum(c.kind == kind for c in after)}"
        )
    messages = Counter(f"{c.outcome} {c.message}" for c in during if not c.ok)
    for message, count in messages.most_common(4):
        verdict.figure(f"  {count} x {message!r}")
    verdict.expect(
        all(c.outcome.startswith("5") or not c.outcome.isdigit() or c.ok for c in during),
        "calls during the outage failed with a 5xx or a connection error, or succeeded",
    )
    verdict.expect(
        all(c.seconds < options.hang_s for c in calls),
        f"no call hung (all answered within {options.hang_s:g} s)",
    )
    settled = [c for c in after if c.started >= up_at + options.db_recover_s]
    verdict.expect(
        bool(settled) and all(c.ok for c in settled),
        f"every call succeeded {options.db_recover_s:g} s after PostgreSQL was back,"
        " without restarting the API",
    )


# disk-full ----------------------------------------------------------------------------------


def metrics(api: ApiProcess) -> dict[str, float]:
    """The API's /metrics samples that speak of incidents or evidence, by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    return {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if ("incident" in sample.name or "evidence" in sample.name)
        and not sample.name.endswith("_created")
    }


def disk_full(verdict: Verdict, folder: Path, options: argparse.Namespace) -> None:
    """The API's evidence directory is a tmpfs of `--disk-kib` KiB (mounted here, unmounted
    after) that fills after a few snapshots, while a worker's outbox and sender keep posting
    incidents with about 50 KB of evidence each. Then the tmpfs is grown, as an operator
    freeing space would, and what waited is delivered."""
    if os.geteuid() != 0:
        verdict.skip("mounting a tmpfs needs root")
        return
    evidence = folder / "evidence"
    evidence.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={options.disk_kib}k", "tmpfs", str(evidence)],
        check=True,
    )
    database = f"sqlite:///{folder / 'api.db'}"
    api = ApiProcess(database, folder, evidence_dir=evidence).start()
    outbox = Outbox(folder / "outbox.sqlite")
    sender, transport = sender_for(outbox, api)
    stop_sender = threading.Event()
    sending = threading.Thread(target=sender.run, args=(stop_sender,), daemon=True)
    feed = IncidentFeed(outbox, options.rate, Snapshots(), run="disk")
    try:
        admin = api.create_admin()
        sending.start()
        feed.start()
        time.sleep(options.disk_s)
        full = shutil.disk_usage(evidence)
        refused = dict(sorted(transport.outcomes.items()))
        waiting = outbox.pending()
        errors = sorted({error for (error,) in outbox_errors(outbox.path)})
        verdict.figure(
            f"evidence tmpfs {options.disk_kib} KiB, {full.free // 1024} KiB free after"
            f" {options.disk_s:g} s; sender's requests ended in {refused}; {waiting} incidents"
            f" wait in the worker's outbox"
        )
        for error in errors[:3]:
            verdict.figure(f"  outbox last_error: {error!r}")
        verdict.expect(
            transport.outcomes["507"] > 0 and "No space left" in " ".join(errors),
            "a full disk is refused with 507 and says why (no space left)",
        )
        verdict.expect(waiting > 0, "the refused incidents wait in the worker's outbox")
        # What would tell the people running the district that evidence cannot be stored?
        health = httpx.get(f"{api.url}/healthz", timeout=10).status_code
        events = httpx.get(f"{api.url}/api/v1/events", headers=admin, timeout=10).json()
        samples = metrics(api)
        verdict.figure(f"while full: /healthz answers {health}; events listed {events['total']}")
        for name, sample in sorted(samples.items()):
            verdict.figure(f"  /metrics {name} {sample:g}")
        log = api.log_path.read_text(errors="replace")
        verdict.figure(
            f"  API log: {log.count(' 507')} lines with a 507,"
            f" {log.count('evidence could not be stored')} naming the storage failure"
        )
        free_gauge = samples.get("gridwatch_evidence_free_bytes{}", math.nan)
        not_stored = samples.get('gridwatch_incidents_received_total{"outcome": "not_stored"}', 0)
        verdict.expect(
            free_gauge < feed.largest_snapshot
            and not_stored == transport.outcomes["507"]
            and log.count("evidence could not be stored") >= not_stored > 0,
            f"the storage failure shows in /metrics (free bytes under the largest snapshot's"
            f" {feed.largest_snapshot} bytes, each 507"
            " counted not_stored) and each is logged as an error",
        )
        subprocess.run(
            ["mount", "-o", f"remount,size={options.disk_kib * 64}k", str(evidence)], check=True
        )
        grown = time.monotonic()
        verdict.figure(f"tmpfs grown to {options.disk_kib * 64} KiB")
        time.sleep(options.after_s)
        feed.stop.set()
        feed.join()
        drained = wait_until(lambda: outbox.pending() == 0, options.drain_timeout_s, 0.2)
        verdict.figure(
            f"{len(feed.ids)} incidents made; outbox empty {time.monotonic() - grown:.1f} s"
            f" after space was freed; requests ended in {dict(sorted(transport.outcomes.items()))}"
        )
        verdict.expect(drained, "everything that waited was delivered once space was freed")
        expect_each_once(verdict, set(feed.ids), database, evidence)
        audit = audit_evidence(database, evidence)
        verdict.expect(
            not audit.orphan_files and not audit.partial_files,
            f"no orphan or half-written evidence ({len(audit.orphan_files)} orphans,"
            f" {len(audit.partial_files)} .incoming-*)",
        )
    finally:
        feed.stop.set()
        stop_sender.set()
        sending.join(timeout=15)
        sender.close()
        outbox.close()
        api.stop()
        if subprocess.run(["umount", str(evidence)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(evidence)], check=False)


def outbox_errors(path: Path) -> list[tuple[str]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT last_error FROM outbox WHERE last_error IS NOT NULL").fetchall()
    finally:
        db.close()


# The runner ---------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Verdict, Path, argparse.Namespace], None]] = {
    "api-down": api_down,
    "worker-killed": worker_killed,
    "camera-flapping": camera_flapping,
    "db-restart": db_restart,
    "disk-full": disk_full,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument(
        "--down-s", type=float, default=60, help="api-down: seconds the API is down"
    )
    parser.add_argument("--rate", type=float, default=2, help="api-down: incidents a second")
    parser.add_argument("--warmup-s", type=float, default=3)
    parser.add_argument(
        "--after-s", type=float, default=5, help="incidents keep coming this long after"
    )
    parser.add_argument("--drain-timeout-s", type=float, default=60)
    parser.add_argument("--kills", type=int, default=3, help="worker-killed: SIGKILLs")
    parser.add_argument(
        "--api-dead-s", type=float, default=6, help="worker-killed: API down before one kill"
    )
    parser.add_argument("--flaps", type=int, default=20, help="camera-flapping: outages")
    parser.add_argument("--long-outage-s", type=float, default=3.5, help="camera-flapping")
    parser.add_argument("--grace-s", type=float, default=2, help="camera-flapping: video loss")
    parser.add_argument("--settle-s", type=float, default=1.0, help="camera-flapping: up between")
    parser.add_argument("--recovery-timeout-s", type=float, default=20)
    parser.add_argument(
        "--recovery-report-s", type=float, default=5, help="camera-flapping: back in the API"
    )
    parser.add_argument("--rss-slack-mib", type=float, default=16)
    parser.add_argument("--db-down-s", type=float, default=5, help="db-restart: seconds down")
    parser.add_argument("--db-after-s", type=float, default=10, help="db-restart: calls after")
    parser.add_argument("--db-recover-s", type=float, default=5, help="db-restart: allowed")
    parser.add_argument("--hang-s", type=float, default=8, help="a call slower than this hung")
    parser.add_argument("--disk-kib", type=int, default=256, help="disk-full: tmpfs size")
    parser.add_argument("--disk-s", type=float, default=6, help="disk-full: seconds full")
    parser.add_argument("--keep", action="store_true", help="keep the scenarios' folders and logs")
    options = parser.parse_args()
    # What the worker's own code logs (a delivery failing, a camera lost) is part of the story.
    logging.basicConfig(
        level=logging.WARNING, format="  %(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    names = options.scenarios or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    print(f"machine: {describe()}", flush=True)
    results = []
    for name in names:
        verdict = Verdict(name)
        folder = temporary_folder(name)
        started = time.monotonic()
        try:
            SCENARIOS[name](verdict, folder, options)
        except Exception as err:
            verdict.expect(False, f"the scenario itself failed: {type(err).__name__}: {err}")
        results.append(verdict.summary(time.monotonic() - started))
        print(results[-1], flush=True)
        if options.keep or not verdict.passed:
            print(f"[{name}] logs and data kept in {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(["verdicts:", *results]))
    sys.exit(0 if not any(" FAIL " in line for line in results) else 1)


if __name__ == "__main__":
    main()
