"""A district's fleet, simulated: one API on PostgreSQL, thousands of registered cameras and
hundreds of leasing workers. What is measured is the control plane (leases, heartbeats, the
operators' requests meanwhile), not capture or detection.

Each worker is the real worker's lease client (`gridwatch.feed.ApiLeaseFeed`: a real HTTP
heartbeat every GRIDWATCH_LEASE_RENEW_S, cameras validated as `CameraConfig`, the lapse on its
own clock) running in this process; it opens no stream and runs no model, which is what a worker
with a null detector and synthetic frames adds to the control plane: nothing but its health
reports, left out here. Leases are as in production (30 s, renewed every 10 s).

Printed:
- seconds until every camera is held;
- the API's p50/p95 for an operator's event list and for incident posts, meanwhile and
  throughout;
- after killing 10% of the workers (no release: their leases run out), seconds until their
  cameras are held again, with spare capacity; and without spare capacity, how many wait
  (`unassigned`, as `GET /api/v1/fleet` reports), then seconds until replacements hold them;
- lease renewals per second (HTTP) and what they cost the database: the statements of one
  steady renewal (counted on the API's own lease code) and so lease-renewal queries per second;
  transactions, lease rows updated and credential reads recorded per second (from PostgreSQL's
  statistics);
- whether any camera was ever held by two workers at once, each worker's holding counted until
  its lease lapses on its own clock;
- the API's CPU time in the steady state, per renewal.

The API runs as `--api-processes` processes on one address (2 by default, the README's
production layout).

Usage: python bench/fleet.py [--cameras 5000] [--workers 300] [--lease 30] [--renew 10]
       [--api-processes 2]
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import queue
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # before bench/, whose ingest.py is not the ingest package

from bench.harness import (  # noqa: E402
    SECRET_KEY,
    WORKER_TOKEN,
    ApiProcess,
    SharedPostgres,
    Snapshots,
    Verdict,
    percentile,
    post_incident,
    synthetic_incident,
    temporary_folder,
)
from gridwatch.feed import ApiLeaseFeed  # noqa: E402
from gridwatch.machine import describe  # noqa: E402

# Cameras spread over the sample district's cells (camera_configs/grids.geojson).
DISTRICT = (30.245, 30.262, 120.105, 120.135)


def register_cameras(database_url: str, count: int) -> None:
    """`count` cameras written with the API's own code (as camera files or owners would),
    a tenth of them school gates that matter most at night and squares that matter by day."""
    from api.cameras import upsert_camera
    from api.db import make_engine, session_factory
    from api.settings import Settings
    from contract.camera import CameraConfig

    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)  # type: ignore[arg-type]
    cipher = settings.cipher()
    engine = make_engine(database_url)
    factory = session_factory(engine)
    rng = random.Random(19)
    with factory.begin() as session:
        for number in range(count):
            priority: dict[str, object] = {}
            if number % 10 == 0:
                priority = {"base": 30, "windows": [{"windows": ["22:00-06:00"], "priority": 90}]}
            elif number % 10 == 1:
                priority = {"base": 20, "windows": [{"windows": ["07:00-19:00"], "priority": 80}]}
            config = CameraConfig.model_validate(
                {
                    "id": f"cam-{number:05d}",
                    "name": f"Street point {number}",
                    "organisation": {"id": "district-public", "name": "District", "kind": "public"},
                    "source": f"rtsp://bench:secret@10.1.{number // 250}.{number % 250}:554/s1",
                    "location": {
                        "lat": rng.uniform(DISTRICT[0], DISTRICT[1]),
                        "lon": rng.uniform(DISTRICT[2], DISTRICT[3]),
                    },
                    "priority": priority,
                }
            )
            upsert_camera(session, config, cipher)
    engine.dispose()


@dataclass
class Holding:
    """Who holds which camera, as the workers themselves believe it, and every overlap seen."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # camera id -> (worker, monotonic time until which that worker may watch it)
    holder: dict[str, tuple[str, float]] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)

    def granted(self, worker: str, cameras: set[str], until: float, released: set[str]) -> None:
        now = time.monotonic()
        with self.lock:
            for camera_id in released:
                if self.holder.get(camera_id, ("", 0.0))[0] == worker:
                    del self.holder[camera_id]
            for camera_id in cameras:
                other, other_until = self.holder.get(camera_id, (worker, 0.0))
                if other != worker and other_until > now:
                    left = other_until - now
                    self.overlaps.append(f"{camera_id}: {worker} while {other} for {left:.1f} s")
                self.holder[camera_id] = (worker, until)

    def dropped(self, worker: str) -> None:
        with self.lock:
            for camera_id, (holder, _) in list(self.holder.items()):
                if holder == worker:
                    del self.holder[camera_id]


