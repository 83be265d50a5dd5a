"""One camera's detection pipeline: privacy mask, motion gate, model, tracker, rules, evidence."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial

import numpy as np
import supervision as sv

from detectors.clock import SteadyClock
from detectors.evidence import (
    KeyFrameEncoder,
    KeyFrameEncoders,
    annotate,
    burned_in_time,
    encode_jpeg,
    sha256_hex,
)
from detectors.incident import Incident, IncidentClip, incident_id
from detectors.model import ObjectDetector, class_ids_of
from detectors.motion import MotionDecision, MotionGate
from detectors.plates import PlateReader
from detectors.privacy import PrivacyMask
from detectors.rules.base import FrameRule, Rule, RuleHit
from detectors.rules.line_crossing import Line
from detectors.tracking import ObjectTracker, subset
from detectors.zones import Zone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceSettings:
    """How much video goes with an incident.

    Attributes:
        pre_roll_s: Seconds of recent frames kept, to show what led up to the incident.
        post_roll_s: Seconds after the rule concluded that the clip runs on; the incident is
            handed out when they have passed (unless `clip_follows`).
        clip: Make a clip at all (a snapshot is always made).
        jpeg_quality: Quality of the snapshot, 1..100.
        defer_clip_encoding: Hand incidents out with their clip frames recorded but not
            encoded (`Incident.clip_pending`); the caller runs `Incident.with_clip()` on another
            thread, so encoding never holds up detection.
        clip_follows: Hand each incident out the moment its rule concludes, with its snapshot
            and no clip, so that the alert goes out at once; its clip, once the post-roll is
            recorded, comes from `CameraPipeline.take_clips()` as an `IncidentClip` with its
            frames recorded but not encoded (`IncidentClip.with_video()`).
        max_gap_s: Longest time between two frames within one clip. A longer gap is a break in
            the stream (the camera's `stream.read_timeout_s`): clips being recorded end with
            the frames before it, and the next clip's pre-roll starts after it, so a clip never
            spans a gap.
    """

    pre_roll_s: float = 3.0
    post_roll_s: float = 3.0
    clip: bool = True
    jpeg_quality: int = 85
    defer_clip_encoding: bool = False
    clip_follows: bool = False
    max_gap_s: float = 5.0


@dataclass
class PipelineStats:
    """What one camera's pipeline has done since it was built.

    Attributes:
        rule_failures: Frames each rule failed on (raised), by rule label "kind:zone"; the
            other rules ran on those frames all the same.
        frame_size: (width, height) of the latest frame, in pixels.
        size_changes: Times the picture changed size mid-stream; every state kept in the old
            size's pixels (tracks, motion and tamper references, rules, clips) started afresh.
        last_size_change: The latest change, e.g. "768x576 -> 768x432".
        cpu_s: CPU seconds of the analysing thread spent on this camera, by stage: "gate"
            (privacy mask and motion gate), "inference" (letterbox, the model call and
            decoding its output; an inference engine's own threads are not counted),
            "tracking" (tracker and rules) and "evidence" (snapshots; clips encoded here too
            unless deferred). What one camera costs, and where.
    """

    frames: int = 0
    inferred: int = 0
    skipped: int = 0  # frames the motion gate let pass without running the model
    incidents: int = 0
    last_inference_ms: float = 0.0
    rule_failures: Counter[str] = field(default_factory=Counter)
    frame_size: tuple[int, int] | None = None
    size_changes: int = 0
    last_size_change: str = ""
    cpu_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("gate", "inference", "tracking", "evidence"), 0.0)
    )


@dataclass(frozen=True)
class FrameStep:
    """A frame part-way through the pipeline: masked, judged by the motion gate, awaiting the
    model's detections when `infer` is set."""

    image: np.ndarray
    now: datetime
    decision: MotionDecision | None

    @property
    def infer(self) -> bool:
        return self.decision is None or self.decision.infer


@dataclass(eq=False)
class _Recorded:
    """One analysed frame kept for evidence: the masked picture, what was drawn on it, the
    objects that incidents held in it (drawn red in clips), the wall time of its caption, and,
    once a clip needs it, the frame encoded for clips (shared by every clip that shows it)."""

    at: datetime
    image: np.ndarray
    shown: sv.Detections
    offending: tuple[int, ...] = ()
    wall: datetime | None = None
    key_frame: tuple[KeyFrameEncoder, bytes] | None = None


@dataclass
class _Pending:
    """An incident whose clip is still being recorded."""

    hit: RuleHit
    rule: Rule | FrameRule
    due_at: datetime
    frames: list[_Recorded] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)
    ended_at: datetime | None = None


class CameraPipeline:
    """Frames of one camera in, incidents out.

    Every frame is blacked out where the privacy mask says, before the model or any stored image
    sees it. The motion gate skips the model on frames where nothing changed; the last
    detections then stand, so tracks and dwell clocks go on. A rule's hit becomes an incident
    once `evidence.post_roll_s` more seconds of frames have come in for its clip, so nothing
    here waits: the clip is completed by later calls, and `flush` completes what is left when a
    camera stops. With `evidence.clip_follows`, the incident is handed out in the frame its rule
    concluded, with the snapshot seen best so far, and its clip follows from `take_clips`.

    The detector may be shared between cameras (calls must then come from one thread); the
    tracker, the rules and the buffers belong to this camera alone. So may `key_frame_encoders`,
    which encode its clips' frames (a set of its own by default). To batch several cameras
    through one model call, call `begin` for each, run the model on the steps that need it, and
    pass each step's detections to `finish`.

    Example:
        >>> pipeline = CameraPipeline("gate-1", detector, zones, rules, classes=["person"])
        >>> incidents = pipeline.process(frame.image, now=frame.timestamp)
        >>> incidents += pipeline.flush()  # when the camera stops
    """

    def __init__(
        self,
        camera_id: str,
        detector: ObjectDetector,
        zones: Sequence[Zone],
        rules: Sequence[Rule],
        *,
        frame_rules: Sequence[FrameRule] = (),
        lines: Sequence[Line] = (),
        classes: Sequence[str] = (),
        confidence: float = 0.4,
        tracker: ObjectTracker | None = None,
        motion_gate: MotionGate | None = None,
        privacy_mask: PrivacyMask | None = None,
        evidence: EvidenceSettings | None = None,
        plate_reader: PlateReader | None = None,
        timezone: tzinfo = UTC,
        key_frame_encoders: KeyFrameEncoders | None = None,
    ):
        self.camera_id = camera_id
        # The camera's zone: the time burned into its snapshots is local, with its offset.
        self.timezone = timezone
        self.detector = detector
        self.zones = list(zones)
        self.lines = list(lines)
        self.rules = list(rules)
        self.frame_rules = list(frame_rules)
        self.confidence = confidence
        self.class_ids = (
            class_ids_of(detector, classes, camera_id=camera_id, model_name=detector.name) or None
        )
        # A lower tracker threshold than the detector's would never be reached: keep them aligned.
        self.tracker = tracker or ObjectTracker(high_confidence=confidence)
        self.motion_gate = motion_gate
        self.privacy_mask = privacy_mask or PrivacyMask()
        self.evidence = evidence or EvidenceSettings()
        self.plate_reader = plate_reader
        self.stats = PipelineStats()
        # The motion gate's verdict on the latest frame (None without a gate, or before one).
        self.last_decision: MotionDecision | None = None
        self._last_detections: sv.Detections = sv.Detections.empty()
        self._recent: deque[_Recorded] = deque()
        self._pending: list[_Pending] = []
        self._clips: list[IncidentClip] = []
        self._completed: list[Incident] = []  # completed by a size change, for the next finish
        # Frames are encoded for clips once, whichever clips show them; by the thread that
        # encodes clips, one frame at a time.
        self._encoders = key_frame_encoders or KeyFrameEncoders()
        self._encoding = threading.Lock()
        self.steady = SteadyClock()
        # The rules as built, before any frame: what they start again from when the picture
        # changes size.
        self._fresh_rules = copy.deepcopy((self.rules, self.frame_rules))

    @property
    def pending(self) -> int:
        """Incidents concluded whose clip is still being recorded."""
        return len(self._pending)

    def take_clips(self) -> list[IncidentClip]:
        """The clips completed since the last call, of incidents handed out before (only with
        `evidence.clip_follows`); each once."""
        clips, self._clips = self._clips, []
        return clips

    def process(
        self, image: np.ndarray, *, now: datetime, clock: float | None = None
    ) -> list[Incident]:
        """Mask, gate, detect, track and run every rule on one frame taken at `now` (wall time);
        returns the incidents whose evidence is complete.

        `clock` is the frame's monotonic reading in seconds (`Frame.monotonic`): every duration
        (dwell, grace, cooldown, hold, post-roll, tamper re-baseline, the motion gate's full
        check, the tracker's hand-over) is timed by it, so a step of the wall clock between two
        frames changes none of them. Without it the wall time is all there is. Incidents are
        dated on the wall clock as it reads at their frame."""
        step = self.begin(image, now=now, clock=clock)
        detections = None
        if step.infer:
            started, cpu = time.perf_counter(), time.thread_time()
            detections = self.detector.detect(
                step.image, confidence=self.confidence, classes=self.class_ids
            )
            self.stats.cpu_s["inference"] += time.thread_time() - cpu
            self.stats.last_inference_ms = (time.perf_counter() - started) * 1000
        return self.finish(step, detections)

    def begin(self, image: np.ndarray, *, now: datetime, clock: float | None = None) -> FrameStep:
        """First half of `process`: the masked frame and whether the model must see it; `now`
        and `clock` as for `process`. The step's `now` is the frame's instant on the camera's
        steady timeline."""
        cpu = time.thread_time()
        now = self.steady.at(now, clock)
        height, width = image.shape[:2]
        if self.stats.frame_size is not None and self.stats.frame_size != (width, height):
            self._size_changed((width, height))
        self.stats.frame_size = (width, height)
        masked = self.privacy_mask.apply(image)
        decision = self.motion_gate.update(masked, now=now) if self.motion_gate else None
        self.last_decision = decision
        self.stats.cpu_s["gate"] += time.thread_time() - cpu
        return FrameStep(masked, now, decision)

    def _size_changed(self, size: tuple[int, int]) -> None:
        """Start afresh whatever holds the old size's pixels: the tracker's boxes, the motion
        gate's and the tamper rule's reference pictures, the rules' state, the recent frames
        and clips being recorded (completed with the frames they have: one clip holds one
        size). Zones, lines and masks are normalised and fit the new size as they are."""
        old = self.stats.frame_size
        assert old is not None
        change = f"{old[0]}x{old[1]} -> {size[0]}x{size[1]}"
        log.warning(
            "%s: picture size changed %s; tracks, motion and tamper references, rule state and"
            " clips in progress start afresh",
            self.camera_id, change,
        )  # fmt: skip
        self.stats.size_changes += 1
        self.stats.last_size_change = change
        self._completed += self.flush()
        self._recent.clear()
        self._last_detections = sv.Detections.empty()
        self.tracker.reset()
        if self.motion_gate is not None:
            self.motion_gate.reset()
        self.rules, self.frame_rules = copy.deepcopy(self._fresh_rules)

    def _run_rule(
        self, rule: Rule | FrameRule, run: Callable[[], list[RuleHit]], now: datetime
    ) -> list[RuleHit]:
        """`run()`'s hits; none when it raises: one rule's fault must not stop the others or
        the camera. Counted per rule; the first failure is logged with its traceback."""
        try:
            return run()
        except Exception:
            label = f"{rule.kind}:{rule.zone_name}"
            self.stats.rule_failures[label] += 1
            failures = self.stats.rule_failures[label]
            if failures == 1:
                log.exception(
                    "%s: rule %s failed on the frame at %s; the other rules go on",
                    self.camera_id, label, now.isoformat(),
                )  # fmt: skip
            elif failures % 100 == 0:
                log.warning("%s: rule %s has failed on %d frames", self.camera_id, label, failures)
            return []

    def finish(self, step: FrameStep, detections: sv.Detections | None) -> list[Incident]:
        """Second half of `process`: `detections` of `step.image`, or None where the gate
        skipped the model."""
        cpu = time.thread_time()
        evidence_before = self.stats.cpu_s["evidence"]
        incidents = self._finish(step, detections)
        # Evidence made within is counted as such, the rest as tracking and rules.
        evidence = self.stats.cpu_s["evidence"] - evidence_before
        self.stats.cpu_s["tracking"] += time.thread_time() - cpu - evidence
        return incidents

    def _finish(self, step: FrameStep, detections: sv.Detections | None) -> list[Incident]:
        now, image = step.now, step.image
        height, width = image.shape[:2]
        self.stats.frames += 1
        # After a break in the stream, what was recorded before it is evidence on its own.
        interrupted = self.break_in_stream() if self._gap_before(now) else []
        if detections is None:
            self.stats.skipped += 1
            detections = self._last_detections
        else:
            self.stats.inferred += 1
            detections = self._select(detections)
            self._last_detections = detections
        tracked = self.tracker.update(
            detections, now=now, motion=_motion_boxes(step.decision, width, height)
        )
        hits: list[tuple[RuleHit, Rule | FrameRule]] = []
        for rule in self.rules:
            run = partial(rule.update, tracked, width=width, height=height, now=now)
            hits += [(hit, rule) for hit in self._run_rule(rule, run, now)]
        for frame_rule in self.frame_rules:
            found = self._run_rule(
                frame_rule, partial(frame_rule.update_frame, image, now=now), now
            )
            hits += [(hit, frame_rule) for hit in found]

        # Draw what the model saw but the tracker has not confirmed yet too, without an id.
        untracked = np.ones(len(detections), dtype=bool)
        untracked[tracked.data["source_index"]] = False
        shown = sv.Detections.merge([tracked, _without_ids(subset(detections, untracked))])
        holding = []
        for pending in self._pending:
            try:
                holding.append(pending.rule.holds(pending.hit.track_id))
            except Exception:
                holding.append(False)  # a failing rule holds nothing; its failure is counted above
        offending = {
            track
            for hit in [p.hit for p, held in zip(self._pending, holding, strict=True) if held]
            + [hit for hit, _ in hits]
            for track in _tracks_of(hit)
        }
        record = _Recorded(
            now, image, shown, tuple(sorted(offending)), wall=self.steady.to_wall(now)
        )
        for pending, held in zip(self._pending, holding, strict=True):
            pending.frames.append(record)
            pending.held.append(held)
            if held:
                pending.ended_at = now
        post_roll = timedelta(seconds=self.evidence.post_roll_s)
        since = now - timedelta(seconds=self.evidence.pre_roll_s)
        follows = self.evidence.clip_follows
        incidents: list[Incident] = []
        for hit, fired_rule in hits:
            # The recent frames reach back pre_roll_s from the previous frame; the clip's lead-in
            # counts from this one.
            before = [frame for frame in self._recent if since <= frame.at < now]
            concluded = _Pending(
                hit, fired_rule, due_at=now + post_roll, frames=[*before, record],
                held=[frame.at >= hit.started_at for frame in before] + [True], ended_at=now,
            )  # fmt: skip
            if follows:
                incidents.append(self._incident(concluded, ongoing=True, with_clip=False))
                if not self.evidence.clip:
                    continue  # nothing follows
            self._pending.append(concluded)
        self._remember(record)
        due = [pending for pending in self._pending if now >= pending.due_at]
        self._pending = [pending for pending in self._pending if now < pending.due_at]
        if follows:
            self._clips += [self._clip(pending, ongoing=pending.ended_at == now) for pending in due]
        else:
            incidents = [self._incident(item, ongoing=item.ended_at == now) for item in due]
        self.stats.incidents += len(incidents)
        if self._completed:  # counted when completed
            incidents = self._completed + incidents
            self._completed = []
        return interrupted + incidents

    def _gap_before(self, now: datetime) -> bool:
        last = self._recent[-1].at if self._recent else None
        return last is not None and (now - last).total_seconds() > self.evidence.max_gap_s

    def break_in_stream(self) -> list[Incident]:
        """The stream broke off (or was found to have, by the next frame's time): complete the
        incidents being recorded with the frames before the break, as `flush` does, and forget
        the recent frames, so that no clip spans the gap."""
        incidents = self.flush()
        self._recent.clear()
        return incidents

    def flush(self) -> list[Incident]:
        """Complete every pending incident with the frames there are (the camera stopped).

        With `evidence.clip_follows` the incidents are out already: their clips are completed
        for `take_clips`, and none is returned."""
        pending, self._pending = self._pending, []
        if self.evidence.clip_follows:
            self._clips += [
                self._clip(item, ongoing=item.ended_at == item.frames[-1].at) for item in pending
            ]
            return []
        incidents = [
            self._incident(item, ongoing=bool(item.frames) and item.ended_at == item.frames[-1].at)
            for item in pending
        ]
        self.stats.incidents += len(incidents)
        return incidents

    def _select(self, detections: sv.Detections) -> sv.Detections:
        """This camera's classes and confidence, when the model ran for several cameras."""
        keep = np.ones(len(detections), dtype=bool)
        if detections.confidence is not None:
            keep &= detections.confidence >= self.confidence
        if self.class_ids is not None and detections.class_id is not None:
            keep &= np.isin(detections.class_id, self.class_ids)
        return detections if keep.all() else subset(detections, keep)

    def _remember(self, record: _Recorded) -> None:
        self._recent.append(record)
        horizon = record.at - timedelta(seconds=self.evidence.pre_roll_s)
        while self._recent and self._recent[0].at < horizon:
            self._recent.popleft()

    def _draw(self, hit: RuleHit, frame: _Recorded, caption: str, shade: bool = True) -> np.ndarray:
        """`frame` annotated with the hit's zone or line and its objects in red."""
        return annotate(
            frame.image, frame.shown, [zone for zone in self.zones if zone.name == hit.zone],
            lines=[line for line in self.lines if line.name == hit.zone], caption=caption,
            highlight_track=hit.track_id or None, highlight_tracks=hit.involved_tracks,
            shade_zones=shade,
        )  # fmt: skip

    def _clip_encoder(self, pending: _Pending) -> Callable[[], bytes]:
        """What makes the pending incident's clip from its frames, when called.

        A frame is drawn and encoded once, when the first clip that shows it is made, and
        shared by every clip that shows it: incidents of one camera overlap (one per person
        entering a zone, within seconds of each other), and encoding each incident's clip on
        its own encoded each frame about three times. So a clip's frames show what every
        incident of the camera sees in them, the same in each clip: the camera's zones and
        lines outlined, every object boxed, and the objects that incidents held in that frame
        (from the frame their rule concluded) in red."""
        frames = list(pending.frames)

        def encode_clip() -> bytes:
            encoded = [self._key_frame(frame) for frame in frames]
            encoder = encoded[0][0]  # one clip holds one size: a size change ends clips
            return encoder.mux([data for _, data in encoded], [frame.at for frame in frames])

        return encode_clip

    def _key_frame(self, frame: _Recorded) -> tuple[KeyFrameEncoder, bytes]:
        """`frame` drawn for clips and encoded, once, with the encoder of its size."""
        with self._encoding:
            if frame.key_frame is None:
                height, width = frame.image.shape[:2]
                encoder = self._encoders.of_size(width, height)
                wall = frame.wall or self.steady.to_wall(frame.at)
                # Outlined zones only: shading every frame costs more than it tells in motion.
                picture = annotate(
                    frame.image, frame.shown, self.zones, lines=self.lines,
                    caption=f"{self.camera_id}  {wall:%H:%M:%S}",
                    highlight_tracks=frame.offending, shade_zones=False,
                )  # fmt: skip
                frame.key_frame = (encoder, encoder.encode(picture))
            return frame.key_frame

    def _clip(self, pending: _Pending, *, ongoing: bool) -> IncidentClip:
        """The clip of an incident handed out when its rule concluded, its frames not encoded."""
        hit, frames = pending.hit, pending.frames
        return IncidentClip(
            incident_id=incident_id(
                self.camera_id, hit.rule, hit.zone, hit.track_id, hit.started_at, hit.detected_at
            ),
            camera_id=self.camera_id,
            started_at=self.steady.to_wall(frames[0].at),
            duration_s=(frames[-1].at - frames[0].at).total_seconds(),
            frame_count=len(frames),
            ended_at=self.steady.to_wall(pending.ended_at or hit.detected_at),
            ongoing=ongoing,
            encoder=self._clip_encoder(pending),
        )

    def _incident(self, pending: _Pending, *, ongoing: bool, with_clip: bool = True) -> Incident:
        """The incident of a hit with its snapshot, and its clip unless `with_clip` is False."""
        cpu = time.thread_time()
        try:
            return self._make_incident(pending, ongoing=ongoing, with_clip=with_clip)
        finally:
            self.stats.cpu_s["evidence"] += time.thread_time() - cpu

    def _make_incident(self, pending: _Pending, *, ongoing: bool, with_clip: bool) -> Incident:
        hit = pending.hit
        best, box, confidence = self._best_frame(pending)
        height, width = best.image.shape[:2]
        details = dict(hit.details)
        if getattr(pending.rule, "reads_plates", False) and self.plate_reader is not None:
            reading = self.plate_reader.read(_crop(best.image, box))
            details["plate"] = reading.text if reading else None
            details["plate_confidence"] = reading.confidence if reading else None

        wall = self.steady.to_wall
        stamp = burned_in_time(wall(best.at), self.timezone)
        caption = f"{self.camera_id}  {stamp}  {hit.summary}"
        jpeg = encode_jpeg(self._draw(hit, best, caption), quality=self.evidence.jpeg_quality)
        frames = pending.frames
        encode_clip = self._clip_encoder(pending)
        with_clip = with_clip and self.evidence.clip and bool(frames)
        deferred = with_clip and self.evidence.defer_clip_encoding
        clip = encode_clip() if with_clip and not deferred else None
        return Incident(
            id=incident_id(
                self.camera_id, hit.rule, hit.zone, hit.track_id, hit.started_at, hit.detected_at
            ),
            camera_id=self.camera_id,
            rule=hit.rule,
            zone=hit.zone,
            category=hit.category,
            severity=hit.severity,
            summary=hit.summary,
            started_at=wall(hit.started_at),
            detected_at=wall(hit.detected_at),
            track_id=hit.track_id,
            object_class=hit.object_class,
            confidence=confidence,
            box_xyxy=box,
            frame_width=width,
            frame_height=height,
            model_name=self.detector.name,
            model_version=self.detector.version,
            rule_parameters=hit.parameters,
            snapshot_jpeg=jpeg,
            snapshot_sha256=sha256_hex(jpeg),
            ended_at=wall(pending.ended_at or hit.detected_at),
            ongoing=ongoing,
            track_ids=hit.involved_tracks,
            details=details,
            model_backend=str(getattr(self.detector, "backend", "")),
            snapshot_at=wall(best.at),
            clip_mp4=clip,
            clip_sha256=sha256_hex(clip) if clip is not None else None,
            clip_started_at=wall(frames[0].at) if with_clip else None,
            clip_duration_s=(frames[-1].at - frames[0].at).total_seconds() if with_clip else 0.0,
            clip_frame_count=len(frames) if with_clip else 0,
            clip_encoder=encode_clip if deferred else None,
        )

    def _best_frame(
        self, pending: _Pending
    ) -> tuple[_Recorded, tuple[float, float, float, float], float]:
        """The frame where the rule's object was seen with the most confidence while the
        condition held; the frame of the hit itself for zone- and view-level hits."""
        hit = pending.hit
        at_hit = next(
            (frame for frame in pending.frames if frame.at == hit.detected_at), pending.frames[-1]
        )
        best: tuple[_Recorded, tuple[float, float, float, float], float] = (
            at_hit, hit.box_xyxy, hit.confidence
        )  # fmt: skip
        if hit.track_id <= 0:
            return best
        best_seen = -1.0
        for frame, held in zip(pending.frames, pending.held, strict=True):
            if not held or frame.shown.tracker_id is None:
                continue
            rows = np.flatnonzero(frame.shown.tracker_id == hit.track_id)
            if len(rows) == 0 or frame.shown.confidence is None:
                continue
            seen = float(frame.shown.confidence[rows[0]])
            if seen > best_seen:
                x1, y1, x2, y2 = (float(v) for v in frame.shown.xyxy[rows[0]])
                best_seen = seen
                best = (frame, (x1, y1, x2, y2), max(hit.confidence, seen))
        return best


def _tracks_of(hit: RuleHit) -> set[int]:
    """The tracked objects a hit concerns (none for zone- and view-level hits)."""
    return ({hit.track_id} if hit.track_id > 0 else set()) | set(hit.involved_tracks)


def _crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    pad_x, pad_y = (x2 - x1) * 0.05, (y2 - y1) * 0.05
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(width, int(x2 + pad_x) + 1), min(height, int(y2 + pad_y) + 1)
    return image[top:bottom, left:right]


def _without_ids(detections: sv.Detections) -> sv.Detections:
    detections.tracker_id = np.full(len(detections), -1, dtype=int)
    detections.data["source_index"] = np.full(len(detections), -1, dtype=int)
    detections.data["stationary"] = np.zeros(len(detections), dtype=bool)
    return detections


def _motion_boxes(decision: MotionDecision | None, width: int, height: int) -> np.ndarray | None:
    """Where the picture changed, as pixel boxes of shape (N, 4); None when not known (no motion
    gate, or its first frame)."""
    if decision is None or decision.reason == "first":
        return None
    regions = np.array(decision.regions, dtype=np.float32).reshape(-1, 4)
    return regions * np.array([width, height, width, height], dtype=np.float32)
