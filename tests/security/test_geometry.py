"""Camera geometry a worker is sent whole (issue 13, kind 19): polygons, zones, privacy masks,
lines and rules are bounded, and the bound is said in the refusal."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from contract.camera import MAX_POLYGON_VERTICES, MAX_REGIONS
from tests.conftest import Accounts

CAMERA = {
    "id": "school-east-gate",
    "name": "East gate",
    "source": "rtsp://admin:s3cret-pass@10.20.0.7:554/east",
    "location": {"lat": 30.256, "lon": 120.121},
}


def polygon(vertices: int) -> list[list[float]]:
    """A convex polygon with `vertices` points on a circle, in normalised coordinates."""
    import math

    return [
        [round(0.5 + 0.4 * math.cos(2 * math.pi * i / vertices), 6),
         round(0.5 + 0.4 * math.sin(2 * math.pi * i / vertices), 6)]
        for i in range(vertices)
    ]  # fmt: skip


def register(client: TestClient, accounts: Accounts, **fields: Any) -> Any:
    return client.post(
        "/api/v1/cameras", json={**CAMERA, **fields}, headers=accounts.headers("school_owner")
    )


@pytest.mark.parametrize("field", ["zones", "privacy_masks"])
@pytest.mark.parametrize(
    ("vertices", "status", "reason"),
    [
        # ~5 MiB of JSON: refused by the body cap (kind 6) before it is read whole.
        (200_000, 413, "GRIDWATCH_MAX_BODY_BYTES"),
        # Within the body cap: refused by the vertex cap, naming the field.
        (20_000, 422, str(MAX_POLYGON_VERTICES)),
    ],
)
def test_a_polygon_of_thousands_of_vertices_is_refused(
    api_client: TestClient, accounts: Accounts, field: str, vertices: int, status: int, reason: str
) -> None:
    response = register(
        api_client, accounts, **{field: [{"name": "a", "polygon": polygon(vertices)}]}
    )
    assert response.status_code == status
    assert reason in response.text
    if status == 422:
        assert f"{field}.0.polygon" in response.text
    assert (
        api_client.get(
            f"/api/v1/cameras/{CAMERA['id']}", headers=accounts.headers("admin")
        ).status_code
        == 404
    )


def test_the_largest_polygon_is_accepted_and_one_more_vertex_is_not(
    api_client: TestClient, accounts: Accounts
) -> None:
    largest = register(api_client, accounts, zones=[{"name": "a", "polygon": polygon(256)}])
    assert largest.status_code == 201, largest.text
    changed = api_client.patch(
        f"/api/v1/cameras/{CAMERA['id']}",
        json={"privacy_masks": [{"name": "m", "polygon": polygon(MAX_POLYGON_VERTICES + 1)}]},
        headers=accounts.headers("school_owner"),
    )
    assert changed.status_code == 422 and "privacy_masks.0.polygon" in changed.text


@pytest.mark.parametrize(
    ("field", "item"),
    [
        ("zones", lambda i: {"name": f"z{i}", "polygon": polygon(3)}),
        ("privacy_masks", lambda i: {"name": f"m{i}", "polygon": polygon(3)}),
        ("lines", lambda i: {"name": f"l{i}", "points": [[0.1, 0.1], [0.9, 0.9]]}),
    ],
)
def test_a_camera_has_a_bounded_number_of_regions_and_lines(
    api_client: TestClient, accounts: Accounts, field: str, item: Any
) -> None:
    response = register(api_client, accounts, **{field: [item(i) for i in range(MAX_REGIONS + 1)]})
    assert response.status_code == 422
    assert field in response.text and str(MAX_REGIONS) in response.text
