"""Scheduling: the detection threads that analyse the cameras' frames side by side, and the
encoder that turns the clips that follow incidents into video off those threads."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from detectors.incident import IncidentClip
from gridwatch.worker.capture import CameraReader
from ingest import Frame

log = logging.getLogger(__name__)


class DetectionThreads:
    """Detection threads: each analyses one frame at a time, and a camera is with at most one
    of them at a time, so its frames are analysed in order.

    The dispatcher (the worker's main loop) hands a frame over only while a thread is free, so
    frames never queue here and grow old: they wait in their camera's frame buffer, where a
    newer one replaces them.
    """

    def __init__(
        self,
        threads: int,
        analyse: Callable[[CameraReader, Frame], None],
        done: threading.Event,
    ):
        self.threads = threads
        self._analyse = analyse
        self._done = done
        self._jobs: queue.SimpleQueue[tuple[CameraReader, Frame] | None] = queue.SimpleQueue()
        self._busy: set[str] = set()
        self._changed = threading.Condition()
        self._workers = [
            threading.Thread(target=self._work, name=f"detect-{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    def free(self) -> int:
        with self._changed:
            return self.threads - len(self._busy)

    def busy(self, camera_id: str | None = None) -> bool:
        """Whether `camera_id` (or any camera) has a frame being analysed."""
        with self._changed:
            return camera_id in self._busy if camera_id is not None else bool(self._busy)

    def submit(self, reader: CameraReader, frame: Frame) -> None:
        with self._changed:
            if reader.camera.id in self._busy:
                raise RuntimeError(f"{reader.camera.id} is already being analysed")
            self._busy.add(reader.camera.id)
        self._jobs.put((reader, frame))

    def wait_idle(self, camera_id: str | None = None, timeout: float | None = None) -> bool:
        """Wait until `camera_id` (or every camera) has no frame being analysed."""
        with self._changed:
            return self._changed.wait_for(lambda: not self.busy(camera_id), timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Finish the frames being analysed, then stop the threads."""
        self.wait_idle(timeout=timeout)
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join(timeout=10)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            reader, frame = job
            try:
                self._analyse(reader, frame)
            finally:
                with self._changed:
                    self._busy.discard(reader.camera.id)
                    self._changed.notify_all()
                self._done.set()  # wakes the dispatcher: a thread is free


class ClipEncoder(threading.Thread):
    """Encodes the clips that follow incidents off the detection thread, then hands them on to
    be kept.

    The queue is bounded: when clips come faster than they can be encoded, detection waits
    for a free place rather than evidence being dropped.
    """

    def __init__(self, keep: Callable[[IncidentClip], None], *, capacity: int = 8):
        super().__init__(name="clip-encoder", daemon=True)
        self._keep = keep
        self._queue: queue.Queue[IncidentClip | None] = queue.Queue(maxsize=capacity)

    def submit(self, clip: IncidentClip) -> None:
        self._queue.put(clip)

    def run(self) -> None:
        while (clip := self._queue.get()) is not None:
            try:
                ready = clip.with_video()
            except Exception:
                # The incident went out with its snapshot; it stays so, without a clip.
                log.exception("%s: clip of incident %s failed", clip.camera_id, clip.incident_id)
                continue
            self._keep(ready)

    def close(self, timeout: float = 60.0) -> None:
        """Encode what is queued, then stop."""
        self._queue.put(None)
        self.join(timeout=timeout)
