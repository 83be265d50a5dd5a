"""Accuracy against hand-made labels: a rule run over a labelled clip, and the detector on
labelled photos. `gridwatch eval LABELS.json` prints the figures; the tests assert them."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2

from detectors.incident import Incident
from detectors.model import ObjectDetector
from detectors.motion import MotionGate
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.rules import ZoneIntrusion
from detectors.zones import Zone
from ingest.sources import FileSource

CLIP_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Score:
    """Incidents matched one to one with labelled events, each within the tolerance.

    Attributes:
        labelled: Events that must be reported.
        reported: Incidents the rule raised.
        matched: Incidents that match a labelled event.
        ignored: Incidents that match an ambiguous event (neither right nor wrong).
        false_alarms: Incidents that match nothing.
        missed: Ids of labelled events no incident matched.
        duration_s: Length of the footage.
    """

    labelled: int
    reported: int
    matched: int
    ignored: int
    false_alarms: int
    missed: tuple[str, ...]
    duration_s: float

    @property
    def precision(self) -> float:
        judged = self.matched + self.false_alarms
        return self.matched / judged if judged else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.labelled if self.labelled else 1.0

    @property
    def false_alarms_per_hour(self) -> float:
        return self.false_alarms * 3600 / self.duration_s if self.duration_s else 0.0

    def summary(self) -> str:
        return (
            f"precision {self.precision:.2f}, recall {self.recall:.2f} "
            f"({self.matched} of {self.labelled} labelled; {self.reported} reported, "
            f"{self.false_alarms} false alarms = {self.false_alarms_per_hour:.0f} per hour, "
            f"{self.ignored} on ambiguous events)"
            + (f"; missed {', '.join(self.missed)}" if self.missed else "")
        )


def score(
    reported_s: list[float],
    events: list[dict[str, Any]],
    ambiguous: list[dict[str, Any]],
    *,
    tolerance_s: float,
    duration_s: float,
) -> Score:
    """Match incident start times (seconds into the footage) to labelled `enter_s` times.

    Closest pairs are matched first, each incident and event at most once; ambiguous events
    then absorb what is left within the tolerance.

    Example:
        >>> score([1.0, 9.0], [{"id": "A", "enter_s": 1.5}], [], tolerance_s=2, duration_s=60)
        Score(labelled=1, reported=2, matched=1, ignored=0, false_alarms=1, missed=(), ...)
    """

    def match(times: list[float], targets: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
        pairs = sorted(
            (abs(time_s - target["enter_s"]), i, j)
            for i, time_s in enumerate(times)
            for j, target in enumerate(targets)
            if abs(time_s - target["enter_s"]) <= tolerance_s
        )
        used_times: set[int] = set()
        used_targets: set[int] = set()
        for _gap, i, j in pairs:
            if i not in used_times and j not in used_targets:
                used_times.add(i)
                used_targets.add(j)
        return used_times, used_targets

    matched_times, matched_events = match(reported_s, events)
    rest = [time_s for i, time_s in enumerate(reported_s) if i not in matched_times]
    ignored_times, _ = match(rest, ambiguous)
    return Score(
        labelled=len(events),
        reported=len(reported_s),
        matched=len(matched_times),
        ignored=len(ignored_times),
        false_alarms=len(rest) - len(ignored_times),
        missed=tuple(event["id"] for j, event in enumerate(events) if j not in matched_events),
        duration_s=duration_s,
    )


@dataclass
class ClipEvaluation:
    score: Score
    incidents: list[Incident] = field(repr=False)
    frames: int
    inferred: int
    seconds: float


def evaluate_clip(
    labels_path: Path, clip: Path, detector: ObjectDetector, *, motion_gate: bool = True
) -> ClipEvaluation:
    """Run the labelled rule over the clip and score its incidents against the labels."""
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    rule_spec = labels["rule"]
    if rule_spec["kind"] != "intrusion":
        raise ValueError(f"{labels_path}: only intrusion labels are scored so far")
    zone = Zone(labels["zone"]["name"], tuple(tuple(p) for p in labels["zone"]["polygon"]))
    rule = ZoneIntrusion(
        zone,
        set(rule_spec["classes"]),
        min_frames=rule_spec["min_frames"],
        cooldown_s=rule_spec["cooldown_s"],
        anchor=rule_spec["anchor"],
    )
    pipeline = CameraPipeline(
        "eval", detector, [zone], [rule], classes=rule_spec["classes"], confidence=0.4,
        motion_gate=MotionGate() if motion_gate else None,
        evidence=EvidenceSettings(clip=False),
    )  # fmt: skip
    source = FileSource(
        "eval", clip, detect_fps=labels["detect_fps"], loop=False, realtime=False,
        start_time=CLIP_START,
    )  # fmt: skip
    incidents: list[Incident] = []
    started = time.perf_counter()
    try:
        while (frame := source.read()) is not None:
            incidents += pipeline.process(frame.image, now=frame.timestamp, clock=frame.monotonic)
    finally:
        source.close()
    incidents += pipeline.flush()
    seconds = time.perf_counter() - started
    starts = sorted((incident.started_at - CLIP_START).total_seconds() for incident in incidents)
    result = score(
        starts, labels["visits"], labels.get("ambiguous", []),
        tolerance_s=labels["tolerance_s"], duration_s=labels["duration_s"],
    )  # fmt: skip
    return ClipEvaluation(
        result, incidents, pipeline.stats.frames, pipeline.stats.inferred, seconds
    )


@dataclass(frozen=True)
class PhotoScore:
    """Objects per class found against those counted by eye, over every photo."""

    labelled: int
    detected: int
    matched: int
    per_photo: dict[str, dict[str, tuple[int, int]]]  # photo -> class -> (labelled, found)

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.labelled if self.labelled else 1.0


def evaluate_photos(
    labels_path: Path, photos: dict[str, Path], detector: ObjectDetector, *, confidence: float
) -> PhotoScore:
    """Count the detector's objects per class in each labelled photo and compare."""
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    labelled = detected = matched = 0
    per_photo: dict[str, dict[str, tuple[int, int]]] = {}
    for photo in labels["photos"]:
        image = cv2.imread(str(photos[photo["asset"]]))
        if image is None:
            raise FileNotFoundError(photos[photo["asset"]])
        found = Counter(
            str(name) for name in detector.detect(image, confidence=confidence).data["class_name"]
        )
        for name, alternatives in photo.get("either", {}).items():
            for alternative in alternatives:
                # Another fair name for a labelled object counts as that object.
                moved = min(found[alternative], max(0, photo["objects"][name] - found[name]))
                found[name] += moved
                found[alternative] -= moved
        expected = Counter(photo["objects"])
        labelled += sum(expected.values())
        detected += sum(found.values())
        matched += sum(min(count, found[name]) for name, count in expected.items())
        per_photo[photo["asset"]] = {
            name: (expected[name], found[name]) for name in sorted(set(expected) | set(+found))
        }
    return PhotoScore(labelled, detected, matched, per_photo)


def ultralytics_photo(name: str) -> Path:
    """A photo that ships inside the ultralytics package (bus.jpg, zidane.jpg)."""
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets" / name
