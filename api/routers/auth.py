"""Logging in (OAuth2 password flow issuing JWTs) and who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from api.accounts import user_public
from api.auth import UserDep
from api.deps import SessionDep, SettingsDep
from api.middleware import LoginLimiter
from api.models import User
from api.schemas import Problem, TokenPublic, UserPublic
from api.security import DUMMY_HASH, create_access_token, verify_password

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenPublic,
    responses={401: {"model": Problem}, 429: {"model": Problem}},
)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    """Exchange a username and password for an access token."""
    limiter: LoginLimiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(address, form.username)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins; try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = session.scalar(select(User).where(User.username == form.username))
    valid = verify_password(form.password, user.password_hash if user else DUMMY_HASH)
    if user is None or not valid or not user.active:
        limiter.failed(address, form.username)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.succeeded(address, form.username)
    return _issue(user, settings)


@router.post(
    "/refresh",
    response_model=TokenPublic,
    responses={401: {"model": Problem}},
    summary="A fresh access token for a login whose token has not run out yet.",
)
def refresh(principal: UserDep, settings: SettingsDep) -> TokenPublic:
    """Renew the caller's access token (Authorization: Bearer, still valid) for another full
    lifetime, so a person at work is not logged out mid-task; an expired or disabled login
    gets 401 and must log in again."""
    assert principal.user is not None
    return _issue(principal.user, settings)


def _issue(user: User, settings: SettingsDep) -> TokenPublic:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token = create_access_token(
        str(user.id), settings.secret_key.get_secret_value(), lifetime, role=user.role
    )
    return TokenPublic(access_token=token, expires_in=max(1, int(lifetime.total_seconds())))


@router.get("/me", response_model=UserPublic)
def me(principal: UserDep) -> UserPublic:
    assert principal.user is not None
    return user_public(principal.user)
