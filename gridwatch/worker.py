"""The worker: camera adapters feed detection pipelines; incidents go to the outbox and the API.

Capture never waits for detection. Each camera has a reader thread that puts frames into a small
bounded queue and drops (and counts) a frame when detection is behind. The main loop hands the
newest frames of the cameras, in turn, to a few detection threads (one per core by default): the
model runs on frames of different cameras at once, while each camera's frames are analysed one
at a time and in order, as its tracker and rules need.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.camera import (
    CameraConfig,
    CustomModelConfig,
    DetectConfig,
    StreamConfig,
    default_data_dir,
)
from contract.catalog import MODELS
from contract.health import HealthReport
from contract.problems import ConfigError
from contract.rules import IllegalParkingRuleConfig
from detectors.alarms import ClassAlarm, ClassEvent
from detectors.incident import Incident
from detectors.model import ObjectDetector, YoloDetector, file_sha256, onnx_export_path
from detectors.motion import MotionGate
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.plates import PlateReader, RapidOcrPlateReader
from detectors.privacy import PrivacyMask
from detectors.rules import FrameRule, Line, Rule, RuleSite, build_rule
from detectors.schedule import schedule_from_config
from detectors.zones import Zone
from gridwatch.camera_events import CameraEventWatcher
from gridwatch.feed import ApiModelSource, CameraFeed, HealthReporter
from gridwatch.outbox import IncidentSender, Outbox
from ingest import (
    CameraHealth,
    CameraUnavailable,
    Frame,
    FrameSource,
    InvalidSource,
    LiveSource,
    StreamOptions,
    UnsupportedSource,
    open_source,
)
from ingest.backoff import Backoff
from ingest.health import HealthTracker

log = logging.getLogger(__name__)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", env_file=".env", extra="ignore")

    api_url: str = Field(default="http://127.0.0.1:8000", description="Where the API listens.")
    worker_token: SecretStr = Field(
        default=SecretStr("changethis"), description="Bearer token for posting incidents."
    )
    worker_name: str = Field(
        default_factory=socket.gethostname, description="Name in audit trails."
    )
    model_path: Path = Field(
        default_factory=lambda: default_data_dir() / "yolov8n.pt",
        description="Absolute path to the detection model's weights.",
    )
    outbox_path: Path = Field(
        default=Path("var/worker-outbox.sqlite"), description="The durable outbox file."
    )
    detect_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Frames analysed at once, each camera's in turn; default one per core.",
    )


@dataclass
class CameraStats:
    frames_read: int = 0
    frames_dropped: int = 0
    frames_analysed: int = 0
    incidents: int = 0
    reconnects: int = 0
    status: str = "starting"
    last_error: str = ""


class DetectorPool:
    """Loads each (model, backend, input size) once and shares it between the cameras that ask
    for it; the worker's detection threads call it at once, each running its own copy.

    `weights` overrides where a model's weights are (GRIDWATCH_MODEL_PATH for yolov8n).
    `threads` is how many cores one ONNX inference may use; None leaves it to the worker,
    which shares the cores out between its detection threads.

    Example:
        >>> pool = DetectorPool(default_data_dir())
        >>> detector = pool.get(camera.detect)
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        weights: dict[str, Path] | None = None,
        threads: int | None = None,
    ):
        self.data_dir = data_dir
        self.weights = dict(weights or {})
        self.threads = threads
        self._loaded: dict[tuple[str, str, int, int | None], ObjectDetector] = {}
        self._digests: dict[Path, str] = {}  # weights are hashed once, not once per camera

    def get(self, detect: DetectConfig) -> ObjectDetector:
        weights = self.weights.get(detect.model) or self.data_dir / MODELS[detect.model].weights
        if weights.is_file() and weights not in self._digests:
            self._digests[weights] = file_sha256(weights)
        digest = self._digests.get(weights)
        backend = detect.backend
        if backend == "auto":
            exported = onnx_export_path(weights, digest) if digest is not None else None
            backend = "onnx" if exported is not None and exported.is_file() else "pytorch"
        key = (str(weights), backend, detect.imgsz, self.threads)
        if key not in self._loaded:
            detector = YoloDetector(
                weights, imgsz=detect.imgsz, backend=backend, threads=self.threads,
                weights_sha256=digest,
            )  # fmt: skip
            log.info("model %s loaded, input %d px", detector.label, detect.imgsz)
            self._loaded[key] = detector
        return self._loaded[key]


