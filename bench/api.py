"""API figures: what incident intake costs (the API processes' own CPU time per accepted
incident with its snapshot, measured with psutil, for a new event and for an occurrence that
joins an open one), its rate and p95; event-list latency at 100,000 events; and the time from an
incident POST to the operator's WebSocket message.

The API runs as its own process (`python -m gridwatch serve`), on SQLite, and on PostgreSQL
with one and with several processes on one address (`--workers`, the README's production layout
on one machine), in the same run. With `--baseline DIR` each variant runs first with the API of
another checkout (e.g. the main branch before a change), then with this one, so that both meet
the same load on a shared machine. Statements per incident come from the API's own count
(`gridwatch_database_statements_total` in /metrics), read where one process serves.

Every run's folder and database are removed at the end, not between runs: on an ext4 file system
without a journal, as this machine's root is, the inode allocator passes over every free inode
deleted recently (ext4's `recently_deleted`, checked only when there is no journal: from half a
minute to several minutes, longer while the inode table is not yet written back), so creating a
file near thousands just deleted costs up to 0.6 ms of kernel CPU instead of 0.03, which falls on
the API's intake. Each variant measures what creating a file beside its snapshots costs and, by
default, waits until it is back to its cost at rest (`--settle-s`; a run right after another
bench or the test suite waits some minutes), and warns if it is not. It also prints the CPU time
of a fixed pure-Python loop (`reference loop`) and of a `SELECT 1` round trip to PostgreSQL,
taken beside it: on a shared machine the same work costs more CPU while neighbours are busy, and
the API's figures move with it. `--rounds N` runs the variants N times, round by round, and
prints medians.

Incidents are posted as workers post them, asking for the short answer (`Prefer:
return=minimal`); `--full-answers` asks for the whole event in each answer instead. Their
snapshots are frames of the demo clip (real footage, 768x576) encoded as a worker encodes its
snapshots (`bench.harness.Snapshots`, quality 85): about 86 KB each; their mean size is
printed.

Usage: python bench/api.py [--incidents 1000] [--full-answers] [--events 100000 | 0: intake only]
                           [--variants sqlite:1,postgresql:1,postgresql:2] [--baseline DIR]
                           [--rounds N: run N times, print medians] [--settle-s 600]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import psycopg
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.models import Camera, GridEvent  # noqa: E402
from bench.harness import Snapshots  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import ANSWER_WANTED  # noqa: E402

TOKEN = "bench-worker-token"  # noqa: S105 - a throw-away API for the benchmark
METRICS_TOKEN = "bench-metrics-token"  # noqa: S105
PASSWORD = "bench password 123"  # noqa: S105
ADMIN_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@functools.cache
def demo_snapshots() -> Snapshots:
    return Snapshots(SNAPSHOT_COUNT)


@functools.cache
def snapshot(seed: int) -> bytes:
    """One of `SNAPSHOT_COUNT` snapshots as a worker sends them (`bench.harness.Snapshots`:
    frames of the demo clip at the worker's JPEG quality), by `seed`."""
    return demo_snapshots().jpeg(seed % SNAPSHOT_COUNT)


SNAPSHOT_COUNT = 16


def snapshot_kib() -> float:
    """The snapshots' mean size, KiB."""
    return statistics.mean(len(snapshot(seed)) for seed in range(SNAPSHOT_COUNT)) / 1024


def incident(camera_id: str, jpeg: bytes, when: datetime) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()), "camera_id": camera_id, "rule": "intrusion", "zone": "gate_path",
        "category": "public_safety", "severity": "high", "summary": "person in zone gate_path",
        "started_at": when.isoformat(), "detected_at": (when + timedelta(seconds=1)).isoformat(),
        "track_id": 1, "object_class": "person", "confidence": 0.8, "box_xyxy": [1, 2, 30, 80],
        "frame_width": 768, "frame_height": 576, "model_name": "yolov8n", "model_version": "bench",
        "rule_parameters": {}, "snapshot_sha256": hashlib.sha256(jpeg).hexdigest(),
    }  # fmt: skip


