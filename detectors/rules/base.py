"""What every rule returns, and the interface rules share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import supervision as sv


@dataclass(frozen=True)
class RuleHit:
    """A rule's conclusion about one tracked object; the pipeline adds evidence to make an incident.

    Attributes:
        rule: Rule kind, e.g. "intrusion".
        zone: Name of the zone concerned.
        track_id: The tracked object that fired the rule.
        object_class: Its class name.
        confidence: The best detector confidence seen for it while the rule's condition held.
        started_at: When the condition began to hold.
        detected_at: When the rule concluded (the current frame's time).
        box_xyxy: The object's box in this frame, in pixels.
        category: Grid-event category to file under.
        severity: Grid-event severity.
        summary: One line for an operator.
        parameters: The rule's parameters, recorded with the incident.
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


class Rule(Protocol):
    """A rule sees every sampled frame of one camera, in time order."""

    kind: str
    zone_name: str

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]: ...
