from __future__ import annotations

import numpy as np
import pytest

from detectors.zones import Zone
from tests.detectors.factories import tracked

SQUARE = Zone("square", ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)))


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((0.5, 0.5), True),
        ((0.1, 0.5), False),
        ((0.25, 0.5), True),
        ((0.75, 0.75), True),
        ((0.9, 0.9), False),
    ],
)
def test_points_inside_edges_included(point: tuple[float, float], inside: bool) -> None:
    assert SQUARE.contains_points(np.array([point])).tolist() == [inside]


def test_concave_polygon() -> None:
    # A U shape: the notch in the middle is outside.
    u_shape = Zone(
        "u", ((0, 0), (0.3, 0), (0.3, 0.7), (0.7, 0.7), (0.7, 0), (1, 0), (1, 1), (0, 1))
    )
    assert u_shape.contains_points(np.array([[0.5, 0.3], [0.5, 0.9], [0.1, 0.1]])).tolist() == [
        False,
        True,
        True,
    ]


def test_anchor_choice_decides_membership() -> None:
    # A box whose centre is above the zone but whose feet stand in it.
    detections = tracked([(180, 20, 220, 120)], [1])
    zone = Zone("ground", ((0, 0.4), (1, 0.4), (1, 1), (0, 1)))
    assert zone.contains(detections, 400, 200, "center").tolist() == [False]
    assert zone.contains(detections, 400, 200, "bottom_center").tolist() == [True]


def test_pixel_polygon_scales_to_the_frame() -> None:
    assert SQUARE.pixel_polygon(768, 576).tolist() == [
        [192, 144],
        [576, 144],
        [576, 432],
        [192, 432],
    ]
