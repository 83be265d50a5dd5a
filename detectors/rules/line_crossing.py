"""Line crossing: a tracked object crosses a drawn line in a given direction; crossings counted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import supervision as sv

from contract.rules import LineCrossingRuleConfig
from detectors.rules.base import (
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
class _TrackSide:
    side: int  # +1 right-hand, -1 left-hand: the last side the track was clearly on
    point: Point
    seen: datetime
    last_fired: datetime | None = None


class LineCrossing:
    """Counts tracked objects crossing `line` and fires for crossings in `direction`.

    A side only counts once the object's anchor is more than `margin` (normalised) away from the
    line, so a box jittering on the line is not counted as crossing back and forth. A crossing
    counts only where it passes the drawn segment, not its extension. A track that vanishes and
    reappears under a new id within `grace_s` near where it was keeps its side. One incident per
    track within `cooldown_s`; every crossing is counted.

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
        grace_s: float = 2.0,
        handover_distance: float = 0.1,
        cooldown_s: float = 60.0,
        anchor: Anchor = "bottom_center",
        category: str = "public_safety",
        severity: str = "low",
        schedule: Schedule = ALWAYS,
    ):
        self.line = line
        self.zone_name = line.name
        self.classes = frozenset(classes)
        self.direction: Direction = direction
        self.margin = margin
        self.grace = timedelta(seconds=grace_s)
        self.handover_distance = handover_distance
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
            state = self._tracks.get(track_id) or self._handover(track_id, point, present, now)
            if state is None:
                if side:
                    self._tracks[track_id] = _TrackSide(side, point, now)
                continue
            crossed = side != 0 and side != state.side
            if crossed:
                middle = ((state.point[0] + point[0]) / 2, (state.point[1] + point[1]) / 2)
                crossed = -0.02 <= self.line.position_along(middle) <= 1.02
            previous_side = state.side
            if side:
                state.side, state.point = side, point
            state.seen = now
            if not crossed:
                continue
            way = "in" if previous_side > 0 else "out"
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
                    started_at=now,
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
        for track_id, state in list(self._tracks.items()):
            if track_id not in present and now - state.seen > max(self.grace, self.cooldown):
                del self._tracks[track_id]
        return hits

    def _handover(
        self, track_id: int, point: Point, present: set[int], now: datetime
    ) -> _TrackSide | None:
        """The side of a track lost within `grace_s` near `point`: the tracker re-found it."""
        lost = [
            (other, state)
            for other, state in self._tracks.items()
            if other not in present and now - state.seen <= self.grace
            and math.dist(state.point, point) <= self.handover_distance
        ]  # fmt: skip
        if not lost:
            return None
        other, state = min(lost, key=lambda item: math.dist(item[1].point, point))
        del self._tracks[other]
        self._tracks[track_id] = state
        return state


@builds(LineCrossingRuleConfig)
def build_line_crossing(config: LineCrossingRuleConfig, site: RuleSite) -> LineCrossing:
    return LineCrossing(
        site.lines[config.line],
        set(config.classes),
        direction=config.direction,
        margin=config.margin,
        anchor=config.anchor,
        **site.common(config),
    )
