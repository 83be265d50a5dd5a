"""A live camera whose detection is slower than its stream: its frame waits in one buffer, the
adapter's, and every frame that arrived is either analysed or counted dropped, once."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.capture import CameraReader, health_report
from gridwatch.worker.runner import Worker
from ingest import Frame
from tests.ingest.peers import RtspServer
from tests.ingest.workers import NullDetector, camera


class SlowDetector(NullDetector):
    """Finds nothing, in 0.4 s: two and a half frames a second, where the camera gives five."""

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        time.sleep(0.4)
        return sv.Detections.empty()


@dataclass
class AgeRecordingWorker(Worker):
    """The real worker, noting how old each frame is when detection gets it."""

    ages: list[float] = field(default_factory=list)

    def _analyse(self, reader: CameraReader, frame: Frame) -> None:
        self.ages.append(frame.age_s())
        super()._analyse(reader, frame)


def test_a_live_camera_behind_detection_has_one_buffer_and_one_drop_count(
    rtsp_server: RtspServer, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    worker = AgeRecordingWorker(
        [camera("gate", rtsp_server.url("cam"), fps=5)],
        CameraAssembly(SlowDetector(), detect_threads=1),
        outbox,
        sender=None,
    )
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not worker.readers or worker.readers[0].stats.frames_analysed < 10:
            assert time.monotonic() < deadline, "the camera was not analysed in time"
            time.sleep(0.1)
        reader = worker.readers[0]
        analysed_before = reader.stats.frames_analysed
        health = reader.health()
        analysed_after = reader.stats.frames_analysed
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        outbox.close()
    # Every frame that arrived went to detection, was dropped and counted, or is the one
    # frame waiting in the buffer: no frame is counted twice, none goes uncounted.
    assert health.frames_received - health.frames_delivered - health.frames_dropped in (0, 1)
    # What was handed to detection is what was analysed, bar the one being analysed.
    assert analysed_before <= health.frames_delivered <= analysed_after + 1
    # The camera sends 10 fps and detection takes 2.5: most frames are dropped, once each.
    assert health.frames_dropped >= 2 * health.frames_delivered
    assert health_report(health)["dropped_frames"] == health.frames_dropped
    # Detection gets the newest frame, not one that waited behind another.
    assert statistics.median(worker.ages) < 0.3, worker.ages
