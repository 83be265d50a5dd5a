"""Rules that fire when a condition has held long enough: loitering, illegal parking, a fall,
and a crowd. Each is a thin layer over `DwellTimer`, so they share its tolerance of tracking noise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import supervision as sv

from contract.rules import (
    CrowdRuleConfig,
    FallRuleConfig,
    IllegalParkingRuleConfig,
    LoiteringRuleConfig,
)
from detectors.rules.base import (
    DwellTimer,
    RuleHit,
    Sample,
    StationaryRepeats,
    samples_in_zone,
)
from detectors.rules.registry import RuleSite, builds
from detectors.schedule import ALWAYS, Schedule
from detectors.zones import Anchor, Zone

VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})


class _TrackDwellRule:
    """A tracked object of a watched class inside a zone, held for `min_duration_s`."""

    kind = ""
    summary_template = ""

    def __init__(
        self,
        zone: Zone,
        classes: set[str] | frozenset[str],
        *,
        min_duration_s: float,
        grace_s: float,
        cooldown_s: float,
        anchor: Anchor,
        category: str,
        severity: str,
        schedule: Schedule,
        max_displacement: float | None = None,
        skip_stationary: bool = False,
    ):
        if not classes:
            raise ValueError(f"{self.kind}: at least one class is needed")
        self.zone = zone
        self.zone_name = zone.name
        self.classes = frozenset(classes)
        self.anchor: Anchor = anchor
        self.category = category
        self.severity = severity
        self.schedule = schedule
        self.timer = DwellTimer(
            min_duration_s=min_duration_s,
            grace_s=grace_s,
            cooldown_s=cooldown_s,
            max_displacement=max_displacement,
        )
        self.skip_stationary = skip_stationary
        self._repeats = StationaryRepeats()
        self.min_duration_s = min_duration_s
        self.grace_s = grace_s
        self.cooldown_s = cooldown_s

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "zone": self.zone.name,
            "classes": sorted(self.classes),
            "min_duration_s": self.min_duration_s,
            "grace_s": self.grace_s,
            "cooldown_s": self.cooldown_s,
            "anchor": self.anchor,
        }

    def holds(self, track_id: int) -> bool:
        return self.timer.holds(track_id)

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        """Feed one frame's tracked detections; returns the hits this frame concludes."""
        if not self.schedule.active(now):
            self.timer.reset()
            return []
        samples = samples_in_zone(
            self.zone, detections, width=width, height=height, anchor=self.anchor,
            classes=self.classes,
        )  # fmt: skip
        if self.skip_stationary:
            samples = {
                track_id: sample for track_id, sample in samples.items()
                if not self._repeats.skip(track_id, stationary=sample.stationary, now=now)
            }  # fmt: skip
        hits = []
        for track_id in self.timer.step(samples, now=now):
            self._repeats.alerted(track_id, now=now)
            run = self.timer.runs[track_id]
            held = (now - run.since).total_seconds()
            summary = self.summary_template.format(
                object_class=run.sample.object_class, zone=self.zone.name, held=held
            )
            hits.append(self._hit(track_id, now, summary, (track_id,), {"held_s": round(held, 1)}))
        return hits

    def _hit(
        self,
        key: int,
        now: datetime,
        summary: str,
        track_ids: tuple[int, ...],
        details: dict[str, Any],
    ) -> RuleHit:
        """The hit for the timer's run under `key`, concluded at `now`."""
        run = self.timer.runs[key]
        return RuleHit(
            rule=self.kind,
            zone=self.zone.name,
            track_id=key,
            object_class=run.sample.object_class,
            confidence=run.best_confidence,
            started_at=run.since,
            detected_at=now,
            box_xyxy=run.sample.box_xyxy,
            category=self.category,
            severity=self.severity,
            summary=summary,
            parameters=self.parameters,
            track_ids=track_ids,
            details=details,
        )


