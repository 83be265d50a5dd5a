"""Suppressions: listed, made and removed by admins and the camera's owner (operators make them
through a false-alarm verdict); scoped like cameras, so one outside the caller's scope is 404."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from api.auth import UserDep, require_roles
from api.deps import SessionDep
from api.models import Camera, Suppression
from api.principal import Principal
from api.problems import CodedProblem
from api.schemas import Problem, RowId, SuppressionCreate, SuppressionPublic
from api.scope import scope_cameras
from api.suppressions import camera_timezone, is_active

router = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"])

ManagerDep = Annotated[Principal, Depends(require_roles("camera_owner"))]


def _public(suppression: Suppression, now: datetime) -> SuppressionPublic:
    return SuppressionPublic(
        id=suppression.id,
        camera_id=suppression.camera_id,
        camera_name=suppression.camera.name,
        rule=suppression.rule,
        zone=suppression.zone,
        object_class=suppression.object_class,
        region=suppression.region,
        starts_at_time=suppression.starts_at_time,
        ends_at_time=suppression.ends_at_time,
        timezone=suppression.timezone,
        expires_at=suppression.expires_at,
        active=is_active(suppression, now),
        note=suppression.note,
        created_by=suppression.created_by,
        grid_event_id=suppression.grid_event_id,
        created_at=suppression.created_at,
        suppressed_count=suppression.suppressed_count,
        last_suppressed_at=suppression.last_suppressed_at,
    )


def _scoped(principal: Principal) -> Select[Suppression]:
    cameras = scope_cameras(select(Camera), principal).with_only_columns(Camera.id)
    return (
        select(Suppression)
        .where(Suppression.camera_id.in_(cameras))
        .options(selectinload(Suppression.camera))
    )


def _visible(session: SessionDep, principal: Principal, suppression_id: int) -> Suppression:
    suppression = session.scalars(
        _scoped(principal).where(Suppression.id == suppression_id)
    ).first()
    if suppression is None:
        raise CodedProblem(
            404, f"suppression {suppression_id} not found", "suppression_not_found",
            {"suppression_id": suppression_id},
        )  # fmt: skip
    return suppression


def _may_manage(principal: Principal, camera: Camera) -> None:
    if principal.role == "admin":
        return
    if principal.role != "camera_owner" or (
        principal.user is None or camera.organisation_id != principal.user.organisation_id
    ):
        raise CodedProblem(
            403, "only an admin or the camera's owner may change these", "suppression_not_yours"
        )


@router.get(
    "",
    response_model=list[SuppressionPublic],
    summary="Suppressions of the cameras in the caller's scope, newest first.",
)
def list_suppressions(
    session: SessionDep,
    principal: UserDep,
    camera_id: Annotated[str | None, Query(description="Only this camera's.")] = None,
    active: Annotated[
        bool | None, Query(description="true: only those in force; false: only expired.")
    ] = None,
) -> list[SuppressionPublic]:
    query = _scoped(principal)
    if camera_id is not None:
        query = query.where(Suppression.camera_id == camera_id)
    now = datetime.now(UTC)
    if active is True:
        query = query.where((Suppression.expires_at.is_(None)) | (Suppression.expires_at > now))
    elif active is False:
        query = query.where(Suppression.expires_at <= now)
    rows = session.scalars(query.order_by(Suppression.id.desc())).all()
    return [_public(row, now) for row in rows]


@router.get(
    "/{suppression_id}",
    response_model=SuppressionPublic,
    responses={404: {"model": Problem}},
    summary="One suppression.",
)
def get_suppression(
    suppression_id: RowId, session: SessionDep, principal: UserDep
) -> SuppressionPublic:
    return _public(_visible(session, principal, suppression_id), datetime.now(UTC))


@router.post(
    "",
    response_model=SuppressionPublic,
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}},
    summary="Suppress incidents of a camera's rule, zone and class in a region (admins, owners).",
)
def create_suppression(
    body: SuppressionCreate, session: SessionDep, principal: ManagerDep
) -> SuppressionPublic:
    query = scope_cameras(select(Camera).where(Camera.id == body.camera_id), principal)
    camera = session.scalars(query.where(Camera.retired_at.is_(None))).first()
    if camera is None:
        raise CodedProblem(
            404, f"camera {body.camera_id} not found", "camera_not_found",
            {"camera_id": body.camera_id},
        )  # fmt: skip
    _may_manage(principal, camera)
    now = datetime.now(UTC)
    suppression = Suppression(
        camera_id=camera.id,
        rule=body.rule,
        zone=body.zone,
        object_class=body.object_class,
        region=[[round(x, 4), round(y, 4)] for x, y in body.region],
        starts_at_time=body.starts_at_time,
        ends_at_time=body.ends_at_time,
        timezone=camera_timezone(camera),
        expires_at=body.expires_at,
        note=body.note.strip(),
        created_by=principal.actor,
        created_at=now,
        suppressed_count=0,
    )
    session.add(suppression)
    session.commit()
    return _public(_visible(session, principal, suppression.id), now)


@router.delete(
    "/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"model": Problem}, 404: {"model": Problem}},
    summary="Remove a suppression: its camera's incidents open events again (admins, owners).",
)
def delete_suppression(suppression_id: RowId, session: SessionDep, principal: UserDep) -> None:
    suppression = _visible(session, principal, suppression_id)
    _may_manage(principal, suppression.camera)
    session.delete(suppression)
    session.commit()
