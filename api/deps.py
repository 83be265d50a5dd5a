"""Request dependencies: database session and settings.

Those that only read what start-up built are coroutines: FastAPI runs a plain function
dependency on a worker thread, a hop that costs more than the read itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.district import DistrictPolicy
from api.security import CredentialCipher
from api.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's session. It is closed when the route function returns, before the answer
    is sent, so a download, a stream or a slow client holds no database connection."""
    with request.app.state.session_factory() as session:
        yield session


async def get_loop_session(request: Request) -> AsyncIterator[Session]:
    """A session opened and closed on the event loop, for routes that are coroutines and use
    it there anyway (incident intake): no hop to a worker thread and back."""
    with request.app.state.session_factory() as session:
        yield session


async def get_cipher(request: Request) -> CredentialCipher:
    """The cipher for secrets at rest (camera credentials, webhook secrets), built at start-up."""
    cipher: CredentialCipher = request.app.state.cipher
    return cipher


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
LoopSessionDep = Annotated[Session, Depends(get_loop_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CipherDep = Annotated[CredentialCipher, Depends(get_cipher)]


async def get_policy(request: Request) -> DistrictPolicy:
    policy: DistrictPolicy = request.app.state.policy
    return policy


PolicyDep = Annotated[DistrictPolicy, Depends(get_policy)]
