"""A camera's stream health as a worker reports it (PUT /api/v1/cameras/{id}/health)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contract.vocabulary import CameraStatus, Instant


class HealthReason(StrEnum):
    """Why a camera is not online, as a code a person's screen words in its reader's language;
    the worker's own text (`HealthReport.error`) is the detail beside it."""

    unreachable = "unreachable"  # the host does not resolve, has no route, refuses or is silent
    auth_failed = "auth_failed"  # the camera refused the user name or password
    not_a_stream = "not_a_stream"  # the address answers with something other than video
    stream_lost = "stream_lost"  # the connection broke off mid-stream
    no_frames = "no_frames"  # connected (or connecting), no picture yet
    frames_stale = "frames_stale"  # connected, the newest picture is too old
    frames_slow = "frames_slow"  # connected, too few pictures a second for detection
    decoder_error = "decoder_error"  # pictures arrive but none can be decoded
    source_invalid = "source_invalid"  # the address or configuration cannot work as it is
    recording_ended = "recording_ended"  # a recorded file played to its end
    stopped = "stopped"  # the worker stopped watching it
    capture_failed = "capture_failed"  # an unexpected fault in the worker's capture


class HealthReport(BaseModel):
    """What a worker knows about a camera's stream; rates in frames per second."""

    model_config = ConfigDict(extra="forbid")

    status: CameraStatus = Field(description="online, degraded (old or slow frames) or offline.")
    last_frame_at: Instant | None = Field(
        default=None, description="When the newest frame arrived."
    )
    offline_since: Instant | None = Field(
        default=None, description="When the camera went offline, if it is."
    )
    fps: float | None = Field(default=None, ge=0, description="Frames per second measured.")
    detect_fps: float | None = Field(default=None, ge=0, description="Frames analysed per second.")
    resolution: tuple[int, int] | None = Field(
        default=None, description="Width and height of the frames, in pixels."
    )
    codec: str | None = Field(default=None, max_length=32, description="Video codec, e.g. h264.")
    reconnects: int = Field(default=0, ge=0, description="Reconnections since the worker started.")
    dropped_frames: int = Field(
        default=0, ge=0, description="Frames dropped because detection was behind."
    )
    frame_age_s: float | None = Field(
        default=None, ge=0, description="Age of the newest frame, in seconds."
    )
    reason: HealthReason | None = Field(
        default=None, description="Why it is not online, as a code; none when it is."
    )
    error: str | None = Field(
        default=None, max_length=500, description="Why it is not online, in the worker's words."
    )
    size_changes: int = Field(
        default=0,
        ge=0,
        description="Times the picture changed size mid-stream since the worker started; each"
        " time the camera's tracks, references, rule state and clips in progress started afresh.",
    )
    last_size_change: str | None = Field(
        default=None, max_length=64, description="The latest size change, e.g. 768x576 -> 768x432."
    )
    rule_failures: dict[str, int] = Field(
        default={},
        max_length=64,
        description="Frames each rule failed on since the worker started, by rule label"
        " kind:zone (e.g. tamper:view); the camera's other rules ran on them all the same.",
    )