def build_pipeline(
    camera: CameraConfig,
    detector: ObjectDetector,
    *,
    plate_reader: PlateReader | None = None,
    defer_clip_encoding: bool = False,
) -> CameraPipeline:
    """The detection pipeline a camera's configuration asks for."""
    zones = {zone.name: Zone(zone.name, tuple(zone.polygon)) for zone in camera.zones}
    lines = {
        line.name: Line(line.name, tuple(line.points[0]), tuple(line.points[1]))  # type: ignore[arg-type]
        for line in camera.lines
    }
    rules: list[Rule] = []
    frame_rules: list[FrameRule] = []
    for rule in camera.rules:
        site = RuleSite(zones, lines, schedule_from_config(rule.schedule, camera.timezone))
        built = build_rule(rule, site)
        if isinstance(built, FrameRule):
            frame_rules.append(built)
        else:
            rules.append(built)
    classes = sorted(
        {name for rule in camera.rules for name in getattr(rule, "classes", [])}
        | set(camera.detect.classes)
    )
    motion = camera.motion
    return CameraPipeline(
        camera.id,
        detector,
        list(zones.values()),
        rules,
        frame_rules=frame_rules,
        lines=list(lines.values()),
        classes=classes,
        confidence=camera.detect.confidence,
        motion_gate=(
            MotionGate(min_changed=motion.min_changed, full_check_s=motion.full_check_s)
            if motion.enabled
            else None
        ),
        privacy_mask=PrivacyMask([tuple(mask.polygon) for mask in camera.privacy_masks]),
        evidence=EvidenceSettings(
            pre_roll_s=camera.evidence.pre_roll_s,
            post_roll_s=camera.evidence.post_roll_s,
            clip=camera.evidence.clip,
            defer_clip_encoding=defer_clip_encoding,
        ),
        plate_reader=plate_reader,
    )


def stream_options(stream: StreamConfig) -> StreamOptions:
    """The adapter's options for a camera's `stream:` settings."""
    return StreamOptions(
        transport=stream.transport,
        open_timeout_s=stream.open_timeout_s,
        read_timeout_s=stream.read_timeout_s,
        max_backoff_s=stream.max_backoff_s,
        stale_after_s=stream.stale_after_s,
    )


