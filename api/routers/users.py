"""Accounts and worker tokens (admins)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.accounts import (
    AccountError,
    TokenNameTaken,
    UsernameTaken,
    assign_grid_cells,
    create_user,
    issue_api_token,
    revoke_api_token,
    user_public,
)
from api.auth import AdminDep
from api.deps import SessionDep
from api.models import User
from api.schemas import ApiTokenCreate, ApiTokenIssued, Problem, RowId, UserCreate, UserPublic

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Problem}, 422: {"model": Problem}},
)
def post_user(request: UserCreate, session: SessionDep, _admin: AdminDep) -> UserPublic:
    try:
        return user_public(create_user(session, request))
    except AccountError as err:
        code = 409 if isinstance(err, UsernameTaken) else 422
        raise HTTPException(code, detail=str(err)) from err


@router.get("/users", response_model=list[UserPublic])
def list_users(session: SessionDep, _admin: AdminDep) -> list[UserPublic]:
    users = session.scalars(select(User).options(selectinload(User.grids)).order_by(User.username))
    return [user_public(user) for user in users]


@router.post(
    "/tokens",
    response_model=ApiTokenIssued,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Problem}},
)
def issue_token(request: ApiTokenCreate, session: SessionDep, _admin: AdminDep) -> ApiTokenIssued:
    """Issue a worker token; it may report incidents and health, and post Open311 requests."""
    try:
        issued, token = issue_api_token(session, request.name)
    except TokenNameTaken as err:
        raise HTTPException(409, detail=str(err)) from err
    return ApiTokenIssued(id=issued.id, name=issued.name, token=token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: RowId, session: SessionDep, _admin: AdminDep) -> None:
    if not revoke_api_token(session, token_id):
        raise HTTPException(404, detail=f"token {token_id} not found")


@router.put(
    "/users/{user_id}/grids",
    response_model=UserPublic,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="Assign a grid worker's cells.",
)
def assign_grids(
    user_id: RowId, grid_ids: list[str], session: SessionDep, _admin: AdminDep
) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, detail=f"user {user_id} not found")
    try:
        assign_grid_cells(session, user, grid_ids)
    except AccountError as err:
        raise HTTPException(422, detail=str(err)) from err
    return user_public(user)
