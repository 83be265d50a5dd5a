"""API schemas: what goes over the wire, kept apart from the database rows.

Where a schema lives: every pydantic model that an HTTP route takes as its body or returns,
with the models and enums it is made of, is defined here, under the heading of its resource.
Routers hold routes, their dependencies and the functions that shape rows into these models;
logic elsewhere (`api.accounts`, `api.events`) takes and returns them by importing them from
here. Two kinds of model are not API schemas and live with the code that reads them: documents
loaded from files (camera files, the district policy, the taxonomy), and the payloads a worker
sends, which are shared with the worker and live in the wire contract (`contract.incident`,
`contract.health`).
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from shapely.geometry import Polygon

from contract.vocabulary import Category, Severity

# Row ids as they may appear in a path or form: anything larger names no row on any backend.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
# A camera configuration's version as a lease grant gives it (api.leases.config_version).
ConfigVersion = Annotated[str, Field(min_length=1, max_length=64)]


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
    assigned_by: str | None = Field(
        default=None, description="Who asked the assignee to verify (user name), if anyone."
    )
    assigned_at: datetime | None = Field(
        default=None, description="When the assignee was asked to verify (UTC)."
    )
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
    snapshot_url: str | None = Field(
        description="Annotated JPEG of the most confident occurrence, if any."
    )
    occurrence_count: int = Field(
        default=1, description="Incidents of this situation (camera, rule, zone) in the event."
    )
    first_seen_at: datetime | None = Field(default=None, description="When it was first seen.")
    last_seen_at: datetime | None = Field(default=None, description="When it was last seen.")
    ongoing: bool = Field(
        default=False,
        description="Going on now: it still went on when it was last seen (the latest"
        " occurrence), and that was no longer ago than the quiet period (see ongoing_until).",
    )
    ongoing_until: datetime | None = Field(
        default=None,
        description="When `ongoing` lapses unless the situation is seen again: two minutes after"
        " it was last seen going on; null when it was not going on then.",
    )
    object_classes: list[str] = Field(default=[], description="Classes of the objects involved.")
    track_ids: list[int] = Field(default=[], description="Tracks of the objects involved.")
    intake: str = Field(
        default="file",
        description="file: a case from the start; verify: an alert that waits for an operator's"
        " verdict (in the alert queue while reported), which files it as a case.",
    )
    expires_at: datetime | None = Field(
        default=None, description="When an alert nobody verified leaves the queue (expired)."
    )
    acknowledged_at: datetime | None = Field(
        default=None, description="When an operator acknowledged it (seen, someone is on it)."
    )
    acknowledged_by: str | None = Field(default=None, description="Who acknowledged it.")
    category_department_id: str | None = Field(
        default=None, description="The department the category alone routes to."
    )
    routed_by: str | None = Field(
        default=None,
        description="Why department_id differs from category_department_id: owner (the camera"
        " owner's routing), event_code (the event type's department in the taxonomy) or"
        " dispatch (a person chose it); null when they agree.",
    )


class GridEventDetail(GridEventPublic):
    history: list[HistoryPublic]
    attachments: list[AttachmentPublic]
    actions: list[str] = Field(description="Actions the caller may take on it now.")


class GridEventPage(BaseModel):
    items: list[GridEventPublic]
    total: int
    limit: int
    offset: int


class OccurrencePublic(BaseModel):
    """One incident of an event's situation, with its evidence."""

    incident_id: str
    started_at: datetime
    detected_at: datetime
    object_class: str
    confidence: float
    track_id: int
    box_xyxy: list[float] = Field(description="The object's box, pixels [x1, y1, x2, y2].")
    frame_width: int = Field(description="Width of the frame the box is in, pixels.")
    frame_height: int = Field(description="Height of the frame the box is in, pixels.")
    ongoing: bool
    snapshot_url: str
    clip_url: str | None


class OccurrencePage(BaseModel):
    items: list[OccurrencePublic] = Field(description="Newest first.")
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


