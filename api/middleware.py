"""Cross-cutting HTTP protections: security headers, strict JSON bodies and a login rate
limit."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque

import anyio
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The console is served from this origin and talks only to it (no CDN, no third party).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# FastAPI's interactive docs load their scripts from a CDN; they keep their own defaults.
_DOCS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the security headers to every HTTP answer, as its head goes out (plain ASGI: the
    body streams through untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _secure(path, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(request: Request, response: Response) -> None:
    """The headers every answer carries (error pages included)."""
    _secure(request.url.path, response.headers)


def _secure(path: str, headers: MutableHeaders) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
    if path.startswith("/api/") and "cache-control" not in headers:
        headers["Cache-Control"] = "no-store"
    content_type = headers.get("content-type", "")
    if content_type.startswith("text/html") and not path.startswith(_DOCS):
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)


async def internal_error(request: Request, _error: Exception) -> Response:
    """A failure the API did not foresee: a 500 that says nothing of its cause (it is logged),
    with the security headers, which the middleware cannot add to an answer made outside it."""
    response = JSONResponse(
        {"detail": "internal error; it has been logged", "code": "internal", "params": {}},
        status_code=500,
    )
    add_security_headers(request, response)
    return response


# Where api.bodies keeps the cap of the request in progress: (bytes, the settings it comes from).
BODY_LIMIT_SCOPE_KEY = "gridwatch.body_limit"


def body_over_cap(scope: Scope) -> str:
    """The 413's reason for the request in progress: its cap and the setting it comes from."""
    limit, names = scope.get(BODY_LIMIT_SCOPE_KEY, (None, "the server's limit"))
    size = f"{limit} bytes" if limit is not None else "the size allowed"
    return f"body: larger than the {size} this route accepts ({names})"


def too_large_body(detail: str) -> dict[str, object]:
    """A 413's body: the reason, and the code the console words with the cap in bytes."""
    return {"detail": detail, "code": "too_large", "params": {}}


class NonStandardNumber(ValueError):
    """A JSON number that RFC 8259 does not allow or that does not fit a float."""


def _refuse_constant(name: str) -> float:
    raise NonStandardNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonStandardNumber(f"{text} does not fit a 64-bit float")
    return value


def parse_json(text: str | bytes) -> object:
    """`text` parsed as RFC 8259 JSON: NaN, Infinity and numbers too large for a float are
    refused (Python's parser accepts them).

    Raises:
        json.JSONDecodeError: Malformed, or such a number (the message says which).
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except NonStandardNumber as err:
        document = text.decode(errors="replace") if isinstance(text, bytes) else text
        raise json.JSONDecodeError(str(err), document, 0) from err


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return False


class StrictJson:
    """Refuses, with a 422 that says why, a JSON body with NaN, Infinity or a number too large
    for a float, before any route sees it.

    Python's JSON parser accepts them, so they would reach models and the database, and the
    validation error that echoes them back could not itself be written as JSON (a 500).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            try:
                message = await receive()
            except HTTPException as err:  # the body is over its cap (api.bodies)
                if err.status_code != 413:
                    raise
                problem = JSONResponse(too_large_body(body_over_cap(scope)), status_code=413)
                problem.headers["Connection"] = "close"
                await problem(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            try:
                json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
            except NonStandardNumber as err:
                error = {"field": "body", "type": "json_invalid", "params": {}}
                problem = JSONResponse(
                    {"detail": f"body: {err}", "code": "invalid", "params": {"errors": [error]}},
                    status_code=422,
                )
                await problem(scope, receive, send)
                return
            except ValueError:
                pass  # malformed JSON: the route's parser says where

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


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


LEASE_PATH = "/api/v1/worker/leases"


def is_worker_heartbeat(method: str, path: str) -> bool:
    """Whether a request is one of the workers' routine heartbeats, which every worker sends
    every few seconds: a lease renewal (or claim, `POST /api/v1/worker/leases`) or a camera's
    health report (`PUT /api/v1/cameras/{id}/health`)."""
    if method == "POST" and path == LEASE_PATH:
        return True
    return method == "PUT" and path.startswith("/api/v1/cameras/") and path.endswith("/health")


class LeaseTurns:
    """Workers' lease requests (renewals and claims, `POST /api/v1/worker/leases`) take turns:
    at most `at_once` of them are inside the app at a time, the rest wait in the event loop,
    first come first served.

    A sync route runs on one of the server's request threads (anyio's limit, 40) with a pooled
    database connection; when a fleet starts or comes back, hundreds of workers claim cameras
    at the same moment, take every thread, and an operator's request queued behind the whole
    storm (event lists stalled for seconds in `bench/fleet.py`). Waiting here, lease requests
    hold neither; a worker's lease outlives a wait of seconds (GRIDWATCH_LEASE_S). Health
    reports do not wait: a camera's state is reported as it changes, and a queue of them must
    not hold back the renewals that keep cameras watched. Plain ASGI.
    """

    def __init__(self, app: ASGIApp, at_once: int):
        self.app = app
        self.at_once = at_once
        self._turns: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != LEASE_PATH:
            await self.app(scope, receive, send)
            return
        if self._turns is None:  # made in the server's event loop, on its first lease request
            self._turns = anyio.Semaphore(self.at_once)
        async with self._turns:
            await self.app(scope, receive, send)
