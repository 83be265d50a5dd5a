"""What every rule returns, the interfaces rules share, and the timing every dwell rule needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import numpy as np
import supervision as sv

from detectors.zones import Anchor, Zone, anchor_points

Point = tuple[float, float]


@dataclass(frozen=True)
class RuleHit:
    """A rule's conclusion about one tracked object (or one zone, or the whole view); the pipeline
    adds evidence to make an incident.

    Attributes:
        rule: Rule kind, e.g. "intrusion".
        zone: Name of the zone (or line) concerned.
        track_id: The tracked object that fired the rule; 0 for a zone- or view-level hit.
        object_class: Its class name ("" for a view-level hit).
        confidence: The best detector confidence seen while the rule's condition held.
        started_at: When the condition began to hold.
        detected_at: When the rule concluded (the current frame's time).
        box_xyxy: The object's box in this frame, in pixels (the whole frame for a view-level hit).
        category: Grid-event category to file under.
        severity: Grid-event severity.
        summary: One line for an operator.
        parameters: The rule's parameters, recorded with the incident.
        track_ids: Every tracked object involved (a crowd's people); `(track_id,)` by default.
        details: Rule-specific findings (a count, a tamper reason, a plate), JSON-ready.
    """

    rule: str
    zone: str
    track_id: int
    object_class: str
    confidence: float
    started_at: datetime
    detected_at: datetime
    box_xyxy: tuple[float, float, float, float]
    category: str
    severity: str
    summary: str
    parameters: dict[str, Any] = field(default_factory=dict)
    track_ids: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def involved_tracks(self) -> tuple[int, ...]:
        return self.track_ids or ((self.track_id,) if self.track_id > 0 else ())


class Rule(Protocol):
    """A rule over tracked detections; it sees every sampled frame of one camera, in time order."""

    kind: str
    zone_name: str

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]: ...

    def holds(self, track_id: int) -> bool:
        """Did the condition behind a hit for `track_id` still hold at the last update?"""
        ...


@runtime_checkable
class FrameRule(Protocol):
    """A rule over the picture itself (tamper), needing no detector."""

    kind: str
    zone_name: str

    def update_frame(self, image: np.ndarray, *, now: datetime) -> list[RuleHit]: ...

    def holds(self, track_id: int) -> bool: ...


def stationary_of(detections: sv.Detections) -> np.ndarray:
    """The tracker's stationary mark of each detection; all False when it is not there."""
    flags = detections.data.get("stationary")
    if flags is None:
        return np.zeros(len(detections), dtype=bool)
    return np.asarray(flags, dtype=bool)


def box_of(detections: sv.Detections, index: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in detections.xyxy[index])
    return x1, y1, x2, y2


def confidence_of(detections: sv.Detections, index: int) -> float:
    return float(detections.confidence[index]) if detections.confidence is not None else 1.0


def class_names_of(detections: sv.Detections) -> list[str]:
    names = detections.data.get("class_name")
    return [str(name) for name in names] if names is not None else [""] * len(detections)


def require_tracks(detections: sv.Detections, rule: str) -> np.ndarray:
    if detections.tracker_id is None:
        raise ValueError(f"{rule} needs tracked detections (tracker_id set)")
    return np.asarray(detections.tracker_id, dtype=int)


# How long a rule keeps what it knows of a track it no longer sees: longer than the tracker
# may re-find it under the same id (ByteTrack's lost frames at the slowest sampling, and the
# tracker's hand-over window). Track ids are never reused, so this only bounds memory.
TRACK_MEMORY = timedelta(seconds=60)


class StationaryRepeats:
    """Which objects a rule has alerted for, so that one the tracker marks stationary (a poster,
    a statue, a mannequin) opens its first alert and no more while it stays marked.

    Example:
        >>> repeats = StationaryRepeats()
        >>> if not repeats.skip(track_id, stationary=True, now=ts): ...  # may alert
        >>> repeats.alerted(track_id, now=ts)
    """

    def __init__(self) -> None:
        self._last_seen: dict[int, datetime] = {}  # tracks alerted for, by track id

    def skip(self, track_id: int, *, stationary: bool, now: datetime) -> bool:
        """Is `track_id` stationary and alerted for before? Call for each object seen."""
        if track_id not in self._last_seen:
            return False
        self._last_seen[track_id] = now
        return stationary

    def alerted(self, track_id: int, *, now: datetime) -> None:
        """Record an alert for `track_id`; forgets tracks unseen for `TRACK_MEMORY`."""
        self._last_seen[track_id] = now
        for other, seen in list(self._last_seen.items()):
            if now - seen > TRACK_MEMORY:
                del self._last_seen[other]


@dataclass(frozen=True)
class Sample:
    """What a dwell rule saw of one object in one frame while its condition held."""

    anchor: Point  # normalised image coordinates
    confidence: float
    object_class: str
    box_xyxy: tuple[float, float, float, float]
    stationary: bool = False  # the tracker's mark: in place, no motion, for long


@dataclass
class Run:
    """One uninterrupted stretch of a condition for one key (a track, or a whole zone)."""

    since: datetime
    last_true: datetime
    origin: Point
    sample: Sample
    best_confidence: float
    fired: bool = False
    missing_since: datetime | None = None


class DwellTimer:
    """Times how long a condition has held per key, tolerant of the noise real tracking has.

    - A gap shorter than `grace_s` (a box jittering over a zone edge, a missed detection, a
      classification flicker) does not end a run. An object the tracker lost and re-found
      keeps its track id (`ObjectTracker`'s hand-over), so its run goes on.
    - With `max_displacement` set, a sample farther than that from where the run began starts
      a new run there (a vehicle that drove on is not the parked one).
    - A key fires once per run, and not again within `cooldown_s` of its last firing.

    Example:
        >>> timer = DwellTimer(min_duration_s=10, grace_s=2, cooldown_s=60)
        >>> due = timer.step({7: sample}, now=t0)  # [] until track 7 has held for 10 s
    """

    def __init__(
        self,
        *,
        min_duration_s: float,
        grace_s: float = 0.0,
        cooldown_s: float = 300.0,
        max_displacement: float | None = None,
    ):
        if min_duration_s < 0 or grace_s < 0 or cooldown_s < 0:
            raise ValueError("durations must not be negative")
        self.min_duration = timedelta(seconds=min_duration_s)
        self.grace = timedelta(seconds=grace_s)
        self.cooldown = timedelta(seconds=cooldown_s)
        self.max_displacement = max_displacement
        self.runs: dict[int, Run] = {}
        self._fired_at: dict[int, datetime] = {}
        self._last_step: datetime | None = None

    def step(self, samples: dict[int, Sample], *, now: datetime) -> list[int]:
        """Feed the keys whose condition holds at `now`; returns the keys that fire now."""
        self._last_step = now
        for key, run in list(self.runs.items()):
            if key in samples:
                continue
            # An absence is timed from the first frame it was missing in, so a frame rate
            # slower than the grace does not end every run.
            if run.missing_since is None:
                run.missing_since = now
            if now - run.missing_since > self.grace:
                del self.runs[key]
        for key in [key for key in samples if key not in self.runs]:
            sample = samples[key]
            self.runs[key] = Run(now, now, sample.anchor, sample, sample.confidence)
        for key, sample in samples.items():
            run = self.runs[key]
            moved = (
                self.max_displacement is not None
                and _distance(sample.anchor, run.origin) > self.max_displacement
            )
            gone_too_long = run.missing_since is not None and now - run.missing_since > self.grace
            if moved or gone_too_long:
                self.runs[key] = Run(now, now, sample.anchor, sample, sample.confidence)
                continue
            run.missing_since = None
            run.last_true = now
            run.sample = sample
            run.best_confidence = max(run.best_confidence, sample.confidence)
        due = []
        for key, run in self.runs.items():
            if run.fired or run.last_true != now or now - run.since < self.min_duration:
                continue
            last = self._fired_at.get(key)
            if last is not None and now - last < self.cooldown:
                run.fired = True  # this stay falls inside the cooldown of the last one
                continue
            run.fired = True
            self._fired_at[key] = now
            due.append(key)
        for key, fired_at in list(self._fired_at.items()):
            if key not in self.runs and now - fired_at >= self.cooldown:
                del self._fired_at[key]
        return due

    def holds(self, key: int) -> bool:
        """Did `key`'s condition hold at the last step?"""
        run = self.runs.get(key)
        return run is not None and run.last_true == self._last_step

    def reset(self) -> None:
        """End every run (a schedule closed); firing times are kept for the cooldown."""
        self.runs.clear()


def _distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def normalised_anchors(points: np.ndarray, width: int, height: int) -> list[Point]:
    return [(float(x) / width, float(y) / height) for x, y in points]


def samples_in_zone(
    zone: Zone,
    detections: sv.Detections,
    *,
    width: int,
    height: int,
    anchor: Anchor,
    classes: frozenset[str],
) -> dict[int, Sample]:
    """Per track id, what was seen of each tracked object of a watched class inside `zone`."""
    track_ids = require_tracks(detections, "this rule")
    if len(detections) == 0:
        return {}
    names = class_names_of(detections)
    stationary = stationary_of(detections)
    normalised = np.asarray(anchor_points(detections, anchor), dtype=np.float64) / (width, height)
    inside = zone.contains_points(normalised)
    points = [(float(x), float(y)) for x, y in normalised]
    samples: dict[int, Sample] = {}
    for index, track_id in enumerate(int(t) for t in track_ids):
        if names[index] not in classes or not inside[index]:
            continue
        sample = Sample(
            points[index], confidence_of(detections, index), names[index],
            box_of(detections, index), bool(stationary[index]),
        )  # fmt: skip
        # Two boxes on one id (rare ByteTrack artefact): keep the surer one.
        if track_id not in samples or sample.confidence > samples[track_id].confidence:
            samples[track_id] = sample
    return samples
