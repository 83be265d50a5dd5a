"""The district's grids as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from sqlalchemy import select

from api.auth import AdminDep, UserDep
from api.bodies import BodyLimit
from api.deps import SessionDep
from api.grids import LEVELS, GridImportError, import_grids
from api.models import Grid
from api.problems import CodedProblem
from api.schemas import Problem

router = APIRouter(prefix="/api/v1/grids", tags=["grids"])


@router.get("", summary="Every grid as a GeoJSON FeatureCollection.")
def list_grids(session: SessionDep, _user: UserDep) -> dict[str, Any]:
    grids = session.scalars(select(Grid).order_by(Grid.id)).all()
    grids = sorted(grids, key=lambda grid: (LEVELS.index(grid.level), grid.id))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": grid.id,
                "geometry": grid.geometry,
                "properties": {
                    "code": grid.id,
                    "name": grid.name,
                    "level": grid.level,
                    "parent": grid.parent_id,
                },
            }
            for grid in grids
        ],
    }


@router.post(
    "",
    responses={422: {"model": Problem}},
    summary="Import (create or update) grids from a GeoJSON FeatureCollection; all or nothing.",
    dependencies=[Depends(BodyLimit(lambda s: s.max_grids_bytes, "GRIDWATCH_MAX_GRIDS_BYTES"))],
)
def post_grids(
    session: SessionDep,
    _admin: AdminDep,
    document: Annotated[dict[str, Any], Body(description="FeatureCollection of grid polygons.")],
) -> dict[str, Any]:
    try:
        grids = import_grids(session, document)
    except GridImportError as err:
        session.rollback()
        raise CodedProblem(422, str(err), "grids_invalid") from err
    session.commit()
    return {"imported": len(grids), "codes": [grid.id for grid in grids]}