class CameraReader(threading.Thread):
    """Reads one camera into a bounded queue; reopens it with backoff when it fails.

    Live adapters reconnect by themselves once open; this loop covers a camera that cannot be
    opened at all (down at start, wrong password) and recordings that fail.
    """

    def __init__(
        self,
        camera: CameraConfig,
        frames: queue.Queue[Frame],
        frame_ready: threading.Event,
        stop: threading.Event,
        *,
        realtime: bool | None = None,
        loop: bool | None = None,
        max_backoff_s: float | None = None,
        backoff: Backoff | None = None,
    ):
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.frames = frames
        self.frame_ready = frame_ready
        self.stop = stop
        self.realtime = camera.playback.realtime if realtime is None else realtime
        self.loop = camera.playback.loop if loop is None else loop
        self.max_backoff_s = camera.stream.max_backoff_s if max_backoff_s is None else max_backoff_s
        self.backoff = backoff or Backoff(
            initial_s=min(1.0, self.max_backoff_s), cap_s=self.max_backoff_s
        )
        self.stats = CameraStats()
        self.finished = threading.Event()
        self._source: FrameSource | None = None
        self._source_lock = threading.Lock()
        # Health of sources that do not track their own (recordings), and of a camera that
        # could not be opened at all.
        self._tracker = HealthTracker(
            camera.id,
            kind=urlsplit(camera.source).scheme.lower() or "unknown",
            detect_fps=camera.detect.fps,
            stale_after_s=camera.stream.stale_after_s,
        )

    def _open(self) -> FrameSource:
        return open_source(
            self.camera.id,
            self.camera.detect_source(),
            detect_fps=self.camera.detect.fps,
            loop=self.loop,
            realtime=self.realtime,
            options=stream_options(self.camera.stream),
        )

    def run(self) -> None:
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    source = self._open()
                except CameraUnavailable as err:
                    failures += 1
                    self._unavailable(err.reason, failures)
                    continue
                except ConfigError as err:
                    failures += 1
                    self._unavailable(str(err), failures)
                    continue
                except (UnsupportedSource, InvalidSource) as err:
                    # Retrying cannot help: the camera's configuration must change.
                    self.stats.status, self.stats.last_error = "offline", str(err)
                    self._tracker.disconnected(str(err))
                    log.error("%s", err)
                    return
                except Exception as err:
                    # Whatever went wrong opening it, the camera is retried, not abandoned.
                    failures += 1
                    log.exception("%s: camera could not be opened", self.camera.id)
                    self._unavailable(f"could not be opened: {type(err).__name__}", failures)
                    continue
                with self._source_lock:
                    self._source = source
                try:
                    if self.stats.reconnects or failures:
                        log.info(
                            "%s: camera back after %d failed attempts", self.camera.id, failures
                        )
                    failures = 0
                    self.stats.status = "online"
                    self._tracker.connected()
                    if self._pump(source):
                        return
                except CameraUnavailable as err:
                    failures += 1
                    self.stats.reconnects += 1
                    self._unavailable(err.reason, failures)
                finally:
                    with self._source_lock:
                        self._source = None
                    source.close()
        finally:
            self.finished.set()
            self.frame_ready.set()

    def _pump(self, source: FrameSource) -> bool:
        """Move frames until stopped or the source ends; True when the source has ended."""
        while not self.stop.is_set():
            frame = source.read()
            if frame is None:
                if self.stop.is_set():
                    return False  # a live source closed because the worker stops
                self.stats.status = "ended"
                self._tracker.disconnected("recording ended")
                log.info(
                    "%s: recording ended after %d frames", self.camera.id, self.stats.frames_read
                )
                return True
            self.stats.frames_read += 1
            self._tracker.received(frame.size)
            self._tracker.delivered()
            if not self.realtime:
                # A recording read as fast as possible has no live moment to keep up with:
                # wait for detection instead of dropping, so every sampled frame is analysed.
                while not self.stop.is_set():
                    try:
                        self.frames.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                self.frame_ready.set()
                continue
            try:
                self.frames.put_nowait(frame)
            except queue.Full:
                # Detection is behind: keep the newest frame, drop the oldest, count it.
                with contextlib.suppress(queue.Empty):
                    self.frames.get_nowait()
                self.frames.put_nowait(frame)  # cannot fail: this thread is the only producer
                self.stats.frames_dropped += 1
            self.frame_ready.set()
        return False

    def _unavailable(self, reason: str, failures: int) -> None:
        self.stats.status, self.stats.last_error = "offline", reason
        self._tracker.disconnected(reason)
        delay = self.backoff.delay(failures - 1)
        log.warning("%s: %s; retry in %.1fs", self.camera.id, reason, delay)
        self.stop.wait(delay)

    def interrupt(self) -> None:
        """Wake this reader if it waits on a live camera, so a stopping worker is not held up."""
        with self._source_lock:
            source = self._source
        if isinstance(source, LiveSource):
            # No waiting here for its capture thread: the reader's own close does that, so
            # many cameras stop in parallel.
            source.close(timeout_s=0)

    def health(self) -> CameraHealth:
        """The camera's health: the live adapter's own view, with the worker's counts added.

        `frames_dropped` counts frames that arrived and were never analysed: those the adapter
        skipped between detection intervals and those detection was too busy to take.
        """
        with self._source_lock:
            source = self._source
        health = source.health() if isinstance(source, LiveSource) else self._tracker.snapshot()
        return replace(
            health,
            reconnects=health.reconnects + self.stats.reconnects,
            frames_dropped=health.frames_dropped + self.stats.frames_dropped,
            last_error=health.last_error or self.stats.last_error,
        )


