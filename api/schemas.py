"""API schemas: what goes over the wire, kept apart from the database rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridwatch.config import Category, Severity

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class IncidentCreate(BaseModel):
    """An incident as a worker reports it; `id` is the idempotency key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=UUID_PATTERN, description="Incident id (UUID); the same id is one incident."
    )
    camera_id: str = Field(max_length=64, description="Camera that saw it.")
    rule: str = Field(max_length=32, description="Rule kind that fired, e.g. intrusion.")
    zone: str = Field(max_length=64, description="Zone the rule watched.")
    category: Category = Field(description="Grid-event category.")
    severity: Severity = Field(description="Grid-event severity.")
    summary: str = Field(max_length=500, description="One line for an operator.")
    started_at: AwareDatetime = Field(description="When the condition began.")
    detected_at: AwareDatetime = Field(description="When the rule concluded.")
    track_id: int = Field(ge=0, description="Tracked object that fired the rule.")
    object_class: str = Field(max_length=64, description="Its class.")
    confidence: float = Field(ge=0, le=1, description="Best detector confidence.")
    box_xyxy: list[float] = Field(min_length=4, max_length=4, description="Box in pixels.")
    frame_width: int = Field(gt=0, description="Frame width in pixels.")
    frame_height: int = Field(gt=0, description="Frame height in pixels.")
    model_name: str = Field(max_length=100, description="Detection model name.")
    model_version: str = Field(
        max_length=64, description="Detection model version (weights digest)."
    )
    rule_parameters: dict[str, Any] = Field(default={}, description="The rule's parameters.")
    snapshot_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the snapshot.")


class Location(BaseModel):
    lat: float
    lon: float


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


class HistoryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str


class GridEventPublic(BaseModel):
    id: int
    source: str
    category: str
    severity: str
    status: str
    title: str
    description: str
    grid_id: str | None
    grid_name: str | None
    camera_id: str | None
    camera_name: str | None
    location: Location | None
    occurred_at: datetime
    reported_at: datetime
    updated_at: datetime
    incident: IncidentPublic | None
    snapshot_url: str | None = Field(description="Annotated JPEG of the incident, if any.")


class GridEventDetail(GridEventPublic):
    history: list[HistoryPublic]


class GridEventPage(BaseModel):
    items: list[GridEventPublic]
    total: int
    limit: int
    offset: int


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


class Problem(BaseModel):
    """An error: what went wrong, in words."""

    detail: str
