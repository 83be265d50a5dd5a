"""Accounts and worker API tokens: creating them within each role's scope rules, grid cells,
issuing and revoking tokens. Used by the users router and the command line."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.models import ApiToken, Department, Grid, Organisation, User
from api.principal import ROLES, TOKEN_SCOPES
from api.schemas import UserCreate, UserPublic
from api.security import hash_password, new_api_token, token_digest, verify_password


class AccountError(ValueError):
    """An account request that does not fit the role's scope rules. Not retried. `code` and
    `params` name the fault for a client to word (api.problems)."""

    def __init__(self, detail: str, code: str = "account_invalid", **params: object):
        super().__init__(detail)
        self.code = code
        self.params = params


class UsernameTaken(AccountError):
    """The user name belongs to another account."""


class TokenNameTaken(AccountError):
    """An API token of that name exists already (revoked ones included)."""


def user_public(user: User) -> UserPublic:
    """The account as the API shows it: no password hash, grid cells by id."""
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
    """Create an account after checking its scope fits its role; committed.

    Raises:
        UsernameTaken: another account has the name.
        AccountError: the role is unknown, or its scope is missing or names nothing known.
    """
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


def assign_grid_cells(session: Session, user: User, grid_ids: list[str]) -> None:
    """Give a grid worker these cells in place of their current ones; committed.

    Raises:
        AccountError: the user is not a grid worker, no cell is named, or one is not a cell.
    """
    if user.role != "grid_worker":
        raise AccountError(f"{user.username} is a {user.role}, not a grid worker")
    if not grid_ids:
        raise AccountError("grid_ids: a grid worker needs at least one cell")
    user.grids = grid_cells(session, grid_ids)
    session.commit()


def issue_api_token(session: Session, name: str, scopes: Iterable[str]) -> tuple[ApiToken, str]:
    """A new API token named `name` that may do `scopes` (TOKEN_SCOPES), committed; returns
    (row, token). Only the token's digest is stored, so the token itself can be shown this once.

    Raises:
        AccountError: no scope, or one that is not in TOKEN_SCOPES.
        TokenNameTaken: a token has that name.
    """
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in TOKEN_SCOPES]
    if unknown or not chosen:
        reason = f"{unknown[0]!r} is not a scope" if unknown else "name at least one"
        raise AccountError(f"scopes: {reason} (scopes: {', '.join(TOKEN_SCOPES)})")
    token = new_api_token()
    issued = ApiToken(name=name, token_sha256=token_digest(token), scopes=chosen)
    session.add(issued)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise TokenNameTaken(f"name: a token named {name!r} exists") from err
    return issued, token


def revoke_api_token(session: Session, token_id: int) -> bool:
    """Revoke a token from now on (committed); False when there is no such token."""
    issued = session.get(ApiToken, token_id)
    if issued is None:
        return False
    issued.revoked = True
    session.commit()
    return True


def end_sessions(user: User) -> None:
    """Make every access token issued to `user` so far invalid (not committed)."""
    user.token_generation = (user.token_generation or 0) + 1


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """A user's change of their own password; every earlier access token stops. Committed.

    Raises:
        AccountError: `current` is not the password in use, or `new` is the same.
    """
    if not verify_password(current, user.password_hash):
        raise AccountError("current_password: not the password in use", "password_wrong")
    if current == new:
        raise AccountError("new_password: the same as the current one", "password_same")
    user.password_hash = hash_password(new)
    end_sessions(user)
    session.commit()


def update_account(
    session: Session, user: User, *, active: bool | None, password: str | None, by: User | None
) -> None:
    """An admin's change: enable or disable `user`, or set a new password. Either ends the
    account's sessions. Committed.

    Raises:
        AccountError: an admin disabling their own account (nobody could enable it again).
    """
    if active is False and by is not None and by.id == user.id:
        raise AccountError("active: you cannot disable your own account", "disable_self")
    if password is not None:
        user.password_hash = hash_password(password)
    if active is not None:
        user.active = active
    if password is not None or active is False:
        end_sessions(user)
    session.commit()
