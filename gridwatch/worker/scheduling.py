"""Scheduling: the detection threads that analyse the cameras' frames side by side, and the
encoder that turns the clips that follow incidents into video off those threads."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
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


CLIPS_WAITING_PER_CAMERA = 4
"""Clips that may wait to be encoded, per camera watched, before detection waits for a place."""


class ClipEncoder(threading.Thread):
    """Encodes the clips that follow incidents off the detection thread, then hands them on to
    be kept.

    The clips waiting are bounded: when clips come faster than they can be encoded, detection
    waits for a free place rather than evidence being dropped. The bound follows the cameras
    watched (`size_for`, `CLIPS_WAITING_PER_CAMERA` each, never under `capacity`): a crowd
    crossing many cameras ends many clips within a second, and a bound of 8 for a worker of 32
    busy cameras held detection up (its threads waited here 19% of their time) while the
    encoder, idle between such bursts, kept up with the clips on average. `waited_s` is how
    long detection has waited here in all, in seconds.
    """

    def __init__(self, keep: Callable[[IncidentClip], None], *, capacity: int = 8):
        super().__init__(name="clip-encoder", daemon=True)
        self._keep = keep
        self._least = capacity
        self.capacity = capacity
        self.waited_s = 0.0
        self._waiting: deque[IncidentClip | None] = deque()
        self._changed = threading.Condition()

    def size_for(self, cameras: int) -> None:
        """Let `CLIPS_WAITING_PER_CAMERA` clips per camera wait, `capacity` at least."""
        with self._changed:
            self.capacity = max(self._least, CLIPS_WAITING_PER_CAMERA * cameras)
            self._changed.notify_all()

    def submit(self, clip: IncidentClip) -> None:
        """Queue `clip`; waits while as many clips as `capacity` wait already."""
        with self._changed:
            if len(self._waiting) >= self.capacity:
                started = time.monotonic()
                self._changed.wait_for(lambda: len(self._waiting) < self.capacity)
                self.waited_s += time.monotonic() - started
            self._waiting.append(clip)
            self._changed.notify_all()

    def run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._waiting))
                clip = self._waiting.popleft()
                self._changed.notify_all()  # a place is free
            if clip is None:
                return
            try:
                ready = clip.with_video()
            except Exception:
                # The incident went out with its snapshot; it stays so, without a clip.
                log.exception("%s: clip of incident %s failed", clip.camera_id, clip.incident_id)
                continue
            self._keep(ready)

    def close(self, timeout: float = 60.0) -> None:
        """Encode what is queued, then stop."""
        with self._changed:
            self._waiting.append(None)  # past the bound: closing never waits for a place
            self._changed.notify_all()
        self.join(timeout=timeout)
