"""What the fault and load benchmarks share: the API as a real process, a throw-away PostgreSQL
cluster, synthetic incidents with real evidence, and a verdict that remembers what failed.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from contract.camera import default_data_dir  # noqa: E402
from detectors.incident import Incident, incident_id  # noqa: E402
from gridwatch.assets import ASSETS, ensure  # noqa: E402

WORKER_TOKEN = "bench-worker-token-0123456789"  # noqa: S105 - a throw-away API for the benchmark
SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105
PASSWORD = "bench password 123"  # noqa: S105
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The sample district's cameras (camera_configs/) and the grid cell each one stands in.
SAMPLE_CAMERAS = {
    "hospital-east-entrance": "D01-T01-C02-G02",
    "public-square-north": "D01-T02-C02-G02",
    "school-no1-gate": "D01-T01-C01-G01",
    "urban-works-west": "D01-T02-C01-G01",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"({path} is empty)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Verdict:
    """Figures and expectations of one scenario; prints as it goes."""

    name: str
    failures: list[str] = field(default_factory=list)
    skipped: str = ""

    def figure(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def expect(self, condition: bool, text: str) -> bool:
        """Record an expectation; printed either way."""
        mark = "ok  " if condition else "FAIL"
        print(f"[{self.name}] {mark} {text}", flush=True)
        if not condition:
            self.failures.append(text)
        return condition

    def skip(self, reason: str) -> None:
        self.skipped = reason
        print(f"[{self.name}] skipped: {reason}", flush=True)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self, elapsed_s: float) -> str:
        if self.skipped and self.passed:
            return f"[{self.name}] SKIP: {self.skipped}"
        if self.passed:
            return f"[{self.name}] PASS ({elapsed_s:.0f} s)"
        return f"[{self.name}] FAIL ({elapsed_s:.0f} s): " + "; ".join(self.failures)


class ApiProcess:
    """`gridwatch serve` as its own process on a loopback port; killed, stopped and started
    again on the same port, database and evidence directory."""

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *,
        name: str = "api",
        port: int | None = None,
        evidence_dir: Path | None = None,
        environment: dict[str, str] | None = None,
        processes: int = 1,
    ):
        self.name = name
        # API processes sharing the port (`gridwatch serve --workers`), the production layout.
        self.processes = processes
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"{name}.log"
        self.evidence_dir = evidence_dir or folder / "evidence"
        self.database_url = database_url
        self.environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "YOLO_OFFLINE": "1",
            "GRIDWATCH_DATABASE_URL": database_url,
            "GRIDWATCH_EVIDENCE_DIR": str(self.evidence_dir),
            "GRIDWATCH_WORKER_TOKEN": WORKER_TOKEN,
            "GRIDWATCH_SECRET_KEY": SECRET_KEY,
            **(environment or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90) -> ApiProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gridwatch", "serve", "--port", str(self.port),
                 "--workers", str(self.processes)],
                cwd=REPO, env=self.environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if not wait_until(self.healthy, timeout_s, 0.2):
            self.kill()
            raise RuntimeError(f"{self.name} did not start:\n{log_tail(self.log_path)}")
        return self

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{log_tail(self.log_path)}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the API has used so far, all its processes together."""
        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        total = 0.0
        for process in [parent, *parent.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def kill(self) -> None:
        """SIGKILL: the process dies as on a power cut, mid-request if there is one."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def cli(self, *arguments: str, **environment: str) -> str:
        """Run `gridwatch ARGUMENTS` against this API's database; its output."""
        result = subprocess.run(
            [sys.executable, "-m", "gridwatch", *arguments],
            cwd=REPO, env={**self.environment, **environment}, capture_output=True, check=True,
        )  # fmt: skip
        return result.stdout.decode()

    def create_admin(self, username: str = "bench-admin") -> dict[str, str]:
        """An admin made with `gridwatch users create`, logged in; the headers to use."""
        self.cli("users", "create", username, "--role", "admin", GRIDWATCH_NEW_PASSWORD=PASSWORD)
        return {"Authorization": f"Bearer {self.login(username)}"}

    def login(self, username: str, password: str = PASSWORD) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": username, "password": password},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


class PostgresCluster:
    """A throw-away PostgreSQL cluster of our own, on a free loopback port, that may be stopped
    and restarted without touching anyone else's server."""

    def __init__(self, port: int | None = None):
        # A folder of its own: the server's user must reach it, and the scenario's is private.
        self.folder = temporary_folder("postgres")
        self.port = port or free_port()
        self.data = self.folder / "data"
        self.log_path = self.folder / "postgres.log"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_postgres, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {result.stderr.decode()[-500:]}")

    def init(self) -> PostgresCluster:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            self.folder.chmod(0o700)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log_path),
            "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class SharedPostgres:
    """A database of our own on the machine's shared PostgreSQL server (never restarted)."""

    ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

    def __init__(self) -> None:
        from sqlalchemy import create_engine, text

        self.name = f"gridwatch_bench_{uuid.uuid4().hex[:8]}"
        self._admin = create_engine(self.ADMIN, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = self.ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        from sqlalchemy import text

        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


def temporary_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"gridwatch-{prefix}-"))


