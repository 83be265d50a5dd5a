"""Logging in (OAuth2 password flow issuing JWTs) and who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from api.accounts import AccountError, change_password, user_public
from api.auth import UserDep
from api.deps import SessionDep, SettingsDep
from api.middleware import LoginLimiter
from api.models import User
from api.problems import CodedProblem
from api.schemas import PasswordChange, Problem, TokenPublic, UserPublic
from api.security import (
    DUMMY_HASH,
    create_access_token,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from api.settings import Settings

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
        raise CodedProblem(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {wait:.0f} s",
            "too_many_logins",
            {"seconds": round(wait)},
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = session.scalar(select(User).where(User.username == form.username))
    valid = verify_password(form.password, user.password_hash if user else DUMMY_HASH)
    if user is None or not valid or not user.active:
        limiter.failed(address, form.username)
        raise CodedProblem(
            status.HTTP_401_UNAUTHORIZED,
            "wrong username or password",
            "login_wrong",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.succeeded(address, form.username)
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(form.password)
        session.commit()
    return issue_access_token(user, settings)


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
    return issue_access_token(principal.user, settings)


def issue_access_token(user: User, settings: Settings) -> TokenPublic:
    """An access token for `user`, of its current token generation."""
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token = create_access_token(
        str(user.id),
        settings.secret_key.get_secret_value(),
        lifetime,
        role=user.role,
        gen=user.token_generation,
    )
    return TokenPublic(access_token=token, expires_in=max(1, int(lifetime.total_seconds())))


@router.get("/me", response_model=UserPublic)
def me(principal: UserDep) -> UserPublic:
    assert principal.user is not None
    return user_public(principal.user)


@router.post(
    "/password",
    response_model=TokenPublic,
    responses={401: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
    summary="Change your password: every access token issued before stops; a new one is returned.",
)
def post_password(
    request: Request,
    body: PasswordChange,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
) -> TokenPublic:
    """Wrong current passwords count as failed logins (a stolen session cannot guess it)."""
    user = principal.user
    assert user is not None
    limiter: LoginLimiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(address, user.username)
    if wait:
        raise CodedProblem(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong passwords; try again in {wait:.0f} s",
            "too_many_logins",
            {"seconds": round(wait)},
            headers={"Retry-After": str(int(wait) + 1)},
        )
    try:
        change_password(session, user, body.current_password, body.new_password)
    except AccountError as err:
        if "current_password" in str(err):
            limiter.failed(address, user.username)
        raise CodedProblem(422, str(err), err.code, err.params) from err
    limiter.succeeded(address, user.username)
    return issue_access_token(user, settings)