def health_report(health: CameraHealth) -> dict[str, Any]:
    """A camera's health as the API takes it (PUT /api/v1/cameras/{id}/health), as JSON."""
    error = health.last_error or health.reason
    return HealthReport(
        status=health.status.value,
        last_frame_at=health.last_frame_at,
        fps=None if health.input_fps is None else round(health.input_fps, 2),
        detect_fps=None if health.output_fps is None else round(health.output_fps, 2),
        resolution=health.resolution or None,
        codec=health.codec,
        reconnects=health.reconnects,
        dropped_frames=health.frames_dropped,
        frame_age_s=(
            None if health.last_frame_age_s is None else round(health.last_frame_age_s, 3)
        ),
        error=error[:500] if error else None,
    ).model_dump(mode="json")


@dataclass
class _Watched:
    """One camera being watched: its configuration, reader thread, frames and stop switch."""

    config: CameraConfig
    reader: CameraReader
    frames: queue.Queue[Frame]
    stop: threading.Event
    events: CameraEventWatcher | None = None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Detection:
    """Detection threads: each analyses one frame at a time, and a camera is with at most one
    of them at a time, so its frames are analysed in order.

    The dispatcher (the worker's main loop) hands a frame over only while a thread is free, so
    frames never queue here and grow old: they wait in their camera's queue, where a newer one
    replaces them.
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
    """Encodes incidents' clips off the detection thread, then hands them on to be kept.

    The queue is bounded: when clips come faster than they can be encoded, detection waits
    for a free place rather than evidence being dropped.
    """

    def __init__(self, keep: Callable[[Incident], None], *, capacity: int = 8):
        super().__init__(name="clip-encoder", daemon=True)
        self._keep = keep
        self._queue: queue.Queue[Incident | None] = queue.Queue(maxsize=capacity)

    def submit(self, incident: Incident) -> None:
        self._queue.put(incident)

    def run(self) -> None:
        while (incident := self._queue.get()) is not None:
            try:
                ready = incident.with_clip()
            except Exception:
                # The incident matters more than its clip: keep it with the snapshot alone.
                log.exception("%s: clip of incident %s failed", incident.camera_id, incident.id)
                ready = replace(
                    incident, clip_encoder=None, clip_started_at=None, clip_frame_count=0,
                    clip_duration_s=0.0,
                )  # fmt: skip
            self._keep(ready)

    def close(self, timeout: float = 60.0) -> None:
        """Encode what is queued, then stop."""
        self._queue.put(None)
        self.join(timeout=timeout)


@dataclass
class Worker:
    """Runs every enabled camera through detection and hands incidents to the outbox; clips
    are encoded on a thread of their own.

    `detect_threads` frames are analysed at once (default: one per core). A `DetectorPool`
    left to choose then gives each inference an equal share of the cores: on a small CPU,
    several single-core inferences side by side get more frames through than one inference
    spread over every core, whose threads wait on each other and on the decoders.

    The cameras come as a fixed list, or from a feed (camera files watched for changes, or the
    API's leases) polled every `feed_interval_s`: cameras added, changed or removed there are
    started, restarted or stopped without restarting the worker.
    """

    cameras: list[CameraConfig]
    detector: ObjectDetector | DetectorPool  # one model for every camera, or each its own
    outbox: Outbox
    sender: IncidentSender | None
    realtime: bool | None = None
    loop: bool | None = None
    queue_size: int = 2
    feed: CameraFeed | None = None
    feed_interval_s: float = 10.0
    health_reporter: HealthReporter | None = None
    health_interval_s: float = 10.0
    stop: threading.Event = field(default_factory=threading.Event)
    pipelines: dict[str, CameraPipeline] = field(default_factory=dict)
    inference_ms: list[float] = field(default_factory=list)
    plate_reader: PlateReader | None = None
    encoder: ClipEncoder | None = None
    # The district's own models, fetched from the API for cameras that name one.
    custom_models: ApiModelSource | None = None
    alarms: dict[str, list[ClassAlarm]] = field(default_factory=dict)
    _custom_detectors: dict[Path, YoloDetector] = field(default_factory=dict)
    watched: dict[str, _Watched] = field(default_factory=dict)
    detect_threads: int | None = None
    _detection: _Detection | None = None
    _turn: int = 0

    def __post_init__(self) -> None:
        if self.detect_threads is None:
            self.detect_threads = usable_cores()
        if self.detect_threads < 1:
            raise ValueError("detect_threads must be at least 1")
        if isinstance(self.detector, DetectorPool) and self.detector.threads is None:
            self.detector.threads = self.inference_threads

    @property
    def inference_threads(self) -> int:
        """Cores each of the detection threads' inferences may use."""
        return max(1, usable_cores() // (self.detect_threads or 1))

    @property
    def readers(self) -> list[CameraReader]:
        return [watched.reader for watched in self.watched.values()]

    def apply(self, cameras: list[CameraConfig], frame_ready: threading.Event) -> None:
        """Watch exactly `cameras` (the enabled ones): start new, restart changed, stop gone."""
        wanted = {camera.id: camera for camera in cameras if camera.enabled}
        for camera in cameras:
            if not camera.enabled and camera.id not in self.watched:
                log.info("%s: disabled, not watched", camera.id)
        for camera_id, watched in list(self.watched.items()):
            if wanted.get(camera_id) != watched.config:
                log.info(
                    "%s: %s; stopping it",
                    camera_id,
                    "changed" if camera_id in wanted else "no longer ours",
                )
                self._stop_watching(camera_id)
        for camera_id, camera in wanted.items():
            if camera_id in self.watched:
                continue
            try:
                detector = (
                    self.detector.get(camera.detect)
                    if isinstance(self.detector, DetectorPool)
                    else self.detector
                )
                reads_plates = any(
                    isinstance(r, IllegalParkingRuleConfig) and r.read_plate for r in camera.rules
                )
                if reads_plates and self.plate_reader is None:
                    self.plate_reader = RapidOcrPlateReader()
                self.pipelines[camera_id] = build_pipeline(
                    camera,
                    detector,
                    plate_reader=self.plate_reader if reads_plates else None,
                    defer_clip_encoding=True,
                )
                self.alarms[camera_id] = [
                    self._alarm(camera, wanted) for wanted in camera.custom_models
                ]
            except Exception:
                log.exception("%s: detection could not be set up; camera not watched", camera_id)
                continue
            frames: queue.Queue[Frame] = queue.Queue(maxsize=self.queue_size)
            stop = threading.Event()
            reader = CameraReader(
                camera, frames, frame_ready, stop, realtime=self.realtime, loop=self.loop
            )
            events = None
            if camera.camera_events and camera.source.lower().startswith("onvif:"):
                events = CameraEventWatcher(camera, self._keep_one, stop)
                events.start()
            self.watched[camera_id] = _Watched(camera, reader, frames, stop, events)
            reader.start()
        log.info("watching %d cameras", len(self.watched))

    def _alarm(self, camera: CameraConfig, wanted: CustomModelConfig) -> ClassAlarm:
        """The alarm of a custom model the camera names (its weights fetched once)."""
        if self.custom_models is None:
            raise LookupError(f"model {wanted.model!r}: custom models come from the API")
        weights, codes = self.custom_models.get(wanted.model)
        if weights not in self._custom_detectors:
            self._custom_detectors[weights] = YoloDetector(
                weights, imgsz=camera.detect.imgsz, threads=self.inference_threads
            )
        classes = {
            class_name: ClassEvent(
                code=event["code"], category=event["category"], severity=event["severity"],
                name=event["name_en"],
            )
            for class_name, event in codes.items()
        }  # fmt: skip
        return ClassAlarm(
            camera.id, wanted.model, self._custom_detectors[weights], classes,
            min_frames=wanted.min_frames, confidence=wanted.confidence,
            cooldown_s=wanted.cooldown_s,
            privacy_mask=PrivacyMask([m.polygon for m in camera.privacy_masks]),
        )  # fmt: skip

    def _stop_watching(self, camera_id: str) -> None:
        watched = self.watched.pop(camera_id)
        watched.stop.set()
        watched.reader.interrupt()
        watched.reader.join(timeout=10)
        if self._detection is not None:
            self._detection.wait_idle(camera_id)  # its last frame may still be in detection
        pipeline = self.pipelines.pop(camera_id, None)
        if pipeline is not None:
            # Incidents still recording their clip are kept with the frames there are.
            self._keep(camera_id, pipeline.flush())

    def run(self, *, max_seconds: float | None = None, drain_s: float = 30.0) -> None:
        """Watch the cameras until stopped, `max_seconds` pass, or every recording has ended."""
        frame_ready = threading.Event()
        threads = []
        self.encoder = ClipEncoder(self._keep_one)
        self.encoder.start()
        if self.sender is not None:
            threads.append(
                threading.Thread(
                    target=self.sender.run, args=(self.stop,), name="incident-sender", daemon=True
                )
            )
        if self.health_reporter is not None:
            threads.append(
                threading.Thread(target=self._report_health, name="health-reporter", daemon=True)
            )
        for thread in threads:
            thread.start()
        assert self.detect_threads is not None
        self._detection = detection = _Detection(self.detect_threads, self._analyse, frame_ready)
        initial = self.cameras
        if self.feed is not None:
            initial = self.feed.poll() or []
        self.apply(initial, frame_ready)
        next_poll = time.monotonic() + self.feed_interval_s

        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_report = time.monotonic()
        try:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                frame_ready.wait(0.5)
                frame_ready.clear()
                busy = self._dispatch(detection)
                if self.feed is not None and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.feed_interval_s
                    changed = self.feed.poll()
                    if changed is not None:
                        self.apply(changed, frame_ready)
                elif (
                    self.feed is None
                    and not busy
                    and all(w.reader.finished.is_set() for w in self.watched.values())
                    and all(w.frames.empty() for w in self.watched.values())
                ):
                    break
                if time.monotonic() - last_report >= 30:
                    self.log_stats()
                    last_report = time.monotonic()
        finally:
            self.stop.set()
            for watched in self.watched.values():
                watched.stop.set()
                watched.reader.interrupt()
            for watched in self.watched.values():
                watched.reader.join(timeout=10)
            for thread in threads:
                thread.join(timeout=10)
            if self.feed is not None:
                self.feed.close()
            detection.close()
            # Incidents still recording their clip are reported with the frames there are.
            for camera_id, pipeline in self.pipelines.items():
                self._keep(camera_id, pipeline.flush())
            self.encoder.close()
            if self.sender is not None and self.outbox.pending():
                delivered_all = self.sender.drain(drain_s)
                if not delivered_all:
                    log.warning(
                        "%d incidents stay in the outbox %s and will be sent at next start",
                        self.outbox.pending(), self.outbox.path,
                    )  # fmt: skip
            self.log_stats()

    def _dispatch(self, detection: _Detection) -> bool:
        """Hand the cameras' newest frames to free detection threads, taking the cameras in
        turn so that none waits behind the others; True while there is detection work.
        """
        watched = list(self.watched.values())
        for step in range(len(watched)):
            if detection.free() <= 0:
                break
            index = (self._turn + step) % len(watched)
            camera = watched[index]
            if detection.busy(camera.config.id):
                continue
            try:
                frame = camera.frames.get_nowait()
            except queue.Empty:
                continue
            detection.submit(camera.reader, frame)
            self._turn = index + 1
        return detection.busy() or any(not w.frames.empty() for w in watched)

    def _report_health(self) -> None:
        assert self.health_reporter is not None
        while not self.stop.wait(self.health_interval_s):
            reports = {}
            for camera_id, watched in list(self.watched.items()):
                try:
                    reports[camera_id] = health_report(watched.reader.health())
                except Exception:
                    log.exception("%s: health could not be read", camera_id)
            self.health_reporter.report(reports)

    def _analyse(self, reader: CameraReader, frame: Frame) -> None:
        pipeline = self.pipelines[reader.camera.id]
        try:
            incidents = pipeline.process(frame.image, now=frame.timestamp)
        except Exception:
            # One bad frame or rule must not take the other cameras down with it.
            log.exception("%s: detection failed on frame %d", reader.camera.id, frame.sequence)
            return
        if pipeline.stats.last_inference_ms:
            self.inference_ms.append(pipeline.stats.last_inference_ms)
            pipeline.stats.last_inference_ms = 0.0
        del self.inference_ms[:-1000]
        reader.stats.frames_analysed += 1
        for alarm in self.alarms.get(reader.camera.id, ()):
            try:
                incidents += alarm.process(frame.image, now=frame.timestamp)
            except Exception:
                log.exception("%s: model %s failed", reader.camera.id, alarm.model_name)
        self._keep(reader.camera.id, incidents)

    def _keep(self, camera_id: str, incidents: list[Incident]) -> None:
        for incident in incidents:
            if incident.clip_pending and self.encoder is not None and self.encoder.is_alive():
                self.encoder.submit(incident)
            else:
                self._keep_one(incident.with_clip())

    def _keep_one(self, incident: Incident) -> None:
        reader = next((r for r in self.readers if r.camera.id == incident.camera_id), None)
        if self.outbox.put(incident):
            if reader is not None:
                reader.stats.incidents += 1
            log.info("%s: incident %s (%s)", incident.camera_id, incident.id, incident.summary)

    def health(self) -> list[CameraHealth]:
        """Every watched camera's health now."""
        return [watched.reader.health() for watched in self.watched.values()]

    def log_stats(self) -> None:
        for reader in self.readers:
            stats = reader.stats
            health = reader.health()
            log.info(
                "%s: %s%s, %s fps in, read %d, analysed %d, dropped %d, incidents %d,"
                " reconnects %d",
                reader.camera.id, health.status.value,
                f" ({health.reason})" if health.reason else "",
                "-" if health.input_fps is None else f"{health.input_fps:.1f}",
                stats.frames_read, stats.frames_analysed, health.frames_dropped,
                stats.incidents, health.reconnects,
            )  # fmt: skip
        for camera_id, pipeline in self.pipelines.items():
            counts = pipeline.stats
            if counts.frames:
                log.info(
                    "%s: model ran on %d of %d frames (motion gate saved %.0f%%)",
                    camera_id, counts.inferred, counts.frames, 100 * counts.skipped / counts.frames,
                )  # fmt: skip
        if self.inference_ms:
            ordered = sorted(self.inference_ms)
            log.info(
                "inference median %.1f ms over %d frames", ordered[len(ordered) // 2], len(ordered)
            )
