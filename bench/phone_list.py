"""What a grid worker's phone list costs per live message: the old way (the whole list of 200
fetched again on every message) against the new (the message applied to the list; nothing
fetched), with 405 tasks in the worker's cell, on SQLite, the API in-process.

Figures: bytes and server time of a 200-item list (what every message cost before), of the
list's first page (30) and its tab counts (what opening the list costs now), and of one live
message (sent either way); and per minute at the issue's 32 messages a minute.

Usage: python bench/phone_list.py [--tasks 405] [--messages-per-minute 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from api.accounts import create_user  # noqa: E402
from api.app import create_app  # noqa: E402
from api.schemas import UserCreate  # noqa: E402
from api.settings import Settings  # noqa: E402
from gridwatch.machine import describe  # noqa: E402

PASSWORD = "bench password 123"  # noqa: S105 - a throw-away API for the benchmark
WORKER_TOKEN = "bench-worker-token"  # noqa: S105
SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105
SCHOOL = (30.2550, 120.1200)
STATES = ["reported", "verifying"]


def timed_get(client: TestClient, headers: dict[str, str], **params: object) -> tuple[int, float]:
    """Median bytes and milliseconds of five GET /api/v1/events."""
    sizes, times = [], []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get("/api/v1/events", headers=headers, params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        sizes.append(len(response.content))
    return int(statistics.median(sizes)), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=405)
    parser.add_argument("--messages-per-minute", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        settings = Settings(
            database_url=f"sqlite:///{root}/bench.db",
            evidence_dir=Path(root) / "evidence",
            worker_token=WORKER_TOKEN,  # type: ignore[arg-type]
            camera_configs=REPO / "camera_configs",
            grids_file=REPO / "camera_configs" / "grids.geojson",
            district_file=REPO / "camera_configs" / "district" / "policy.yaml",
            secret_key=SECRET_KEY,  # type: ignore[arg-type]
            escalation_interval_s=0,
        )
        with TestClient(create_app(settings)) as client:
            with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
                for username, scope in (
                    ("operator", {"role": "operator"}),
                    ("worker", {"role": "grid_worker", "grid_ids": ["D01-T01-C01-G01"]}),
                ):
                    create_user(session, UserCreate(username=username, password=PASSWORD, **scope))  # type: ignore[arg-type]

            def headers(username: str) -> dict[str, str]:
                token = client.post(
                    "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
                ).json()["access_token"]
                return {"Authorization": f"Bearer {token}"}

            operator, worker = headers("operator"), headers("worker")
            for n in range(args.tasks):
                client.post(
                    "/api/v1/events",
                    headers=operator,
                    json={
                        "source": "hotline_12345",
                        "category": "urban_management",
                        "title": f"12345 来电：校门口垃圾堆放 #{n}",
                        "location": {"lat": SCHOOL[0] + (n % 50) * 1e-5, "lon": SCHOOL[1]},
                        "address": f"学校东门 {n} 号",
                    },
                ).raise_for_status()
            old_bytes, old_ms = timed_get(client, worker, status=STATES, limit=200)
            page_bytes, page_ms = timed_get(
                client, worker, status=STATES, limit=30, sort="deadline"
            )
            count_bytes, count_ms = timed_get(client, worker, status=["resolved"], limit=1)
            with client.websocket_connect("/api/v1/live/ws") as socket:
                socket.send_json({"type": "auth", "token": worker["Authorization"][7:]})
                socket.receive_json()
                client.post(
                    "/api/v1/events/1/actions/confirm", headers=operator, data={"note": "属实"}
                ).raise_for_status()
                message_bytes = len(socket.receive_text().encode())
    per_minute = args.messages_per_minute
    print(f"machine: {describe()}")
    print(f"tasks in the worker's cell: {args.tasks}; live messages: {per_minute}/min")
    print(f"old, per message: GET 200 events  {old_bytes / 1024:8.1f} KiB  {old_ms:7.1f} ms")
    print(f"new, per message: no request; the message itself {message_bytes / 1024:6.1f} KiB")
    print(f"new, on opening:  first page (30) {page_bytes / 1024:8.1f} KiB  {page_ms:7.1f} ms")
    counts = f"{2 * count_bytes / 1024:8.1f} KiB  {2 * count_ms:7.1f} ms"
    print(f"                  + 2 tab counts  {counts}")
    print(
        f"per minute: old {per_minute * old_bytes / 1024 / 1024:.1f} MiB and"
        f" {per_minute * old_ms / 1000:.1f} s of server time; new 0 requests"
        f" ({per_minute * message_bytes / 1024:.0f} KiB of messages, sent either way)"
    )


if __name__ == "__main__":
    main()
