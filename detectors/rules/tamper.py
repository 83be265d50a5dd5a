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
FEATURE_WIDTH = 480  # pixels; ORB needs corners a few pixels wide, and 480 keeps it ~10 ms
MIN_INLIERS = 15  # feature matches agreeing on one homography before it is believed


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


@dataclass(frozen=True)
class ViewChange:
    """How the view moved against the reference, from a homography between their features.

    Attributes:
        shift_x: Horizontal movement of the picture's centre, as a share of its width
            (positive: the scene moved right in the picture).
        shift_y: Vertical movement of the centre, as a share of the width (positive: down).
        scale: Zoom against the reference (1.15: things look 15% larger).
        rotation_deg: Rotation in degrees, clockwise as seen in the picture.
        inliers: Feature matches that agree with the homography (RANSAC inliers).
    """

    shift_x: float
    shift_y: float
    scale: float
    rotation_deg: float
    inliers: int

    @property
    def shift(self) -> float:
        return float(np.hypot(self.shift_x, self.shift_y))

    def details(self) -> dict[str, float | int]:
        return {
            "shift_x": round(self.shift_x, 3),
            "shift_y": round(self.shift_y, 3),
            "scale": round(self.scale, 3),
            "rotation_deg": round(self.rotation_deg, 1),
            "inliers": self.inliers,
        }

    def describe(self) -> str:
        """In words, e.g. "shifted 15% right, zoomed in 1.15x"."""
        parts = []
        if abs(self.shift_x) >= 0.01:
            side = "right" if self.shift_x > 0 else "left"
            parts.append(f"shifted {abs(self.shift_x):.0%} {side}")
        if abs(self.shift_y) >= 0.01:
            side = "down" if self.shift_y > 0 else "up"
            parts.append(f"shifted {abs(self.shift_y):.0%} {side}")
        if abs(self.scale - 1) >= 0.01:
            parts.append(f"zoomed {'in' if self.scale > 1 else 'out'} {self.scale:.2f}x")
        if abs(self.rotation_deg) >= 1:
            turn = "clockwise" if self.rotation_deg > 0 else "anticlockwise"
            parts.append(f"turned {abs(self.rotation_deg):.0f}° {turn}")
        return ", ".join(parts) or "no measurable change"


class ViewFeatures:
    """ORB keypoints of one view, and the homography that maps them onto another view's.

    Matching features (corners of buildings, kerbs, signs) tells a re-aimed or zoomed camera
    from a busy or darker scene: people walking are outliers RANSAC leaves out, and ORB's
    binary tests compare brightness within a patch, so a slow change of light keeps the
    matches. Cheap enough for every sampled frame (about 10 ms at 480 pixels wide).
    """

    def __init__(self, grey: np.ndarray):
        self.size = grey.shape[1], grey.shape[0]
        self.keypoints, self.descriptors = _orb().detectAndCompute(grey, None)

    def change_to(self, other: ViewFeatures) -> ViewChange | None:
        """How `other` moved against this view; None when too few features match to say (a
        featureless or covered view: the other checks judge it)."""
        if self.descriptors is None or other.descriptors is None or len(other.keypoints) < 2:
            return None
        pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(self.descriptors, other.descriptors, k=2)
        # Lowe's ratio test: keep a match only when it is clearly better than the next best.
        good = [
            pair[0]
            for pair in pairs
            if len(pair) == 2 and pair[0].distance < 0.75 * pair[1].distance
        ]
        if len(good) < MIN_INLIERS:
            return None
        source = np.array([self.keypoints[match.queryIdx].pt for match in good], np.float32)
        target = np.array([other.keypoints[match.trainIdx].pt for match in good], np.float32)
        homography, inlier_mask = cv2.findHomography(source, target, cv2.RANSAC, 3.0)
        if homography is None or inlier_mask is None or int(inlier_mask.sum()) < MIN_INLIERS:
            return None
        # The homography picks the matches on the scene's fixed parts; the view's movement is
        # read from the similarity (shift, zoom, turn) that fits them, which a homography's
        # perspective terms would otherwise absorb.
        kept = inlier_mask.ravel().astype(bool)
        similarity, _ = cv2.estimateAffinePartial2D(source[kept], target[kept], method=cv2.LMEDS)
        if similarity is None:
            return None
        width, height = self.size
        centre = np.array([width / 2, height / 2, 1.0])
        shift_x, shift_y = (similarity @ centre - centre[:2]) / width
        cos_scaled, sin_scaled = float(similarity[0, 0]), float(similarity[1, 0])
        return ViewChange(
            shift_x=float(shift_x),
            shift_y=float(shift_y),
            scale=float(np.hypot(cos_scaled, sin_scaled)),
            rotation_deg=float(np.degrees(np.arctan2(sin_scaled, cos_scaled))),
            inliers=int(inlier_mask.sum()),
        )


