"""Cameras as the API knows them (credentials masked)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.auth import UserDep
from api.deps import SessionDep
from api.models import Camera
from api.schemas import CameraPublic, Location, OrganisationPublic, Problem
from api.scope import scope_cameras

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


def _public(camera: Camera) -> CameraPublic:
    return CameraPublic(
        id=camera.id,
        name=camera.name,
        organisation=OrganisationPublic.model_validate(camera.organisation),
        source=camera.source_display,
        location=Location(lat=camera.lat, lon=camera.lon),
        grid_id=camera.grid_id,
        enabled=camera.enabled,
        status=camera.status,
    )


@router.get("", response_model=list[CameraPublic], summary="All cameras.")
def list_cameras(session: SessionDep, principal: UserDep) -> list[CameraPublic]:
    query = scope_cameras(select(Camera), principal)
    cameras = session.scalars(
        query.options(selectinload(Camera.organisation)).order_by(Camera.id)
    ).all()
    return [_public(camera) for camera in cameras]


@router.get("/{camera_id}", response_model=CameraPublic, responses={404: {"model": Problem}})
def get_camera(camera_id: str, session: SessionDep, principal: UserDep) -> CameraPublic:
    camera = session.scalars(
        scope_cameras(select(Camera).where(Camera.id == camera_id), principal)
    ).first()
    if camera is None:
        raise HTTPException(404, detail=f"camera {camera_id} not found")
    return _public(camera)
