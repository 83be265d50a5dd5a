"""Grid import from GeoJSON and the point lookup that assigns cameras and events to grids."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import migrate
from api.db import make_engine, session_factory
from api.grids import GridImportError, import_grids, locate_grid
from api.models import Grid

SAMPLE = json.loads((Path(__file__).parents[2] / "camera_configs" / "grids.geojson").read_text())


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_sample_district_imports_with_its_hierarchy(session: Session) -> None:
    import_grids(session, SAMPLE)
    session.commit()
    levels = dict(session.execute(select(Grid.level, func.count()).group_by(Grid.level)).all())
    assert levels == {"district": 1, "town": 2, "community": 4, "cell": 8}
    cell = session.get(Grid, "D01-T02-C02-G01")
    assert cell is not None and cell.parent is not None
    assert cell.parent.id == "D01-T02-C02"
    assert cell.parent.parent is not None and cell.parent.parent.id == "D01-T02"


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (120.12, 30.255, "D01-T01-C01-G01"),
        (120.19, 30.29, "D01-T02-C02-G02"),
        (120.30, 30.29, None),  # outside the district
    ],
)
def test_locate_picks_the_most_detailed_grid(
    session: Session, lon: float, lat: float, expected: str | None
) -> None:
    import_grids(session, SAMPLE)
    grid = locate_grid(session, lon, lat)
    assert (grid.id if grid else None) == expected


def _broken(mutate) -> dict:  # type: ignore[no-untyped-def]
    document = copy.deepcopy(SAMPLE)
    mutate(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "Feature"}, "expected a GeoJSON FeatureCollection"),
        (
            _broken(lambda d: d["features"][3]["properties"].update(level="block")),
            "features[3].properties.level",
        ),
        (
            _broken(lambda d: d["features"][3]["properties"].update(parent="NOPE")),
            "unknown grid 'NOPE'",
        ),
        (
            _broken(lambda d: d["features"][2]["properties"].pop("code")),
            "features[2].properties.code",
        ),
        (
            _broken(lambda d: d["features"][1]["geometry"]["coordinates"][0].pop()),
            "must end where it starts",
        ),
        (
            _broken(
                lambda d: d["features"][1].update(geometry={"type": "Point", "coordinates": [1, 2]})
            ),
            "Polygon",
        ),
        (_broken(lambda d: d["features"].append(copy.deepcopy(d["features"][0]))), "appears twice"),
    ],
)
def test_a_broken_grid_file_is_refused_whole(
    session: Session, document: dict, message: str
) -> None:
    with pytest.raises(GridImportError, match=None) as raised:
        import_grids(session, document)
    assert message in str(raised.value)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Grid)) == 0
