"""Request dependencies: database session, settings, worker authentication."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="Worker token")


def require_worker(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    worker_name: Annotated[
        str | None,
        Header(alias="X-GridWatch-Worker", description="Worker name for the audit trail."),
    ] = None,
) -> str:
    """The worker's identity ("worker:<name>"), or 401. Workers may only post incidents."""
    expected = settings.worker_token.get_secret_value().encode()
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid worker token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = "".join(ch for ch in (worker_name or "") if ch.isalnum() or ch in "-_.")[:60]
    return f"worker:{name or 'unnamed'}"


WorkerDep = Annotated[str, Depends(require_worker)]
