"""Request bodies: each has a size cap, and the caller of a route that needs an account or a
role is authenticated and authorised before a byte of the body is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import anyio
from fastapi import FastAPI, HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import (
    ALLOWED_ROLES,
    PRINCIPAL_SCOPE_KEY,
    bearer_token,
    current_principal,
    shared_worker,
)
from api.middleware import (
    BODY_LIMIT_SCOPE_KEY,
    add_security_headers,
    body_over_cap,
    too_large_body,
)
from api.principal import Principal
from api.settings import Settings

# Methods whose requests carry a body the API reads.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Room for the form fields and multipart boundaries around uploaded files.
MULTIPART_OVERHEAD = 1024 * 1024


class BodyLimit:
    """A route dependency that names the route's body cap; it does nothing when called.
    BodyGate finds it in the route's dependencies and applies it before the body is read.
    A coroutine, so that FastAPI calls it on the event loop: a plain function would be run on a
    worker thread, a hop there and back on every request of the route (every incident).

    Args:
        limit: The cap in bytes, from the settings.
        names: The settings the cap comes from, for the 413's reason.

    Example:
        `@router.post("", dependencies=[Depends(BodyLimit(lambda s: s.max_model_bytes,
        "GRIDWATCH_MAX_MODEL_BYTES"))])`
    """

    def __init__(self, limit: Callable[[Settings], int], names: str):
        self.limit = limit
        self.names = names

    async def __call__(self) -> None:
        return None


DEFAULT_LIMIT = BodyLimit(lambda settings: settings.max_body_bytes, "GRIDWATCH_MAX_BODY_BYTES")


@dataclass(frozen=True)
class _Requirement:
    roles: frozenset[str] | None  # None: the route needs no credentials
    limit: BodyLimit


def _requirement(dependant: Dependant) -> _Requirement:
    """Who may call a route and how large its body may be, from its dependencies."""
    roles: frozenset[str] | None = None
    limit = DEFAULT_LIMIT
    stack = [dependant]
    while stack:
        current = stack.pop()
        call = current.call
        if isinstance(call, BodyLimit):
            limit = call
        else:
            allowed = ALLOWED_ROLES.get(call) if call is not None else None
            if allowed is not None:
                roles = allowed if roles is None else roles & allowed
        stack.extend(current.dependencies)
    return _Requirement(roles, limit)


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)  # an included router
        if nested is not None:
            yield from _api_routes(nested.routes)


# Paths whose requirement is remembered: the routes' fixed paths and the recent ones with ids.
_REMEMBERED_PATHS = 1024


class _RouteIndex:
    def __init__(self, app: FastAPI):
        self.routes = [(route, _requirement(route.dependant)) for route in _api_routes(app.routes)]
        # Matching tries each route's pattern in turn; a worker posts to the same path all day.
        self._known: dict[tuple[str, str], _Requirement] = {}

    def find(self, scope: Scope) -> _Requirement:
        key = (scope["method"], scope["path"])
        requirement = self._known.get(key)
        if requirement is None:
            requirement = self._match(scope)
            if len(self._known) >= _REMEMBERED_PATHS:
                self._known.clear()
            self._known[key] = requirement
        return requirement

    def _match(self, scope: Scope) -> _Requirement:
        for route, requirement in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return requirement
        return _Requirement(None, DEFAULT_LIMIT)


def _refusal(
    scope: Scope, status_code: int, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    response = JSONResponse(
        too_large_body(detail) if status_code == 413 else {"detail": detail},
        status_code=status_code,
        headers=headers,
    )
    # Closing tells the client the body it may still be sending will not be read.
    response.headers["Connection"] = "close"
    add_security_headers(Request(scope), response)
    return response


async def body_too_large(request: Request, error: Exception) -> Response:
    """A 413 that says why: a route's own reason (a photo, a clip too large) as it is, and the
    cap and its setting when the body as a whole passed it while being read."""
    detail = getattr(error, "detail", None)
    if not detail or detail == "Content Too Large":  # Starlette's RequestBodyLimitMiddleware
        detail = body_over_cap(request.scope)
    response = JSONResponse(
        too_large_body(detail), status_code=413, headers={"Connection": "close"}
    )
    add_security_headers(request, response)
    return response


def _authenticate(app: FastAPI, headers: Headers) -> Principal | JSONResponse:
    """The caller, or the 401 that refuses them. Runs on a thread: an API token or an account
    is looked up in the database."""
    settings: Settings = app.state.settings
    token = bearer_token(headers.get("authorization"))
    with app.state.session_factory() as session:
        try:
            return current_principal(session, settings, token, headers.get("x-gridwatch-worker"))
        except HTTPException as err:
            code = getattr(err, "code", f"http_{err.status_code}")
            params = getattr(err, "params", {})
            return JSONResponse(
                {"detail": err.detail, "code": code, "params": params},
                err.status_code,
                headers=err.headers,
            )


async def _authorise(
    app: FastAPI, scope: Scope, headers: Headers, roles: frozenset[str]
) -> JSONResponse | None:
    """None when the request's credentials admit it to a route for `roles`, else the refusal.
    An API token's caller is left in the scope for the route (`PRINCIPAL_SCOPE_KEY`)."""
    settings: Settings = app.state.settings
    # The workers' shared token needs no database: checked here, without a thread's round trip
    # (every incident a worker posts comes this way).
    principal: Principal | JSONResponse | None = shared_worker(
        settings, bearer_token(headers.get("authorization")), headers.get("x-gridwatch-worker")
    )
    if principal is None:
        principal = await anyio.to_thread.run_sync(_authenticate, app, headers)
    if isinstance(principal, JSONResponse):
        return principal
    if principal.role not in roles:
        needed = " or ".join(sorted(roles - {"admin"})) or "admin"
        return JSONResponse(
            {
                "detail": f"this needs the role {needed}; you are {principal.role}",
                "code": "role_required",
                "params": {"roles": sorted(roles - {"admin"}) or ["admin"], "role": principal.role},
            },
            403,
        )
    if principal.user is None:
        scope[PRINCIPAL_SCOPE_KEY] = principal
    return None


class BodyGate:
    """Before any body is read: refuses a request whose route needs credentials it lacks (401)
    or a role it does not have (403), and one that declares a body over its route's cap (413).
    A body that turns out larger than declared (or that declares nothing) is cut off at the cap
    by Starlette's RequestBodyLimitMiddleware, with a 413 as well.

    Caps: `BodyLimit` in a route's dependencies, else GRIDWATCH_MAX_BODY_BYTES.
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self._index: _RouteIndex | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every method: a GET with a JSON body would otherwise be read whole (StrictJson).
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        if self._index is None:
            self._index = _RouteIndex(app)
        requirement = self._index.find(scope)
        limit = requirement.limit.limit(app.state.settings)
        scope[BODY_LIMIT_SCOPE_KEY] = (limit, requirement.limit.names)
        headers = Headers(scope=scope)
        has_body = headers.get("transfer-encoding") is not None or headers.get(
            "content-length", "0"
        ) not in ("", "0")
        if has_body and requirement.roles is not None:
            refused = await _authorise(app, scope, headers, requirement.roles)
            if refused is not None:
                refused.headers["Connection"] = "close"
                add_security_headers(Request(scope), refused)
                await refused(scope, receive, send)
                return
        declared = headers.get("content-length", "")
        if (declared.isascii() and declared.isdigit()) and int(declared) > limit:
            await _refusal(scope, 413, body_over_cap(scope))(scope, receive, send)
            return
        await RequestBodyLimitMiddleware(self.app, limit)(scope, receive, send)
