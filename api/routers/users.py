"""Accounts and worker tokens (admins)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from api.auth import AdminDep
from api.deps import SessionDep
from api.models import ApiToken, Department, Grid, Organisation, User
from api.principal import ROLES
from api.schemas import ApiTokenCreate, ApiTokenIssued, Problem, RowId, UserCreate, UserPublic
from api.security import hash_password, new_api_token, token_digest

router = APIRouter(prefix="/api/v1", tags=["users"])


def user_public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        region_id=user.region_id,
        organisation_id=user.organisation_id,
        department_id=user.department_id,
        grid_ids=sorted(grid.id for grid in user.grids),
        active=user.active,
    )


class AccountError(ValueError):
    """An account request that does not fit the role's scope rules. Not retried."""


class UsernameTaken(AccountError):
    """The user name belongs to another account."""


def grid_cells(session: Session, grid_ids: list[str]) -> list[Grid]:
    """The grid cells named, in order; raises AccountError naming the first that is not one."""
    cells = []
    for grid_id in grid_ids:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.level != "cell":
            raise AccountError(f"grid_ids: {grid_id!r} is not a grid cell")
        cells.append(grid)
    return cells


def create_user(session: Session, request: UserCreate) -> User:
    """Create an account after checking its scope fits its role; raises AccountError."""
    if request.role not in ROLES:
        raise AccountError(f"role: must be one of {', '.join(ROLES)}")
    scope = {
        "operator": request.region_id,
        "camera_owner": request.organisation_id,
        "handler": request.department_id,
        "grid_worker": request.grid_ids or None,
    }
    if request.role in ("camera_owner", "handler", "grid_worker") and not scope[request.role]:
        needed = {
            "camera_owner": "organisation_id",
            "handler": "department_id",
            "grid_worker": "grid_ids",
        }
        raise AccountError(f"{needed[request.role]}: a {request.role} needs one")
    if request.region_id and session.get(Grid, request.region_id) is None:
        raise AccountError(f"region_id: unknown grid {request.region_id!r}")
    if request.organisation_id and session.get(Organisation, request.organisation_id) is None:
        raise AccountError(f"organisation_id: unknown organisation {request.organisation_id!r}")
    if request.department_id and session.get(Department, request.department_id) is None:
        raise AccountError(f"department_id: unknown department {request.department_id!r}")
    grids = grid_cells(session, request.grid_ids)
    user = User(
        username=request.username,
        full_name=request.full_name,
        password_hash=hash_password(request.password),
        role=request.role,
        region_id=request.region_id if request.role == "operator" else None,
        organisation_id=request.organisation_id if request.role == "camera_owner" else None,
        department_id=request.department_id if request.role == "handler" else None,
        grids=grids if request.role == "grid_worker" else [],
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise UsernameTaken(f"username: {request.username!r} is taken") from err
    return user


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
    token = new_api_token()
    issued = ApiToken(name=request.name, token_sha256=token_digest(token))
    session.add(issued)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise HTTPException(409, detail=f"name: a token named {request.name!r} exists") from err
    return ApiTokenIssued(id=issued.id, name=issued.name, token=token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: RowId, session: SessionDep, _admin: AdminDep) -> None:
    issued = session.get(ApiToken, token_id)
    if issued is None:
        raise HTTPException(404, detail=f"token {token_id} not found")
    issued.revoked = True
    session.commit()


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
    if user.role != "grid_worker":
        raise HTTPException(422, detail=f"{user.username} is a {user.role}, not a grid worker")
    if not grid_ids:
        raise HTTPException(422, detail="grid_ids: a grid worker needs at least one cell")
    try:
        user.grids = grid_cells(session, grid_ids)
    except AccountError as err:
        raise HTTPException(422, detail=str(err)) from err
    session.commit()
    return user_public(user)
