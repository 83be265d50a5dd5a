"""When a live camera tries to connect again, so that reconnect storms back off."""

from __future__ import annotations

from ingest.backoff import Backoff

STEADY_AFTER_S = 10.0
"""A connection that delivered good frames for this long has proven itself: the reconnect
backoff starts over when it is lost."""


class ReconnectSchedule:
    """When a live camera tries to connect again: reconnect storms back off.

    A connection attempt that fails counts as a failure, and so does a connection lost before
    it delivered good frames for `steady_after_s`: connecting proves nothing, since a camera
    that accepts every connection and then breaks it (framing we cannot read, a stream that dies
    on its first frame) would otherwise be called twice a second forever. Only a stream that
    delivered good frames for that long resets the count.

    Example:
        >>> schedule = ReconnectSchedule(Backoff(jitter=0), steady_after_s=10)
        >>> schedule.connected(); schedule.lost()
        >>> schedule.connected(); schedule.lost()
        >>> schedule.delay()  # two connections that came to nothing
        2.0
    """

    def __init__(self, backoff: Backoff, *, steady_after_s: float = STEADY_AFTER_S):
        self.backoff = backoff
        self.steady_after_s = steady_after_s
        self.failures = 0
        self._good_since: float | None = None
        self._steady = False

    def connected(self) -> None:
        """A connection was made; it has delivered nothing yet."""
        self._good_since = None
        self._steady = False

    def good_frame(self, at: float) -> None:
        """The connection delivered a good frame at `at` (`time.monotonic()` seconds)."""
        if self._steady:
            return
        if self._good_since is None:
            self._good_since = at
        elif at - self._good_since >= self.steady_after_s:
            self._steady = True
            self.failures = 0

    def lost(self) -> None:
        """The connection was lost; a failure unless it had proven itself."""
        if not self._steady:
            self.failures += 1
        self._steady = False

    def failed(self) -> None:
        """A connection attempt failed."""
        self.failures += 1

    def delay(self) -> float:
        """Seconds to wait before the next connection attempt."""
        return self.backoff.delay(self.failures)
