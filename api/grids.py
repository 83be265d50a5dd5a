"""The district's grids: GeoJSON import and point lookup."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import geo
from api.models import Grid

LEVELS = ("district", "town", "community", "cell")


class GridImportError(ValueError):
    """A grid file was refused; nothing of it was imported. Not retried."""


def import_grids(session: Session, document: Any) -> list[Grid]:
    """Upsert every feature of a GeoJSON FeatureCollection as a grid; all or nothing.

    Each feature needs properties `code`, `name`, `level` (district, town, community, cell) and
    `parent` (the code of the level above; none for a district).
    """
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise GridImportError("expected a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list):
        raise GridImportError("features: expected a list")
    parsed: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, dict):
            raise GridImportError(f"{where}: expected a Feature object")
        properties = feature.get("properties") or {}
        code, name, level = properties.get("code"), properties.get("name"), properties.get("level")
        if not isinstance(code, str) or not code:
            raise GridImportError(f"{where}.properties.code: required text")
        if not isinstance(name, str) or not name:
            raise GridImportError(f"{where}.properties.name: required text")
        if level not in LEVELS:
            raise GridImportError(f"{where}.properties.level: must be one of {', '.join(LEVELS)}")
        parent = properties.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise GridImportError(f"{where}.properties.parent: must be a grid code")
        try:
            geometry = geo.validate_polygon(feature.get("geometry"))
        except (ValueError, KeyError, TypeError) as err:
            raise GridImportError(f"{where}.geometry: {err}") from err
        parsed.append(
            {"id": code, "name": name, "level": level, "parent_id": parent, "geometry": geometry}
        )

    codes = [item["id"] for item in parsed]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise GridImportError(f"grid code {duplicates[0]!r} appears twice")
    known = set(codes) | set(session.scalars(select(Grid.id)))
    for index, item in enumerate(parsed):
        parent = item["parent_id"]
        if parent is not None and parent not in known:
            raise GridImportError(f"features[{index}].properties.parent: unknown grid {parent!r}")
        if item["level"] == "district" and parent is not None:
            raise GridImportError(f"features[{index}].properties.parent: a district has no parent")

    grids = []
    paths: dict[str, str] = {}
    # Parents first, so foreign keys hold at every insert and a parent's path is known.
    for item in sorted(parsed, key=lambda entry: LEVELS.index(entry["level"])):
        min_lon, min_lat, max_lon, max_lat = geo.bounds(item["geometry"])
        grid = session.get(Grid, item["id"]) or Grid(id=item["id"])
        grid.name, grid.level, grid.parent_id = item["name"], item["level"], item["parent_id"]
        parent_path = "/"
        if item["parent_id"] is not None:
            parent = paths.get(item["parent_id"])
            if parent is None:
                stored = session.get(Grid, item["parent_id"])
                parent = stored.path if stored is not None else "/"
            parent_path = parent
        grid.path = paths[item["id"]] = f"{parent_path}{item['id']}/"
        grid.geometry = item["geometry"]
        grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat = min_lon, min_lat, max_lon, max_lat
        session.add(grid)
        session.flush()
        grids.append(grid)
    return grids


def locate_grid(session: Session, lon: float, lat: float) -> Grid | None:
    """The most detailed grid containing the point (a cell before its community, ...)."""
    candidates = session.scalars(
        select(Grid).where(
            Grid.min_lon <= lon, Grid.max_lon >= lon, Grid.min_lat <= lat, Grid.max_lat >= lat
        )
    ).all()
    containing = [grid for grid in candidates if geo.contains(grid.geometry, lon, lat)]
    if not containing:
        return None
    return max(containing, key=lambda grid: (LEVELS.index(grid.level), grid.id))
