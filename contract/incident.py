"""The incident a worker reports (POST /api/v1/incidents) and the clip that follows it (PUT
/api/v1/incidents/{id}/clip): the shapes both sides use.

The worker builds it from its detection (`detectors.incident.Incident.report()`), sends it as
JSON beside the evidence, the API validates it and builds the incident's row from it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.vocabulary import Category, Instant, Severity

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class IncidentReport(BaseModel):
    """An incident as a worker reports it, without its evidence bytes; `id` is the idempotency
    key. Times are timezone-aware; boxes are pixels of a `frame_width` x `frame_height` frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=UUID_PATTERN, description="Incident id (UUID); the same id is one incident."
    )
    camera_id: str = Field(max_length=64, description="Camera that saw it.")
    rule: str = Field(max_length=32, description="Rule kind that fired, e.g. intrusion.")
    zone: str = Field(max_length=64, description="Zone the rule watched.")
    category: Category = Field(description="Grid-event category.")
    event_code: str | None = Field(
        default=None,
        max_length=8,
        description="Taxonomy event code (GET /api/v1/taxonomy); by default the rule kind's.",
    )
    severity: Severity = Field(description="Grid-event severity.")
    summary: str = Field(max_length=500, description="One line for an operator.")
    started_at: Instant = Field(description="When the condition began.")
    detected_at: Instant = Field(description="When the rule concluded.")
    track_id: int = Field(ge=0, le=2**31 - 1, description="Tracked object that fired the rule.")
    object_class: str = Field(max_length=64, description="Its class.")
    confidence: float = Field(ge=0, le=1, description="Best detector confidence.")
    box_xyxy: list[float] = Field(min_length=4, max_length=4, description="Box in pixels.")
    frame_width: int = Field(gt=0, le=100_000, description="Frame width in pixels.")
    frame_height: int = Field(gt=0, le=100_000, description="Frame height in pixels.")
    model_name: str = Field(max_length=100, description="Detection model name.")
    model_version: str = Field(
        max_length=64, description="Detection model version (weights digest)."
    )
    rule_parameters: dict[str, Any] = Field(default={}, description="The rule's parameters.")
    snapshot_sha256: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the snapshot.")
    ended_at: Instant | None = Field(default=None, description="When the condition ended.")
    ongoing: bool = Field(default=False, description="Still going on when reported.")
    track_ids: list[int] = Field(default=[], max_length=500, description="Every track involved.")
    details: dict[str, Any] = Field(
        default={}, description="Rule-specific findings: count, plate, direction, time held."
    )
    model_backend: str | None = Field(
        default=None, max_length=32, description="pytorch, onnx, openvino or openvino-int8."
    )
    snapshot_at: Instant | None = Field(default=None, description="When the snapshot was taken.")
    clip_sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="SHA-256 of the clip, if one is sent."
    )
    clip_content_type: str | None = Field(default=None, max_length=40, description="video/mp4.")
    clip_started_at: Instant | None = Field(default=None, description="When the clip starts.")
    clip_duration_s: float | None = Field(default=None, ge=0, le=600, description="Clip length.")
    clip_frame_count: int | None = Field(default=None, ge=0, le=100_000, description="Clip frames.")
    lease_epoch: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description=(
            "The epoch of the camera lease the worker held when it saw this (its fencing token);"
            " none from a worker that watches camera files rather than leases."
        ),
    )


class ClipReport(BaseModel):
    """The clip of an incident already reported (PUT /api/v1/incidents/{id}/clip), without its
    bytes: a worker reports the incident as soon as its rule concludes and sends the clip once
    its post-roll is recorded. Times are timezone-aware."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the clip.")
    content_type: Literal["video/mp4"] = Field(
        default="video/mp4", description="The clip's type: MP4 (H.264)."
    )
    started_at: Instant = Field(description="When the clip starts (its pre-roll's first frame).")
    duration_s: float = Field(ge=0, le=600, description="Clip length in seconds.")
    frame_count: int = Field(ge=1, le=100_000, description="Frames in the clip.")
    ended_at: Instant | None = Field(
        default=None,
        description="The last moment the rule's condition was seen to hold while the clip was"
        " recorded; updates the incident's ended_at.",
    )
    ongoing: bool | None = Field(
        default=None, description="Whether the condition still held when the clip ended."
    )
