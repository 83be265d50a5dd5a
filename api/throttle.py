"""Concurrency limits for requests that wait on a camera: one caller cannot tie up the API."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class TooManyInFlight(Exception):
    """A limit is reached: `reason` says which, `retry_after_s` when a slot frees at the latest."""

    def __init__(self, reason: str, retry_after_s: int):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class _Slot:
    caller: str
    ends_at: float  # time.monotonic() by which the work gives up


class ConcurrencyLimit:
    """At most `per_caller` slots for one caller and `total` for everyone, taken without waiting.

    A request over a limit is refused at once rather than queued: a queue of requests that each
    wait on a silent camera would hold the API's threads all the same.

    Example:
        >>> limit = ConcurrencyLimit(total=2, per_caller=1, what="connection tests")
        >>> with limit.slot("alice", timeout_s=5):
        ...     limit.slot("alice", timeout_s=5).__enter__()
        Traceback (most recent call last):
        api.throttle.TooManyInFlight: alice has 1 connection tests running (at most 1 at a time)
    """

    def __init__(self, total: int, per_caller: int, what: str):
        self.total = total
        self.per_caller = per_caller
        self.what = what
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()

    def _retry_after(self, slots: list[_Slot], now: float) -> int:
        soonest = min((slot.ends_at for slot in slots), default=now)
        return max(1, math.ceil(soonest - now))

    @contextmanager
    def slot(self, caller: str, timeout_s: float) -> Iterator[None]:
        """Hold one slot for `caller` while the block runs (it gives up after `timeout_s`).

        Raises:
            TooManyInFlight: The caller's or everyone's limit is reached.
        """
        now = time.monotonic()
        with self._lock:
            own = [slot for slot in self._slots if slot.caller == caller]
            if len(own) >= self.per_caller:
                raise TooManyInFlight(
                    f"{caller} has {len(own)} {self.what} running"
                    f" (at most {self.per_caller} at a time)",
                    self._retry_after(own, now),
                )
            if len(self._slots) >= self.total:
                raise TooManyInFlight(
                    f"{len(self._slots)} {self.what} are running on this server"
                    f" (at most {self.total} at a time)",
                    self._retry_after(self._slots, now),
                )
            held = _Slot(caller, now + timeout_s)
            self._slots.append(held)
        try:
            yield
        finally:
            with self._lock:
                self._slots.remove(held)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._slots)
