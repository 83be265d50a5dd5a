"""Time from starting the demo (`python -m gridwatch run`, environment already built) to the
first grid event listed by the API, on a fresh SQLite database each run.

Usage: python bench/time_to_first_event.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gridwatch.cli import DEMO_PASSWORD_DEFAULT  # noqa: E402
from gridwatch.machine import describe  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_run(timeout_s: float) -> tuple[float, float]:
    """(seconds to the API answering, seconds to the first event)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-") as folder:
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GRIDWATCH_DATABASE_URL": f"sqlite:///{folder}/demo.db",
            "GRIDWATCH_EVIDENCE_DIR": f"{folder}/evidence",
            "GRIDWATCH_OUTBOX_PATH": f"{folder}/outbox.sqlite",
        }
        started = time.monotonic()
        demo = subprocess.Popen(
            [sys.executable, "-m", "gridwatch", "run", "--port", str(port)],
            cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        api_up = first_event = float("nan")
        headers: dict[str, str] = {}
        base = f"http://127.0.0.1:{port}"
        try:
            while time.monotonic() - started < timeout_s:
                try:
                    if api_up != api_up:  # still NaN
                        httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                        api_up = time.monotonic() - started
                    if not headers:
                        # The demo creates its accounts once the API answers; failed logins are
                        # rate-limited, so they are tried once a second.
                        login = {"username": "operator", "password": DEMO_PASSWORD_DEFAULT}
                        token = httpx.post(f"{base}/api/v1/auth/token", data=login, timeout=1)
                        if token.status_code != 200:
                            time.sleep(1.0)
                            continue
                        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                    page = httpx.get(f"{base}/api/v1/events", headers=headers, timeout=1).json()
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                if page["total"]:
                    first_event = time.monotonic() - started
                    break
                time.sleep(0.1)
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=60)
        return api_up, first_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120)
    arguments = parser.parse_args()
    results = [one_run(arguments.timeout) for _ in range(arguments.runs)]
    print(f"machine: {describe()}")
    for index, (api_up, first_event) in enumerate(results, 1):
        print(
            f"run {index}: API answering after {api_up:.1f} s, "
            f"first grid event after {first_event:.1f} s"
        )
    firsts = [first for _, first in results]
    print(f"time to first event: median {statistics.median(firsts):.1f} s over {len(firsts)} runs")


if __name__ == "__main__":
    main()
