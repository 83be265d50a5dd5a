"""Load on the API over loopback: operators on live alerts while incidents arrive steadily.

`--operators` WebSocket connections (default 200, one asyncio process) are spread over
operator accounts of every region of the sample district (district, both towns, the four
communities), so their scopes differ, and over the API processes. Incidents with real JPEG
evidence are posted at `--rate` a second for `--seconds` (by a worker token, alternating between
the processes), and a few operators list events meanwhile. Each connection's alerts are
checked against what its scope should have received: every alert in scope, none outside it.

On SQLite one API process serves everything; on PostgreSQL two `gridwatch serve` processes
share a fresh database on the machine's server and the operators are spread across both, so
an alert reaches half of them through LISTEN/NOTIFY.

Usage: python bench/load.py [--operators 200] [--accounts 28] [--rate 5] [--seconds 30]
                            [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    PASSWORD,
    SAMPLE_CAMERAS,
    WORKER_TOKEN,
    ApiProcess,
    SharedPostgres,
    Snapshots,
    Verdict,
    percentile,
    synthetic_incident,
    temporary_folder,
)
from gridwatch.machine import describe  # noqa: E402

REGIONS = ("D01", "D01-T01", "D01-T02", "D01-T01-C01", "D01-T01-C02", "D01-T02-C01", "D01-T02-C02")


@dataclass
class Operator:
    """One live connection: whose it is, which API process it talks to, what it received."""

    number: int
    username: str
    region: str
    token: str
    api: ApiProcess
    received: Counter[str] = field(default_factory=Counter)  # incident id -> copies
    arrivals: dict[str, float] = field(default_factory=dict)
    closed: str = ""


@dataclass
class Posted:
    incident_id: str
    sent_at: float
    seconds: float
    status: str
    api_port: int
    grid_id: str | None = None


def grid_paths(api: ApiProcess, headers: dict[str, str]) -> dict[str, str]:
    """Each grid's path from the district down ('/D01/D01-T01/.../'), from GET /api/v1/grids."""
    features = httpx.get(f"{api.url}/api/v1/grids", headers=headers, timeout=30).json()["features"]
    parents = {f["properties"]["code"]: f["properties"]["parent"] for f in features}

    def path(code: str) -> str:
        parent = parents[code]
        return (path(parent) if parent else "/") + f"{code}/"

    return {code: path(code) for code in parents}


def make_accounts(
    apis: list[ApiProcess], admin: dict[str, str], count: int, operators: int
) -> list[Operator]:
    """`count` operator accounts over the regions, made through the API and logged in; then
    `operators` connections over those accounts and the API processes."""

    def create(number: int) -> tuple[str, str, str]:
        username, region = f"load-op-{number:03d}", REGIONS[number % len(REGIONS)]
        response = httpx.post(
            f"{apis[0].url}/api/v1/users", headers=admin, timeout=60,
            json={"username": username, "password": PASSWORD, "role": "operator",
                  "region_id": region},
        )  # fmt: skip
        response.raise_for_status()
        return username, region, apis[number % len(apis)].login(username)

    with ThreadPoolExecutor(max_workers=4) as pool:
        accounts = list(pool.map(create, range(count)))
    return [
        Operator(n, *accounts[n % count][:2], accounts[n % count][2], apis[n % len(apis)])
        for n in range(operators)
    ]


async def listen(operator: Operator, ready: asyncio.Event, stop: asyncio.Event) -> None:
    import websockets

    uri = f"ws://127.0.0.1:{operator.api.port}/api/v1/live/ws"
    headers = {"Authorization": f"Bearer {operator.token}"}
    try:
        async with websockets.connect(uri, max_queue=None, additional_headers=headers) as socket:
            await socket.recv()  # hello
            ready.set()
            while not stop.is_set():
                try:
                    text = await asyncio.wait_for(socket.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                message = json.loads(text)
                incident = (message.get("event") or {}).get("incident") or {}
                if message.get("type") == "event.created" and incident.get("id"):
                    operator.received[incident["id"]] += 1
                    operator.arrivals.setdefault(incident["id"], time.monotonic())
    except Exception as err:  # whatever ended it is reported
        operator.closed = f"{type(err).__name__}: {err}"[:200]
        ready.set()


async def post_incidents(
    apis: list[ApiProcess], rate: float, seconds: float, snapshots: Snapshots
) -> list[Posted]:
    posted: list[Posted] = []
    cameras = sorted(SAMPLE_CAMERAS)
    headers = {"Authorization": f"Bearer {WORKER_TOKEN}"}
    jpegs = [snapshots.jpeg(n) for n in range(16)]

    async def one(client: httpx.AsyncClient, number: int) -> None:
        jpeg = jpegs[number % len(jpegs)]
        incident = synthetic_incident(number, cameras[number % len(cameras)], jpeg, run="load")
        api = apis[number % len(apis)]
        started = time.monotonic()
        record = Posted(incident.id, started, 0.0, "", api.port)
        posted.append(record)
        try:
            response = await client.post(
                f"{api.url}/api/v1/incidents", headers=headers,
                data={"metadata": json.dumps(incident.metadata())},
                files={"snapshot": (f"{incident.id}.jpg", jpeg, "image/jpeg")},
            )  # fmt: skip
            record.status = str(response.status_code)
            if response.status_code == 201:
                record.grid_id = response.json()["grid_id"]
        except httpx.HTTPError as err:
            record.status = type(err).__name__
        record.seconds = time.monotonic() - started

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = []
        started = time.monotonic()
        for number in range(round(rate * seconds)):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(client, number)))
        await asyncio.gather(*tasks)
    return posted


