"""The durable outbox: grid-event changes queued per integration, claimed, and their attempts.

Every transaction that creates or changes a grid event writes, just before it commits, one
`outbound_delivery` row per enabled integration in that same transaction, so the rows commit or
roll back with the change itself: a change that is in the database is also in the outbox,
whichever code path made it (an API request, the deadline watch, a script).

Claims are leases. A process takes due rows with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL;
SQLite serialises writers instead), stamps them with a claim token and a lease deadline, and
commits before sending, so no lock is held over the network. Results are written only while the
token still matches; rows of a process that died mid-send are claimable again once their lease
runs out. Delivery is therefore at least once, and the delivery id, stable across retries, lets
a receiver drop the rare duplicate.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, false, func, insert, inspect, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, sessionmaker

from api import changes
from api.changes import EVENT_CREATED, EVENT_UPDATED
from api.models import DeliveryAttempt, GridEvent, OutboundDelivery, Webhook, WebhookGeneration
from api.taxonomy import EMPTY_TAXONOMY, Taxonomy

log = logging.getLogger(__name__)

EVENT_TYPES = (EVENT_CREATED, EVENT_UPDATED)
MQTT = "mqtt"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# States after which nothing more happens to an event (Frigate calls such an update "end").

_CONFIG_KEY = "gridwatch.outbox"
_QUEUED_KEY = "gridwatch.outbox.queued"
_GENERATION_KEY = "gridwatch.outbox.webhooks_generation"
_WEBHOOKS_WRITTEN_KEY = "gridwatch.outbox.webhooks_written"
# Incident columns kept out of outbound messages: where the API stores evidence is its own
# business (receivers fetch evidence through the API's URLs).
_INCIDENT_PRIVATE = frozenset({"snapshot_path", "clip_path"})


def webhook_integration(webhook_id: int) -> str:
    return f"webhook:{webhook_id}"


@dataclass
class OutboxConfig:
    """What this process queues for: MQTT when a broker is configured, and whom to wake."""

    mqtt: bool = False
    on_commit: Callable[[], None] | None = None
    taxonomy: Taxonomy = EMPTY_TAXONOMY
    webhooks: EnabledWebhooks = field(default_factory=lambda: EnabledWebhooks())


def install(factory: sessionmaker[Session], config: OutboxConfig) -> None:
    """Make every session of `factory` queue grid-event changes in the outbox as it commits."""
    info = dict(factory.kw.get("info") or {})
    info[_CONFIG_KEY] = config
    factory.configure(info=info)
    changes.listen(factory, functools.partial(_write, config))
    sa_event.listen(factory, "after_commit", _after_commit)
    sa_event.listen(factory, "after_rollback", _after_rollback)


def _columns(row: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    state = inspect(row)
    return {
        attr.key: changes.json_safe(getattr(row, attr.key))
        for attr in state.mapper.column_attrs
        if attr.key not in skip
    }


def _snapshot(event: GridEvent, taxonomy: Taxonomy) -> dict[str, Any]:
    after = _columns(event)
    # Receivers get the event type's names beside its code, as the event API gives them.
    event_type = taxonomy.get(event.event_code)
    after["event_name_zh"] = event_type.name_zh if event_type else None
    after["event_name_en"] = event_type.name_en if event_type else None
    # Called at commit, after the last flush, so loading the incident here is safe.
    incident = event.incident
    after["incident"] = _columns(incident, _INCIDENT_PRIVATE) if incident is not None else None
    return after


# Built once: run when the webhooks' generation moved.
_ENABLED_WEBHOOKS = select(Webhook.id, Webhook.categories, Webhook.event_types).where(
    Webhook.enabled
)
# The webhooks' generation, as a column of a statement that reads something else anyway (intake
# reads it with the camera); None where its row is missing, and the webhooks are then read.
WEBHOOKS_GENERATION = (
    select(WebhookGeneration.generation).where(WebhookGeneration.id == 1).scalar_subquery()
)
_READ_GENERATION = select(WEBHOOKS_GENERATION)
_RAISE_GENERATION = (
    update(WebhookGeneration)
    .where(WebhookGeneration.id == 1)
    .values(generation=WebhookGeneration.generation + 1)
)

# A webhook's (id, categories, event types).
EnabledWebhook = tuple[int, list[Any], list[Any]]


class EnabledWebhooks:
    """The enabled webhooks as this process last read them, with the generation they were read
    at (`WebhookGeneration`): read again only when a transaction finds another generation, so
    a webhook added, changed or removed through any API process is seen by every process's
    next event change, and an unchanged set costs no query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._webhooks: tuple[EnabledWebhook, ...] = ()

    def at(self, connection: Connection, generation: int | None) -> tuple[EnabledWebhook, ...]:
        """The enabled webhooks at `generation`, read on `connection` unless held already;
        with None (its row missing, or the transaction wrote webhooks itself) read and not
        kept. The generation is read before the webhooks, so a change committed between the
        two reads moves it again and the next transaction reads them again."""
        with self._lock:
            if generation is not None and generation == self._generation:
                return self._webhooks
        webhooks = tuple(
            (hook_id, categories, event_types)
            for hook_id, categories, event_types in connection.execute(_ENABLED_WEBHOOKS)
        )
        if generation is not None:
            with self._lock:
                self._generation, self._webhooks = generation, webhooks
        return webhooks


