"""`gridwatch serve --workers N`: several API processes on one address and one PostgreSQL
database, as the README's production layout runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, WORKER_TOKEN, _postgres_database, free_port
from tests.factories import incident_form, incident_metadata, jpeg


def _environment(database_url: str, evidence: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDWATCH_DATABASE_URL": database_url,
        "GRIDWATCH_EVIDENCE_DIR": str(evidence),
        "GRIDWATCH_WORKER_TOKEN": WORKER_TOKEN,
        "GRIDWATCH_ESCALATION_INTERVAL_S": "0",
    }


@pytest.fixture
def fresh_postgres(postgres_server: str) -> Iterator[str]:
    yield from _postgres_database(postgres_server)


@pytest.mark.postgres
def test_api_processes_on_one_address_start_together_and_open_one_event_per_situation(
    fresh_postgres: str, tmp_path: Path
) -> None:
    """Both processes migrate and import the district on a fresh database at the same moment
    (one after the other, under the start-up lock), serve one port, and sixteen repeats of one
    situation posted at once over eight connections make one event with sixteen occurrences."""
    database_url = fresh_postgres
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gridwatch", "serve", "--port", str(port),
             "--workers", "2"],
            cwd=REPO, env=_environment(database_url, tmp_path / "evidence"),
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while log.read_text().count("Application startup complete") < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert "Traceback" not in log.read_text()

        snapshot = jpeg()
        base = datetime.now(UTC)
        local = threading.local()

        def post(index: int) -> httpx.Response:
            if not hasattr(local, "client"):
                local.client = httpx.Client(
                    timeout=60, headers={"Authorization": f"Bearer {WORKER_TOKEN}"}
                )
            metadata = incident_metadata(snapshot, detected_at=base + timedelta(seconds=index))
            return local.client.post(f"{url}/api/v1/incidents", **incident_form(metadata, snapshot))

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(post, range(16)))
        assert [answer.status_code for answer in answers] == [201] * 16
        assert len({answer.json()["id"] for answer in answers}) == 1
        assert max(answer.json()["occurrence_count"] for answer in answers) == 16

        # Workers' lease renewals stay out of the access log (GRIDWATCH_WORKER_ACCESS_LOG);
        # the other requests are logged, the incidents posted and the request after it.
        renewal = httpx.post(
            f"{url}/api/v1/worker/leases",
            json={"capacity": 1},
            headers={"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"},
        )
        assert renewal.status_code == 200, renewal.text
        assert httpx.get(f"{url}/healthz").status_code == 200
        while '"GET /healthz HTTP/1.1" 200' not in log.read_text():
            assert time.monotonic() < deadline + 30, log.read_text()
            time.sleep(0.2)
        assert '"POST /api/v1/incidents HTTP/1.1" 201' in log.read_text()
        assert "/api/v1/worker/leases" not in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_several_api_processes_on_sqlite_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gridwatch", "serve", "--workers", "2"],
        cwd=REPO, env=_environment(f"sqlite:///{tmp_path / 'one.db'}", tmp_path / "evidence"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--workers above 1 needs PostgreSQL (GRIDWATCH_DATABASE_URL)" in result.stderr