# Why a camera is not online: the API's own reasons, then the worker's (HealthReason).
StatusReason = Literal[
    "disabled", "unwatched", "awaiting_report", "worker_silent", "unassigned", "stream",
    "unreachable", "auth_failed", "not_a_stream", "stream_lost", "no_frames", "frames_stale",
    "frames_slow", "decoder_error", "source_invalid", "recording_ended", "stopped",
    "capture_failed", "device_offline",
]  # fmt: skip


class CameraPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    organisation: OrganisationPublic
    source: str = Field(description="Stream address with any credentials masked.")
    location: Location
    grid_id: str | None
    enabled: bool
    status: str = Field(description="online, degraded, offline, or unknown (never reported on).")
    status_reason: StatusReason | None = Field(
        default=None,
        description="Why it is not online, as a code: disabled; unwatched (no worker has taken"
        " it); awaiting_report (a worker took it, no report yet); worker_silent (its worker"
        " stopped reporting); unassigned (no worker has room for it); one of the worker's"
        " health reasons (contract.health.HealthReason: unreachable, auth_failed, stream_lost,"
        " no_frames, decoder_error, ...); device_offline (a GB/T 28181 device stopped its"
        " keep-alives); stream (a worker that gave no code). status_error is"
        " the detail in the worker's words.",
    )
    watched_by: str | None = Field(
        default=None, description="The worker holding the camera's lease, if any."
    )
    status_error: str | None = Field(
        default=None,
        description="The detail of status_reason: the worker's last error, as it wrote it.",
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until it expires.")


class Verifier(BaseModel):
    """A grid worker an operator may ask to verify an event (the verify action's assignee_id)."""

    id: int = Field(description="User id: the verify action's assignee_id.")
    username: str
    full_name: str


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


TokenScope = Literal["worker", "incidents:write", "open311"]  # api.principal.TOKEN_SCOPES


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Name of the system that uses it (a worker, the 12345 hotline).",
    )
    scopes: list[TokenScope] = Field(
        min_length=1,
        description="What it may do: worker (camera feed with credentials, leases, health,"
        " live pictures, model weights), incidents:write (report incidents), open311 (post and"
        " follow Open311 service requests). Only `worker` reads camera credentials.",
    )


class ApiTokenIssued(BaseModel):
    id: int
    name: str
    scopes: list[str] = Field(description="What it may do.")
    token: str = Field(description="Shown once; only its digest is kept.")


class ApiTokenPublic(BaseModel):
    """An issued API token as the token list shows it (never the token itself)."""

    id: int
    name: str
    scopes: list[str] = Field(description="What it may do.")
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class PasswordChange(BaseModel):
    """A user's change of their own password; every access token issued before it stops."""

    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200, description="The password in use now.")
    new_password: str = Field(min_length=10, max_length=200, description="At least 10 characters.")


class UserUpdate(BaseModel):
    """An admin's change of an account: disable or enable it, or set a new password. Either
    ends every session the account has (its access tokens stop working)."""

    model_config = ConfigDict(extra="forbid")

    active: bool | None = Field(default=None, description="false disables the account.")
    password: str | None = Field(
        default=None, min_length=10, max_length=200, description="A new password (10+ chars)."
    )


class IncidentSuppressed(BaseModel):
    """The answer to a reported incident that a suppression held back: stored, no event."""

    incident_id: str
    suppressed: bool = Field(default=True, description="Always true: no event was opened.")
    suppression_id: int | None = Field(
        description="The suppression that held it back (none once that one is removed)."
    )


class IncidentTaken(BaseModel):
    """The short answer to a reported incident, for a client that asked for no more
    (`Prefer: return=minimal`, RFC 7240, as workers do): what registering it did, and the grid
    event it opened or joined."""

    incident_id: str
    registration: Literal["opened", "joined", "already", "suppressed"] = Field(
        description="opened: a new grid event; joined: an occurrence of the open event of the"
        " same situation; already: reported before, nothing changed; suppressed: stored, held"
        " back by a suppression."
    )
    grid_event_id: int | None = Field(
        description="The event it opened or joined (none when a suppression held it back)."
    )


