"""A request that meets a dropped database connection before it committed anything is run
once more, on a fresh connection.

A PostgreSQL restart, a failover or an idle-connection timeout kills the pooled connections.
The pool pings a connection idle a while before handing it out (api.db), but not one used a
moment ago: pinging every checkout costs a round trip per request to learn what the last one
showed. So the first request on each such connection meets the dead connection; SQLAlchemy then
invalidates the pool, and the same request run again gets a fresh connection and succeeds. It
is run again only when that is safe: nothing it sent the database was committed (no COMMIT
sent, no statement sent outside a transaction), and no byte of its answer went out. Anything
else (a failure after a commit, an answer already started) is the 500 it was.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


@dataclass
class _Attempt:
    """What one run of a request did that forbids running it again, unless the route said
    that running it again does what running it once does (`repeatable`)."""

    committed: bool = False
    repeatable: bool = False


# The request's attempt in progress: set by ReconnectOnce, marked by the engine's events (route
# threads get a copy of the request's context, and so the same object).
_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "gridwatch_request_attempt", default=None
)


def repeatable() -> None:
    """Say that the request in progress may be run again even after it committed: running it
    twice leaves what running it once does, and answers the same (a worker's lease renewal)."""
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.repeatable = True


def track_commits(engine: Engine) -> None:
    """Mark the request in progress as having committed when `engine` sends a COMMIT or a
    statement outside a transaction (autocommit), before it is sent: a connection that dies
    then may have committed it."""

    def committed(*_arguments: Any) -> None:
        attempt = _ATTEMPT.get()
        if attempt is not None:
            attempt.committed = True

    def executed(connection: Any, *_arguments: Any) -> None:
        attempt = _ATTEMPT.get()
        if (
            attempt is not None
            and connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        ):
            attempt.committed = True

    event.listen(engine, "commit", committed)
    event.listen(engine, "before_cursor_execute", executed)


def _dropped_connection(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) is a database connection found dead."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ReconnectOnce:
    """Runs an HTTP request a second time when the first run failed on a dropped database
    connection, had committed nothing and had sent no answer (see the module's docstring).
    The body the first run read is given to the second again."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        read: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                read.append(message)
            return message

        attempt = _Attempt()
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        token = _ATTEMPT.set(attempt)
        try:
            await self.app(scope, recording, sending)
            return
        except Exception as err:
            forbidden = attempt.committed and not attempt.repeatable
            if started or forbidden or not _dropped_connection(err):
                raise
            log.warning(
                "%s %s met a dropped database connection (nothing committed, or the route"
                " repeatable); running it again on a fresh one (%s)",
                scope["method"], scope["path"], type(err.__cause__ or err).__name__,
            )  # fmt: skip
        finally:
            _ATTEMPT.reset(token)
        replay = list(read)

        async def replaying() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await self.app(scope, replaying, send)
