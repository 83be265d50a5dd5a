"""From the frame in which a rule concluded to the operator's WebSocket: the demo clip served over
RTSP as a live camera, the real worker (its runner, model, outbox and sender, in this process)
with the real model, the real API (`gridwatch serve`, SQLite, its own process), and an
operator's live WebSocket subscribed.

For each grid event the latency is the time the `event.created` message arrived minus its
incident's `detected_at`, the capture time of the frame in which the rule concluded on the
worker's clock (worker, API and this script share the machine's clock). It is split where the
incident entered the worker's outbox: before that, the frame waited for a detection thread and
the model; after, delivery, the API and the live hub. Also how long after the rule concluded the
clip was attached (the `event.updated` message that first carries the clip). Target: p95 <= 1 s.

Usage: python bench/alert_latency.py [--seconds 90] [--fps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import WORKER_TOKEN, ApiProcess, percentile, wait_until  # noqa: E402
from contract.camera import CameraConfig, default_data_dir  # noqa: E402
from detectors.incident import Incident  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import IncidentSender, Outbox  # noqa: E402
from gridwatch.worker.assemble import CameraAssembly, DetectorPool  # noqa: E402
from gridwatch.worker.runner import Worker  # noqa: E402
from tests.ingest.peers import RtspServer, encoded_clip  # noqa: E402

TARGET_P95_S = 1.0
CAMERA_ID = "bench-gate"
# The school gate's path in the demo clip (camera_configs/school-no1-gate.yaml).
GATE_PATH = [
    [0.0, 0.30], [0.55, 0.30], [0.75, 0.38], [1.0, 0.60], [1.0, 0.85], [0.60, 0.70],
    [0.30, 0.50], [0.0, 0.45],
]  # fmt: skip


def camera_document(url: str, fps: float) -> dict[str, object]:
    """A live camera on the demo clip: every person who enters the gate path is an incident, and
    every incident an alert."""
    return {
        "id": CAMERA_ID,
        "name": "Bench gate (RTSP)",
        "organisation": {"id": "bench-school", "name": "Bench School", "kind": "education"},
        "source": url,
        "location": {"lat": 30.2550, "lon": 120.1200},
        "detect": {"fps": fps},
        "zones": [{"name": "gate_path", "polygon": GATE_PATH}],
        # Grouping off: every incident opens an event of its own, so each one is an alert whose
        # way to the operator is timed (grouped, a repeat would only update the first event).
        "rules": [
            {"kind": "intrusion", "zone": "gate_path", "classes": ["person"], "min_frames": 2,
             "cooldown_s": 600, "anchor": "center", "grouping": {"window_s": 0}}
        ],
    }  # fmt: skip


class TimedOutbox(Outbox):
    """The worker's outbox, noting when (wall clock) each incident entered it."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.kept_at: dict[str, float] = {}

    def put(self, incident: Incident) -> bool:
        self.kept_at[incident.id] = time.time()
        return super().put(incident)


class OperatorSocket(threading.Thread):
    """An operator's live WebSocket, noting when each event's alert and its clip arrived."""

    def __init__(self, url: str, token: str):
        super().__init__(name="operator-socket", daemon=True)
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.alert_s: dict[int, float] = {}  # event id -> seconds from detected_at to the alert
        self.clip_s: dict[int, float] = {}  # event id -> seconds from detected_at to its clip
        self.detected_at: dict[str, float] = {}  # incident id -> detected_at (epoch seconds)
        self.incident_of: dict[int, str] = {}  # event id -> incident id
        self.created_with_clip = 0

    def run(self) -> None:
        with connect(self.url, open_timeout=30, additional_headers=self.headers) as socket:
            hello = json.loads(socket.recv(timeout=30))
            assert hello["type"] == "hello", hello
            self.ready.set()
            while not self.stop.is_set():
                try:
                    text = socket.recv(timeout=0.5)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                arrived = time.time()
                self._note(json.loads(text), arrived)

    def _note(self, message: dict[str, object], arrived: float) -> None:
        event = message.get("event")
        if not isinstance(event, dict) or not event.get("incident"):
            return
        incident = event["incident"]
        detected = datetime.fromisoformat(incident["detected_at"]).timestamp()
        event_id = int(event["id"])
        if message["type"] == "event.created":
            self.alert_s[event_id] = arrived - detected
            self.detected_at[incident["id"]] = detected
            self.incident_of[event_id] = incident["id"]
            if incident.get("clip_url"):
                self.created_with_clip += 1
        if incident.get("clip_url") and event_id not in self.clip_s:
            self.clip_s[event_id] = arrived - detected


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (
        f"{name}: n={len(values)}  p50 {percentile(values, 0.5):.3f} s  "
        f"p95 {percentile(values, 0.95):.3f} s  max {max(values):.3f} s"
    )


