"""Database rows: typed SQLAlchemy 2.0 models. Schema changes go through Alembic."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused.

    SQLite keeps no zone, so values are stored as naive UTC and given their zone back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Organisation(Base):
    """A camera owner: a school, a hospital, a city-management bureau, ..."""

    __tablename__ = "organisation"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cameras: Mapped[list[Camera]] = relationship(back_populates="organisation")


class Grid(Base):
    """A polygon of the district's grid hierarchy: district > town/street > community > cell."""

    __tablename__ = "grid"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("grid.id"), index=True)
    # "/D01/D01-T01/D01-T01-C01/": a region's events are those whose grid path starts with its own.
    path: Mapped[str] = mapped_column(String(400), index=True, default="")
    geometry: Mapped[dict[str, Any]] = mapped_column()
    # Bounding box, so point lookups test few polygons.
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)

    parent: Mapped[Grid | None] = relationship(remote_side="Grid.id")


class Camera(Base):
    """A registered camera: where it stands, who owns it, how it is watched."""

    __tablename__ = "camera"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The address as shown (credentials masked); the full address is kept encrypted.
    source_display: Mapped[str] = mapped_column(String(1000))
    source_encrypted: Mapped[str | None] = mapped_column(Text)
    # Its other addresses (stream.sub_source, ...) as written, encrypted: a JSON object of
    # dotted field paths; `config` holds them masked.
    addresses_encrypted: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grid.id"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    # Health as the worker last reported it; status is online, degraded, offline or unknown.
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_since: Mapped[datetime | None] = mapped_column()
    last_frame_at: Mapped[datetime | None] = mapped_column()
    last_report_at: Mapped[datetime | None] = mapped_column()
    health: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Removed cameras keep their rows (their events refer to them) but are no longer watched.
    retired_at: Mapped[datetime | None] = mapped_column()
    # Incidents that a suppression kept from the operators, over the camera's life.
    suppressed_incidents: Mapped[int] = mapped_column(Integer, default=0)
    last_suppressed_at: Mapped[datetime | None] = mapped_column()
    # Its watch priority (WatchPriorityConfig) with its time zone, apart from `config` so that
    # choosing which camera a worker takes next reads only this.
    watch_priority: Mapped[dict[str, Any]] = mapped_column(default=dict)

    organisation: Mapped[Organisation] = relationship(back_populates="cameras")
    grid: Mapped[Grid | None] = relationship()


class Incident(Base):
    """What a detection rule concluded on one camera, with its evidence."""

    __tablename__ = "incident"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("camera.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    zone: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column()
    detected_at: Mapped[datetime] = mapped_column()
    track_id: Mapped[int] = mapped_column(Integer)
    object_class: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    box_xyxy: Mapped[list[Any]] = mapped_column()
    frame_width: Mapped[int] = mapped_column(Integer)
    frame_height: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(64))
    rule_parameters: Mapped[dict[str, Any]] = mapped_column()
    snapshot_path: Mapped[str] = mapped_column(String(500))
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column()
    track_ids: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_backend: Mapped[str | None] = mapped_column(String(32))
    clip_path: Mapped[str | None] = mapped_column(String(500))
    clip_sha256: Mapped[str | None] = mapped_column(String(64))
    clip_started_at: Mapped[datetime | None] = mapped_column()
    clip_duration_s: Mapped[float | None] = mapped_column(Float)
    reported_by: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The suppression that kept it from the operators (it then opened no event). Not a foreign
    # key: the record of why stays when the suppression is removed.
    suppression_id: Mapped[int | None] = mapped_column(Integer)
    # The grid event this incident is an occurrence of: the one it opened or the one it joined.
    grid_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_event.id", use_alter=True), index=True
    )

    camera: Mapped[Camera] = relationship()
    # Set after both rows exist: the first incident and its event point at each other.
    grid_event: Mapped[GridEvent | None] = relationship(
        foreign_keys=[grid_event_id], post_update=True
    )


