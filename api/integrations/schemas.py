"""API schemas of the integrations: webhooks and their delivery log, apart from the rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from contract.vocabulary import Category


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
