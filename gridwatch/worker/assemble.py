"""Assembly: the one place where configuration becomes running objects.

Settings become a worker (its feed, outbox, sender, health reporter and models); each camera's
configuration becomes what watches it: its detection pipeline, its custom models' alarms, its
reader and its ONVIF event watcher.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from contract.camera import (
    CameraConfig,
    CustomModelConfig,
    DetectConfig,
    StreamConfig,
    default_data_dir,
)
from contract.catalog import MODELS
from contract.loading import load_cameras
from contract.rules import IllegalParkingRuleConfig
from detectors.alarms import ClassAlarm, ClassEvent
from detectors.evidence import KeyFrameEncoders
from detectors.incident import Incident
from detectors.model import (
    ObjectDetector,
    YoloDetector,
    best_backend,
    file_sha256,
    open_detector,
)
from detectors.motion import MotionGate, phase_of
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.plates import PlateReader, RapidOcrPlateReader
from detectors.privacy import PrivacyMask
from detectors.rules import FrameRule, Line, Rule, RuleSite, build_rule
from detectors.schedule import schedule_from_config
from detectors.zones import Zone
from gridwatch.camera_events import CameraEventWatcher
from gridwatch.feed import (
    ApiExportSource,
    ApiLeaseFeed,
    ApiModelSource,
    CameraFeed,
    FileFeed,
    HealthReporter,
)
from gridwatch.live_view import LivePictureSender
from gridwatch.outbox import IncidentSender, Outbox
from gridwatch.worker.capture import CameraReader
from gridwatch.worker.runner import WatchedCamera, Worker
from gridwatch.worker.settings import WorkerSettings, usable_cores
from ingest import StreamOptions

log = logging.getLogger(__name__)


class DetectorPool:
    """Loads each (model, backend, input size) once and shares it between the cameras that ask
    for it; the worker's detection threads call it at once, each running its own copy.

    `weights` overrides where a model's weights are (GRIDWATCH_MODEL_PATH for yolov8n).
    `threads` is how many cores one ONNX inference may use; None leaves it to the worker,
    which shares the cores out between its detection threads. `exports` fetches a model's
    exported files from the API when its weights are not on this box (a worker installed
    without PyTorch runs those files alone).

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
        exports: ApiExportSource | None = None,
    ):
        self.data_dir = data_dir
        self.weights = dict(weights or {})
        self.threads = threads
        self.exports = exports
        self._loaded: dict[tuple[str, str, int, int | None], ObjectDetector] = {}
        self._digests: dict[Path, str] = {}  # weights are hashed once, not once per camera

    def get(self, detect: DetectConfig) -> ObjectDetector:
        weights = self.weights.get(detect.model) or self.data_dir / MODELS[detect.model].weights
        if weights not in self._digests:
            if weights.is_file():
                self._digests[weights] = file_sha256(weights)
            elif self.exports is not None:
                self._digests[weights] = self.exports.fetch(detect.model, weights.parent)
        digest = self._digests.get(weights)
        backend = detect.backend
        if backend == "auto":
            backend = best_backend(weights, digest)
        key = (str(weights), backend, detect.imgsz, self.threads)
        if key not in self._loaded:
            if digest is None:
                raise FileNotFoundError(f"model weights not found: {weights}")
            detector = open_detector(
                weights, digest, backend=backend, imgsz=detect.imgsz, threads=self.threads
            )
            log.info(
                "model %s (%s, %s) loaded, input %d px",
                detector.name, detector.version, detector.backend, detect.imgsz,
            )  # fmt: skip
            self._loaded[key] = detector
        return self._loaded[key]


def build_pipeline(
    camera: CameraConfig,
    detector: ObjectDetector,
    *,
    plate_reader: PlateReader | None = None,
    defer_clip_encoding: bool = False,
    clip_follows: bool = False,
    key_frame_encoders: KeyFrameEncoders | None = None,
) -> CameraPipeline:
    """The detection pipeline a camera's configuration asks for; see `EvidenceSettings` for
    `defer_clip_encoding` and `clip_follows`, and `CameraPipeline` for `key_frame_encoders`."""
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
            MotionGate(
                min_changed=motion.min_changed,
                full_check_s=motion.full_check_s,
                phase=phase_of(camera.id),
            )
            if motion.enabled
            else None
        ),
        privacy_mask=PrivacyMask([tuple(mask.polygon) for mask in camera.privacy_masks]),
        timezone=ZoneInfo(camera.timezone),
        evidence=EvidenceSettings(
            pre_roll_s=camera.evidence.pre_roll_s,
            post_roll_s=camera.evidence.post_roll_s,
            clip=camera.evidence.clip,
            defer_clip_encoding=defer_clip_encoding,
            clip_follows=clip_follows,
            # Silent this long, a stream is lost: a clip never spans such a gap.
            max_gap_s=camera.stream.read_timeout_s,
        ),
        plate_reader=plate_reader,
        key_frame_encoders=key_frame_encoders,
    )


def stream_options(stream: StreamConfig) -> StreamOptions:
    """The adapter's options for a camera's `stream:` settings."""
    return StreamOptions(
        transport=stream.transport,
        open_timeout_s=stream.open_timeout_s,
        read_timeout_s=stream.read_timeout_s,
        max_backoff_s=stream.max_backoff_s,
        stale_after_s=stream.stale_after_s,
        key_frames_at_detect_rate=stream.key_frames_at_detect_rate,
    )