class TimeOfDay(BaseModel):
    """A local time-of-day window in the camera's time zone; it may wrap midnight (22:00-06:00)."""

    model_config = ConfigDict(extra="forbid")

    starts_at_time: time | None = Field(default=None, description="Local start, HH:MM.")
    ends_at_time: time | None = Field(default=None, description="Local end, HH:MM (exclusive).")

    @model_validator(mode="after")
    def _both_or_neither(self) -> TimeOfDay:
        if (self.starts_at_time is None) != (self.ends_at_time is None):
            raise PydanticCustomError(
                "time_window_half",
                "give both starts_at_time and ends_at_time, or neither",
                {"field": "ends_at_time" if self.ends_at_time is None else "starts_at_time"},
            )
        if self.starts_at_time is not None and self.starts_at_time == self.ends_at_time:
            raise PydanticCustomError(
                "time_window_empty",
                "starts_at_time and ends_at_time are the same: an empty window",
                {"field": "ends_at_time"},
            )
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
    """An error: what went wrong, in words (English), and a stable code with its parameters,
    which a client words in its reader's language (api/problems.py)."""

    detail: str
    code: str | None = Field(
        default=None,
        description="The fault, e.g. action_state; invalid (params.errors: each field, its"
        " pydantic error type and that type's context); http_<status> for a fault without"
        " a code of its own.",
    )
    params: dict[str, Any] | None = Field(default=None, description="What the code's words need.")


# Cameras (HealthReport, a worker's report, is the cameras router's).


class CameraDetail(CameraPublic):
    config: dict[str, Any] = Field(description="The camera's configuration, credentials masked.")
    status_since: AwareDatetime | None
    last_frame_at: AwareDatetime | None
    health: dict[str, Any]
    suppressed_incidents: int = Field(
        description="Incidents a suppression held back (stored, no event), over its life."
    )
    last_suppressed_at: AwareDatetime | None


class ConnectionTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=1000, description="The address to try, with credentials.")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    timeout_s: float = Field(default=8, gt=0, le=30, description="Give up after this long.")


class ConnectionReport(BaseModel):
    ok: bool
    kind: str = Field(description="rtsp, http-snapshot, mjpeg or file.")
    resolution: tuple[int, int]
    fps: float | None
    codec: str | None
    transport: str | None
    time_to_first_frame_s: float
    snapshot_jpeg_base64: str = Field(description="The first frame, JPEG, base64.")


class DiscoveryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(default=3, gt=0, le=15, description="How long to listen for answers.")
    interface: str | None = Field(
        default=None,
        pattern=r"^\d{1,3}(\.\d{1,3}){3}$",
        description="IPv4 address of the local interface to probe from; default: the system's.",
    )


class DiscoveredCameraPublic(BaseModel):
    source: str = Field(description="onvif:// address to register it with (add credentials).")
    name: str | None
    model: str | None
    location: str | None
    endpoint: str
    xaddrs: list[str]
    scopes: list[str]
    responder: str


class CameraFeed(BaseModel):
    version: str = Field(description="Changes whenever any camera changes.")
    cameras: list[dict[str, Any]] = Field(description="Camera files with their real addresses.")


class RefusedCameraFile(BaseModel):
    """A camera file in the API's camera folder (GRIDWATCH_CAMERA_CONFIGS) that was not
    imported at start-up; the other cameras were."""

    file: str = Field(description="The file's path as the API read it.")
    field: str = Field(description="The field path at fault (e.g. rules.0.zone); empty: the file.")
    reason: str = Field(description="Why it was refused, in English.")
    type: str | None = Field(
        default=None,
        description="Why, as a code: pydantic's validation error type or one of ours (e.g."
        " zone_unknown, yaml_invalid), worded by the console with `params`.",
    )
    params: dict[str, Any] = Field(default={}, description="What the code's words need.")