class Snapshots:
    """Real frames of the demo clip as JPEGs, encoded as a worker encodes its snapshots
    (quality 85: about 86 KB each), each stamped with a number so that every incident's evidence
    has its own digest. The clip is fetched and checked as the set-up does when missing.

    Raises:
        RuntimeError: The clip could not be read.
    """

    def __init__(self, count: int = 8):
        demo = next(asset for asset in ASSETS if asset.name == "vtest.avi")
        clip = ensure(demo, default_data_dir())
        capture = cv2.VideoCapture(str(clip))
        self._images: list[np.ndarray] = []
        while len(self._images) < count:
            ok, image = capture.read()
            if not ok:
                break
            self._images.append(image)
            for _ in range(20):
                capture.grab()
        capture.release()
        if not self._images:
            raise RuntimeError(f"{clip}: no frame could be read")

    def jpeg(self, number: int) -> bytes:
        image = self._images[number % len(self._images)].copy()
        cv2.putText(image, f"#{number}", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 255), 4)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        return buffer.tobytes()


def synthetic_incident(
    number: int, camera_id: str, jpeg: bytes, *, run: str = "", when: datetime | None = None
) -> Incident:
    """An incident as the intrusion rule would report it, with `jpeg` as its evidence."""
    started = (when or datetime.now(UTC)).replace(microsecond=number % 1_000_000)
    detected = started + timedelta(seconds=1)
    track = number + 1
    return Incident(
        id=incident_id(camera_id, "intrusion", f"bench{run}", track, started, detected),
        camera_id=camera_id, rule="intrusion", zone=f"bench{run}", category="public_safety",
        severity="high", summary=f"person in zone bench{run}", started_at=started,
        detected_at=detected, track_id=track, object_class="person",
        confidence=0.8, box_xyxy=(10.0, 20.0, 60.0, 180.0), frame_width=768, frame_height=576,
        model_name="bench", model_version="0", rule_parameters={"min_frames": 3},
        snapshot_jpeg=jpeg, snapshot_sha256=hashlib.sha256(jpeg).hexdigest(),
    )  # fmt: skip


@dataclass
class EvidenceAudit:
    """The API's rows checked against the files in its evidence directory.

    Which files a row names (an incident's snapshot and clip, an event's photos, a model's
    weights) is asked of `api.evidence.stored_files`, the API's own account of them. The file
    lists say ``"<owner> <kind>: <path>"`` (missing, digest mismatches) or give the path
    relative to the evidence directory (orphans, partial writes).
    """

    events: int
    video_events: int
    incidents: int
    distinct_incident_ids: int
    occurrences: int
    incidents_in_events: int
    events_without_incident: int
    incidents_without_event: int
    events_without_report_step: int
    evidence_files: int
    missing_files: list[str]
    digest_mismatches: list[str]
    orphan_files: list[str]
    partial_files: list[str]
    integrity: str


