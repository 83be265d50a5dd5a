"""Who is calling: users (JWT from the password login) and systems (API tokens, with scopes);
role and scope checks."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request, status
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import select

from api.deps import LoopSessionDep, SessionDep, SettingsDep
from api.models import ApiToken, User
from api.principal import ALL_SCOPES, ROLES, TOKEN_SCOPES, Principal
from api.problems import CodedProblem
from api.security import decode_access_token, token_digest
from api.settings import Settings

_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case), or None.

    Example:
        >>> bearer_token("bearer gw_abc"), bearer_token("Basic dTpw"), bearer_token(None)
        ('gw_abc', None, None)
    """
    scheme, token = get_authorization_scheme_param(authorization)
    return token.strip() or None if scheme.lower() == "bearer" else None


def _unauthorised(detail: str, code: str) -> CodedProblem:
    return CodedProblem(
        status.HTTP_401_UNAUTHORIZED, detail, code, headers={"WWW-Authenticate": "Bearer"}
    )


# How precisely an issued token's last use is recorded.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# The credentials every authentication dependency reads: the bearer token, and the name a worker
# gives itself for the audit trail.
BearerToken = Annotated[str | None, Depends(_oauth2)]
WorkerName = Annotated[
    str | None, Header(alias="X-GridWatch-Worker", description="Worker name for the audit trail.")
]


def shared_worker(
    settings: Settings, token: str | None, worker_name: str | None
) -> Principal | None:
    """The caller when `token` is the workers' shared token (GRIDWATCH_WORKER_TOKEN), named by
    the name it gives itself; None for any other token. Needs no database."""
    if not token or not secrets.compare_digest(
        token.encode(), settings.worker_token.get_secret_value().encode()
    ):
        return None
    name = "".join(ch for ch in (worker_name or "") if ch.isalnum() or ch in "-_.")[:60]
    return Principal("worker", name or "unnamed", scopes=ALL_SCOPES)


# Where BodyGate leaves the API token's caller it authenticated before the body was read, so
# that the route does not look the token up a second time (api.bodies). Accounts are not left:
# their row belongs to the session that loaded it.
PRINCIPAL_SCOPE_KEY = "gridwatch.principal"


def current_principal(
    session: SessionDep,
    settings: SettingsDep,
    token: BearerToken,
    worker_name: WorkerName = None,
) -> Principal:
    if not token:
        raise _unauthorised(
            "not authenticated: log in or present a token (Authorization: Bearer)",
            "not_authenticated",
        )
    shared = shared_worker(settings, token, worker_name)
    if shared is not None:
        return shared
    if token.startswith("gw_"):
        issued = session.scalar(
            select(ApiToken).where(ApiToken.token_sha256 == token_digest(token))
        )
        if issued is None or issued.revoked:
            raise _unauthorised("unknown or revoked API token", "token_revoked")
        now = datetime.now(UTC)
        # To the minute: a worker posting incidents every second would otherwise write the
        # token's row (and wait for the commit) on every request.
        if issued.last_used_at is None or now - issued.last_used_at >= LAST_USED_RESOLUTION:
            issued.last_used_at = now
            session.commit()
        return Principal("worker", issued.name, scopes=frozenset(issued.scopes) & ALL_SCOPES)
    try:
        claims = decode_access_token(token, settings.secret_key.get_secret_value())
        user = session.get(User, int(claims["sub"]))
        generation = int(claims.get("gen", 0))
    except (jwt.InvalidTokenError, ValueError, TypeError) as err:
        raise _unauthorised(
            "invalid or expired access token; log in again", "token_expired"
        ) from err
    if user is None or not user.active:
        raise _unauthorised("this account no longer exists or is disabled", "account_disabled")
    if generation != user.token_generation:
        raise _unauthorised(
            "the password changed or the sessions were ended; log in again", "sessions_ended"
        )
    # The transaction ends here, so that a route that goes on to wait on the network (a camera,
    # a peer, a slow client's body) holds no database connection; the user stays loaded.
    session.commit()
    return Principal(user.role, user.username, user)


PrincipalDep = Annotated[Principal, Depends(current_principal)]

# Who each authentication dependency admits, so that a route's callers can be checked before its
# body is read (api.bodies); a dependency that checks a role registers here.
ALLOWED_ROLES: dict[object, frozenset[str]] = {current_principal: frozenset((*ROLES, "worker"))}


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only API tokens (and the workers' shared token) with `scope`.

    A coroutine: the shared worker token is checked without the database, and an issued token
    with one indexed lookup, on the event loop rather than on a worker thread (the hop there and
    back would cost more than the check, on every incident a worker posts)."""
    assert scope in TOKEN_SCOPES, scope

    async def check(
        request: Request,
        session: LoopSessionDep,
        settings: SettingsDep,
        token: BearerToken,
        worker_name: WorkerName = None,
    ) -> Principal:
        principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:
            principal = current_principal(session, settings, token, worker_name)
        if principal.role != "worker":
            raise CodedProblem(
                status.HTTP_403_FORBIDDEN,
                f"this is for API tokens with the scope {scope!r}, not for accounts",
                "tokens_only",
                {"scope": scope},
            )
        if scope not in principal.scopes:
            raise CodedProblem(
                status.HTTP_403_FORBIDDEN,
                f"token {principal.name!r} lacks the scope {scope!r}"
                f" (it has: {', '.join(sorted(principal.scopes)) or 'none'})",
                "scope_missing",
                {"scope": scope},
            )
        return principal

    ALLOWED_ROLES[check] = frozenset(("worker",))
    return check


async def require_user(principal: PrincipalDep) -> Principal:
    if principal.user is None:
        raise CodedProblem(
            status.HTTP_403_FORBIDDEN,
            "workers may only report incidents and health",
            "accounts_only",
        )
    return principal


# Camera workers: credentials, leases, health, live pictures, model weights.
WorkerDep = Annotated[Principal, Depends(require_scope("worker"))]
# Whatever reports incidents: a camera worker, or another system's detector.
IncidentWriterDep = Annotated[Principal, Depends(require_scope("incidents:write"))]
ALLOWED_ROLES[require_user] = frozenset(ROLES)
UserDep = Annotated[Principal, Depends(require_user)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits users with one of `roles` (admins always)."""

    async def check(principal: UserDep) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise CodedProblem(
                status.HTTP_403_FORBIDDEN,
                f"this needs the role {' or '.join(roles)}; you are {principal.role}",
                "role_required",
                {"roles": list(roles), "role": principal.role},
            )
        return principal

    ALLOWED_ROLES[check] = frozenset(("admin", *roles))
    return check


AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
