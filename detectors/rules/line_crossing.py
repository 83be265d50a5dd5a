"""Line crossing: a tracked object crosses a drawn line in a given direction; crossings counted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import supervision as sv

from contract.rules import LineCrossingRuleConfig
from detectors.rules.base import (
    TRACK_MEMORY,
    Point,
    RuleHit,
    box_of,
    class_names_of,
    confidence_of,
    normalised_anchors,
    require_tracks,
)
from detectors.rules.registry import RuleSite, builds
from detectors.schedule import ALWAYS, Schedule
from detectors.zones import Anchor, anchor_points

Direction = Literal["in", "out", "both"]


@dataclass(frozen=True)
class Line:
    """A directed segment in normalised image coordinates.

    Looking from `start` towards `end`, crossing from the right-hand side to the left-hand side
    is "in", the other way "out". For a line drawn left to right across the picture, "in" is
    walking up the picture (away from the camera).
    """

    name: str
    start: Point
    end: Point

    def __post_init__(self) -> None:
        if math.dist(self.start, self.end) == 0:
            raise ValueError(f"line {self.name!r} needs two distinct points")

    def signed_distance(self, point: Point) -> float:
        """Positive on the right-hand side (looking from start to end), in normalised units."""
        (ax, ay), (bx, by) = self.start, self.end
        dx, dy = bx - ax, by - ay
        return (dx * (point[1] - ay) - dy * (point[0] - ax)) / math.hypot(dx, dy)

    def position_along(self, point: Point) -> float:
        """Where `point` projects onto the segment: 0 at start, 1 at end."""
        (ax, ay), (bx, by) = self.start, self.end
        dx, dy = bx - ax, by - ay
        return ((point[0] - ax) * dx + (point[1] - ay) * dy) / (dx * dx + dy * dy)


@dataclass
class _Crossing:
    """A track seen on the other side, not yet for long enough to count."""

    side: int
    since: datetime
    frames: int = 1


@dataclass
class _TrackSide:
    side: int  # +1 right-hand, -1 left-hand: the last side the track was clearly on
    point: Point
    seen: datetime
    last_fired: datetime | None = None
    crossing: _Crossing | None = None


class LineCrossing:
    """Counts tracked objects crossing `line` and fires for crossings in `direction`.

    A side only counts once the object's anchor is more than `margin` (normalised) away from the
    line, so a box jittering on the line is not counted as crossing back and forth; and a
    crossing only counts once the object has stayed on the new side for `hold_frames` sampled
    frames and `hold_s` seconds, so a box flickering across the line for a frame is not counted
    twice. A crossing counts only where it passes the drawn segment, not its extension. One
    incident per track within `cooldown_s`; every crossing is counted. An object the tracker
    lost and re-found keeps its track id (`ObjectTracker`'s hand-over), and so its side.

    Example:
        >>> gate = Line("gate", (0.0, 0.6), (1.0, 0.6))
        >>> rule = LineCrossing(gate, {"person"}, direction="in")
        >>> hits = rule.update(tracked_detections, width=768, height=576, now=timestamp)
        >>> rule.counts
        {'in': 0, 'out': 0}
    """

    kind = "line_crossing"

    def __init__(
        self,
        line: Line,
        classes: set[str] | frozenset[str] = frozenset({"person"}),
        *,
        direction: Direction = "both",
        margin: float = 0.01,
        hold_frames: int = 2,
        hold_s: float = 0.0,
        cooldown_s: float = 60.0,
        anchor: Anchor = "bottom_center",
        category: str = "public_safety",
        severity: str = "low",
        schedule: Schedule = ALWAYS,
    ):
        if hold_frames < 1 or hold_s < 0:
            raise ValueError("hold_frames must be at least 1 and hold_s not negative")
        self.line = line
        self.zone_name = line.name
        self.classes = frozenset(classes)
        self.direction: Direction = direction
        self.margin = margin
        self.hold_frames = hold_frames
        self.hold = timedelta(seconds=hold_s)
        self.cooldown = timedelta(seconds=cooldown_s)
        self.anchor: Anchor = anchor
        self.category = category
        self.severity = severity
        self.schedule = schedule
        self.counts = {"in": 0, "out": 0}
        self._tracks: dict[int, _TrackSide] = {}
        self._crossed_now: set[int] = set()

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "line": self.line.name,
            "start": list(self.line.start),
            "end": list(self.line.end),
            "classes": sorted(self.classes),
            "direction": self.direction,
            "margin": self.margin,
            "hold_frames": self.hold_frames,
            "hold_s": self.hold.total_seconds(),
            "cooldown_s": self.cooldown.total_seconds(),
            "anchor": self.anchor,
        }

    def holds(self, track_id: int) -> bool:
        # A crossing is an instant: the incident ends when it happens.
        return track_id in self._crossed_now

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        """Feed one frame's tracked detections; returns a hit per watched crossing this frame."""
        track_ids = require_tracks(detections, "LineCrossing")
        self._crossed_now = set()
        armed = self.schedule.active(now)
        names = class_names_of(detections)
        points = normalised_anchors(anchor_points(detections, self.anchor), width, height)
        present = {
            int(track_id) for track_id, name in zip(track_ids, names, strict=True)
            if name in self.classes
        }  # fmt: skip
        hits: list[RuleHit] = []
        for index, track_id in enumerate(int(t) for t in track_ids):
            if names[index] not in self.classes:
                continue
            point = points[index]
            distance = self.line.signed_distance(point)
            side = 0 if abs(distance) <= self.margin else (1 if distance > 0 else -1)
            state = self._tracks.get(track_id)
            if state is None:
                if side:
                    self._tracks[track_id] = _TrackSide(side, point, now)
                continue
            state.seen = now
            crossing = self._step(state, side, point, now)
            if crossing is None:
                continue
            way = "in" if crossing.side < 0 else "out"
            self.counts[way] += 1
            self._crossed_now.add(track_id)
            watched = self.direction in ("both", way)
            cooling = state.last_fired is not None and now - state.last_fired < self.cooldown
            if not (armed and watched) or cooling:
                continue
            state.last_fired = now
            hits.append(
                RuleHit(
                    rule=self.kind,
                    zone=self.line.name,
                    track_id=track_id,
                    object_class=names[index],
                    confidence=confidence_of(detections, index),
                    started_at=crossing.since,
                    detected_at=now,
                    box_xyxy=box_of(detections, index),
                    category=self.category,
                    severity=self.severity,
                    summary=f"{names[index]} crossed line {self.line.name} ({way})",
                    parameters=self.parameters,
                    track_ids=(track_id,),
                    details={
                        "direction": way,
                        "count_in": self.counts["in"],
                        "count_out": self.counts["out"],
                    },
                )
            )
        forget_after = max(TRACK_MEMORY, self.cooldown)
        for track_id, state in list(self._tracks.items()):
            if track_id not in present and now - state.seen > forget_after:
                del self._tracks[track_id]
        return hits

    def _step(self, state: _TrackSide, side: int, point: Point, now: datetime) -> _Crossing | None:
        """Move `state` on by one sighting on `side` (0: within the margin) at `point`; returns
        the crossing this sighting completes, if any."""
        if side == 0:
            return None  # on the line: neither across nor back
        if side == state.side:
            state.point, state.crossing = point, None  # back: a flicker, not a crossing
            return None
        if state.crossing is None:
            middle = ((state.point[0] + point[0]) / 2, (state.point[1] + point[1]) / 2)
            if not -0.02 <= self.line.position_along(middle) <= 1.02:
                state.side, state.point = side, point  # went round the segment's end
                return None
            state.crossing = _Crossing(side, now)
        else:
            state.crossing.frames += 1
        crossing = state.crossing
        if crossing.frames < self.hold_frames or now - crossing.since < self.hold:
            return None
        state.side, state.point, state.crossing = side, point, None
        return crossing


@builds(LineCrossingRuleConfig)
def build_line_crossing(config: LineCrossingRuleConfig, site: RuleSite) -> LineCrossing:
    return LineCrossing(
        site.lines[config.line],
        set(config.classes),
        direction=config.direction,
        margin=config.margin,
        hold_frames=config.hold_frames,
        hold_s=config.hold_s,
        anchor=config.anchor,
        **site.common(config),
    )
