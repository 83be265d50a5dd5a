"""Live alerts over WebSocket and Server-Sent Events, each caller within their own scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.auth import UserDep, bearer_token, current_principal
from api.live import LiveHub, ViewerScope
from api.principal import Principal

router = APIRouter(prefix="/api/v1/live", tags=["live"])

KEEPALIVE_S = 15.0


@router.get(
    "/events",
    summary="New and changed events as Server-Sent Events (text/event-stream).",
    response_class=StreamingResponse,
)
async def live_events_sse(request: Request, principal: UserDep) -> StreamingResponse:
    hub: LiveHub = request.app.state.hub
    scope = ViewerScope.of(principal)

    async def stream() -> AsyncIterator[str]:
        with hub.subscription(scope) as subscription:
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                try:
                    text = await asyncio.wait_for(subscription.next(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if text is None:
                    return
                yield f"data: {text}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


AUTH_WAIT_S = 10.0


@dataclass
class _Login:
    """Who is on a socket, and until when their access token holds (renewed by a new one)."""

    principal: Principal
    expires_at: float | None  # time.time(); None for a token without expiry (none are issued)


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
    return _Login(principal, float(expires) if expires is not None else None)


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
async def live_events_ws(
    websocket: WebSocket,
    token: Annotated[
        str | None,
        Query(
            description="Deprecated: the access token in the address (kept for old clients;"
            ' addresses end up in logs). Send `{"type": "auth", "token": ...}` as the'
            " first message instead."
        ),
    ] = None,
) -> None:
    """New and changed events as JSON messages. Authenticate with an `Authorization: Bearer`
    header where the client can set one, else with a first message `{"type": "auth",
    "token": "<access token>"}` within 10 s; send one again with a renewed token before the
    old one runs out, or the socket closes with 4401 when it does."""
    bearer = bearer_token(websocket.headers.get("authorization")) or token
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
        try:
            while True:
                message = asyncio.create_task(subscription.next())
                timeout = None if login.expires_at is None else login.expires_at - time.time()
                done, _ = await asyncio.wait(
                    {message, closed},
                    timeout=max(0.0, timeout) if timeout is not None else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if closed in done:
                    message.cancel()
                    break
                if not done:
                    message.cancel()
                    if login.expires_at is not None and login.expires_at <= time.time():
                        await websocket.close(code=4401, reason="access token expired")
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
            closed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closed


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