async def list_events(operators: list[Operator], stop: asyncio.Event) -> dict[str, list]:
    """A few operators list events while the load runs (twice a second in all)."""
    calls: dict[str, list] = {"newest 50": [], "status=reported": [], "stats": []}
    paths = {
        "newest 50": ("/api/v1/events", {"limit": 50}),
        "status=reported": ("/api/v1/events", {"status": "reported", "limit": 50}),
        "stats": ("/api/v1/stats", {}),
    }
    async with httpx.AsyncClient(timeout=30) as client:
        number = 0
        while not stop.is_set():
            name = list(paths)[number % len(paths)]
            operator = operators[(number * 7) % len(operators)]
            path, params = paths[name]
            started = time.monotonic()
            try:
                response = await client.get(
                    f"{operator.api.url}{path}", params=params,
                    headers={"Authorization": f"Bearer {operator.token}"},
                )  # fmt: skip
                outcome = str(response.status_code)
            except httpx.HTTPError as err:
                outcome = type(err).__name__
            calls[name].append((time.monotonic() - started, outcome))
            number += 1
            await asyncio.sleep(0.5)
    return calls


async def run_load(
    operators: list[Operator], apis: list[ApiProcess], options: argparse.Namespace
) -> tuple[list[Posted], dict[str, list], float, float]:
    stop_listening, stop_listing = asyncio.Event(), asyncio.Event()
    readies = [asyncio.Event() for _ in operators]
    listeners = []
    connect_started = time.monotonic()
    for operator, ready in zip(operators, readies, strict=True):
        listeners.append(asyncio.create_task(listen(operator, ready, stop_listening)))
        if len(listeners) % 20 == 0:
            await asyncio.sleep(0.05)  # connect in small waves, as a shift starting does
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), timeout=120)
    connect_s = time.monotonic() - connect_started
    lister = asyncio.create_task(list_events(operators, stop_listing))
    started = time.monotonic()
    posted = await post_incidents(apis, options.rate, options.seconds, Snapshots())
    elapsed = time.monotonic() - started
    stop_listing.set()
    calls = await lister
    # Alerts still on their way: wait until every connection has what it should, or give up.
    deadline = time.monotonic() + options.settle_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if sum(sum(o.received.values()) for o in operators) >= expected_total(operators, posted):
            break
    stop_listening.set()
    await asyncio.gather(*listeners)
    return posted, calls, elapsed, connect_s


PATHS: dict[str, str] = {}


def expected_for(operator: Operator, posted: list[Posted]) -> set[str]:
    region_path = PATHS[operator.region]
    return {
        p.incident_id
        for p in posted
        if p.grid_id is not None and PATHS.get(p.grid_id, "").startswith(region_path)
    }


def expected_total(operators: list[Operator], posted: list[Posted]) -> int:
    return sum(len(expected_for(operator, posted)) for operator in operators)


def run_backend(backend: str, options: argparse.Namespace) -> Verdict:
    verdict = Verdict(f"load/{backend}")
    folder = temporary_folder(f"load-{backend}")
    shared = None
    apis: list[ApiProcess] = []
    try:
        if backend == "sqlite":
            database_url = f"sqlite:///{folder / 'api.db'}"
            processes = 1
        else:
            shared = SharedPostgres()
            database_url = shared.url
            processes = 2
        for number in range(processes):
            apis.append(ApiProcess(database_url, folder, name=f"api{number + 1}").start())
        admin = apis[0].create_admin()
        PATHS.clear()
        PATHS.update(grid_paths(apis[0], admin))
        started = time.monotonic()
        operators = make_accounts(apis, admin, options.accounts, options.operators)
        verdict.figure(
            f"{processes} API process(es) on {backend}; {options.accounts} operator accounts"
            f" over {len(REGIONS)} regions made and logged in in {time.monotonic() - started:.1f} s"
        )
        posted, calls, elapsed, connect_s = asyncio.run(run_load(operators, apis, options))
        report(verdict, operators, posted, calls, elapsed, connect_s, processes)
    except Exception as err:
        verdict.expect(False, f"the load run itself failed: {type(err).__name__}: {err}")
    finally:
        for api in apis:
            api.stop()
        if shared is not None:
            shared.drop()
        if verdict.passed and not options.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"[{verdict.name}] logs kept in {folder}")
    return verdict