class SimulatedWorker(threading.Thread):
    """The lease client of one worker, renewing every `renew_s`; `kill()` stops it without a
    word (its leases run out by themselves), `stop()` gives them back."""

    def __init__(self, name: str, api_url: str, capacity: int, renew_s: float, holding: Holding):
        super().__init__(name=name, daemon=True)
        self.feed = ApiLeaseFeed(
            api_url, WORKER_TOKEN, worker_name=name, capacity=capacity, renew_s=renew_s
        )
        self.renew_s = renew_s
        self.holding = holding
        self.cameras: set[str] = set()
        self.renewals = 0
        self.failures = 0
        self._halt = threading.Event()
        self._release = False

    def run(self) -> None:
        # Workers renew at their own phase of the renewal interval: running workers meet a
        # (re)started API, or a new fleet is brought up, spread over one interval.
        self._halt.wait(random.uniform(0, self.renew_s))
        while not self._halt.is_set():
            sent = time.monotonic()
            renewed = self.feed.runs_out
            grant = self.feed.poll()
            if self.feed.runs_out is not None and self.feed.runs_out != renewed:
                # Renewed: the cameras granted (or the same as before) are this worker's until
                # its lease lapses on its own clock.
                cameras = self.cameras if grant is None else {camera.id for camera in grant}
                self.holding.granted(self.name, cameras, self.feed.runs_out, self.cameras - cameras)
                self.cameras = cameras
            else:
                self.failures += 1
            self.renewals += 1
            self._halt.wait(max(0.0, self.renew_s - (time.monotonic() - sent)))
        if self._release:
            self.feed.close()
            self.holding.dropped(self.name)
        else:
            self.feed.api.close()

    def kill(self) -> None:
        self._halt.set()

    def stop(self) -> None:
        self._release = True
        self._halt.set()


def _operate(
    api_url: str,
    headers: dict[str, str],
    cameras: list[str],
    halt: Event,
    results: Queue[tuple[list[tuple[float, float]], list[tuple[float, float]], list[str]]],
) -> None:
    """The operators' loop (in a process of its own): an event list and an incident post, timed,
    twice a second each, until `halt`; then the samples and errors go back through `results`."""
    lists: list[tuple[float, float]] = []  # (monotonic time, seconds)
    posts: list[tuple[float, float]] = []
    errors: list[str] = []

    def timed(
        samples: list[tuple[float, float]], label: str, send: Callable[[], httpx.Response]
    ) -> None:
        """One request timed; one that got no answer counts with the time it waited."""
        started = time.monotonic()
        try:
            response = send()
        except httpx.HTTPError as err:
            samples.append((started, time.monotonic() - started))
            errors.append(f"{label}: {type(err).__name__}")
            return
        samples.append((started, time.monotonic() - started))
        if response.status_code not in (200, 201):
            errors.append(f"{label} {response.status_code}: {response.text[:120]}")

    snapshots = Snapshots(4)
    number = 0
    with httpx.Client(timeout=30) as client:
        while not halt.is_set():
            timed(
                lists,
                "event list",
                partial(
                    client.get, f"{api_url}/api/v1/events", params={"limit": 50}, headers=headers
                ),
            )
            number += 1
            incident = synthetic_incident(
                number, cameras[number % len(cameras)], snapshots.jpeg(number), run="fleet"
            )
            timed(posts, "incident", partial(post_incident, client, api_url, incident))
            halt.wait(0.5)
    results.put((lists, posts, errors))


class Operators:
    """An operator's event list and a worker's incident posts, timed, twice a second each.

    They run in a process of their own: in this one, the hundreds of simulated workers' threads
    share one interpreter lock, and the time a request waited for it would be counted as the
    API's. The samples (time.monotonic(), the same clock in every process) come back at `stop`.
    """

    def __init__(self, api: ApiProcess, headers: dict[str, str], cameras: list[str]):
        context = multiprocessing.get_context("spawn")
        self._halt = context.Event()
        self._results: Queue[
            tuple[list[tuple[float, float]], list[tuple[float, float]], list[str]]
        ] = context.Queue()
        self._process = context.Process(
            target=_operate,
            args=(api.url, headers, cameras, self._halt, self._results),
            name="operators",
            daemon=True,
        )
        self.lists: list[tuple[float, float]] = []  # (monotonic time, seconds)
        self.posts: list[tuple[float, float]] = []
        self.errors: list[str] = []

    def start(self) -> None:
        self._process.start()

    def stop(self) -> None:
        if self._halt.is_set():
            return
        self._halt.set()
        try:
            self.lists, self.posts, self.errors = self._results.get(timeout=60)
        except queue.Empty:
            self.errors.append("the operators' process sent no samples")
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()

    @staticmethod
    def p(samples: list[tuple[float, float]], since: float, until: float, q: float) -> float:
        return percentile([s for at, s in samples if since <= at <= until], q) * 1000


