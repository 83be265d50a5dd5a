"""Zone intrusion: an object of a watched class inside a zone for N consecutive sampled frames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import supervision as sv

from contract.rules import IntrusionRuleConfig
from detectors.rules.base import (
    RuleHit,
    StationaryRepeats,
    box_of,
    class_names_of,
    confidence_of,
    require_tracks,
    stationary_of,
)
from detectors.rules.registry import RuleSite, builds
from detectors.schedule import ALWAYS, Schedule
from detectors.zones import Anchor, Zone


@dataclass
class _TrackState:
    frames_inside: int = 0
    entered_at: datetime | None = None
    best_confidence: float = 0.0
    last_seen: datetime | None = None
    last_fired: datetime | None = None


class ZoneIntrusion:
    """Fires once when a tracked object of a watched class has been inside the zone for
    `min_frames` consecutive sampled frames, and not again for that track within `cooldown_s`.
    Outside its `schedule` it neither fires nor counts frames. With `skip_stationary`, an object
    the tracker marks stationary (a poster, a statue, a mannequin) fires once and is then ignored
    while it stays marked.

    Example:
        >>> rule = ZoneIntrusion(Zone("yard", ((0, 0), (1, 0), (1, 1), (0, 1))), {"person"})
        >>> hits = rule.update(tracked_detections, width=768, height=576, now=timestamp)
    """

    kind = "intrusion"

    def __init__(
        self,
        zone: Zone,
        classes: set[str],
        *,
        min_frames: int = 3,
        cooldown_s: float = 300.0,
        anchor: Anchor = "bottom_center",
        category: str = "public_safety",
        severity: str = "medium",
        schedule: Schedule = ALWAYS,
        skip_stationary: bool = True,
    ):
        if min_frames < 1:
            raise ValueError("min_frames must be at least 1")
        self.zone = zone
        self.zone_name = zone.name
        self.classes = frozenset(classes)
        self.min_frames = min_frames
        self.cooldown = timedelta(seconds=cooldown_s)
        self.anchor: Anchor = anchor
        self.category = category
        self.severity = severity
        self.schedule = schedule
        self.skip_stationary = skip_stationary
        self._tracks: dict[int, _TrackState] = {}
        self._repeats = StationaryRepeats()

    @property
    def parameters(self) -> dict[str, object]:
        return {
            "zone": self.zone.name,
            "classes": sorted(self.classes),
            "min_frames": self.min_frames,
            "cooldown_s": self.cooldown.total_seconds(),
            "anchor": self.anchor,
        }

    def holds(self, track_id: int) -> bool:
        state = self._tracks.get(track_id)
        return state is not None and state.frames_inside > 0

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        """Feed one frame's tracked detections; returns the hits this frame concludes."""
        track_ids = require_tracks(detections, "ZoneIntrusion")
        if not self.schedule.active(now):
            # Unarmed: nobody accumulates frames, so arming never fires on a stale count.
            detections = sv.Detections.empty()
            track_ids = track_ids[:0]
        names = class_names_of(detections)
        stationary = stationary_of(detections)
        inside = self.zone.contains(detections, width, height, self.anchor)
        hits: list[RuleHit] = []
        present: set[int] = set()
        for index, track_id in enumerate(int(t) for t in track_ids):
            object_class = names[index]
            if object_class not in self.classes:
                continue
            if self.skip_stationary and self._repeats.skip(
                track_id, stationary=bool(stationary[index]), now=now
            ):
                continue
            present.add(track_id)
            state = self._tracks.setdefault(track_id, _TrackState())
            state.last_seen = now
            if not inside[index]:
                state.frames_inside, state.entered_at, state.best_confidence = 0, None, 0.0
                continue
            if state.frames_inside == 0:
                state.entered_at = now
            state.frames_inside += 1
            state.best_confidence = max(state.best_confidence, confidence_of(detections, index))
            cooling = state.last_fired is not None and now - state.last_fired < self.cooldown
            if state.frames_inside >= self.min_frames and not cooling:
                state.last_fired = now
                self._repeats.alerted(track_id, now=now)
                assert state.entered_at is not None
                hits.append(
                    RuleHit(
                        rule=self.kind,
                        zone=self.zone.name,
                        track_id=track_id,
                        object_class=object_class,
                        confidence=state.best_confidence,
                        started_at=state.entered_at,
                        detected_at=now,
                        box_xyxy=box_of(detections, index),
                        category=self.category,
                        severity=self.severity,
                        summary=f"{object_class} in zone {self.zone.name}",
                        parameters=self.parameters,
                        track_ids=(track_id,),
                    )
                )
        # A track that left the picture ends its consecutive run; forget it once its cooldown
        # is over so the state does not grow with every passer-by.
        for track_id, state in list(self._tracks.items()):
            if track_id in present:
                continue
            state.frames_inside, state.entered_at, state.best_confidence = 0, None, 0.0
            last = state.last_fired or state.last_seen
            if last is None or now - last >= self.cooldown:
                del self._tracks[track_id]
        return hits


@builds(IntrusionRuleConfig)
def build_intrusion(config: IntrusionRuleConfig, site: RuleSite) -> ZoneIntrusion:
    return ZoneIntrusion(
        site.zones[config.zone],
        set(config.classes),
        min_frames=config.min_frames,
        anchor=config.anchor,
        skip_stationary=config.skip_stationary,
        **site.common(config),
    )
