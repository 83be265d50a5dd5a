"""API schemas: what goes over the wire, kept apart from the database rows."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contract.vocabulary import Category, Severity

# Row ids as they may appear in a path or form: anything larger names no row on any backend.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class IncidentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    camera_id: str
    rule: str
    zone: str
    summary: str
    started_at: datetime
    detected_at: datetime
    track_id: int
    object_class: str
    confidence: float
    box_xyxy: list[float]
    frame_width: int
    frame_height: int
    model_name: str
    model_version: str
    rule_parameters: dict[str, Any]
    snapshot_sha256: str
    reported_by: str
    ended_at: datetime | None = None
    track_ids: list[int] = []
    details: dict[str, Any] = {}
    model_backend: str | None = None
    clip_sha256: str | None = None
    clip_duration_s: float | None = None
    clip_url: str | None = Field(default=None, description="MP4 clip around the incident, if any.")


class HistoryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str
    details: dict[str, Any]


class AttachmentPublic(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    history_id: int | None
    url: str


class GridEventPublic(BaseModel):
    id: int
    source: str
    source_reference: str | None
    category: str
    event_code: str | None = Field(description="Event type's code in the district taxonomy.")
    event_name_zh: str | None = Field(description="Event type's Chinese name.")
    event_name_en: str | None = Field(description="Event type's English name.")
    severity: str
    status: str
    title: str
    description: str
    address: str
    reporter: str
    grid_id: str | None
    grid_name: str | None
    camera_id: str | None
    camera_name: str | None
    location: Location | None
    department_id: str | None = Field(description="Department routed or dispatched to.")
    level: str = Field(description="Handling level: community, town or district.")
    assignee: str | None = Field(description="Grid worker asked to verify, if any.")
    deadline_at: datetime | None = Field(description="When the current state escalates.")
    urgency: str | None = Field(
        default=None,
        description="Urgency tier: general (一般), urgent (紧急), extra_urgent (特急).",
    )
    urgency_name_zh: str | None = Field(default=None, description="The tier's Chinese name.")
    deadline_working_time: bool = Field(
        default=False,
        description="Whether the current state's limit counts working time (working hours or"
        " days, skipping nights, weekends and public holidays) rather than natural time.",
    )
    overdue: bool
    escalations: int
    reworks: int
    merged_into_id: int | None
    occurred_at: datetime
    reported_at: datetime
    dispatched_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    incident: IncidentPublic | None
    snapshot_url: str | None = Field(description="Annotated JPEG of the incident, if any.")


class GridEventDetail(GridEventPublic):
    history: list[HistoryPublic]
    attachments: list[AttachmentPublic]
    actions: list[str] = Field(description="Actions the caller may take on it now.")


class GridEventPage(BaseModel):
    items: list[GridEventPublic]
    total: int
    limit: int
    offset: int


class EventSource(StrEnum):
    hotline_12345 = "hotline_12345"
    wechat = "wechat"
    grid_worker = "grid_worker"
    manual = "manual"


class GridEventCreate(BaseModel):
    """An event reported by a person or another system, not by a camera."""

    model_config = ConfigDict(extra="forbid")

    source: EventSource = Field(description="Where the report came from.")
    source_reference: str | None = Field(
        default=None, max_length=100, description="Its number there, e.g. the 12345 ticket."
    )
    category: Category | None = Field(
        default=None, description="Event category; by default the event code's."
    )
    event_code: str | None = Field(
        default=None,
        max_length=8,
        description="Taxonomy event code (GET /api/v1/taxonomy); by default the category's.",
    )
    severity: Severity | None = Field(
        default=None, description="Severity; by default the event type's."
    )
    title: str = Field(min_length=1, max_length=300, description="What happened, in one line.")
    description: str = Field(default="", max_length=5000, description="Details.")
    location: Location = Field(description="Where; decides the grid.")
    address: str = Field(default="", max_length=300, description="Address in words.")
    occurred_at: AwareDatetime | None = Field(default=None, description="When; now if empty.")
    reporter: str = Field(default="", max_length=100, description="Who reported it (a name).")


class MergeCandidate(BaseModel):
    event: GridEventPublic
    distance_m: float


class OrganisationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str


class CameraPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    organisation: OrganisationPublic
    source: str = Field(description="Stream address with any credentials masked.")
    location: Location
    grid_id: str | None
    enabled: bool
    status: str


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until it expires.")


class UserPublic(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    region_id: str | None
    organisation_id: str | None
    department_id: str | None
    grid_ids: list[str]
    active: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{2,63}$", description="Login name.")
    full_name: str = Field(default="", max_length=200, description="Display name.")
    password: str = Field(min_length=10, max_length=200, description="At least 10 characters.")
    role: str = Field(description="admin, operator, camera_owner, grid_worker or handler.")
    region_id: str | None = Field(default=None, description="Operator: region grid (none: all).")
    organisation_id: str | None = Field(default=None, description="Camera owner: organisation.")
    department_id: str | None = Field(default=None, description="Handler: department.")
    grid_ids: list[str] = Field(default=[], description="Grid worker: grid cells.")


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Worker name.")


class ApiTokenIssued(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once; only its digest is kept.")


class IncidentSuppressed(BaseModel):
    """The answer to a reported incident that a suppression held back: stored, no event."""

    incident_id: str
    suppressed: bool = Field(default=True, description="Always true: no event was opened.")
    suppression_id: int | None = Field(
        description="The suppression that held it back (none once that one is removed)."
    )


class TimeOfDay(BaseModel):
    """A local time-of-day window in the camera's time zone; it may wrap midnight (22:00-06:00)."""

    model_config = ConfigDict(extra="forbid")

    starts_at_time: time | None = Field(default=None, description="Local start, HH:MM.")
    ends_at_time: time | None = Field(default=None, description="Local end, HH:MM (exclusive).")

    @model_validator(mode="after")
    def _both_or_neither(self) -> TimeOfDay:
        if (self.starts_at_time is None) != (self.ends_at_time is None):
            raise ValueError("give both starts_at_time and ends_at_time, or neither")
        if self.starts_at_time is not None and self.starts_at_time == self.ends_at_time:
            raise ValueError("starts_at_time and ends_at_time are the same: an empty window")
        return self


class SuppressOnReject(TimeOfDay):
    """ "Do not raise this again": what a false-alarm verdict leaves behind, around the object of
    the event's incident."""

    margin: float = Field(
        default=0.5,
        ge=0,
        le=5,
        description="How far the region reaches beyond the object's box on each side, as a"
        " fraction of the box's width and height (0.5: a box twice as wide and high).",
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Out of force after this many days; none: never."
    )


class Problem(BaseModel):
    """An error: what went wrong, in words."""

    detail: str