def report(
    verdict: Verdict,
    operators: list[Operator],
    posted: list[Posted],
    calls: dict[str, list],
    elapsed: float,
    connect_s: float,
    processes: int,
) -> None:
    connected = [o for o in operators if not o.closed]
    verdict.figure(
        f"{len(operators)} operators on live alerts ({len(connected)} stayed connected),"
        f" connected in {connect_s:.1f} s, spread over {processes} process(es)"
    )
    statuses = Counter(p.status for p in posted)
    list_calls = sum(len(c) for c in calls.values())
    verdict.figure(
        f"{len(posted)} incident posts in {elapsed:.1f} s ({len(posted) / elapsed:.1f}/s),"
        f" {list_calls} list calls: {(len(posted) + list_calls) / elapsed:.1f} requests/s;"
        f" post outcomes {dict(statuses)}"
    )
    post_ms = [p.seconds * 1000 for p in posted]
    verdict.figure(
        f"incident POST (about 50 KB JPEG): p50 {percentile(post_ms, 0.5):.0f} ms,"
        f" p95 {percentile(post_ms, 0.95):.0f} ms, max {max(post_ms):.0f} ms"
    )
    for name, timings in calls.items():
        ms = [seconds * 1000 for seconds, _ in timings]
        outcomes = Counter(outcome for _, outcome in timings)
        verdict.figure(
            f"GET {name}: {len(ms)} calls, p50 {percentile(ms, 0.5):.0f} ms,"
            f" p95 {percentile(ms, 0.95):.0f} ms, outcomes {dict(outcomes)}"
        )
    missing = unexpected = duplicates = across = 0
    posted_to = {p.incident_id: p.api_port for p in posted}
    latencies = []
    sent_at = {p.incident_id: p.sent_at for p in posted}
    for operator in operators:
        expected = expected_for(operator, posted)
        got = set(operator.received)
        missing += len(expected - got)
        unexpected += len(got - expected)
        duplicates += sum(copies - 1 for copies in operator.received.values())
        across += sum(posted_to.get(i) != operator.api.port for i in got & expected)
        latencies += [
            (arrived - sent_at[i]) * 1000
            for i, arrived in operator.arrivals.items()
            if i in sent_at
        ]
    total = expected_total(operators, posted)
    by_region = Counter()
    for operator in operators:
        by_region[operator.region] = len(expected_for(operator, posted))
    verdict.figure(
        f"alerts expected {total} (one connection's share by its region:"
        f" {dict(sorted(by_region.items()))}), missing {missing}, outside the scope"
        f" {unexpected}, duplicated {duplicates}"
    )
    delivered = sum(sum(o.received.values()) for o in operators)
    verdict.figure(
        f"alerts delivered {delivered} ({delivered / elapsed:.0f} WebSocket messages/s)"
        + (
            f", {across} of them by the other process than the one the incident was posted to"
            " (LISTEN/NOTIFY)"
            if processes > 1
            else ""
        )
    )
    if latencies:
        verdict.figure(
            f"incident POST sent -> alert on an operator's socket: p50"
            f" {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms,"
            f" max {max(latencies):.0f} ms"
        )
    wrong_grid = [p for p in posted if p.grid_id is not None and p.grid_id not in PATHS]
    verdict.expect(statuses.get("201", 0) == len(posted), "every incident post was accepted")
    verdict.expect(
        all(outcome == "200" for timings in calls.values() for _, outcome in timings),
        "every list call answered 200",
    )
    verdict.expect(len(connected) == len(operators), "every operator stayed connected")
    verdict.expect(missing == 0, "every operator received every alert in their scope")
    verdict.expect(unexpected == 0 and not wrong_grid, "no operator received an alert outside it")
    verdict.expect(duplicates == 0, "no alert arrived twice")
    closed = Counter(o.closed for o in operators if o.closed)
    for reason, count in closed.most_common(3):
        verdict.figure(f"  {count} connections ended: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operators", type=int, default=200, help="live connections")
    parser.add_argument("--accounts", type=int, default=28, help="operator accounts behind them")
    parser.add_argument("--rate", type=float, default=5, help="incident posts a second")
    parser.add_argument("--seconds", type=float, default=30, help="how long incidents come")
    parser.add_argument("--settle-s", type=float, default=15, help="wait for the last alerts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep logs and data")
    options = parser.parse_args()
    print(f"machine: {describe()}", flush=True)
    verdicts = []
    for backend in options.backends.split(","):
        started = time.monotonic()
        verdict = run_backend(backend, options)
        verdicts.append(verdict.summary(time.monotonic() - started))
        print(verdicts[-1], flush=True)
    print("\n".join(["verdicts:", *verdicts]))
    sys.exit(0 if all(" PASS " in line for line in verdicts) else 1)


if __name__ == "__main__":
    main()
