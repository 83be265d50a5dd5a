"""Cross-cutting HTTP protections: security headers and a login rate limit."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

# The console is served from this origin and talks only to it (no CDN, no third party).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# FastAPI's interactive docs load their scripts from a CDN; they keep their own defaults.
_DOCS = ("/docs", "/redoc")


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
        if request.url.path.startswith("/api/") and "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"
        content_type = headers.get("content-type", "")
        if content_type.startswith("text/html") and not request.url.path.startswith(_DOCS):
            headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class LoginLimiter:
    """At most `per_account` failed logins a minute for one account from one address, and
    `per_address` from one address: enough for a person who mistypes, not for guessing."""

    def __init__(self, per_account: int = 5, per_address: int = 30, window_s: float = 60.0):
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str, username: str) -> float:
        """Seconds to wait before another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            for key, limit in (
                ((address, username), self.per_account),
                ((address, ""), self.per_address),
            ):
                times = self._recent(key, now)
                if len(times) >= limit:
                    return max(1.0, self.window_s - (now - times[0]))
        return 0.0

    def failed(self, address: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[(address, username)].append(now)
            self._failures[(address, "")].append(now)

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username), None)