class FleetWorkerPublic(BaseModel):
    name: str = Field(description="The worker's name (X-GridWatch-Worker).")
    capacity: int = Field(description="Cameras it would watch.")
    held: int = Field(description="Cameras it holds now.")
    last_seen_at: datetime = Field(description="Its last lease renewal.")


class WaitingCamera(BaseModel):
    id: str
    priority: int = Field(description="Its watch priority now (0 to 100), in its time zone.")
    dark_since: datetime = Field(
        description="Since when no worker holds it (its last lease's end, or its registration)."
    )


class FleetPublic(BaseModel):
    """The workers that lease cameras, and the cameras none of them holds, in the order a worker
    with room would take them. Workers count while their heartbeat is younger than the lease
    time (GRIDWATCH_LEASE_S)."""

    leasing: bool = Field(description="False when workers watch camera files, not leases.")
    worker_count: int
    capacity: int = Field(description="Cameras the live workers would watch, together.")
    held: int = Field(description="Cameras they hold.")
    spare: int = Field(description="Room left: capacity minus held.")
    waiting: int = Field(description="Active cameras no worker holds (status `unassigned`).")
    workers: list[FleetWorkerPublic]
    waiting_cameras: list[WaitingCamera]


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(ge=0, le=1000, description="Most cameras this worker will watch.")
    release: bool = Field(default=False, description="Give every lease back (a clean stop).")
    held: dict[Annotated[str, Field(max_length=64)], ConfigVersion] = Field(
        default={},
        max_length=1000,
        description=(
            "The configurations this worker has, camera id to the version the API gave"
            " (`versions`): a held camera whose configuration is still that version is not"
            " sent again. Empty (the default): every held camera's configuration is sent."
        ),
    )


class LeaseGrant(BaseModel):
    worker: str
    lease_s: float = Field(description="Renew within this many seconds or lose the cameras.")
    cameras: list[dict[str, Any]] = Field(
        description=(
            "The configurations, with credentials, of this worker's cameras that it does not"
            " have in their current version (see `held`); the others it keeps as it has them."
        )
    )
    epochs: dict[str, int] = Field(
        default={},
        description=(
            "Each camera's lease epoch (fencing token): report its incidents with it"
            " (`lease_epoch`); a later holder's epoch is higher. Every camera this worker"
            " holds, sent or not."
        ),
    )
    versions: dict[str, str] = Field(
        default={},
        description=(
            "Each held camera's configuration version (every camera this worker holds, sent or"
            " not): send it back in `held`."
        ),
    )


class LiveViewGrant(BaseModel):
    """A registered live viewer of a camera."""

    camera_id: str
    watched_s: float = Field(
        description="Seconds the camera stays watched; renew before they run out."
    )
    picture_url: str = Field(description="The newest live picture (GET, JPEG).")


# Departments.


class DepartmentPublic(BaseModel):
    id: str
    name: str
    grid_id: str | None


# Stats.


class FalseAlarmRate(BaseModel):
    confirmed: int
    false_alarms: int
    rate: float | None = Field(description="false alarms / verdicts; none without verdicts")


class Stats(BaseModel):
    events: int = Field(description="Grid events: each situation once, however often it recurred.")
    occurrences: int = Field(
        description="Incidents and reports behind the events: an event counts its occurrences."
    )
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_source: dict[str, int]
    closed: int
    closure_rate: float | None = Field(
        description="closed / events that were real (not false alarms or merged)"
    )
    median_minutes_to_dispatch: float | None
    median_minutes_to_close: float | None
    open_by_grid: dict[str, int]
    open_by_department: dict[str, int]
    overdue_open: int
    false_alarm_rate_by_camera: dict[str, FalseAlarmRate]
    false_alarm_rate_by_rule: dict[str, FalseAlarmRate]


# Evaluation.


class GroupBy(StrEnum):
    department = "department"
    grid = "grid"
    grid_worker = "grid_worker"
    camera = "camera"


