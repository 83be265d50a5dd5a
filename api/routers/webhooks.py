"""Webhooks (admins): register receivers of grid-event changes and read their delivery log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from api.auth import AdminDep
from api.deps import CipherDep, SessionDep
from api.integrations import outbox
from api.models import OutboundDelivery, Webhook
from api.schemas import (
    DeliveryAttemptPublic,
    DeliveryPage,
    DeliveryPublic,
    Problem,
    RowId,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _counts(session: SessionDep, webhook_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries by status of each webhook, in one query."""
    rows = session.execute(
        select(OutboundDelivery.webhook_id, OutboundDelivery.status, func.count())
        .where(OutboundDelivery.webhook_id.in_(webhook_ids))
        .group_by(OutboundDelivery.webhook_id, OutboundDelivery.status)
    ).all()
    counts: dict[int, dict[str, int]] = {webhook_id: {} for webhook_id in webhook_ids}
    for webhook_id, state, count in rows:
        if webhook_id is not None:  # always, given the filter; the column admits broker rows
            counts[webhook_id][state] = count
    return counts


def _public(
    session: SessionDep, webhook: Webhook, counts: dict[str, int] | None = None
) -> WebhookPublic:
    if counts is None:
        counts = _counts(session, [webhook.id])[webhook.id]
    return WebhookPublic(
        id=webhook.id,
        url=_masked(webhook.url),
        description=webhook.description,
        categories=list(webhook.categories),
        event_types=list(webhook.event_types),
        enabled=webhook.enabled,
        created_by=webhook.created_by,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        pending=counts.get(outbox.PENDING, 0),
        failed=counts.get(outbox.FAILED, 0),
    )


def _get(session: SessionDep, webhook_id: RowId) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise HTTPException(404, detail=f"webhook {webhook_id} not found")
    return webhook


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": Problem}},
    summary="Register a webhook; the answer holds its signing secret, shown only this once.",
)
def create_webhook(
    body: WebhookCreate, session: SessionDep, cipher: CipherDep, admin: AdminDep
) -> WebhookCreated:
    secret = body.secret or "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(
        url=str(body.url),
        description=body.description,
        secret_encrypted=cipher.encrypt(secret),
        categories=[category.value for category in body.categories],
        event_types=[event_type.value for event_type in body.event_types],
        enabled=body.enabled,
        created_by=admin.actor,
    )
    session.add(webhook)
    session.commit()
    return WebhookCreated(**_public(session, webhook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookPublic], summary="Registered webhooks.")
def list_webhooks(session: SessionDep, _admin: AdminDep) -> list[WebhookPublic]:
    hooks = list(session.scalars(select(Webhook).order_by(Webhook.id)))
    counts = _counts(session, [hook.id for hook in hooks])
    return [_public(session, hook, counts[hook.id]) for hook in hooks]


@router.get("/{webhook_id}", response_model=WebhookPublic, responses={404: {"model": Problem}})
def get_webhook(webhook_id: RowId, session: SessionDep, _admin: AdminDep) -> WebhookPublic:
    return _public(session, _get(session, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="Change a webhook: address, filters, secret (rotate), enabled (pause or resume).",
)
def update_webhook(
    webhook_id: RowId,
    body: WebhookUpdate,
    session: SessionDep,
    cipher: CipherDep,
    _admin: AdminDep,
) -> WebhookPublic:
    webhook = _get(session, webhook_id)
    if body.url is not None:
        webhook.url = str(body.url)
    if body.description is not None:
        webhook.description = body.description
    if body.secret is not None:
        webhook.secret_encrypted = cipher.encrypt(body.secret)
    if body.categories is not None:
        webhook.categories = [category.value for category in body.categories]
    if body.event_types is not None:
        webhook.event_types = [event_type.value for event_type in body.event_types]
    if body.enabled is not None:
        webhook.enabled = body.enabled
    session.commit()
    return _public(session, webhook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
    summary="Remove a webhook with its queue and delivery log.",
)
def delete_webhook(webhook_id: RowId, session: SessionDep, _admin: AdminDep) -> None:
    session.delete(_get(session, webhook_id))
    session.commit()


def _delivery_public(delivery: OutboundDelivery) -> DeliveryPublic:
    return DeliveryPublic(
        delivery_id=delivery.delivery_id,
        event_type=delivery.event_type,
        grid_event_id=delivery.grid_event_id,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == outbox.PENDING else None,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempt_log=[DeliveryAttemptPublic.model_validate(item) for item in delivery.attempt_log],
    )


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses={404: {"model": Problem}},
    summary="The delivery log, newest first: every attempt with status code, error and duration.",
)
def list_deliveries(
    webhook_id: RowId,
    session: SessionDep,
    _admin: AdminDep,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(alias="status", description="Only deliveries in this state."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> DeliveryPage:
    _get(session, webhook_id)
    query = select(OutboundDelivery).where(OutboundDelivery.webhook_id == webhook_id)
    if delivery_status is not None:
        query = query.where(OutboundDelivery.status == delivery_status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(OutboundDelivery.attempt_log))
        .order_by(OutboundDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return DeliveryPage(
        items=[_delivery_public(row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="Queue a delivery again, with the same delivery id (after fixing the receiver).",
)
def redeliver(
    webhook_id: RowId, delivery_id: str, session: SessionDep, _admin: AdminDep
) -> DeliveryPublic:
    delivery = session.scalar(
        select(OutboundDelivery).where(
            OutboundDelivery.webhook_id == webhook_id, OutboundDelivery.delivery_id == delivery_id
        )
    )
    if delivery is None:
        raise HTTPException(404, detail=f"delivery {delivery_id} not found for this webhook")
    if delivery.status == outbox.PENDING:
        raise HTTPException(409, detail="this delivery is still pending; it will be tried again")
    outbox.redeliver(session, delivery, now=datetime.now(UTC))
    session.commit()
    session.refresh(delivery)
    return _delivery_public(delivery)
