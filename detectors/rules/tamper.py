"""Camera tamper: the view blacked out, covered, defocused or moved, judged from the picture."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np

from contract.rules import TamperRuleConfig
from detectors.rules.base import DwellTimer, RuleHit, Sample
from detectors.rules.registry import RuleSite, builds
from detectors.schedule import ALWAYS, Schedule

VIEW_KEY = 0  # tamper is about the whole view, not one object
ANALYSIS_WIDTH = 160  # pixels; enough for global statistics, cheap at any camera resolution


@dataclass(frozen=True)
class ViewMeasure:
    """Global statistics of one downscaled grey frame."""

    mean: float  # brightness, 0..255
    contrast: float  # standard deviation of brightness
    sharpness: float  # variance of the Laplacian: high for crisp edges, low when defocused


def measure(grey: np.ndarray) -> ViewMeasure:
    return ViewMeasure(
        mean=float(grey.mean()),
        contrast=float(grey.std()),
        sharpness=float(cv2.Laplacian(grey, cv2.CV_32F).var()),
    )


def _small_grey(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    size = (ANALYSIS_WIDTH, max(1, round(height * ANALYSIS_WIDTH / width)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # shrink first: less to convert
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small


class Tamper:
    """Fires when the view has been blacked out, covered, defocused or moved for `hold_s`.

    The view is compared with a reference frame learned from the first `warmup_frames` frames
    and refreshed every `refresh_s` while the view is healthy, so slow changes (daylight, a
    parked car) do not look like tampering:

    - blacked out: mean brightness under `dark_level` with almost no contrast;
    - covered: contrast under `min_contrast` (a lens cap, a cloth, spray paint) where the
      reference had structure;
    - defocused: sharpness under `defocus_ratio` of the reference's;
    - moved: the picture no longer lines up with the reference (normalised correlation of the
      two under `min_similarity`, or a global shift over `max_shift` of the width).

    A view that stays moved for `rebaseline_s` becomes the new reference: someone re-aimed
    the camera on purpose and the incident already told the operator.

    Example:
        >>> rule = Tamper(hold_s=5)
        >>> hits = rule.update_frame(frame.image, now=frame.timestamp)
    """

    kind = "tamper"
    zone_name = "view"

    def __init__(
        self,
        *,
        hold_s: float = 5.0,
        cooldown_s: float = 600.0,
        dark_level: float = 25.0,
        min_contrast: float = 8.0,
        defocus_ratio: float = 0.3,
        min_similarity: float = 0.45,
        max_shift: float = 0.08,
        warmup_frames: int = 3,
        refresh_s: float = 60.0,
        rebaseline_s: float = 600.0,
        category: str = "device_fault",
        severity: str = "high",
        schedule: Schedule = ALWAYS,
    ):
        self.hold_s = hold_s
        self.cooldown_s = cooldown_s
        self.dark_level = dark_level
        self.min_contrast = min_contrast
        self.defocus_ratio = defocus_ratio
        self.min_similarity = min_similarity
        self.max_shift = max_shift
        self.warmup_frames = warmup_frames
        self.refresh = timedelta(seconds=refresh_s)
        self.rebaseline = timedelta(seconds=rebaseline_s)
        self.category = category
        self.severity = severity
        self.schedule = schedule
        # No grace: a tampered view is tampered in every frame; one healthy frame ends it.
        self.timer = DwellTimer(min_duration_s=hold_s, grace_s=0.0, cooldown_s=cooldown_s)
        self.reference: np.ndarray | None = None
        self._reference_float: np.ndarray | None = None
        self.reference_measure: ViewMeasure | None = None
        self._reference_at: datetime | None = None
        self._warmup: list[np.ndarray] = []
        self.last_reason: str | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "hold_s": self.hold_s,
            "cooldown_s": self.cooldown_s,
            "dark_level": self.dark_level,
            "min_contrast": self.min_contrast,
            "defocus_ratio": self.defocus_ratio,
            "min_similarity": self.min_similarity,
            "max_shift": self.max_shift,
        }

    def holds(self, track_id: int) -> bool:
        return self.timer.holds(VIEW_KEY)

    def diagnose(self, grey: np.ndarray) -> str | None:
        """What is wrong with the view against the reference: a reason, or None when healthy."""
        view = measure(grey)
        if view.mean < self.dark_level and view.contrast < 2 * self.min_contrast:
            return "blacked_out"
        reference = self.reference_measure
        if view.contrast < self.min_contrast and (
            reference is None or reference.contrast >= 2 * self.min_contrast
        ):
            return "covered"
        if reference is None or self.reference is None or self._reference_float is None:
            return None
        if view.sharpness < self.defocus_ratio * reference.sharpness:
            return "defocused"
        similarity = float(cv2.matchTemplate(grey, self.reference, cv2.TM_CCOEFF_NORMED).max())
        (shift_x, shift_y), _response = cv2.phaseCorrelate(
            self._reference_float, grey.astype(np.float32)
        )
        shift = float(np.hypot(shift_x, shift_y)) / grey.shape[1]
        if similarity < self.min_similarity or shift > self.max_shift:
            return "moved"
        return None

    def update_frame(self, image: np.ndarray, *, now: datetime) -> list[RuleHit]:
        """Feed one frame; returns the hit this frame concludes, if any."""
        grey = cv2.GaussianBlur(_small_grey(image), (3, 3), 0)
        if self.reference is None:
            self._learn(grey, now)
        reason = self.diagnose(grey) if self.schedule.active(now) else None
        self.last_reason = reason
        height, width = image.shape[:2]
        samples = {}
        if reason is not None:
            sample = Sample((0.5, 0.5), 1.0, "", (0.0, 0.0, float(width), float(height)))
            samples[VIEW_KEY] = sample
        due = self.timer.step(samples, now=now)
        run = self.timer.runs.get(VIEW_KEY)
        if reason is None and self._reference_at is not None:
            if now - self._reference_at >= self.refresh:
                self._set_reference(grey, now)
        elif reason == "moved" and run is not None and now - run.since >= self.rebaseline:
            self._set_reference(grey, now)
        if not due or run is None or reason is None:
            return []
        held = (now - run.since).total_seconds()
        return [
            RuleHit(
                rule=self.kind,
                zone=self.zone_name,
                track_id=VIEW_KEY,
                object_class="",
                confidence=1.0,
                started_at=run.since,
                detected_at=now,
                box_xyxy=(0.0, 0.0, float(width), float(height)),
                category=self.category,
                severity=self.severity,
                summary=f"camera view {reason.replace('_', ' ')} for {held:.0f} s",
                parameters=self.parameters,
                details={"reason": reason},
            )
        ]

    def _learn(self, grey: np.ndarray, now: datetime) -> None:
        self._warmup.append(grey)
        if len(self._warmup) >= self.warmup_frames:
            # The median of a few frames leaves out people passing through.
            self._set_reference(np.median(np.stack(self._warmup), axis=0).astype(np.uint8), now)
            self._warmup.clear()

    def _set_reference(self, grey: np.ndarray, now: datetime) -> None:
        self.reference = grey
        self._reference_float = grey.astype(np.float32)
        self.reference_measure = measure(grey)
        self._reference_at = now


@builds(TamperRuleConfig)
def build_tamper(config: TamperRuleConfig, site: RuleSite) -> Tamper:
    return Tamper(
        hold_s=config.hold_s,
        defocus_ratio=config.defocus_ratio,
        min_similarity=config.min_similarity,
        **site.common(config),
    )