class EvaluationRow(BaseModel):
    key: str | None = Field(description="Department, grid, grid worker (username) or camera id.")
    name: str | None = Field(description="Its display name.")
    reported: int = Field(description="Events: each situation once.")
    occurrences: int = Field(description="Incidents and reports behind the reported events.")
    filed: int = Field(description="Confirmed real.")
    dispatched: int
    handled: int = Field(description="Resolved by the department at least once.")
    handled_on_time: int = Field(description="Last resolve before its handling deadline.")
    reworked: int = Field(description="Events sent back to handling at least once.")
    reworks: int = Field(description="Send-backs in all.")
    closed: int
    false_alarms: int
    on_time_rate: float | None = Field(description="handled_on_time / dispatched")
    closure_rate: float | None = Field(description="closed / filed")
    rework_rate: float | None = Field(description="reworked / handled")
    false_alarm_rate: float | None = Field(description="video: false alarms / verdicts")
    median_minutes_to_dispatch: float | None
    median_minutes_to_close: float | None


class RuleFalseAlarms(BaseModel):
    rule: str
    confirmed: int
    false_alarms: int
    rate: float | None


class FalseAlarmSource(BaseModel):
    rule: str
    zone: str
    object_class: str
    false_alarms: int = Field(description="Its video events rejected as false alarms.")
    suppressed: int = Field(description="Its incidents a suppression held back (no event).")
    suggested_mask: list[list[float]] = Field(
        description="Polygon [[x, y], ...] in normalised image coordinates covering the boxes"
        " of the rejected objects: a privacy mask or suppression region to consider."
    )


class CameraFalseAlarms(BaseModel):
    camera_id: str
    camera_name: str
    sources: list[FalseAlarmSource] = Field(description="Most rejected first.")


class Evaluation(BaseModel):
    by: GroupBy
    occurred_from: datetime | None
    occurred_to: datetime | None
    rows: list[EvaluationRow]
    total: EvaluationRow = Field(description="All events in the range, each once.")
    false_alarms_by_rule: list[RuleFalseAlarms] = Field(description="Video events, per rule.")
    false_alarm_sources: list[CameraFalseAlarms] = Field(
        description="Per camera, its top false-alarm sources (rule, zone, object class)."
    )


# Bring-your-own models.


class ClassCode(BaseModel):
    code: str
    category: str
    severity: str
    name_en: str
    name_zh: str


class CustomModelPublic(BaseModel):
    name: str
    description: str
    weights_sha256: str
    weights_url: str
    class_names: list[str]
    class_codes: dict[str, ClassCode] = Field(description="Class name -> the event it raises.")


class ModelExportFile(BaseModel):
    path: str = Field(description="Path in the data directory, e.g. yolov8n-f59b3d833e2f.onnx.")
    sha256: str
    size: int = Field(description="Bytes.")
    url: str


class ModelExportPublic(BaseModel):
    model: str = Field(description="The catalogue's name for it (detect.model), e.g. yolov8n.")
    weights_sha256: str = Field(description="The weights the files were exported from.")
    backends: list[str] = Field(description="Backends the files run: onnx, openvino, ...")
    int8_gate: dict[str, Any] | None = Field(
        default=None, description="The INT8 accuracy gate's verdict (accuracy-gate.json)."
    )
    files: list[ModelExportFile]


# Webhooks and their delivery log.


class WebhookEventType(StrEnum):
    created = "event.created"
    updated = "event.updated"


class WebhookCreate(BaseModel):
    """A receiver to register. Its secret is shown once, in the answer to this request."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where deliveries are POSTed (http or https).")
    description: str = Field(default="", max_length=300, description="What it is for.")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signs every delivery (HMAC-SHA256); generated when left out.",
    )
    categories: list[Category] = Field(
        default=[], description="Only events of these categories; empty for all."
    )
    event_types: list[WebhookEventType] = Field(
        default=[], description="Only these changes (event.created, event.updated); empty for all."
    )
    enabled: bool = Field(default=True, description="A disabled webhook's deliveries wait.")


class WebhookUpdate(BaseModel):
    """Fields to change; a new secret replaces the old one at once."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = Field(default=None, description="Where deliveries are POSTed.")
    description: str | None = Field(default=None, max_length=300, description="What it is for.")
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="A new signing secret."
    )
    categories: list[Category] | None = Field(default=None, description="Category filter.")
    event_types: list[WebhookEventType] | None = Field(
        default=None, description="Event-type filter."
    )
    enabled: bool | None = Field(default=None, description="Pause (false) or resume (true).")


