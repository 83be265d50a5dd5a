"""Grid events: list with filters and pagination, fetch one with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from api.deps import SessionDep
from api.events import to_detail, to_public
from api.models import GridEvent
from api.schemas import GridEventDetail, GridEventPage, Problem

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", response_model=GridEventPage, summary="Grid events, newest first.")
def list_events(
    request: Request,
    session: SessionDep,
    status: Annotated[list[str] | None, Query(description="Only these states.")] = None,
    category: Annotated[list[str] | None, Query(description="Only these categories.")] = None,
    camera_id: Annotated[str | None, Query(description="Only from this camera.")] = None,
    grid_id: Annotated[str | None, Query(description="Only in this grid.")] = None,
    occurred_from: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Occurred at or after (ISO 8601 with zone)."),
    ] = None,
    occurred_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="Occurred before (ISO 8601 with zone).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> GridEventPage:
    query = select(GridEvent)
    if status:
        query = query.where(GridEvent.status.in_(status))
    if category:
        query = query.where(GridEvent.category.in_(category))
    if camera_id:
        query = query.where(GridEvent.camera_id == camera_id)
    if grid_id:
        query = query.where(GridEvent.grid_id == grid_id)
    if occurred_from:
        query = query.where(GridEvent.occurred_at >= occurred_from)
    if occurred_to:
        query = query.where(GridEvent.occurred_at < occurred_to)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(
            selectinload(GridEvent.incident),
            selectinload(GridEvent.camera),
            selectinload(GridEvent.grid),
        )
        .order_by(GridEvent.occurred_at.desc(), GridEvent.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return GridEventPage(
        items=[to_public(event, request) for event in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/{event_id}",
    response_model=GridEventDetail,
    responses={404: {"model": Problem}},
    summary="One grid event with its audit trail.",
)
def get_event(event_id: int, request: Request, session: SessionDep) -> GridEventDetail:
    event = session.get(GridEvent, event_id)
    if event is None:
        raise HTTPException(404, detail=f"grid event {event_id} not found")
    return to_detail(event, request)