class Loitering(_TrackDwellRule):
    """Fires when a tracked person (or other watched class) has stayed in the zone longer than
    `dwell_s`; brief exits shorter than `grace_s` do not restart the clock. With
    `skip_stationary`, an object the tracker marks stationary (a poster, a mannequin) fires once
    and is then ignored while it stays marked.

    Example:
        >>> rule = Loitering(Zone("gate", ((0, 0), (1, 0), (1, 1))), {"person"}, dwell_s=60)
        >>> hits = rule.update(tracked_detections, width=768, height=576, now=timestamp)
    """

    kind = "loitering"
    summary_template = "{object_class} loitering in zone {zone} for {held:.0f} s"

    def __init__(
        self,
        zone: Zone,
        classes: set[str] | frozenset[str] = frozenset({"person"}),
        *,
        dwell_s: float = 60.0,
        grace_s: float = 3.0,
        cooldown_s: float = 300.0,
        anchor: Anchor = "bottom_center",
        category: str = "public_safety",
        severity: str = "medium",
        schedule: Schedule = ALWAYS,
        skip_stationary: bool = True,
    ):
        super().__init__(
            zone, classes, min_duration_s=dwell_s, grace_s=grace_s, cooldown_s=cooldown_s,
            anchor=anchor, category=category, severity=severity, schedule=schedule,
            skip_stationary=skip_stationary,
        )  # fmt: skip


class IllegalParking(_TrackDwellRule):
    """Fires when a vehicle has stood still in a no-parking zone longer than `max_stay_s`.

    "Still" means its foot point stayed within `max_movement` (normalised image units) of where
    it stopped; a vehicle that moves on starts a new stay where it stops next. The pipeline reads
    the plate of the vehicle that fired, when legible.

    Example:
        >>> rule = IllegalParking(Zone("fire_lane", ((0, 0.5), (1, 0.5), (1, 1))), max_stay_s=120)
    """

    kind = "illegal_parking"
    summary_template = "{object_class} parked in no-parking zone {zone} for {held:.0f} s"

    def __init__(
        self,
        zone: Zone,
        classes: set[str] | frozenset[str] = VEHICLE_CLASSES,
        *,
        max_stay_s: float = 120.0,
        max_movement: float = 0.03,
        grace_s: float = 5.0,
        cooldown_s: float = 1800.0,
        anchor: Anchor = "bottom_center",
        category: str = "urban_management",
        severity: str = "low",
        schedule: Schedule = ALWAYS,
        read_plate: bool = True,
    ):
        super().__init__(
            zone, classes, min_duration_s=max_stay_s, grace_s=grace_s, cooldown_s=cooldown_s,
            anchor=anchor, category=category, severity=severity, schedule=schedule,
            max_displacement=max_movement,
        )  # fmt: skip
        self.max_movement = max_movement
        self.reads_plates = read_plate

    @property
    def parameters(self) -> dict[str, Any]:
        return {**super().parameters, "max_movement": self.max_movement}


class Fall(_TrackDwellRule):
    """Fires when the fall model has classed a tracked person as fallen for `hold_s`; a flicker
    back to "Normal" shorter than `grace_s` does not restart the clock.

    Needs a model with a fallen-person class (`fall-yolov8`: classes Normal and Fall).

    Example:
        >>> rule = Fall(Zone("ward", ((0, 0), (1, 0), (1, 1), (0, 1))), hold_s=3)
    """

    kind = "fall"
    summary_template = "person down in zone {zone} for {held:.0f} s"

    def __init__(
        self,
        zone: Zone,
        classes: set[str] | frozenset[str] = frozenset({"Fall"}),
        *,
        hold_s: float = 3.0,
        grace_s: float = 1.5,
        cooldown_s: float = 300.0,
        anchor: Anchor = "center",
        category: str = "health_emergency",
        severity: str = "critical",
        schedule: Schedule = ALWAYS,
    ):
        super().__init__(
            zone, classes, min_duration_s=hold_s, grace_s=grace_s, cooldown_s=cooldown_s,
            anchor=anchor, category=category, severity=severity, schedule=schedule,
        )  # fmt: skip


CROWD_KEY = 0  # a crowd is the zone's, not one track's


