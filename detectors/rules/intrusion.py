"""Zone intrusion: an object of a watched class inside a zone for N consecutive sampled frames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import supervision as sv

from detectors.rules.base import RuleHit
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
        self._tracks: dict[int, _TrackState] = {}

    @property
    def parameters(self) -> dict[str, object]:
        return {
            "zone": self.zone.name,
            "classes": sorted(self.classes),
            "min_frames": self.min_frames,
            "cooldown_s": self.cooldown.total_seconds(),
            "anchor": self.anchor,
        }

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        """Feed one frame's tracked detections; returns the hits this frame concludes."""
        if detections.tracker_id is None:
            raise ValueError("ZoneIntrusion needs tracked detections (tracker_id set)")
        names = detections.data.get("class_name")
        inside = self.zone.contains(detections, width, height, self.anchor)
        hits: list[RuleHit] = []
        present: set[int] = set()
        for index, track_id in enumerate(int(t) for t in detections.tracker_id):
            object_class = str(names[index]) if names is not None else ""
            if object_class not in self.classes:
                continue
            present.add(track_id)
            state = self._tracks.setdefault(track_id, _TrackState())
            state.last_seen = now
            if not inside[index]:
                state.frames_inside, state.entered_at, state.best_confidence = 0, None, 0.0
                continue
            confidence = (
                float(detections.confidence[index]) if detections.confidence is not None else 1.0
            )
            if state.frames_inside == 0:
                state.entered_at = now
            state.frames_inside += 1
            state.best_confidence = max(state.best_confidence, confidence)
            cooling = state.last_fired is not None and now - state.last_fired < self.cooldown
            if state.frames_inside >= self.min_frames and not cooling:
                state.last_fired = now
                assert state.entered_at is not None
                x1, y1, x2, y2 = (float(v) for v in detections.xyxy[index])
                hits.append(
                    RuleHit(
                        rule=self.kind,
                        zone=self.zone.name,
                        track_id=track_id,
                        object_class=object_class,
                        confidence=state.best_confidence,
                        started_at=state.entered_at,
                        detected_at=now,
                        box_xyxy=(x1, y1, x2, y2),
                        category=self.category,
                        severity=self.severity,
                        summary=f"{object_class} in zone {self.zone.name}",
                        parameters=self.parameters,
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
