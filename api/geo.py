"""Plain GeoJSON geometry: bounding boxes and point-in-polygon on lon/lat coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Ring = Sequence[Sequence[float]]


def _polygons(geometry: dict[str, Any]) -> list[list[Ring]]:
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"expected a Polygon or MultiPolygon, got {kind!r}")


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    count = len(ring)
    for index in range(count):
        x1, y1 = ring[index][0], ring[index][1]
        x2, y2 = ring[(index + 1) % count][0], ring[(index + 1) % count][1]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    """Is the point inside the (Multi)Polygon, holes excluded?"""
    for rings in _polygons(geometry):
        if (
            rings
            and _in_ring(lon, lat, rings[0])
            and not any(_in_ring(lon, lat, h) for h in rings[1:])
        ):
            return True
    return False


def bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of a (Multi)Polygon."""
    points = [point for rings in _polygons(geometry) for ring in rings for point in ring]
    if not points:
        raise ValueError("geometry has no coordinates")
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def validate_polygon(geometry: Any) -> dict[str, Any]:
    """Check a GeoJSON (Multi)Polygon's shape; returns it or raises ValueError saying why."""
    if not isinstance(geometry, dict):
        raise ValueError("geometry must be a GeoJSON object")
    for rings in _polygons(geometry):
        if not isinstance(rings, list) or not rings:
            raise ValueError("a polygon needs at least one ring")
        for ring in rings:
            if not isinstance(ring, list) or len(ring) < 4:
                raise ValueError("a ring needs at least 4 positions (closed)")
            for point in ring:
                if (
                    not isinstance(point, list | tuple)
                    or len(point) < 2
                    or not all(isinstance(v, int | float) for v in point[:2])
                ):
                    raise ValueError(f"position {point!r} is not [lon, lat]")
                if not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
                    raise ValueError(f"position {point!r} is outside lon/lat range")
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise ValueError("a ring must end where it starts")
    return geometry