class Api:
    def __init__(
        self, database_url: str, folder: Path, port: int, processes: int = 1, repo: Path = REPO
    ):
        self.url = f"http://127.0.0.1:{port}"
        self.processes = processes
        self.environment = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "GRIDWATCH_METRICS_TOKEN": METRICS_TOKEN,
            "GRIDWATCH_DATABASE_URL": database_url,
            "GRIDWATCH_EVIDENCE_DIR": str(folder / "evidence"),
            "GRIDWATCH_WORKER_TOKEN": TOKEN,
            "GRIDWATCH_SECRET_KEY": "bench-secret-key-0123456789",
            "GRIDWATCH_ESCALATION_INTERVAL_S": "0",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gridwatch", "serve", "--port", str(port),
             "--workers", str(processes)],
            cwd=repo, env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 300  # a busy shared machine starts slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.stop()  # with several processes, its workers too
            raise RuntimeError("API did not start")
        subprocess.run(
            [sys.executable, "-m", "gridwatch", "users", "create", "bench-operator",
             "--role", "operator", "--region", "D01"],
            cwd=repo, env={**self.environment, "GRIDWATCH_NEW_PASSWORD": PASSWORD}, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        login = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": "bench-operator", "password": PASSWORD},
        )
        self.operator_token = login.json()["access_token"]
        self.operator = {"Authorization": f"Bearer {self.operator_token}"}

    def statements(self) -> float | None:
        """The statements the API has sent to its database so far; None where several
        processes serve (each counts its own, and a scrape reaches one of them) or the API does
        not count them."""
        if self.processes > 1:
            return None
        response = httpx.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        for line in response.text.splitlines():
            if line.startswith("gridwatch_database_statements_total "):
                return float(line.split()[1])
        return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass(frozen=True)
class Intake:
    """One batch of incident posts: how fast, how slow the slowest, and what it cost the API."""

    count: int
    rate: float  # accepted incidents per second, wall clock
    p95_ms: float  # 95th percentile of one post, client side
    cpu_ms: float  # the API processes' CPU time (user + system) per accepted incident
    statements: float | None  # SQL statements per accepted incident (None: not counted)


