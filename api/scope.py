"""What each caller may see: events and cameras filtered by role and scope."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, false, not_, or_, select
from sqlalchemy.orm import Session

from api.models import Camera, Grid, GridEvent, GridEventHistory, UserGrid
from api.principal import Principal

# Steps that do not make an event part of someone's work: a note, a "seen".
_NOT_WORK = ("comment", "acknowledge")
# The states in which an event waits for a role's next step.
WAITING_FOR = {
    "grid_worker": ("reported", "verifying", "resolved"),
    "handler": ("dispatched", "handling"),
}


def acted_on_by(principal: Principal) -> ColumnElement[bool]:
    """Events the caller moved along (any lifecycle step but a note or an acknowledgement)."""
    steps = select(GridEventHistory.grid_event_id).where(
        GridEventHistory.actor == principal.actor, GridEventHistory.action.not_in(_NOT_WORK)
    )
    return GridEvent.id.in_(steps)


def done_by(principal: Principal) -> ColumnElement[bool]:
    """The caller's done list (已办): events they acted on that no longer wait for them."""
    waiting = WAITING_FOR.get(principal.role)
    if waiting is None or principal.user is None:
        return acted_on_by(principal)
    if principal.role == "handler":
        mine = GridEvent.department_id == principal.user.department_id
    else:
        mine = GridEvent.grid_id.in_(
            select(UserGrid.grid_id).where(UserGrid.user_id == principal.user.id)
        )
    return and_(acted_on_by(principal), not_(and_(mine, GridEvent.status.in_(waiting))))


def scope_events(
    query: Select[GridEvent], principal: Principal, *, with_done: bool = False
) -> Select[GridEvent]:
    """Restrict a query of grid events to those the caller may see. `with_done`: and, for a
    handler, those they sent back or passed on (readable, in their done list), which are not
    their department's in figures."""
    user = principal.user
    if user is None:
        return query.where(false())
    if principal.role == "admin":
        return query
    if principal.role == "operator":
        if user.region is None or user.region.parent_id is None:
            return query  # a district-level operator sees the whole district
        inside = select(Grid.id).where(Grid.path.startswith(user.region.path))
        return query.where(GridEvent.grid_id.in_(inside))
    if principal.role == "grid_worker":
        cells = select(UserGrid.grid_id).where(UserGrid.user_id == user.id)
        return query.where(GridEvent.grid_id.in_(cells))
    if principal.role == "handler":
        own = GridEvent.department_id == user.department_id
        return query.where(or_(own, acted_on_by(principal)) if with_done else own)
    if principal.role == "camera_owner":
        owned = select(Camera.id).where(Camera.organisation_id == user.organisation_id)
        return query.where(GridEvent.camera_id.in_(owned))
    return query.where(false())


def can_see_event(session: Session, principal: Principal, event_id: int) -> GridEvent | None:
    """The event if the caller may see it; None both when it is missing and when it is not
    theirs, so an identifier reveals nothing."""
    query = scope_events(
        select(GridEvent).where(GridEvent.id == event_id), principal, with_done=True
    )
    return session.scalars(query).first()


def scope_cameras(query: Select[Camera], principal: Principal) -> Select[Camera]:
    if principal.role in ("admin", "operator"):
        return query
    if principal.role == "camera_owner" and principal.user is not None:
        return query.where(Camera.organisation_id == principal.user.organisation_id)
    return query.where(false())


def write_refusal(principal: Principal, grid: Grid | None) -> str | None:
    """Why the caller may not open or move an event located in `grid` (None: outside every
    grid), or None when they may. Writes are scoped like reads (scope_events): an event a
    caller writes is one they could then read.

    Example: an operator of region D01-T01 placing an event in D01-T02 gets
    "location: in grid D01-T02-C01-G01, outside your region D01-T01".
    """
    user = principal.user
    if principal.role in ("admin", "worker"):
        return None  # the whole district; an API token's scope is its own
    if user is None:
        return "location: not yours to report"
    where = f"in grid {grid.id}" if grid is not None else "outside the district's grids"
    if principal.role == "operator":
        if user.region is None or user.region.parent_id is None:
            return None
        if grid is not None and grid.path.startswith(user.region.path):
            return None
        return f"location: {where}, outside your region {user.region.id}"
    if principal.role == "grid_worker":
        if grid is not None and any(cell.id == grid.id for cell in user.grids):
            return None
        return f"location: {where}, outside your grid cells"
    return f"location: a {principal.role} does not report events"