class Crowd(_TrackDwellRule):
    """Fires when at least `min_people` tracked people have been in the zone together for
    `hold_s`; dips shorter than `grace_s` (someone hidden for a moment) do not restart the clock.
    One incident per zone within `cooldown_s`.

    The timer runs on the zone as a whole (one key), not on each track.

    Example:
        >>> rule = Crowd(Zone("square", ((0, 0), (1, 0), (1, 1))), min_people=10, hold_s=30)
    """

    kind = "crowd"

    def __init__(
        self,
        zone: Zone,
        classes: set[str] | frozenset[str] = frozenset({"person"}),
        *,
        min_people: int = 10,
        hold_s: float = 30.0,
        grace_s: float = 3.0,
        cooldown_s: float = 600.0,
        anchor: Anchor = "bottom_center",
        category: str = "public_safety",
        severity: str = "medium",
        schedule: Schedule = ALWAYS,
    ):
        if min_people < 1:
            raise ValueError("min_people must be at least 1")
        super().__init__(
            zone, classes, min_duration_s=hold_s, grace_s=grace_s, cooldown_s=cooldown_s,
            anchor=anchor, category=category, severity=severity, schedule=schedule,
        )  # fmt: skip
        self.min_people = min_people
        self.hold_s = hold_s
        self._peak = 0

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "zone": self.zone.name,
            "classes": sorted(self.classes),
            "min_people": self.min_people,
            "hold_s": self.hold_s,
            "grace_s": self.grace_s,
            "cooldown_s": self.cooldown_s,
            "anchor": self.anchor,
        }

    def holds(self, track_id: int) -> bool:
        return self.timer.holds(CROWD_KEY)

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        """Feed one frame's tracked detections; returns the hit this frame concludes, if any."""
        if not self.schedule.active(now):
            self.timer.reset()
            return []
        inside = samples_in_zone(
            self.zone, detections, width=width, height=height, anchor=self.anchor,
            classes=self.classes,
        )  # fmt: skip
        crowded = len(inside) >= self.min_people
        if crowded:
            self._peak = (
                max(self._peak, len(inside)) if self.timer.holds(CROWD_KEY) else len(inside)
            )
            boxes = [sample.box_xyxy for sample in inside.values()]
            union = (
                min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes),
            )  # fmt: skip
            best = max(sample.confidence for sample in inside.values())
            label = next(iter(inside.values())).object_class
            sample = Sample((0.0, 0.0), best, label, union)
        if not self.timer.step({CROWD_KEY: sample} if crowded else {}, now=now):
            return []
        return [
            self._hit(
                CROWD_KEY, now, f"{len(inside)} people gathered in zone {self.zone.name}",
                tuple(sorted(inside)), {"count": len(inside), "peak_count": self._peak},
            )
        ]  # fmt: skip


@builds(LoiteringRuleConfig)
def build_loitering(config: LoiteringRuleConfig, site: RuleSite) -> Loitering:
    return Loitering(
        site.zones[config.zone],
        set(config.classes),
        dwell_s=config.dwell_s,
        grace_s=config.grace_s,
        anchor=config.anchor,
        skip_stationary=config.skip_stationary,
        **site.common(config),
    )


@builds(CrowdRuleConfig)
def build_crowd(config: CrowdRuleConfig, site: RuleSite) -> Crowd:
    return Crowd(
        site.zones[config.zone],
        set(config.classes),
        min_people=config.min_people,
        hold_s=config.hold_s,
        grace_s=config.grace_s,
        anchor=config.anchor,
        **site.common(config),
    )


@builds(IllegalParkingRuleConfig)
def build_illegal_parking(config: IllegalParkingRuleConfig, site: RuleSite) -> IllegalParking:
    return IllegalParking(
        site.zones[config.zone],
        set(config.classes),
        max_stay_s=config.max_stay_s,
        max_movement=config.max_movement,
        grace_s=config.grace_s,
        anchor=config.anchor,
        read_plate=config.read_plate,
        **site.common(config),
    )


@builds(FallRuleConfig)
def build_fall(config: FallRuleConfig, site: RuleSite) -> Fall:
    return Fall(
        site.zones[config.zone],
        set(config.classes),
        hold_s=config.hold_s,
        grace_s=config.grace_s,
        anchor=config.anchor,
        **site.common(config),
    )