def api_cpu_s(api: Api) -> float:
    """CPU seconds (user + system) the API's processes have used so far: the server and, with
    several workers, every worker it started."""
    parent = psutil.Process(api.process.pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


# Above this, creating a file costs more than the file system itself does: see the module's
# docstring (ext4 without a journal, after many deletions).
SLOW_FILE_CREATION_MS = 0.1


def file_creation_ms(evidence: Path, count: int = 200) -> float:
    """CPU milliseconds (almost all the kernel's) of creating one empty file in the folder where
    the API stored its latest snapshots (ext4 places a file's inode by its folder's): about
    0.03 on this machine's ext4 at rest, ten times that for minutes after thousands of files
    were deleted nearby (see the module's docstring). The files stay until the run's folder is
    removed: deleting them now would be the very thing measured."""
    latest = max(path for path in evidence.glob("*/*/*") if path.is_dir())
    names = [latest / f"{PROBE_PREFIX}{uuid.uuid4().hex}" for _ in range(count)]
    started = time.thread_time()
    for name in names:
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return (time.thread_time() - started) * 1000 / count


# How often a slow file creation is measured again while waiting for it to settle.
SETTLE_PROBE_S = 20.0
# The probe's files, beside the snapshots (no incident id starts so).
PROBE_PREFIX = ".file-creation-probe-"


def reference_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop in this process, taken beside each variant:
    on a shared machine the same work costs more CPU time while neighbours are busy (2-core
    development machines have shown the same loop at 330 and 470 ms minutes apart), and the API's
    CPU per incident moves with it."""
    started = time.process_time()
    total = 0
    for number in range(3_000_000):
        total += number * number % 7
    return (time.process_time() - started) * 1000


def round_trip_us(count: int = 2000) -> float | None:
    """CPU microseconds of this process per `SELECT 1` round trip to PostgreSQL on loopback
    (psycopg, no pool, no ORM), taken beside each variant; None where no PostgreSQL answers.
    Intake makes five or six round trips an incident, each a wake-up of the API and of a
    server process: on this machine their cost moves while the reference loop's does not
    (the API's figures have moved by half, the loop's by a tenth), so this says which of the
    two kinds of slowness a run met."""
    try:
        connection = psycopg.connect(ADMIN_PG.replace("+psycopg", ""), autocommit=True)
    except psycopg.Error:
        return None
    with connection:
        for _ in range(100):
            connection.execute("SELECT 1").fetchone()
        started = time.thread_time()
        for _ in range(count):
            connection.execute("SELECT 1").fetchone()
        return (time.thread_time() - started) * 1e6 / count


def intake(
    api: Api, count: int, *, joins: bool, concurrency: int = 8, full_answers: bool = False
) -> Intake:
    """Post `count` incidents with a snapshot each (`snapshot`) from `concurrency` clients, each
    on one kept-alive connection as a worker's client is. With `joins`, every incident is a
    repeat of one situation (one camera, rule and zone), so all but the first join its open
    event as occurrences; otherwise each has a zone of its own and opens a new event."""
    jpegs = [snapshot(i) for i in range(SNAPSHOT_COUNT)]
    headers = {"Authorization": f"Bearer {TOKEN}", "X-GridWatch-Worker": "bench"}
    if not full_answers:  # as a worker asks (gridwatch.outbox): the status is all it reads
        headers["Prefer"] = ANSWER_WANTED
    base = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    bodies = []
    for index in range(count):
        jpeg = jpegs[index % len(jpegs)]
        body = incident("school-no1-gate", jpeg, base + timedelta(seconds=index))
        body["zone"] = "gate_path" if joins else f"gate_path-{run}-{index}"
        bodies.append(json.dumps(body))
    local = threading.local()
    timings: list[float] = []

    def post(index: int) -> int:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30, headers=headers)
        started = time.perf_counter()
        response = client.post(
            f"{api.url}/api/v1/incidents",
            data={"metadata": bodies[index]},
            files={"snapshot": ("s.jpg", jpegs[index % len(jpegs)], "image/jpeg")},
        )
        timings.append((time.perf_counter() - started) * 1000)
        return response.status_code

    statements_before = api.statements()
    cpu_before = api_cpu_s(api)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        codes = list(pool.map(post, range(count)))
    elapsed = time.perf_counter() - started
    cpu = api_cpu_s(api) - cpu_before
    statements_after = api.statements()
    assert codes.count(201) == count, f"not every incident was accepted: {set(codes)}"
    statements = None
    if statements_before is not None and statements_after is not None:
        # The first scrape's own queries (its gauges, a handful) fall in the count: over
        # hundreds of incidents, hundredths of a statement each.
        statements = (statements_after - statements_before) / count
    return Intake(count, count / elapsed, percentile(timings, 0.95), cpu * 1000 / count, statements)


def seed_events(database_url: str, count: int) -> None:
    """Bulk-insert `count` events spread over cameras, categories, states and 90 days."""
    engine = create_engine(database_url)
    rng = random.Random(7)
    categories = [
        "public_safety",
        "urban_management",
        "health_emergency",
        "fire_hazard",
        "device_fault",
    ]
    states = [
        "reported",
        "verifying",
        "confirmed",
        "false_alarm",
        "dispatched",
        "handling",
        "resolved",
        "closed",
    ]
    now = datetime.now(UTC)
    with engine.begin() as connection:
        cameras = connection.execute(
            select(Camera.id, Camera.grid_id, Camera.lat, Camera.lon)
        ).all()
        rows = []
        for index in range(count):
            camera = cameras[index % len(cameras)]
            occurred = now - timedelta(minutes=rng.uniform(0, 90 * 24 * 60))
            rows.append(
                {
                    "source": "video", "category": rng.choice(categories), "severity": "medium",
                    "status": rng.choice(states), "title": f"bench event {index}",
                    "description": "", "address": "", "reporter": "", "grid_id": camera.grid_id,
                    "camera_id": camera.id, "lat": camera.lat, "lon": camera.lon,
                    "level": "community", "escalations": 0, "reworks": 0,
                    "occurred_at": occurred, "reported_at": occurred, "updated_at": occurred,
                }
            )  # fmt: skip
            if len(rows) == 5000:
                connection.execute(insert(GridEvent.__table__), rows)
                rows = []
        if rows:
            connection.execute(insert(GridEvent.__table__), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()


def list_latency(api: Api, requests: int = 40) -> dict[str, tuple[float, float]]:
    now = datetime.now(UTC)
    cases = {
        "newest 50": {},
        "status=reported": {"status": "reported"},
        "category+camera": {"category": "urban_management", "camera_id": "urban-works-west"},
        "grid subtree": {"grid_id": "D01-T02"},
        "last 7 days": {"from": (now - timedelta(days=7)).isoformat()},
        "page 100": {"offset": 5000},
    }
    figures = {}
    with httpx.Client(timeout=30, headers=api.operator) as client:
        for name, params in cases.items():
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(f"{api.url}/api/v1/events", params=params)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
            figures[name] = (statistics.median(timings), percentile(timings, 0.95))
    return figures


async def websocket_latency(api: Api, count: int = 40) -> tuple[float, float]:
    import websockets

    jpeg = snapshot(1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timings = []
    uri = api.url.replace("http://", "ws://") + "/api/v1/live/ws"
    operator = {"Authorization": f"Bearer {api.operator_token}"}
    async with (
        websockets.connect(uri, additional_headers=operator) as socket,
        httpx.AsyncClient(timeout=30) as client,
    ):
        await socket.recv()  # hello
        for index in range(count):
            body = incident(
                "public-square-north", jpeg, datetime.now(UTC) + timedelta(seconds=index)
            )
            started = time.perf_counter()
            response = await client.post(
                f"{api.url}/api/v1/incidents", headers=headers,
                data={"metadata": json.dumps(body)},
                files={"snapshot": ("s.jpg", jpeg, "image/jpeg")},
            )  # fmt: skip
            assert response.status_code == 201
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
                if message.get("event", {}).get("incident", {}).get("id") == body["id"]:
                    break
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), percentile(timings, 0.95)


def run_variant(
    backend: str,
    processes: int,
    incidents: int,
    events: int,
    repo: Path = REPO,
    *,
    full_answers: bool = False,
    settle_s: float = 0,
    leftovers: ExitStack,
) -> dict[str, float]:
    """Run one API and print its figures; returns its API CPU per incident (ms), by kind
    ("new" and "join"), the reference loop's CPU ms taken just before ("reference"), the CPU
    microseconds of a round trip to PostgreSQL ("round_trip") and the CPU ms of creating a file
    beside the evidence ("create"), once it is not slow or after `settle_s` seconds of waiting
    for it.

    Its folder (evidence, SQLite file) and PostgreSQL database are removed by `leftovers`, at
    the end of the whole run: thousands of files deleted just before a measurement make each
    file the next API creates cost up to 0.6 ms of kernel CPU more for minutes (see the module's
    docstring), which the API's figures would count."""
    name = f"{backend}, {processes} process{'es' if processes > 1 else ''}"
    cpu_ms: dict[str, float] = {}
    if repo != REPO:
        name += f", API of {repo}"
    folder = Path(leftovers.enter_context(tempfile.TemporaryDirectory(prefix="gridwatch-bench-")))
    if backend == "sqlite":
        database_url = f"sqlite:///{folder / 'bench.db'}"
    else:
        database = f"gridwatch_bench_{uuid.uuid4().hex[:8]}"
        with admin_engine().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        leftovers.callback(drop_database, database)
        database_url = ADMIN_PG.rsplit("/", 1)[0] + f"/{database}"
    api = None
    try:
        api = Api(database_url, folder, free_port(), processes, repo)
        # Warm up every process: imports, caches, pools.
        intake(api, 40, joins=False, full_answers=full_answers)
        intake(api, 40, joins=True, full_answers=full_answers)
        cpu_ms["reference"] = reference_ms()
        cpu_ms["create"] = file_creation_ms(folder / "evidence")
        waited = time.monotonic()
        while cpu_ms["create"] > SLOW_FILE_CREATION_MS and time.monotonic() - waited < settle_s:
            time.sleep(SETTLE_PROBE_S)
            cpu_ms["create"] = file_creation_ms(folder / "evidence")
        if settle_s and time.monotonic() - waited > 1:
            print(
                f"[{name}] waited {time.monotonic() - waited:.0f} s for creating a file to cost"
                f" what it does at rest ({cpu_ms['create']:.3f} ms now)",
                flush=True,
            )
        round_trip = round_trip_us()
        cpu_ms["round_trip"] = round_trip if round_trip is not None else float("nan")
        print(
            f"[{name}] reference loop: {cpu_ms['reference']:.0f} ms CPU; a SELECT 1 round trip:"
            f" {cpu_ms['round_trip']:.0f} us CPU; creating a file beside the evidence:"
            f" {cpu_ms['create']:.3f} ms CPU",
            flush=True,
        )
        if cpu_ms["create"] > SLOW_FILE_CREATION_MS:
            print(
                f"[{name}] warning: creating a file here costs {cpu_ms['create']:.2f} ms (a"
                f" healthy file system: about 0.03): files were deleted nearby in the last"
                f" minutes, and every snapshot the API stores pays it too",
                flush=True,
            )
        for joins in (False, True):
            figures = intake(api, incidents, joins=joins, full_answers=full_answers)
            cpu_ms["join" if joins else "new"] = figures.cpu_ms
            kind = "joins an open event" if joins else "opens a new event  "
            statements = f"{figures.statements:4.1f}" if figures.statements is not None else " n/a"
            print(
                f"[{name}] incident with a {snapshot_kib():.0f} KiB JPEG that {kind}: "
                f"{figures.cpu_ms:5.2f} ms API CPU each, {statements} SQL statements each, "
                f"{figures.rate:6.1f}/s, p95 {figures.p95_ms:6.1f} ms "
                f"({incidents} posts, 8 clients, load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        if events <= 0:
            return cpu_ms
        p50, p95 = asyncio.run(websocket_latency(api))
        print(
            f"[{name}] incident POST -> operator WebSocket message: "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        )
        seed_events(database_url, events)
        for case, (median, p95_list) in list_latency(api).items():
            print(
                f"[{name}] list at {events:,} events, {case:>16}: "
                f"p50 {median:6.1f} ms, p95 {p95_list:6.1f} ms"
            )
        return cpu_ms
    finally:
        if api is not None:
            api.stop()


def admin_engine() -> Engine:
    return create_engine(ADMIN_PG, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def drop_database(database: str) -> None:
    with admin_engine().connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument(
        "--full-answers",
        action="store_true",
        help="ask for the whole event in each answer, as a client without"
        " `Prefer: return=minimal` gets it (workers ask for the short one)",
    )
    parser.add_argument("--events", type=int, default=100_000, help="0: intake figures only")
    parser.add_argument(
        "--variants",
        default="sqlite:1,postgresql:1,postgresql:2",
        help="backend:API processes, comma-separated",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout whose API runs each variant first (before/after in one run)",
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=600,
        help="before measuring each variant, wait up to this long for creating a file beside"
        " the evidence to cost what it does at rest (ext4 without a journal charges more for"
        " minutes after many deletions, e.g. the previous run's clean-up); 0: do not wait",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each variant this many times, round by round (with --baseline: both APIs,"
        " alternating which goes first), and print the medians (a shared machine's speed moves"
        " under one run)",
    )
    arguments = parser.parse_args()
    print(f"machine: {describe()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    with ExitStack() as leftovers:  # every run's folder and database, removed at the end
        run_all(arguments, leftovers)


def run_all(arguments: argparse.Namespace, leftovers: ExitStack) -> None:
    """Run the variants as the arguments say (rounds, baseline) and print their medians."""
    variants = arguments.variants.split(",")
    if arguments.baseline is None:
        runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
        for _number in range(arguments.rounds):
            for variant in variants:  # round by round, so that each meets the same moments
                backend, _, processes = variant.partition(":")
                runs[variant].append(
                    run_variant(
                        backend,
                        int(processes or 1),
                        arguments.incidents,
                        arguments.events,
                        full_answers=arguments.full_answers,
                        settle_s=arguments.settle_s,
                        leftovers=leftovers,
                    )
                )
        if arguments.rounds > 1:
            for variant, figures in runs.items():
                print_medians(variant, "this checkout", figures)
        return
    for variant in variants:
        backend, _, processes = variant.partition(":")
        compared: dict[Path, list[dict[str, float]]] = {arguments.baseline.resolve(): [], REPO: []}
        for number in range(arguments.rounds):
            order = list(compared) if number % 2 == 0 else list(reversed(compared))
            for repo in order:
                compared[repo].append(
                    run_variant(
                        backend,
                        int(processes or 1),
                        arguments.incidents,
                        arguments.events,
                        repo,
                        full_answers=arguments.full_answers,
                        settle_s=arguments.settle_s,
                        leftovers=leftovers,
                    )
                )
        if arguments.rounds > 1:
            for repo, figures in compared.items():
                print_medians(variant, f"API of {repo}", figures)


def print_medians(variant: str, whose: str, figures: list[dict[str, float]]) -> None:
    """The medians of one variant's rounds: API CPU per incident by kind, and the reference
    loop's CPU time (how fast the machine ran meanwhile)."""
    medians = {
        kind: statistics.median(run[kind] for run in figures)
        for kind in ("new", "join", "reference", "round_trip", "create")
    }
    print(
        f"[{variant}, {whose}] median of {len(figures)} rounds, API CPU per incident: new event"
        f" {medians['new']:.2f} ms, occurrence {medians['join']:.2f} ms (reference loop"
        f" {medians['reference']:.0f} ms, a round trip {medians['round_trip']:.0f} us, a file"
        f" created {medians['create']:.3f} ms; load"
        f" average {os.getloadavg()[0]:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    main()
