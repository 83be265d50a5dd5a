"""The district's grids as GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.auth import UserDep
from api.deps import SessionDep
from api.grids import LEVELS
from api.models import Grid

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