def note_webhooks_generation(session: Session, generation: int | None) -> None:
    """Note the webhooks' generation read by a statement of `session`'s transaction
    (`WEBHOOKS_GENERATION`), so that queueing its changes at commit does not read it again."""
    session.info[_GENERATION_KEY] = generation


@sa_event.listens_for(Webhook, "after_insert")
@sa_event.listens_for(Webhook, "after_update")
@sa_event.listens_for(Webhook, "after_delete")
def _webhook_changed(_mapper: Any, connection: Connection, webhook: Webhook) -> None:
    # Every write of a webhook row is a flush (no Core statement writes them): raising the
    # generation here, in the same transaction, is what tells every process to read them again.
    connection.execute(_RAISE_GENERATION)
    session = object_session(webhook)
    if session is not None:
        # What this transaction reads of them is not to be kept: it may yet roll back.
        session.info[_WEBHOOKS_WRITTEN_KEY] = True


def _write(
    config: OutboxConfig, session: Session, changed: Sequence[changes.GridEventChange]
) -> Callable[[], None] | None:
    """Before commit: one outbox row per changed event per enabled integration; returns the
    wake-up for delivery, to run once the rows are committed."""
    connection = session.connection()
    if session.info.get(_WEBHOOKS_WRITTEN_KEY):
        generation = None  # the webhooks as this transaction wrote them: read, not kept
    elif _GENERATION_KEY in session.info:
        generation = session.info.pop(_GENERATION_KEY)
    else:
        generation = connection.execute(_READ_GENERATION).scalar()
    webhooks = config.webhooks.at(connection, generation)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for change in changed:
        if not change.columns_changed:
            continue  # a comment: receivers get the event's state, which it did not change
        grid_event = change.grid_event
        event_type = change.event_type
        targets: list[tuple[str, int | None]] = [
            (webhook_integration(hook_id), hook_id)
            for hook_id, categories, event_types in webhooks
            if (not categories or grid_event.category in categories)
            and (not event_types or event_type in event_types)
        ]
        if config.mqtt:
            targets.append((MQTT, None))
        if not targets:
            continue  # no receiver wants it: nothing to shape
        payload = {
            "type": event_type,
            "action": change.action,
            "at": now.isoformat(),
            "event": _snapshot(grid_event, config.taxonomy),
            "before": change.before,
        }
        rows.extend(
            {
                "delivery_id": str(uuid.uuid4()),
                "integration": integration,
                "webhook_id": webhook_id,
                "grid_event_id": grid_event.id,
                "event_type": event_type,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for integration, webhook_id in targets
        )
    if not rows:
        return None
    connection.execute(insert(OutboundDelivery), rows)
    return config.on_commit


def _after_commit(session: Session) -> None:
    """Wake delivery after a commit that queued deliveries again (`redeliver`)."""
    # Read, or written, in the transaction that just ended.
    session.info.pop(_GENERATION_KEY, None)
    session.info.pop(_WEBHOOKS_WRITTEN_KEY, None)
    if session.info.pop(_QUEUED_KEY, False):
        config: OutboxConfig | None = session.info.get(_CONFIG_KEY)
        if config is not None and config.on_commit is not None:
            config.on_commit()


def _after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED_KEY, None)
    session.info.pop(_GENERATION_KEY, None)
    session.info.pop(_WEBHOOKS_WRITTEN_KEY, None)


@dataclass(frozen=True)
class Claimed:
    """A delivery this process holds under a lease, with what is needed to send it."""

    id: int
    delivery_id: str
    integration: str
    webhook_id: int | None
    grid_event_id: int
    event_type: str
    payload: dict[str, Any]
    attempts: int  # made before this one
    claim_token: str
    webhook_url: str | None = None
    webhook_secret_encrypted: str | None = None

    def envelope(self) -> dict[str, Any]:
        """The message as receivers get it: the change, named by its delivery id."""
        return {"delivery_id": self.delivery_id, **self.payload}


def _due(now: datetime, integrations: Iterable[str] | None) -> ColumnElement[bool]:
    enabled_hooks = select(Webhook.id).where(Webhook.enabled)
    condition = (
        (OutboundDelivery.status == PENDING)
        & (OutboundDelivery.next_attempt_at <= now)
        & or_(OutboundDelivery.lease_until.is_(None), OutboundDelivery.lease_until < now)
        # A disabled webhook is paused: its queue waits for it to be enabled again.
        & or_(OutboundDelivery.webhook_id.is_(None), OutboundDelivery.webhook_id.in_(enabled_hooks))
    )
    if integrations is not None:
        kinds = list(integrations)
        webhook = OutboundDelivery.webhook_id.is_not(None) if "webhook" in kinds else false()
        condition = condition & or_(webhook, OutboundDelivery.integration.in_(kinds))
    return condition


