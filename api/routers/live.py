"""Live alerts over WebSocket and Server-Sent Events, each caller within their own scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import UserDep, bearer_token, current_principal
from api.live import LiveHub, ViewerScope
from api.principal import Principal

router = APIRouter(prefix="/api/v1/live", tags=["live"])

KEEPALIVE_S = 15.0
# WebSocket close code (4000-4999: the application's) for a login that no longer holds: its
# token expired, the account was disabled or removed, or its password changed.
CLOSE_ACCOUNT_CHANGED = 4401


def _account_holds(app: Any, token: str | None, username: str) -> bool:
    """Whether `token` still authenticates the same user: not expired, the account not
    disabled or removed, its password not changed since (its token generation)."""
    state = app.state
    with state.session_factory() as session:
        try:
            principal = current_principal(session, state.settings, token)
        except HTTPException:
            return False
        return principal.user is not None and principal.name == username


async def _until_account_lapses(app: Any, token: Callable[[], str | None], username: str) -> None:
    """Return once the account behind a live connection no longer holds, checked every
    `live_recheck_s` seconds with the connection's current token (`token()`: a renewed one
    replaces the first), so a disabled account is cut off within that time."""
    interval = app.state.settings.live_recheck_s
    while True:
        await asyncio.sleep(interval)
        if not await run_in_threadpool(_account_holds, app, token(), username):
            return


@router.get(
    "/events",
    summary="New and changed events as Server-Sent Events (text/event-stream).",
    response_class=StreamingResponse,
)
async def live_events_sse(request: Request, principal: UserDep) -> StreamingResponse:
    """The stream ends (with an `event: closed`) once the account is disabled, its password
    changed or its token expired: checked every `live_recheck_s` seconds."""
    hub: LiveHub = request.app.state.hub
    scope = ViewerScope.of(principal)

    token = bearer_token(request.headers.get("authorization"))

    async def stream() -> AsyncIterator[str]:
        lapsed = asyncio.create_task(
            _until_account_lapses(request.app, lambda: token, principal.name)
        )
        try:
            with hub.subscription(scope) as subscription:
                yield "retry: 3000\n\n"
                while not await request.is_disconnected():
                    message = asyncio.create_task(subscription.next())
                    done, _ = await asyncio.wait(
                        {message, lapsed}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    if lapsed in done:
                        message.cancel()
                        yield 'event: closed\ndata: {"reason": "log in again"}\n\n'
                        return
                    if message not in done:
                        message.cancel()
                        yield ": keep-alive\n\n"
                        continue
                    text = message.result()
                    if text is None:
                        return
                    yield f"data: {text}\n\n"
        finally:
            lapsed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lapsed

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


AUTH_WAIT_S = 10.0
# WebSocket close code for a token sent in the address, which the API never takes.
CLOSE_TOKEN_IN_ADDRESS = 4400
TOKEN_IN_ADDRESS = "send the access token in a first auth message, not in the address"  # noqa: S105
_TOKEN_PARAMETERS = {"token", "access_token"}


@dataclass
class _Login:
    """Who is on a socket, and until when their access token holds (renewed by a new one)."""

    principal: Principal
    expires_at: float | None  # time.time(); None for a token without expiry (none are issued)
    token: str  # the latest the client sent


def _login(websocket: WebSocket, token: str | None) -> _Login | None:
    """The user a token names, with its expiry; None when it names no active user."""
    if not token:
        return None
    with websocket.app.state.session_factory() as session:
        try:
            principal = current_principal(session, websocket.app.state.settings, token)
        except Exception:
            return None
        if principal.user is None:
            return None
        # Load what the scope needs while the session is open.
        _ = principal.user.region, list(principal.user.grids)
    try:
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.InvalidTokenError:
        expires = None
    return _Login(principal, float(expires) if expires is not None else None, token)


def _auth_message(text: str) -> str | None:
    """The token of an `{"type": "auth", "token": ...}` message, else None."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("type") == "auth":
        token = message.get("token")
        return token if isinstance(token, str) else None
    return None


@router.websocket("/ws")
async def live_events_ws(websocket: WebSocket) -> None:
    """New and changed events as JSON messages. Authenticate with an `Authorization: Bearer`
    header where the client can set one, else with a first message `{"type": "auth",
    "token": "<access token>"}` within 10 s; send one again with a renewed token before the
    old one runs out, or the socket closes with 4401 when it does. It also closes with 4401
    once the account is disabled or its password changed (checked every `live_recheck_s`).
    A token in the address (`?token=`, `?access_token=`) is refused with 4400 whether or not
    it is valid: addresses end up in access logs and browser histories."""
    if _TOKEN_PARAMETERS & set(websocket.query_params):
        # Accepted first, so that the client reads why (a refusal before it is a bare 403).
        await websocket.accept()
        await websocket.close(code=CLOSE_TOKEN_IN_ADDRESS, reason=TOKEN_IN_ADDRESS)
        return
    bearer = bearer_token(websocket.headers.get("authorization"))
    login = _login(websocket, bearer) if bearer else None
    if bearer and login is None:
        await websocket.close(code=4401, reason="not authenticated")
        return
    await websocket.accept()
    if login is None:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_WAIT_S)
        except (TimeoutError, WebSocketDisconnect):
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=4401, reason="not authenticated")
            return
        login = _login(websocket, _auth_message(first))
        if login is None:
            await websocket.close(code=4401, reason="not authenticated")
            return
    principal = login.principal
    hub: LiveHub = websocket.app.state.hub
    with hub.subscription(ViewerScope.of(principal)) as subscription:
        await websocket.send_json({"type": "hello", "user": principal.name, "role": principal.role})
        closed = asyncio.create_task(_read_renewals(websocket, login))
        current = login  # renewals update it in place
        lapsed = asyncio.create_task(
            _until_account_lapses(websocket.app, lambda: current.token, principal.name)
        )
        try:
            while True:
                message = asyncio.create_task(subscription.next())
                timeout = None if login.expires_at is None else login.expires_at - time.time()
                done, _ = await asyncio.wait(
                    {message, closed, lapsed},
                    timeout=max(0.0, timeout) if timeout is not None else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if closed in done:
                    message.cancel()
                    break
                if lapsed in done:
                    message.cancel()
                    await websocket.close(code=CLOSE_ACCOUNT_CHANGED, reason="log in again")
                    break
                if not done:
                    message.cancel()
                    if login.expires_at is not None and login.expires_at <= time.time():
                        await websocket.close(
                            code=CLOSE_ACCOUNT_CHANGED, reason="access token expired"
                        )
                        break
                    continue
                text = message.result()
                if text is None:
                    await websocket.close(code=4408, reason="fell behind; reconnect")
                    break
                await websocket.send_text(text)
        except WebSocketDisconnect:
            pass
        finally:
            for task in (closed, lapsed):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _read_renewals(websocket: WebSocket, login: _Login) -> None:
    """Read what the client sends until it closes: a renewed token for the same user moves
    the socket's expiry on; anything else is ignored."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            token = _auth_message(await websocket.receive_text())
            renewed = _login(websocket, token) if token else None
            if renewed is not None and renewed.principal.user is not None:
                assert login.principal.user is not None
                if renewed.principal.user.id == login.principal.user.id:
                    login.expires_at = renewed.expires_at
                    login.token = renewed.token
