"""The worker's detection threads: frames of different cameras are inferred at once, each
camera's frames one at a time and in order, with the same incidents as one thread finds."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from contract.camera import CameraConfig
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly, DetectorPool
from gridwatch.worker.runner import Worker
from gridwatch.worker.scheduling import CLIPS_WAITING_PER_CAMERA
from ingest import Frame
from tests.ingest.workers import NullDetector


@dataclass
class Call:
    camera_id: str
    sequence: int
    thread: str
    started: float
    ended: float


@dataclass
class RecordingWorker(Worker):
    """The real worker, noting when and where each frame was analysed."""

    calls: list[Call] = field(default_factory=list)

    def _analyse(self, reader, frame: Frame) -> None:  # type: ignore[no-untyped-def]
        started = time.monotonic()
        super()._analyse(reader, frame)
        self.calls.append(
            Call(
                reader.camera.id, frame.sequence, threading.current_thread().name,
                started, time.monotonic(),
            )
        )  # fmt: skip


class SlowDetector(NullDetector):
    """Finds nothing, taking as long as an inference and leaving the core free meanwhile, as
    ONNX Runtime does."""

    def detect(self, image, *, confidence, classes=None):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return super().detect(image, confidence=confidence, classes=classes)


def recorded_camera(camera_id: str, clip: Path, *, fps: float, rules: bool = False) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": camera_id, "name": f"Camera {camera_id}",
            "organisation": {"id": "test-org", "name": "Test", "kind": "public"},
            "source": f"file://{clip}", "location": {"lat": 30.25, "lon": 120.12},
            "detect": {"fps": fps}, "playback": {"loop": False, "realtime": False},
            "motion": {"enabled": False},
            "zones": [{"name": "path", "polygon": [[0, 0.3], [1, 0.3], [1, 0.9], [0, 0.6]]}],
            "rules": [
                {"kind": "intrusion", "zone": "path", "classes": ["person"], "min_frames": 2,
                 "cooldown_s": 600}
            ] if rules else [],
        }
    )  # fmt: skip


def overlaps(first: Call, second: Call) -> bool:
    return first.started < second.ended and second.started < first.ended


def test_cameras_are_analysed_side_by_side_and_each_in_order(
    demo_clip: Path, tmp_path: Path
) -> None:
    cameras = [recorded_camera(f"cam-{i}", demo_clip, fps=1) for i in range(3)]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    worker = RecordingWorker(
        cameras, CameraAssembly(SlowDetector(), detect_threads=2), outbox, sender=None
    )
    worker.run(max_seconds=60, drain_s=0)
    outbox.close()

    by_camera: dict[str, list[Call]] = {}
    for call in worker.calls:
        by_camera.setdefault(call.camera_id, []).append(call)
    for reader in worker.readers:
        calls = by_camera[reader.camera.id]
        # Every frame the recording gave was analysed, once, in the order it was read...
        assert len(calls) == reader.stats.frames_read == reader.stats.frames_analysed >= 70
        assert [call.sequence for call in calls] == sorted({call.sequence for call in calls})
        # ...and never by two threads at once.
        ordered = sorted(calls, key=lambda call: call.started)
        assert all(a.ended <= b.started for a, b in itertools.pairwise(ordered))
    # Both threads worked, on different cameras at the same moment.
    assert {call.thread for call in worker.calls} == {"detect-0", "detect-1"}
    side_by_side = sum(
        overlaps(a, b)
        for a in worker.calls
        for b in worker.calls
        if a.camera_id < b.camera_id
    )  # fmt: skip
    assert side_by_side >= len(worker.calls) // 4
    # Clips may wait for their encoder as the cameras watched call for: 4 each, 8 at least.
    assert worker.encoder is not None
    assert worker.encoder.capacity == CLIPS_WAITING_PER_CAMERA * len(cameras) == 12


def test_a_pool_left_to_the_worker_gets_a_share_of_the_cores(model_path: Path) -> None:
    pool = DetectorPool(model_path.parent)
    assembly = CameraAssembly(pool, detect_threads=1)
    assert pool.threads == assembly.inference_threads >= 1
    chosen = DetectorPool(model_path.parent, threads=3)
    CameraAssembly(chosen, detect_threads=2)
    assert chosen.threads == 3
    with pytest.raises(ValueError, match="detect_threads"):
        CameraAssembly(NullDetector(), detect_threads=0)


@pytest.mark.slow
def test_two_threads_raise_the_same_incidents_as_one(
    assets: dict[str, Path], demo_clip: Path, tmp_path: Path
) -> None:
    """The real model on the demo clip as three cameras: running them side by side changes
    nothing about what is found, only how fast."""
    found = {}
    for threads in (1, 2):
        cameras = [recorded_camera(f"cam-{i}", demo_clip, fps=0.5, rules=True) for i in range(3)]
        outbox = Outbox(tmp_path / f"outbox-{threads}.sqlite")
        worker = RecordingWorker(
            cameras, CameraAssembly(DetectorPool(assets["yolov8n.pt"].parent),
                                    detect_threads=threads),
            outbox, sender=None,
        )  # fmt: skip
        worker.run(max_seconds=120, drain_s=0)
        incidents = [json.loads(pending.metadata) for pending in outbox.due(limit=1000)]
        outbox.close()
        assert {call.thread for call in worker.calls} == {f"detect-{i}" for i in range(threads)}
        # Recordings are stamped from the moment each camera opened: compare times within
        # each camera's recording, from its first incident.
        first: dict[str, datetime] = {}
        for incident in incidents:
            started = datetime.fromisoformat(incident["started_at"])
            first[incident["camera_id"]] = min(first.get(incident["camera_id"], started), started)
        found[threads] = sorted(
            (
                incident["camera_id"],
                incident["track_id"],
                round((datetime.fromisoformat(incident[moment]) - first[incident["camera_id"]])
                      .total_seconds(), 2),
            )
            for incident in incidents
            for moment in ("started_at", "detected_at")
        )  # fmt: skip
    assert len(found[1]) >= 2 * 9  # people walk into the zone on every camera
    assert found[2] == found[1]