def claim(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    integrations: Iterable[str] | None = None,
) -> list[Claimed]:
    """Take up to `limit` due deliveries under a lease; committed before returning.

    `integrations` narrows the claim to what this process can send ("webhook", "mqtt").
    """
    token = str(uuid.uuid4())
    due = _due(now, integrations)
    query = (
        select(OutboundDelivery.id)
        .where(due)
        .order_by(OutboundDelivery.next_attempt_at, OutboundDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Rows another process is claiming right now are skipped, not waited for.
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        session.rollback()
        return []
    # The condition is checked again as the rows are written, so on SQLite (no row locks) two
    # processes that read the same ids cannot both claim one.
    session.execute(
        update(OutboundDelivery)
        .where(OutboundDelivery.id.in_(ids), due)
        .values(claim_token=token, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(OutboundDelivery, Webhook.url, Webhook.secret_encrypted)
        .outerjoin(Webhook, Webhook.id == OutboundDelivery.webhook_id)
        .where(OutboundDelivery.claim_token == token)
        .order_by(OutboundDelivery.next_attempt_at, OutboundDelivery.id)
    ).all()
    claimed = [
        Claimed(
            id=row.id,
            delivery_id=row.delivery_id,
            integration=row.integration,
            webhook_id=row.webhook_id,
            grid_event_id=row.grid_event_id,
            event_type=row.event_type,
            payload=row.payload,
            attempts=row.attempts,
            claim_token=token,
            webhook_url=url,
            webhook_secret_encrypted=secret,
        )
        for row, url, secret in rows
    ]
    session.commit()
    return claimed


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went. `next_attempt_at` is set when it is to be retried."""

    outcome: str  # delivered, retry, failed
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def record(session: Session, item: Claimed, result: AttemptResult, *, now: datetime) -> bool:
    """Log the attempt and settle the delivery; False when the claim was lost meanwhile.

    The attempt is logged whoever holds the row now: it happened. Only a delivery deleted with
    its webhook in the meantime leaves no trace.
    """
    attempt = item.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempt,
        "claim_token": None,
        "lease_until": None,
        "last_error": result.error,
    }
    if result.outcome == DELIVERED:
        values.update(status=DELIVERED, delivered_at=now)
    elif result.outcome == FAILED:
        values.update(status=FAILED)
    else:
        assert result.next_attempt_at is not None
        values.update(next_attempt_at=result.next_attempt_at)
    updated = session.execute(
        update(OutboundDelivery)
        .where(OutboundDelivery.id == item.id, OutboundDelivery.claim_token == item.claim_token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    kept: bool = updated.rowcount == 1  # type: ignore[attr-defined]
    if kept or session.get(OutboundDelivery, item.id) is not None:
        session.add(
            DeliveryAttempt(
                outbound_delivery_id=item.id,
                attempt=attempt,
                at=now,
                outcome=result.outcome,
                status_code=result.status_code,
                error=result.error,
                duration_ms=round(result.duration_ms, 1),
            )
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the delivery went with its webhook while we sent it
        return False
    if not kept:
        log.warning(
            "delivery %s (%s): its lease ran out before the attempt was recorded; another"
            " process may send it again",
            item.delivery_id,
            item.integration,
        )
    return kept


def release(session: Session, items: Iterable[Claimed], *, next_attempt_at: datetime) -> None:
    """Give claimed deliveries back untried, due again at `next_attempt_at`."""
    for item in items:
        session.execute(
            update(OutboundDelivery)
            .where(OutboundDelivery.id == item.id, OutboundDelivery.claim_token == item.claim_token)
            .values(claim_token=None, lease_until=None, next_attempt_at=next_attempt_at)
            .execution_options(synchronize_session=False)
        )
    session.commit()


def redeliver(session: Session, delivery: OutboundDelivery, *, now: datetime) -> None:
    """Queue a delivery again (same delivery id); its attempts are counted afresh from 1."""
    delivery.status = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.claim_token = None
    delivery.lease_until = None
    delivery.delivered_at = None
    session.flush()
    session.info[_QUEUED_KEY] = True


def queue_depth(session: Session, *, mqtt: bool = False) -> dict[str, int]:
    """Pending deliveries by integration; every webhook (and MQTT when on) appears, if only
    with 0, so a queue that empties reads 0 rather than vanishing."""
    depth = {webhook_integration(hook_id): 0 for hook_id in session.scalars(select(Webhook.id))}
    if mqtt:
        depth[MQTT] = 0
    rows = session.execute(
        select(OutboundDelivery.integration, func.count())
        .where(OutboundDelivery.status == PENDING)
        .group_by(OutboundDelivery.integration)
    ).all()
    depth.update({integration: count for integration, count in rows})
    return depth
