"""The incident: what a rule concluded, with the evidence that backs it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from contract.incident import ClipReport, IncidentReport
from contract.vocabulary import Category, Severity

# Incident ids are derived from what happened, so the same conclusion always has the same id and
# the API can refuse a second copy of it (the idempotency key).
INCIDENT_NAMESPACE = uuid.UUID("6c0b7a5e-2f52-4d8e-9a43-6f1d0c8e9b21")


def incident_id(
    camera_id: str, rule: str, zone: str, track_id: int, started_at: datetime,
    detected_at: datetime,
) -> str:  # fmt: skip
    """The id of one conclusion of a rule: its camera, rule, zone, object, when what it saw
    began (`started_at`) and when the rule concluded (`detected_at`), as a UUID 5.

    Both instants are part of it: a rule fires again for the same stay once its cooldown is
    over (a person still in the zone after five minutes), with the same start, and that second
    conclusion is an incident of its own, not a copy of the first for the API to fold away.
    """
    key = f"{camera_id}|{rule}|{zone}|{track_id}|{started_at.isoformat()}|{detected_at.isoformat()}"
    return str(uuid.uuid5(INCIDENT_NAMESPACE, key))


@dataclass(frozen=True)
class Incident:
    """One incident with its evidence, ready to be registered as a grid event.

    `track_id` is the object that fired the rule (0 when a zone or the whole view did: a crowd,
    tampering); `track_ids` every object involved. `ended_at` is the last moment the rule's
    condition was seen to hold, up to when the clip was finished; `ongoing` says it still held
    then. The snapshot is the frame in which the object was seen best; the clip runs from a few
    seconds before the rule concluded to a few seconds after, as H.264 in MP4.
    """

    id: str
    camera_id: str
    rule: str
    zone: str
    category: str
    severity: str
    summary: str
    started_at: datetime
    detected_at: datetime
    track_id: int
    object_class: str
    confidence: float
    box_xyxy: tuple[float, float, float, float]
    frame_width: int
    frame_height: int
    model_name: str
    model_version: str
    rule_parameters: dict[str, Any]
    snapshot_jpeg: bytes = field(repr=False)
    snapshot_sha256: str
    ended_at: datetime | None = None
    ongoing: bool = False
    track_ids: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    model_backend: str = ""
    snapshot_at: datetime | None = None
    clip_mp4: bytes | None = field(default=None, repr=False)
    clip_sha256: str | None = None
    clip_started_at: datetime | None = None
    clip_duration_s: float = 0.0
    clip_frame_count: int = 0
    # The district taxonomy's code, when the detector knows it (a custom model's class map).
    event_code: str | None = None
    # The camera lease's epoch the worker held (its fencing token; see api.leases).
    lease_epoch: int | None = None
    # Set while the clip's frames are recorded but not yet encoded (see `with_clip`).
    clip_encoder: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def clip_pending(self) -> bool:
        return self.clip_encoder is not None

    def with_clip(self) -> Incident:
        """This incident with its clip encoded: the heavy step, to run off the detection thread.

        Example:
            >>> ready = incident.with_clip()  # in an evidence thread
            >>> ready.clip_sha256 == hashlib.sha256(ready.clip_mp4).hexdigest()
            True
        """
        if self.clip_encoder is None:
            return self
        clip = self.clip_encoder()
        return replace(
            self,
            clip_mp4=clip,
            clip_sha256=hashlib.sha256(clip).hexdigest(),
            clip_encoder=None,
        )

    def report(self) -> IncidentReport:
        """The incident as the API takes it (POST /api/v1/incidents), without evidence bytes.

        Raises ValueError while the clip is not encoded yet, and pydantic's ValidationError when
        a value is outside what the API accepts.
        """
        if self.clip_encoder is not None:
            raise ValueError(f"incident {self.id}: encode its clip first (with_clip)")
        return IncidentReport(
            id=self.id,
            camera_id=self.camera_id,
            rule=self.rule,
            zone=self.zone,
            category=Category(self.category),
            severity=Severity(self.severity),
            summary=self.summary,
            started_at=self.started_at,
            detected_at=self.detected_at,
            track_id=self.track_id,
            object_class=self.object_class,
            confidence=round(self.confidence, 4),
            box_xyxy=[round(v, 1) for v in self.box_xyxy],
            frame_width=self.frame_width,
            frame_height=self.frame_height,
            model_name=self.model_name,
            model_version=self.model_version,
            rule_parameters=self.rule_parameters,
            snapshot_sha256=self.snapshot_sha256,
            ended_at=self.ended_at or self.detected_at,
            ongoing=self.ongoing,
            track_ids=list(self.track_ids),
            details=self.details,
            model_backend=self.model_backend,
            snapshot_at=self.snapshot_at or self.detected_at,
            clip_sha256=self.clip_sha256,
            clip_content_type="video/mp4" if self.clip_mp4 is not None else None,
            clip_started_at=self.clip_started_at,
            clip_duration_s=round(self.clip_duration_s, 3),
            clip_frame_count=self.clip_frame_count,
            event_code=self.event_code,
            lease_epoch=self.lease_epoch,
        )

    def metadata(self) -> dict[str, Any]:
        """The report as JSON-ready values: what goes beside the evidence bytes."""
        return self.report().model_dump(mode="json")


@dataclass(frozen=True)
class IncidentClip:
    """The clip of an incident that was handed out before its clip was recorded: frames from
    `pre_roll_s` before the rule concluded to `post_roll_s` after, as H.264 in MP4 once encoded.

    `ended_at` is the last moment the rule's condition was seen to hold up to the clip's end,
    and `ongoing` whether it still held then; they bring the incident's own up to date.
    `encoder` is set while the frames are recorded but not yet encoded (see `with_video`).
    """

    incident_id: str
    camera_id: str
    started_at: datetime
    duration_s: float
    frame_count: int
    ended_at: datetime
    ongoing: bool
    mp4: bytes | None = field(default=None, repr=False)
    sha256: str | None = None
    encoder: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def with_video(self) -> IncidentClip:
        """This clip encoded: the heavy step, to run off the detection thread."""
        if self.encoder is None:
            return self
        video = self.encoder()
        return replace(self, mp4=video, sha256=hashlib.sha256(video).hexdigest(), encoder=None)

    def report(self) -> ClipReport:
        """The clip as the API takes it (PUT /api/v1/incidents/{id}/clip), without its bytes.

        Raises ValueError while it is not encoded yet.
        """
        if self.mp4 is None or self.sha256 is None:
            raise ValueError(f"clip of incident {self.incident_id}: encode it first (with_video)")
        return ClipReport(
            sha256=self.sha256,
            started_at=self.started_at,
            duration_s=round(self.duration_s, 3),
            frame_count=self.frame_count,
            ended_at=self.ended_at,
            ongoing=self.ongoing,
        )
