"""Webhook deliveries: signed JSON POSTs to the endpoints admins registered.

Each POST carries these headers:

- ``X-GridWatch-Event``: ``event.created`` or ``event.updated``
- ``X-GridWatch-Delivery``: the delivery id, the same on every retry (deduplicate on it)
- ``X-GridWatch-Timestamp``: Unix seconds when this attempt was signed
- ``X-GridWatch-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under the
  webhook's secret

A receiver recomputes the signature over the raw body, compares it in constant time, and refuses
timestamps far from its clock so a captured request cannot be replayed later (see `verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import httpx

from api.integrations.errors import DeliveryRejected, DeliveryRetryable
from api.integrations.outbox import Claimed
from api.security import CredentialCipher

log = logging.getLogger(__name__)

EVENT_HEADER = "X-GridWatch-Event"
DELIVERY_HEADER = "X-GridWatch-Delivery"
TIMESTAMP_HEADER = "X-GridWatch-Timestamp"
SIGNATURE_HEADER = "X-GridWatch-Signature"
USER_AGENT = "GridWatch-Webhooks/1"
# Statuses a receiver answers when it is busy rather than when it refuses the delivery.
RETRYABLE_STATUSES = frozenset({408, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-GridWatch-Signature value for `body` sent at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether a received delivery is genuine and fresh (what a receiver should do)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if (value.isascii() and value.isdigit()) else None


class WebhookSender:
    """Sends claimed webhook deliveries; raises DeliveryRetryable or DeliveryRejected."""

    def __init__(self, client: httpx.Client, cipher: CredentialCipher):
        self._client = client
        self._cipher = cipher

    def send(self, item: Claimed) -> int:
        """POST the delivery; returns the receiver's 2xx status."""
        if item.webhook_url is None or item.webhook_secret_encrypted is None:
            raise DeliveryRejected("the webhook was deleted")
        try:
            secret = self._cipher.decrypt(item.webhook_secret_encrypted)
        except ValueError as err:
            # Retried: restoring the key that encrypted it brings the webhook back.
            raise DeliveryRetryable(f"webhook {item.webhook_id}: {err}") from err
        body = json.dumps(item.envelope(), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: item.event_type,
            DELIVERY_HEADER: item.delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            response = self._client.post(item.webhook_url, content=body, headers=headers)
        except httpx.TimeoutException as err:
            raise DeliveryRetryable(f"no answer in time ({type(err).__name__})") from err
        except httpx.HTTPError as err:
            # The message, not the URL: a URL may carry credentials.
            raise DeliveryRetryable(f"cannot reach the receiver: {type(err).__name__}") from err
        status = response.status_code
        if 200 <= status < 300:
            return status
        reason = f"HTTP {status} {response.reason_phrase}".strip()
        if status >= 500 or status in RETRYABLE_STATUSES:
            raise DeliveryRetryable(
                reason, status_code=status, retry_after_s=_retry_after(response)
            )
        raise DeliveryRejected(f"{reason}: {response.text[:200]}", status_code=status)
