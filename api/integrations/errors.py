"""Why a delivery attempt failed, and whether the outbox tries it again."""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery attempt failed. Subclasses say whether it is retried."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class DeliveryRetryable(DeliveryError):
    """The receiver is down, slow or busy (connection refused, timeout, 5xx, 408, 429, broker
    unreachable). Retried with exponential backoff and jitter until the attempts run out."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after_s: float | None = None
    ):
        super().__init__(message, status_code=status_code)
        self.retry_after_s = retry_after_s


class DeliveryRejected(DeliveryError):
    """The receiver refused the delivery (4xx other than 408 and 429). Not retried: recorded and
    marked failed; an admin may redeliver it once the receiver is fixed."""


class IntegrationUnavailable(DeliveryRetryable):
    """The integration cannot send now in this process (MQTT switched off, client not started).
    Retried: another process, or this one after a restart, may deliver it."""