def _orb() -> cv2.ORB:
    return cv2.ORB.create(nfeatures=500)


def _grey_at(image: np.ndarray, target_width: int) -> np.ndarray:
    height, width = image.shape[:2]
    size = (target_width, max(1, round(height * target_width / width)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # shrink first: less to convert
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small


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
    - moved (re-aimed, pushed, zoomed, a PTZ preset lost): the reference's ORB features map
      onto the frame's by a homography (RANSAC) that shifts the view more than `max_shift` of
      its width, zooms it more than `max_zoom`, or turns it more than `max_rotation_deg`; the
      shift, zoom and turn are in the hit's details. People walking do not fit the homography
      and light changes keep the features, so neither counts. Where too few features match to
      say (a bare wall, night), the picture's correlation with the reference under
      `min_similarity`, or a global shift over `max_shift`, decides.

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
        max_zoom: float = 0.08,
        max_rotation_deg: float = 5.0,
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
        self.max_zoom = max_zoom
        self.max_rotation_deg = max_rotation_deg
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
        self._warmup: list[tuple[np.ndarray, np.ndarray]] = []  # (small grey, feature grey)
        self._reference_features: ViewFeatures | None = None
        self.last_reason: str | None = None
        self.last_change: ViewChange | None = None  # how the view moved, when it did

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
            "max_zoom": self.max_zoom,
            "max_rotation_deg": self.max_rotation_deg,
        }

    def holds(self, track_id: int) -> bool:
        return self.timer.holds(VIEW_KEY)

    def diagnose(self, grey: np.ndarray, features: ViewFeatures | None = None) -> str | None:
        """What is wrong with the view against the reference: a reason, or None when healthy.

        `grey` is the frame at `ANALYSIS_WIDTH`, `features` its ORB features at
        `FEATURE_WIDTH`; a "moved" view's change is left in `last_change`.
        """
        self.last_change = None
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
        change = None
        if features is not None and self._reference_features is not None:
            change = self._reference_features.change_to(features)
        if change is not None:
            if (
                change.shift > self.max_shift
                or abs(change.scale - 1) > self.max_zoom
                or abs(change.rotation_deg) > self.max_rotation_deg
            ):
                self.last_change = change
                return "moved"
            return None  # the scene's fixed features are where they were
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
        detail = _grey_at(image, FEATURE_WIDTH)
        if self.reference is None:
            self._learn(grey, detail, now)
        active = self.schedule.active(now)
        reason = self.diagnose(grey, ViewFeatures(detail)) if active else None
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
                self._set_reference(grey, detail, now)
        elif reason == "moved" and run is not None and now - run.since >= self.rebaseline:
            self._set_reference(grey, detail, now)
        if not due or run is None or reason is None:
            return []
        held = (now - run.since).total_seconds()
        change = self.last_change if reason == "moved" else None
        moved = f" ({change.describe()})" if change else ""
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
                summary=f"camera view {reason.replace('_', ' ')} for {held:.0f} s{moved}",
                parameters=self.parameters,
                details={"reason": reason, **(change.details() if change else {})},
            )
        ]

    def _learn(self, grey: np.ndarray, detail: np.ndarray, now: datetime) -> None:
        self._warmup.append((grey, detail))
        if len(self._warmup) >= self.warmup_frames:
            # The median of a few frames leaves out people passing through.
            small, large = (
                np.median(np.stack([pair[side] for pair in self._warmup]), axis=0).astype(np.uint8)
                for side in (0, 1)
            )
            self._set_reference(small, large, now)
            self._warmup.clear()

    def _set_reference(self, grey: np.ndarray, detail: np.ndarray, now: datetime) -> None:
        self.reference = grey
        self._reference_float = grey.astype(np.float32)
        self.reference_measure = measure(grey)
        self._reference_features = ViewFeatures(detail)
        self._reference_at = now


@builds(TamperRuleConfig)
def build_tamper(config: TamperRuleConfig, site: RuleSite) -> Tamper:
    return Tamper(
        hold_s=config.hold_s,
        defocus_ratio=config.defocus_ratio,
        min_similarity=config.min_similarity,
        **site.common(config),
    )
