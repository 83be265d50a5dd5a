"""Accounts and API tokens (admins)."""

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
    update_account,
    user_public,
)
from api.auth import AdminDep
from api.deps import SessionDep
from api.models import ApiToken, User
from api.schemas import (
    ApiTokenCreate,
    ApiTokenIssued,
    ApiTokenPublic,
    Problem,
    RowId,
    UserCreate,
    UserPublic,
    UserUpdate,
)

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
    responses={409: {"model": Problem}, 422: {"model": Problem}},
)
def issue_token(request: ApiTokenCreate, session: SessionDep, _admin: AdminDep) -> ApiTokenIssued:
    """Issue an API token that may do what its `scopes` say, and nothing else: `open311` for
    the 12345 hotline, `incidents:write` for another system's detector, `worker` (camera
    credentials) only for a GridWatch worker."""
    try:
        issued, token = issue_api_token(session, request.name, request.scopes)
    except TokenNameTaken as err:
        raise HTTPException(409, detail=str(err)) from err
    except AccountError as err:
        raise HTTPException(422, detail=str(err)) from err
    return ApiTokenIssued(id=issued.id, name=issued.name, scopes=issued.scopes, token=token)


@router.get("/tokens", response_model=list[ApiTokenPublic], summary="Issued API tokens.")
def list_tokens(session: SessionDep, _admin: AdminDep) -> list[ApiTokenPublic]:
    return [
        ApiTokenPublic(
            id=issued.id,
            name=issued.name,
            scopes=list(issued.scopes),
            created_at=issued.created_at,
            last_used_at=issued.last_used_at,
            revoked=issued.revoked,
        )
        for issued in session.scalars(select(ApiToken).order_by(ApiToken.id))
    ]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: RowId, session: SessionDep, _admin: AdminDep) -> None:
    if not revoke_api_token(session, token_id):
        raise HTTPException(404, detail=f"token {token_id} not found")


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="Disable or enable an account, or set its password; either ends its sessions.",
)
def patch_user(
    user_id: RowId, request: UserUpdate, session: SessionDep, admin: AdminDep
) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, detail=f"user {user_id} not found")
    try:
        update_account(
            session, user, active=request.active, password=request.password, by=admin.user
        )
    except AccountError as err:
        raise HTTPException(422, detail=str(err)) from err
    return user_public(user)


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