@dataclass
class LatencyResult:
    """What one run of the live camera measured, in seconds from the rule concluding."""

    seconds: float
    fps: float
    alerts: list[float]  # -> operator's WebSocket, one per grid event
    kept: list[float]  # -> incident in the worker's outbox
    delivered: list[float]  # outbox -> operator's WebSocket
    clips: list[float]  # -> clip attached
    created_with_clip: int
    inference_ms: list[float]

    @property
    def p95(self) -> float:
        return percentile(self.alerts, 0.95)

    def describe(self) -> str:
        lines = [
            f"{len(self.alerts)} grid events from {self.seconds:g} s of one RTSP camera at "
            f"{self.fps:g} detect fps, real time; {self.created_with_clip} arrived with a clip"
            " already",
            summary("rule concluded -> operator's WebSocket", self.alerts),
            summary("  rule concluded -> incident in the worker's outbox", self.kept),
            summary("  outbox -> operator's WebSocket", self.delivered),
            summary("rule concluded -> clip attached", self.clips),
        ]
        if self.inference_ms:
            inference = sorted(self.inference_ms)
            lines.append(
                f"model inference: median {inference[len(inference) // 2]:.0f} ms over "
                f"{len(inference)} frames; load average {os.getloadavg()[0]:.1f}"
            )
        return "\n".join(lines)


def measure(seconds: float, fps: float) -> LatencyResult:
    """Run the live camera for `seconds` at `fps` detect fps against a fresh API (SQLite), with
    an operator's WebSocket open; the latencies measured."""
    assets = ensure_all(default_data_dir())
    clip = encoded_clip(assets["vtest.avi"], default_data_dir())
    with tempfile.TemporaryDirectory(prefix="gridwatch-alert-latency-") as temporary:
        folder = Path(temporary)
        cameras = folder / "cameras"
        cameras.mkdir()
        with RtspServer(clip, mounts=("gate",), log_path=folder / "rtsp.log") as rtsp:
            document = camera_document(rtsp.url("gate"), fps)
            (cameras / f"{CAMERA_ID}.yaml").write_text(yaml.safe_dump(document))
            api = ApiProcess(
                f"sqlite:///{folder / 'api.db'}", folder,
                environment={"GRIDWATCH_CAMERA_CONFIGS": str(cameras)},
            ).start()  # fmt: skip
            outbox = TimedOutbox(folder / "outbox.sqlite")
            sender = IncidentSender(outbox, api.url, WORKER_TOKEN, worker_name="bench-worker")
            worker = Worker(
                [CameraConfig.model_validate(document)],
                CameraAssembly(DetectorPool(default_data_dir())), outbox, sender,
            )  # fmt: skip
            running = threading.Thread(target=worker.run, kwargs={"drain_s": 20}, daemon=True)
            operator = None
            try:
                token = api.create_admin()["Authorization"].removeprefix("Bearer ")
                ws_url = api.url.replace("http://", "ws://") + "/api/v1/live/ws"
                operator = OperatorSocket(ws_url, token)
                operator.start()
                if not operator.ready.wait(30):
                    raise RuntimeError("the operator's WebSocket did not open")
                running.start()
                time.sleep(seconds)
                worker.stop.set()
                running.join(timeout=90)
                # The last clips are delivered as the worker stops; their messages follow.
                wait_until(lambda: set(operator.clip_s) >= set(operator.alert_s), 15, 0.2)
            finally:
                worker.stop.set()
                running.join(timeout=90)
                worker.close()
                if operator is not None:
                    operator.stop.set()
                    operator.join(timeout=5)
                api.stop()
    kept = {
        incident: outbox.kept_at[incident] - detected
        for incident, detected in operator.detected_at.items()
        if incident in outbox.kept_at
    }
    delivered = [
        operator.alert_s[event] - kept[incident]
        for event, incident in operator.incident_of.items()
        if incident in kept
    ]
    return LatencyResult(
        seconds=seconds,
        fps=fps,
        alerts=list(operator.alert_s.values()),
        kept=list(kept.values()),
        delivered=delivered,
        clips=list(operator.clip_s.values()),
        created_with_clip=operator.created_with_clip,
        inference_ms=list(worker.inference_ms),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=90, help="How long the camera runs.")
    parser.add_argument("--fps", type=float, default=2, help="The camera's detect fps.")
    arguments = parser.parse_args()
    print(f"machine: {describe()}", flush=True)
    result = measure(arguments.seconds, arguments.fps)
    if not result.alerts:
        print("no alert arrived")
        raise SystemExit(1)
    print(result.describe())
    verdict = "PASS" if result.p95 <= TARGET_P95_S else "FAIL"
    print(f"{verdict}: alert p95 {result.p95:.3f} s (target <= {TARGET_P95_S:g} s)")
    if verdict == "FAIL":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