class GridEvent(Base):
    """The case on the governance platform that a command center dispatches and closes."""

    __tablename__ = "grid_event"
    __table_args__ = (
        Index("ix_grid_event_occurred_at_id", "occurred_at", "id"),
        # Grouping looks up the open events of one situation.
        Index("ix_grid_event_group_key_status", "group_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    source_reference: Mapped[str | None] = mapped_column(String(100))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incident.id"), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    # The event type's code in the district taxonomy (taxonomy.yaml), e.g. 0801 intrusion.
    event_code: Mapped[str | None] = mapped_column(String(8), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    reporter: Mapped[str] = mapped_column(String(100), default="")
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grid.id"), index=True)
    camera_id: Mapped[str | None] = mapped_column(ForeignKey("camera.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Who handles it: the department it was routed or dispatched to, at which level.
    department_id: Mapped[str | None] = mapped_column(ForeignKey("department.id"), index=True)
    level: Mapped[str] = mapped_column(String(16), default="community")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("grid_event.id"))
    occurred_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # One situation, one event: the incidents that joined it (occurrences), counted with the
    # one that opened it; seen from the first incident's start to the latest one's detection.
    occurrence_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime | None] = mapped_column()
    last_seen_at: Mapped[datetime | None] = mapped_column()
    ongoing: Mapped[bool] = mapped_column(default=False)
    # "camera|rule|zone" (line crossings: "|direction" too); None for events reported by people.
    group_key: Mapped[str | None] = mapped_column(String(200))
    # The occurrence with the most confident detection, whose snapshot stands for the event.
    best_incident_id: Mapped[str | None] = mapped_column(ForeignKey("incident.id"))
    # {"classes": [...], "track_ids": [...]}: every object the occurrences involved.
    objects_involved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How a video incident came in (the district policy's `intake`): "file", a case at once, or
    # "verify", an alert that waits for an operator's verdict and expires at `expires_at`.
    intake: Mapped[str] = mapped_column(String(8), default="file", server_default="file")
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    # The operator's one-click "seen, on it", which does not change the state.
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))

    incident: Mapped[Incident | None] = relationship(foreign_keys=[incident_id])
    best_incident: Mapped[Incident | None] = relationship(foreign_keys=[best_incident_id])
    camera: Mapped[Camera | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    department: Mapped[Department | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    history: Mapped[list[GridEventHistory]] = relationship(
        back_populates="grid_event", order_by="GridEventHistory.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="grid_event", order_by="Attachment.id"
    )


class GridEventHistory(Base):
    """One step in a grid event's audit trail: who did what, when, from which state to which."""

    __tablename__ = "grid_event_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grid_event_id: Mapped[int] = mapped_column(ForeignKey("grid_event.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    grid_event: Mapped[GridEvent] = relationship(back_populates="history")


class Department(Base):
    """A body that handles events: the education bureau, a street office's urban team, ..."""

    __tablename__ = "department"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The region it serves (a district, town or community grid); events route within it.
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grid.id"))


class RoutingRule(Base):
    """Which department handles which category of event from which kind of camera owner."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    organisation_kind: Mapped[str | None] = mapped_column(String(32))  # None: any owner
    department_id: Mapped[str] = mapped_column(ForeignKey("department.id"))


class User(Base):
    """A person who logs in: operator, camera owner, grid worker, department handler, admin."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # Scope, by role: an operator's region, an owner's organisation, a handler's department.
    region_id: Mapped[str | None] = mapped_column(ForeignKey("grid.id"))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Raised by a password change or a disable: access tokens carry the generation they were
    # issued in ("gen"), and one of an older generation is refused.
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grids: Mapped[list[Grid]] = relationship(secondary="user_grid")
    region: Mapped[Grid | None] = relationship(foreign_keys=[region_id])


class UserGrid(Base):
    """A grid worker's cells."""

    __tablename__ = "user_grid"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grid.id"), primary_key=True)


class ApiToken(Base):
    """A long-lived token for a system (a worker, the 12345 hotline); only its digest is kept.
    `scopes` (api.principal.TOKEN_SCOPES) say which routes it may call."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked: Mapped[bool] = mapped_column(default=False)
    scopes: Mapped[list[Any]] = mapped_column(default=list)


class Attachment(Base):
    """A photo or file added to an event (a grid worker's on-site photo, a handler's result)."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grid_event_id: Mapped[int] = mapped_column(ForeignKey("grid_event.id"), index=True)
    history_id: Mapped[int | None] = mapped_column(ForeignKey("grid_event_history.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    grid_event: Mapped[GridEvent] = relationship(back_populates="attachments")


class CameraLease(Base):
    """Which worker watches a camera, until when; a worker renews its leases while it lives."""

    __tablename__ = "camera_lease"

    camera_id: Mapped[str] = mapped_column(ForeignKey("camera.id"), primary_key=True)
    worker: Mapped[str] = mapped_column(String(100), index=True)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The fencing token: the camera's tenure this lease is (see CameraTenure).
    epoch: Mapped[int] = mapped_column(Integer, default=1)


class FleetWorker(Base):
    """A worker that leases cameras, as its last heartbeat left it: how many cameras it would
    watch. Alive while its heartbeat is younger than the lease time."""

    __tablename__ = "fleet_worker"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    last_seen_at: Mapped[datetime] = mapped_column(index=True)


class CameraTenure(Base):
    """One holder's time with a camera: each new holder of a camera's lease (another worker, or
    the same one after its lease lapsed) starts a tenure with the next epoch. An incident is
    reported with the epoch its worker held; the API refuses one from an epoch whose camera a
    later tenure had already taken at the incident's time (see api.leases)."""

    __tablename__ = "camera_tenure"

    camera_id: Mapped[str] = mapped_column(ForeignKey("camera.id"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column()


class Webhook(Base):
    """An endpoint an admin registered to receive grid-event changes, signed with its secret."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(300), default="")
    # The secret signs every delivery, so it is kept (encrypted) rather than hashed.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # Empty lists mean "all": only these categories / event types are sent.
    categories: Mapped[list[Any]] = mapped_column(default=list)
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookGeneration(Base):
    """One row: a number raised by every transaction that adds, changes or removes a webhook, so
    that an API process can keep the enabled webhooks in memory and know, from one column read
    with a statement it sends anyway, when another process changed them."""

    __tablename__ = "webhook_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class OutboundDelivery(Base):
    """One grid-event change queued for one integration (a webhook or MQTT) until it is sent."""

    __tablename__ = "outbound_delivery"
    # The delivery loop's claim query: due, unleased rows in order.
    __table_args__ = (
        Index("ix_outbound_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Sent as X-GridWatch-Delivery; the same across retries so receivers can deduplicate.
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    integration: Mapped[str] = mapped_column(String(32), index=True)  # "webhook:7", "mqtt"
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    grid_event_id: Mapped[int] = mapped_column(ForeignKey("grid_event.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A claim: who holds the row and until when; an expired lease is claimable again.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()

    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        order_by="DeliveryAttempt.id", cascade="all, delete-orphan", passive_deletes=True
    )


class DeliveryAttempt(Base):
    """One try at sending a delivery: what the receiver answered and how long it took."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbound_delivery_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_delivery.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered, retry, failed
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class CustomModel(Base):
    """A detection model a district trained and registered, its classes mapped to event codes."""

    __tablename__ = "custom_model"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    weights_path: Mapped[str] = mapped_column(String(500))
    class_names: Mapped[list[Any]] = mapped_column()
    # Class name -> event code; classes not named raise nothing.
    class_codes: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str] = mapped_column(String(300), default="")
    registered_by: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """An operator's "false alarm, do not raise this again": incidents of this camera, rule, zone
    and object class in this image region (optionally at this time of day, until an expiry) are
    stored and counted but open no event."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("camera.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    zone: Mapped[str] = mapped_column(String(64))
    object_class: Mapped[str] = mapped_column(String(64))
    # A polygon in image coordinates normalised to [0, 1]: [[x, y], ...].
    region: Mapped[list[Any]] = mapped_column()
    # Local time of day in the camera's time zone; a window may wrap midnight (22:00-06:00).
    starts_at_time: Mapped[time | None] = mapped_column(Time)
    ends_at_time: Mapped[time | None] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    grid_event_id: Mapped[int | None] = mapped_column(ForeignKey("grid_event.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    suppressed_count: Mapped[int] = mapped_column(Integer, default=0)
    last_suppressed_at: Mapped[datetime | None] = mapped_column()

    camera: Mapped[Camera] = relationship()


class EvidenceAccess(Base):
    """One view or download of evidence (a snapshot, a clip, a photo, a live picture) or one read
    of a camera's address with its credentials by a worker: who, when, what and from where, as
    public-security video rules require. Rows are only ever added: the API changes none."""

    __tablename__ = "evidence_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # user:alice, or worker:<name> (an API token's name, or the worker's X-GridWatch-Worker).
    actor: Mapped[str] = mapped_column(String(120), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # No foreign key: the record outlives the account.
    user_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # view, download, credentials
    object_kind: Mapped[str] = mapped_column(String(30))  # snapshot, clip, photo, live_picture, ...
    object_id: Mapped[str] = mapped_column(String(200))
    camera_id: Mapped[str | None] = mapped_column(String(100), index=True)
    grid_event_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_address: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300))


class GbDevice(Base):
    """A GB/T 28181 device or lower platform that registered; admins accept or refuse it."""

    __tablename__ = "gb_device"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    admission: Mapped[str] = mapped_column(String(16), default="pending")
    online: Mapped[bool] = mapped_column(default=False)
    address: Mapped[str] = mapped_column(String(64), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_report_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The organisation whose owner may adopt its channels (an admin assigns it).
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    # False: it tried to register with no password here (a new id): not registered.
    authenticated: Mapped[bool] = mapped_column(default=True)
    last_keepalive_at: Mapped[datetime | None] = mapped_column()
    # Its DeviceInfo answer.
    name: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    firmware: Mapped[str | None] = mapped_column(String(100))
    channel_count: Mapped[int | None] = mapped_column(Integer)
    # Its own digest password, encrypted like camera credentials (None: the platform's).
    password_encrypted: Mapped[str | None] = mapped_column(Text)

    channels: Mapped[list[GbChannel]] = relationship(
        back_populates="device", cascade="all, delete-orphan", order_by="GbChannel.channel_id"
    )


class GbChannel(Base):
    """A channel from a device's catalog: a candidate camera until adopted (camera_id set)."""

    __tablename__ = "gb_channel"

    device_id: Mapped[str] = mapped_column(ForeignKey("gb_device.id"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    civil_code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(16))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    camera_id: Mapped[str | None] = mapped_column(ForeignKey("camera.id"))
    # An admin or the owner said it is not to be adopted (it leaves the candidates).
    refused: Mapped[bool] = mapped_column(default=False)

    device: Mapped[GbDevice] = relationship(back_populates="channels")


class GbAlarm(Base):
    """A device's alarm (GB/T 28181 Notify Alarm). Its id is the incident's it raised (or would
    raise), so the same alarm reported again is this row again."""

    __tablename__ = "gb_alarm"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("gb_device.id"), index=True)
    channel_id: Mapped[str] = mapped_column(String(20))
    sn: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    method: Mapped[int] = mapped_column(Integer)
    alarm_type: Mapped[int | None] = mapped_column(Integer)
    event_code: Mapped[str | None] = mapped_column(String(8))
    alarm_time: Mapped[datetime] = mapped_column()
    description: Mapped[str] = mapped_column(String(200), default="")
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    camera_id: Mapped[str | None] = mapped_column(String(64))
    grid_event_id: Mapped[int | None] = mapped_column(Integer)
