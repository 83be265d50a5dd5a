"""Live alerts over WebSocket and Server-Sent Events, each caller within their own scope."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

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


def _websocket_principal(websocket: WebSocket, token: str | None) -> Principal | None:
    """Browsers cannot set headers on a WebSocket, so the token may also come as ?token=."""
    bearer = bearer_token(websocket.headers.get("authorization")) or token
    with websocket.app.state.session_factory() as session:
        try:
            principal = current_principal(session, websocket.app.state.settings, bearer)
        except Exception:
            return None
        if principal.user is None:
            return None
        # Load what the scope needs while the session is open.
        _ = principal.user.region, list(principal.user.grids)
        return principal


@router.websocket("/ws")
async def live_events_ws(
    websocket: WebSocket, token: Annotated[str | None, Query(description="Access token.")] = None
) -> None:
    principal = _websocket_principal(websocket, token)
    if principal is None:
        await websocket.close(code=4401, reason="not authenticated")
        return
    await websocket.accept()
    hub: LiveHub = websocket.app.state.hub
    with hub.subscription(ViewerScope.of(principal)) as subscription:
        await websocket.send_json({"type": "hello", "user": principal.name, "role": principal.role})
        closed = asyncio.create_task(_until_closed(websocket))
        try:
            while True:
                message = asyncio.create_task(subscription.next())
                done, _ = await asyncio.wait({message, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    message.cancel()
                    break
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


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