def audit_evidence(database_url: str, evidence_dir: Path) -> EvidenceAudit:
    """The API's rows (SQLite or PostgreSQL) checked against the files in its evidence
    directory: what holds together and what not."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from api.evidence import PARTIAL_PREFIX, stored_files

    engine = create_engine(database_url)

    def count(query: str) -> int:
        return int(connection.execute(text(query)).scalar_one())

    try:
        with engine.connect() as connection:
            integrity = "ok"
            if engine.dialect.name == "sqlite":
                integrity = str(connection.execute(text("PRAGMA integrity_check")).scalar_one())
            incidents = count("SELECT COUNT(*) FROM incident")
            events = count("SELECT COUNT(*) FROM grid_event")
            video = count("SELECT COUNT(*) FROM grid_event WHERE incident_id IS NOT NULL")
            distinct = count(
                "SELECT COUNT(DISTINCT incident_id) FROM grid_event WHERE incident_id IS NOT NULL"
            )
            without_incident = count(
                "SELECT COUNT(*) FROM grid_event e WHERE e.incident_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM incident i WHERE i.id = e.incident_id)"
            )
            # An incident opens an event or joins one as an occurrence (grid_event_id), or a
            # suppression holds it back (suppression_id); anything else was lost on the way.
            without_event = count(
                "SELECT COUNT(*) FROM incident i"
                " WHERE i.suppression_id IS NULL AND (i.grid_event_id IS NULL"
                " OR NOT EXISTS (SELECT 1 FROM grid_event e WHERE e.id = i.grid_event_id))"
            )
            occurrences = count(
                "SELECT COALESCE(SUM(occurrence_count), 0) FROM grid_event"
                " WHERE incident_id IS NOT NULL"
            )
            in_events = count("SELECT COUNT(*) FROM incident WHERE grid_event_id IS NOT NULL")
            without_report = count(
                "SELECT COUNT(*) FROM grid_event e WHERE NOT EXISTS (SELECT 1 FROM"
                " grid_event_history h WHERE h.grid_event_id = e.id AND h.action = 'report')"
            )
        with Session(engine) as session:
            files = list(stored_files(session))
    finally:
        engine.dispose()
    named = {file.path for file in files}
    missing, mismatched = [], []
    for file in files:
        path = evidence_dir / file.path
        if not path.is_file():
            missing.append(f"{file.owner} {file.kind}: {file.path}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != file.sha256:
            mismatched.append(f"{file.owner} {file.kind}: {file.path}")
    orphans, partial = [], []
    if evidence_dir.exists():
        for path in evidence_dir.rglob("*"):
            if not path.is_file():
                continue
            relative = path.relative_to(evidence_dir).as_posix()
            if path.name.startswith(PARTIAL_PREFIX):
                partial.append(relative)
            elif relative not in named:
                orphans.append(relative)
    return EvidenceAudit(
        events=events, video_events=video, incidents=incidents, distinct_incident_ids=distinct,
        occurrences=occurrences, incidents_in_events=in_events,
        events_without_incident=without_incident, incidents_without_event=without_event,
        events_without_report_step=without_report, evidence_files=len(named),
        missing_files=missing, digest_mismatches=mismatched, orphan_files=orphans,
        partial_files=partial, integrity=integrity,
    )  # fmt: skip


def incident_ids(database_url: str) -> set[str]:
    """Ids of the incidents the API holds."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT id FROM incident"))}
    finally:
        engine.dispose()


def post_incident(client: httpx.Client, api_url: str, incident: Incident) -> httpx.Response:
    """POST an incident as a worker does."""
    return client.post(
        f"{api_url}/api/v1/incidents",
        headers={"Authorization": f"Bearer {WORKER_TOKEN}"},
        data={"metadata": json.dumps(incident.metadata())},
        files={"snapshot": (f"{incident.id}.jpg", incident.snapshot_jpeg, "image/jpeg")},
    )


class WorkerProcess:
    """A worker as its own process (`gridwatch worker`, or another command line that takes the
    same GRIDWATCH_* settings), logging to a file; killed, stopped and started again."""

    def __init__(
        self,
        command: list[str],
        api: ApiProcess,
        folder: Path,
        *,
        name: str = "worker",
        environment: dict[str, str] | None = None,
    ):
        self.command = command
        self.name = name
        self.log_path = folder / f"{name}.log"
        self.outbox_path = folder / f"{name}-outbox.sqlite"
        self.environment = {
            **api.environment,
            "GRIDWATCH_API_URL": api.url,
            "GRIDWATCH_OUTBOX_PATH": str(self.outbox_path),
            "GRIDWATCH_WORKER_NAME": name,
            **(environment or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env=self.environment, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self, timeout_s: float = 60) -> int | None:
        """SIGTERM and wait (a worker delivers what it can first); its exit status."""
        code = None
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                code = self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait(timeout=30)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