def held_count(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM camera_lease l JOIN camera c ON c.id = l.camera_id"
                " WHERE l.expires_at > now() AND c.enabled AND c.retired_at IS NULL"
            )
        )
    engine.dispose()
    return int(count or 0)


def database_activity(database_url: str) -> tuple[float, float, float]:
    """(transactions committed, rows of camera_lease updated, credential reads recorded). The
    first two from PostgreSQL's statistics (which a connection reports when its transaction
    ends, or within seconds of it going idle), the reads counted in the access log."""
    from sqlalchemy import create_engine, text

    name = database_url.rsplit("/", 1)[1]
    engine = create_engine(database_url)
    with engine.connect() as connection:
        commits = connection.scalar(
            text("SELECT xact_commit FROM pg_stat_database WHERE datname = :name"), {"name": name}
        )
        updated = connection.scalar(
            text("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'camera_lease'")
        )
        reads = connection.scalar(
            text("SELECT count(*) FROM evidence_access WHERE object_kind = 'camera_credentials'")
        )
    engine.dispose()
    return float(commits or 0), float(updated or 0), float(reads or 0)


def statements_per_renewal(database_url: str, worker: str, capacity: int, lease_s: float) -> str:
    """The statements one steady renewal of `worker` sends the database, counted on the API's
    own code (`api.leases.claim`, what POST /api/v1/worker/leases runs when no configuration
    changed), as "N (kinds)"."""
    from datetime import timedelta

    from sqlalchemy import create_engine, event

    from api.leases import claim

    seen: list[str] = []
    engine = create_engine(database_url)

    def count(*args: object) -> None:
        seen.append(str(args[2]).split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    with Session(engine) as session:
        claim(session, worker, capacity, timedelta(seconds=lease_s))
    engine.dispose()
    kinds = ", ".join(f"{seen.count(kind)} {kind}" for kind in sorted(set(seen)))
    return f"{len(seen)} ({kinds})"


def wait_for_taken_over(
    holding: Holding, cameras: set[str], dead: set[str], timeout_s: float
) -> float | None:
    """Seconds until every camera in `cameras` is held by a worker not in `dead` (None if not
    within `timeout_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with holding.lock:
            waiting = [c for c in cameras if holding.holder.get(c, ("", 0.0))[0] in dead | {""}]
        if not waiting:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def wait_for_held(database_url: str, target: int, timeout_s: float) -> float | None:
    """Seconds until `target` cameras are held (None if not within `timeout_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if held_count(database_url) >= target:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def kill(workers: list[SimulatedWorker]) -> float:
    """Kill `workers` (no release); returns when (time.monotonic()) they were killed, once the
    renewals they had under way have come back, so that what they hold is known."""
    killed_at = time.monotonic()
    for worker in workers:
        worker.kill()
    for worker in workers:
        worker.join(timeout=60)
    return killed_at


def start_workers(
    api: ApiProcess, names: list[str], capacity: int, renew_s: float, holding: Holding
) -> list[SimulatedWorker]:
    workers = [SimulatedWorker(name, api.url, capacity, renew_s, holding) for name in names]
    for worker in workers:
        worker.start()
    return workers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=300)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--renew", type=float, default=10.0)
    parser.add_argument(
        "--api-processes",
        type=int,
        default=2,
        help="API processes on the one address (`gridwatch serve --workers`)",
    )
    arguments = parser.parse_args()
    verdict = Verdict("fleet")
    # A worker that cannot renew says so at every try: counted below, not printed 300 times.
    logging.getLogger("gridwatch.feed").setLevel(logging.CRITICAL)
    # Stopped from outside, it still stops its API and drops its database (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    print(
        f"{arguments.cameras} cameras, {arguments.workers} workers, lease {arguments.lease:g} s,"
        f" renewed every {arguments.renew:g} s; {arguments.api_processes} API process(es)",
        flush=True,
    )
    began = time.monotonic()
    folder = temporary_folder("fleet")
    database = SharedPostgres()
    empty = folder / "no-camera-files"
    empty.mkdir()
    api = ApiProcess(
        database.url,
        folder,
        environment={
            "GRIDWATCH_LEASE_S": str(arguments.lease),
            "GRIDWATCH_CAMERA_CONFIGS": str(empty),
            "GRIDWATCH_LOG_LEVEL": "WARNING",
        },
        processes=arguments.api_processes,
    )
    workers: list[SimulatedWorker] = []
    operators: Operators | None = None
    try:
        api.start(timeout_s=600)  # a busy machine migrates slowly; nothing here is timed
        started = time.monotonic()
        register_cameras(database.url, arguments.cameras)
        verdict.figure(
            f"registered {arguments.cameras} cameras in {time.monotonic() - started:.0f} s"
        )
        admin = api.create_admin()
        operators = Operators(api, admin, [f"cam-{n:05d}" for n in range(0, arguments.cameras, 97)])
        operators.start()
        holding = Holding()
        lease_plus_poll = arguments.lease + arguments.renew

        # 1. With spare capacity (20% more room than cameras).
        spare_capacity = math.ceil(arguments.cameras / arguments.workers * 1.2)
        names = [f"edge-{n:03d}" for n in range(arguments.workers)]
        phase = time.monotonic()
        workers = start_workers(api, names, spare_capacity, arguments.renew, holding)
        all_held = wait_for_held(database.url, arguments.cameras, 120)
        claimed_a = time.monotonic()
        verdict.expect(
            all_held is not None and all_held <= 30,
            f"every camera held {all_held if all_held is None else round(all_held, 1)} s after"
            f" {arguments.workers} workers (capacity {spare_capacity} each) started, each first"
            f" renewing at a random moment of its {arguments.renew:g} s interval (target 30 s)"
            + ("" if all_held else f"; {held_count(database.url)} held after 120 s"),
        )
        # Steady state: renewals only (after one round, so that the statistics have the
        # claims' transactions behind them).
        time.sleep(arguments.renew)
        commits0, updated0, reads0 = database_activity(database.url)
        renewals0, steady = sum(w.renewals for w in workers), time.monotonic()
        api_cpu0 = api.cpu_s()
        failures0 = sum(w.failures for w in workers)
        time.sleep(arguments.renew * 2)
        commits1, updated1, reads1 = database_activity(database.url)
        elapsed = time.monotonic() - steady
        api_cpu = api.cpu_s() - api_cpu0
        renewals = sum(w.renewals for w in workers) - renewals0
        failed = sum(w.failures for w in workers) - failures0
        per_renewal = statements_per_renewal(
            database.url, workers[-1].name, spare_capacity, arguments.lease
        )
        per_renewal_count = int(per_renewal.split()[0])
        verdict.figure(
            f"steady state: {renewals / elapsed:.1f} lease renewals/s over HTTP, each"
            f" {per_renewal} statements: {renewals / elapsed * per_renewal_count:.0f}"
            f" lease-renewal queries/s; database {(commits1 - commits0) / elapsed:.1f}"
            f" transactions/s, {(updated1 - updated0) / elapsed:.0f} camera_lease rows updated/s,"
            f" {(reads1 - reads0) / elapsed:.1f} credential reads recorded/s ({failed} renewals"
            " failed meanwhile; a worker whose leases lapsed is sent its cameras again)"
        )
        verdict.figure(
            f"steady state: the API used {api_cpu / elapsed * 100:.0f}% of a core,"
            f" {api_cpu / max(renewals, 1) * 1000:.1f} ms of CPU per renewal (the operators'"
            " requests meanwhile included)"
        )
        killed = workers[: max(1, arguments.workers // 10)]
        killed_at = kill(killed)
        lost_cameras = {camera_id for worker in killed for camera_id in worker.cameras}
        lost = len(lost_cameras)
        dead = {worker.name for worker in killed}
        back = wait_for_taken_over(holding, lost_cameras, dead, lease_plus_poll + 60)
        back_s = None if back is None else time.monotonic() - killed_at
        verdict.expect(
            back_s is not None and back_s <= lease_plus_poll + 2,
            f"with spare capacity: the {lost} cameras of {len(killed)} killed workers held again"
            f" after {back_s if back_s is None else round(back_s, 1)} s (target: lease"
            f" {arguments.lease:g} s + one poll {arguments.renew:g} s)",
        )
        phase_a = (phase, time.monotonic())
        for worker in workers:
            if worker not in killed:
                worker.stop()
        for worker in workers:
            worker.join(timeout=30)

        # 2. Without spare capacity: exactly enough room until 10% are killed.
        tight = math.ceil(arguments.cameras / arguments.workers)
        names = [f"tight-{n:03d}" for n in range(arguments.workers)]
        phase = time.monotonic()
        workers = start_workers(api, names, tight, arguments.renew, holding)
        all_held = wait_for_held(database.url, arguments.cameras, 120)
        claimed_b = time.monotonic()
        verdict.figure(
            f"no spare capacity ({tight} each): every camera held after"
            f" {all_held if all_held is None else round(all_held, 1)} s"
        )
        killed = workers[: max(1, arguments.workers // 10)]
        killed_at = kill(killed)
        lost = sum(len(w.cameras) for w in killed)
        time.sleep(lease_plus_poll + 2)
        fleet = httpx.get(f"{api.url}/api/v1/fleet", headers=admin, timeout=60).json()
        verdict.figure(
            f"without spare capacity, {lease_plus_poll + 2:.0f} s after killing {len(killed)}"
            f" workers ({lost} cameras): fleet reports {fleet['worker_count']} workers, capacity"
            f" {fleet['capacity']}, held {fleet['held']}, waiting {fleet['waiting']}"
        )
        verdict.expect(
            fleet["waiting"] == arguments.cameras - fleet["held"] > 0,
            "the cameras no worker can take are reported waiting (unassigned)",
        )
        waiting = {camera["id"] for camera in fleet["waiting_cameras"]}
        replacements = start_workers(
            api, [f"spare-{n:03d}" for n in range(len(killed))], tight, arguments.renew, holding
        )
        back = wait_for_taken_over(holding, waiting, {w.name for w in killed}, 120)
        verdict.expect(
            back is not None and back <= arguments.renew + 2,
            f"{len(replacements)} replacement workers hold the waiting cameras after"
            f" {back if back is None else round(back, 1)} s"
            f" (target: one poll, {arguments.renew:g} s)",
        )
        phase_b = (phase, time.monotonic())
        workers += replacements

        assert operators is not None
        operators.stop()
        # Each phase as a whole, then in two parts: while its workers first claim every camera
        # (the cameras' configurations sent, the credential reads recorded), and the rest.
        periods = (
            ("with spare", phase_a),
            ("  of which while first claiming", (phase_a[0], claimed_a)),
            ("  of which after", (claimed_a, phase_a[1])),
            ("without spare", phase_b),
            ("  of which while first claiming", (phase_b[0], claimed_b)),
            ("  of which after", (claimed_b, phase_b[1])),
        )
        for label, (since, until) in periods:
            lists, posts = operators.lists, operators.posts
            verdict.figure(
                f"{label}: operator event list p50 {operators.p(lists, since, until, 0.5):.0f} ms"
                f" p95 {operators.p(lists, since, until, 0.95):.0f} ms;"
                f" incident post p50 {operators.p(posts, since, until, 0.5):.0f} ms"
                f" p95 {operators.p(posts, since, until, 0.95):.0f} ms"
            )
        whole = (0.0, time.monotonic())
        p95_list = operators.p(operators.lists, *whole, 0.95)
        p95_post = operators.p(operators.posts, *whole, 0.95)
        verdict.expect(
            p95_list < 100 and p95_post < 100,
            f"API p95 throughout: event list {p95_list:.0f} ms, incident post {p95_post:.0f} ms"
            f" ({len(operators.lists)} and {len(operators.posts)} requests; target 100 ms)",
        )
        verdict.expect(
            not operators.errors, f"operator requests that failed: {operators.errors[:3]}"
        )
        failures = sum(w.failures for w in workers)
        verdict.figure(f"lease requests that failed (no answer or refused): {failures}")
        verdict.expect(
            not holding.overlaps,
            f"no camera ever held by two workers ({len(holding.overlaps)} overlaps"
            f"{': ' + '; '.join(holding.overlaps[:3]) if holding.overlaps else ''})",
        )
        print(json.dumps({"load_average_end": os.getloadavg()}), flush=True)
    finally:
        if operators is not None:
            operators.stop()
        for worker in workers:
            worker.kill()
        api.stop()
        database.drop()
    print(verdict.summary(time.monotonic() - began), flush=True)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
