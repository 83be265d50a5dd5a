"""Running the real worker over live cameras, with a detector that finds nothing instantly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import supervision as sv

from contract.camera import CameraConfig
from contract.coco import COCO_CLASS_NAMES
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker


class NullDetector:
    """Detection that costs nothing, so the test measures capture, not inference."""

    name = "null"
    version = "0"
    class_names: ClassVar[dict[int, str]] = dict(enumerate(COCO_CLASS_NAMES))

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        return sv.Detections.empty()


def camera(camera_id: str, source: str, *, fps: float = 5, **stream: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": camera_id,
            "name": f"Camera {camera_id}",
            "organisation": {"id": "test-org", "name": "Test", "kind": "public"},
            "source": source,
            "location": {"lat": 30.25, "lon": 120.12},
            "detect": {"fps": fps},
            "stream": {"max_backoff_s": 1, **stream},
        }
    )


class RunningWorker:
    """A Worker running in a thread for the duration of a `with` block."""

    def __init__(self, cameras: list[CameraConfig], folder: Path, max_seconds: float = 60):
        self.outbox = Outbox(folder / "outbox.sqlite")
        self.worker = Worker(cameras, CameraAssembly(NullDetector()), self.outbox, sender=None)
        self.max_seconds = max_seconds
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run(max_seconds=self.max_seconds, drain_s=0)
        except BaseException as err:
            self.error = err

    def analysed(self) -> dict[str, int]:
        return {r.camera.id: r.stats.frames_analysed for r in self.worker.readers}

    def __enter__(self) -> RunningWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop.set()
        self.thread.join(timeout=20)
        self.outbox.close()