class WebhookPublic(BaseModel):
    """A registered webhook; never its secret."""

    id: int
    url: str = Field(description="The address, any user information masked.")
    description: str
    categories: list[str]
    event_types: list[str]
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    pending: int = Field(description="Deliveries waiting to be sent.")
    failed: int = Field(description="Deliveries that gave up (redeliverable).")


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Shown only now; verify X-GridWatch-Signature with it.")


class DeliveryAttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int = Field(description="1 for the first try.")
    at: datetime
    outcome: str = Field(description="delivered, retry or failed.")
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    error: str | None
    duration_ms: float


class DeliveryPublic(BaseModel):
    delivery_id: str = Field(description="X-GridWatch-Delivery: the same on every retry.")
    event_type: str
    grid_event_id: int
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[DeliveryAttemptPublic]


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    total: int
    limit: int
    offset: int


Point = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)]


class SuppressionCreate(TimeOfDay):
    """A suppression drawn by hand: incidents of this camera, rule, zone and class in the region
    open no event."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(max_length=64, description="The camera.")
    rule: str = Field(max_length=32, description="Rule kind, e.g. intrusion.")
    zone: str = Field(max_length=64, description="The zone (or line) the rule watches.")
    object_class: str = Field(max_length=64, description="Object class, e.g. person.")
    region: list[Point] = Field(
        min_length=3,
        max_length=100,
        description="Polygon [[x, y], ...] in image coordinates normalised to [0, 1].",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="Out of force from then.")
    note: str = Field(default="", max_length=2000, description="Why.")

    @field_validator("region")
    @classmethod
    def _a_polygon(cls, region: list[list[float]]) -> list[list[float]]:
        shape = Polygon(region)
        if not shape.is_valid or shape.area <= 0:
            raise PydanticCustomError(
                "polygon_not_simple",
                "not a simple polygon with an area (do its edges cross?)",
                {"fault": "crossing edges or no area"},
            )
        return region


class SuppressionPublic(BaseModel):
    id: int
    camera_id: str
    camera_name: str
    rule: str
    zone: str
    object_class: str
    region: list[list[float]] = Field(description="Normalised polygon [[x, y], ...].")
    starts_at_time: time | None = Field(description="Local start of its time of day, if any.")
    ends_at_time: time | None = Field(description="Local end of its time of day, if any.")
    timezone: str = Field(description="The camera's time zone the window is read in.")
    expires_at: datetime | None
    active: bool = Field(description="Not expired now.")
    note: str
    created_by: str
    grid_event_id: int | None = Field(description="The event whose verdict made it, if any.")
    created_at: datetime
    suppressed_count: int = Field(description="Incidents it has held back.")
    last_suppressed_at: datetime | None


class EvidenceAccessPublic(BaseModel):
    """One access to evidence or to a camera's credentials."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime = Field(description="When (UTC).")
    actor: str = Field(description="Who: user:<account>, or worker:<token or worker name>.")
    role: str = Field(description="The caller's role then (worker for tokens).")
    user_id: int | None = Field(description="The account's id, for users.")
    action: str = Field(description="view, download or credentials.")
    object_kind: str = Field(
        description="snapshot, clip, photo, live_picture or camera_credentials."
    )
    object_id: str = Field(description="The incident, attachment or camera.")
    camera_id: str | None
    grid_event_id: int | None
    client_address: str = Field(description="Where from: the client's IP address.")
    user_agent: str = Field(description="The client's User-Agent, cut to 300 characters.")


class EvidenceAccessPage(BaseModel):
    items: list[EvidenceAccessPublic]
    total: int
    limit: int
    offset: int
