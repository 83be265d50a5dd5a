"""The delivery loop: claim due deliveries, send them, record each attempt, back off on failure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from api.integrations import outbox
from api.integrations.errors import DeliveryRejected, DeliveryRetryable, IntegrationUnavailable
from api.integrations.outbox import DELIVERED, FAILED, AttemptResult, Claimed
from ingest.backoff import Backoff

log = logging.getLogger(__name__)

RETRY = "retry"


class Sender(Protocol):
    def send(self, item: Claimed) -> int | None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again, and when it is given up.

    After its n-th failed attempt a delivery waits `base_s * 2**(n-1)` seconds, capped at
    `max_s`, shortened at random by up to half so that deliveries failing together do not all
    come back together; after `max_attempts` attempts it fails for good.
    """

    base_s: float = 5
    max_s: float = 3600
    max_attempts: int = 25

    def backoff(self, rng: random.Random | None = None) -> Backoff:
        """The delays, as `Backoff.delay(failed_attempts - 1)`."""
        return Backoff(
            initial_s=self.base_s,
            cap_s=self.max_s,
            jitter=0.5,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not secrecy
        )


ResultHook = Callable[[str, str], None]


class Dispatcher:
    """Sends what the outbox holds. Safe to run in several processes against one database."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        senders: dict[str, Sender],
        *,
        retry: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=300),
        batch: int = 20,
        on_result: ResultHook | None = None,
        rng: random.Random | None = None,
    ):
        self._factory = factory
        self._senders = senders  # "webhook", "mqtt"
        self.retry = retry or RetryPolicy()
        self.lease = lease
        self.batch = batch
        self._on_result = on_result
        self._backoff = self.retry.backoff(rng)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="delivery")
        self._busy = threading.Lock()
        self._closed = False

    def run_once(self, now: datetime | None = None) -> int:
        """Claim one batch of due deliveries and attempt them; returns how many were claimed.

        Deliveries to one integration go one after another, in the order they were queued;
        different integrations go in parallel, so a slow receiver holds up only itself.
        """
        with self._busy:
            if self._closed:
                return 0
            now = now or datetime.now(UTC)
            with self._factory() as session:
                claimed = outbox.claim(
                    session,
                    now=now,
                    lease=self.lease,
                    limit=self.batch,
                    integrations=list(self._senders),
                )
            groups: dict[str, list[Claimed]] = {}
            for item in claimed:
                groups.setdefault(item.integration, []).append(item)
            for future in [self._pool.submit(self._deliver, group) for group in groups.values()]:
                future.result()
            return len(claimed)

    def _deliver(self, group: list[Claimed]) -> None:
        for index, item in enumerate(group):
            result = self.attempt(item)
            if result.outcome == RETRY and result.next_attempt_at is not None:
                # The receiver is down: the rest of its batch would fail the same way, so it is
                # given back untried rather than spending a timeout each.
                rest = group[index + 1 :]
                if rest:
                    with self._factory() as session:
                        outbox.release(session, rest, next_attempt_at=result.next_attempt_at)
                return

    def attempt(self, item: Claimed) -> AttemptResult:
        """Send one delivery and record how it went."""
        kind = "webhook" if item.webhook_id is not None else item.integration
        started = time.perf_counter()
        status_code: int | None = None
        try:
            sender = self._senders.get(kind)
            if sender is None:
                raise IntegrationUnavailable(f"{kind} is not configured in this process")
            status_code = sender.send(item)
        except DeliveryRejected as err:
            result = self._result(FAILED, started, err.status_code, str(err))
        except DeliveryRetryable as err:
            result = self._retry(item, started, err.status_code, str(err), err.retry_after_s)
        except Exception as err:
            log.exception("delivery %s (%s): unexpected error", item.delivery_id, item.integration)
            result = self._retry(item, started, None, f"{type(err).__name__}: {err}", None)
        else:
            result = self._result(DELIVERED, started, status_code, None)
        now = datetime.now(UTC)
        with self._factory() as session:
            outbox.record(session, item, result, now=now)
        if result.outcome == DELIVERED:
            log.debug("delivery %s (%s) delivered", item.delivery_id, item.integration)
        else:
            log.warning(
                "delivery %s (%s) attempt %d: %s (%s)",
                item.delivery_id,
                item.integration,
                item.attempts + 1,
                result.error,
                result.outcome,
            )
        if self._on_result is not None:
            self._on_result(item.integration, result.outcome)
        return result

    def _result(
        self, outcome: str, started: float, status_code: int | None, error: str | None
    ) -> AttemptResult:
        duration_ms = (time.perf_counter() - started) * 1000
        return AttemptResult(outcome, duration_ms, status_code, error)

    def _retry(
        self,
        item: Claimed,
        started: float,
        status_code: int | None,
        error: str,
        retry_after_s: float | None,
    ) -> AttemptResult:
        attempts = item.attempts + 1
        if attempts >= self.retry.max_attempts:
            return self._result(
                FAILED, started, status_code, f"{error}; gave up after {attempts} attempts"
            )
        delay = self._backoff.delay(attempts - 1)
        if retry_after_s is not None:
            delay = min(max(delay, retry_after_s), self.retry.max_s)
        duration_ms = (time.perf_counter() - started) * 1000
        next_at = datetime.now(UTC) + timedelta(seconds=delay)
        return AttemptResult(RETRY, duration_ms, status_code, error, next_at)

    def close(self, timeout_s: float = 30) -> None:
        """Stop taking claims; wait (bounded) for the batch in flight to be recorded."""
        acquired = self._busy.acquire(timeout=timeout_s)
        self._closed = True
        if acquired:
            self._busy.release()
        self._pool.shutdown(wait=acquired, cancel_futures=True)


async def run_loop(dispatcher: Dispatcher, wake: asyncio.Event, interval_s: float) -> None:
    """Deliver until cancelled: at once after a commit queued something, else every interval."""
    while True:
        wake.clear()
        try:
            claimed = await asyncio.to_thread(dispatcher.run_once)
        except Exception:
            log.exception("delivery loop failed; trying again in %.0fs", interval_s)
            claimed = 0
        if claimed:
            continue  # more may be due
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval_s)