@dataclass
class CameraAssembly:
    """Builds what watches each camera: its pipeline, its custom models' alarms, its reader and
    its ONVIF event watcher; the worker's runner calls `watch` for every camera it takes on.

    `detector` is one model for every camera, or a `DetectorPool` that gives each camera the
    model its `detect:` names. `detect_threads` frames are analysed at once (default: one per
    core). A `DetectorPool` left to choose then gives each inference an equal share of the
    cores: on a small CPU, several single-core inferences side by side get more frames through
    than one inference spread over every core, whose threads wait on each other and on the
    decoders. `realtime` and `loop` override the cameras' `playback:` settings for recordings.
    `custom_models` fetches the district's own models from the API for cameras that name one.

    Raises:
        ValueError: `detect_threads` is below 1.
    """

    detector: ObjectDetector | DetectorPool
    detect_threads: int | None = None
    realtime: bool | None = None
    loop: bool | None = None
    custom_models: ApiModelSource | None = None
    plate_reader: PlateReader | None = None
    # The cameras' clip frames are encoded by encoders they share, one per picture size.
    key_frame_encoders: KeyFrameEncoders = field(default_factory=KeyFrameEncoders)
    _custom_detectors: dict[Path, YoloDetector] = field(default_factory=dict)

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

    def watch(
        self,
        camera: CameraConfig,
        frame_ready: threading.Event,
        keep: Callable[[Incident], None],
    ) -> WatchedCamera:
        """Everything that watches `camera`, built but not started.

        `frame_ready` is set whenever the camera has a frame for detection; `keep` takes the
        incidents its ONVIF events raise. Raises whatever loading its models raises.
        """
        detector = (
            self.detector.get(camera.detect)
            if isinstance(self.detector, DetectorPool)
            else self.detector
        )
        pipeline = build_pipeline(
            camera,
            detector,
            plate_reader=self._plate_reader(camera),
            clip_follows=True,  # the alert goes out at once; its clip follows
            key_frame_encoders=self.key_frame_encoders,
        )
        alarms = [self._alarm(camera, wanted) for wanted in camera.custom_models]
        stop = threading.Event()
        reader = CameraReader(
            camera,
            frame_ready,
            stop,
            options=stream_options(camera.stream),
            realtime=self.realtime,
            loop=self.loop,
        )
        events = None
        if camera.camera_events and camera.source.lower().startswith("onvif:"):
            events = CameraEventWatcher(camera, keep, stop)
        return WatchedCamera(camera, reader, stop, pipeline, alarms, events)

    def _plate_reader(self, camera: CameraConfig) -> PlateReader | None:
        """The plate reader, for a camera whose parking rules read plates (loaded once)."""
        reads_plates = any(
            isinstance(r, IllegalParkingRuleConfig) and r.read_plate for r in camera.rules
        )
        if not reads_plates:
            return None
        if self.plate_reader is None and importlib.util.find_spec("rapidocr") is None:
            raise ModuleNotFoundError(
                f"{camera.id}: its parking rules read plates, which needs rapidocr "
                "(a worker-only box: install gridwatch[worker,plates])"
            )
        if self.plate_reader is None:
            self.plate_reader = RapidOcrPlateReader()
        return self.plate_reader

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
            timezone=ZoneInfo(camera.timezone),
        )  # fmt: skip


def assemble_worker(
    settings: WorkerSettings,
    camera_files: list[Path] | None,
    *,
    only: set[str] | None = None,
    once: bool = False,
    fast: bool = False,
    capacity: int = 16,
) -> Worker:
    """The worker `gridwatch worker` runs, built from its settings; `Worker.close` releases it.

    Cameras come from `camera_files` (YAML files or folders; only the ids in `only` if given),
    read again when they change unless `once`; or, when `camera_files` is None, they are leased
    from the API, at most `capacity` of them. `once` plays recordings once, `fast` reads them
    as fast as detection takes them. Incidents go through the durable outbox to the API, and
    each camera's health is reported there.

    Raises:
        ConfigError: A camera file is invalid (every problem found).
        ValueError: No camera is left to watch.
    """
    token = settings.worker_token.get_secret_value()
    cameras: list[CameraConfig] = []
    feed: CameraFeed | None = None
    if camera_files is None:
        feed = ApiLeaseFeed(
            settings.api_url, token, worker_name=settings.worker_name, capacity=capacity,
            renew_s=settings.lease_renew_s,
        )  # fmt: skip
    else:
        cameras = load_cameras(camera_files)
        if only:
            cameras = [camera for camera in cameras if camera.id in only]
        if not cameras:
            raise ValueError("no cameras to watch")
        if not once:
            # A long-running worker follows edits of its camera files.
            feed = FileFeed(camera_files, only=only or None)
    # Models are loaded when a camera first asks for them; cameras asking for the same share one.
    detectors = DetectorPool(
        default_data_dir(),
        weights={"yolov8n": settings.model_path},
        exports=ApiExportSource(settings.api_url, token, worker_name=settings.worker_name),
    )
    assembly = CameraAssembly(
        detectors,
        detect_threads=settings.detect_threads,
        realtime=False if fast else None,
        loop=False if once else None,
        custom_models=ApiModelSource(
            settings.api_url, token, default_data_dir(), worker_name=settings.worker_name
        ),
    )
    live_pictures = LivePictureSender(settings.api_url, token, worker_name=settings.worker_name)
    outbox = Outbox(settings.outbox_path)
    if outbox.pending():
        log.info("%d incidents from an earlier run wait in the outbox", outbox.pending())
    return Worker(
        cameras,
        assembly,
        outbox,
        IncidentSender(outbox, settings.api_url, token, worker_name=settings.worker_name),
        feed=feed,
        # Leases are renewed as often as the setting says; camera files are looked at every 10 s.
        feed_interval_s=settings.lease_renew_s if camera_files is None else 10.0,
        health_reporter=HealthReporter(
            settings.api_url, token, worker_name=settings.worker_name,
            live_view=live_pictures.demand,
        ),
        live_pictures=live_pictures,
        require_cameras=camera_files is not None,
    )  # fmt: skip
