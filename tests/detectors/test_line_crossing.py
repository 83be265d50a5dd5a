"""Line crossing: direction, counts, jitter on the line, the segment's ends, id switches."""

from __future__ import annotations

import pytest

from detectors.rules import Line, LineCrossing
from detectors.tracking import ObjectTracker
from tests.detectors.factories import at, detected, tracked

W, H = 400, 400
# Drawn left to right across the middle: "in" is walking up the picture.
GATE = Line("gate", (0.25, 0.5), (0.75, 0.5))


def foot(x: float, y: float) -> tuple[float, float, float, float]:
    """A 20 x 40 box whose bottom centre (the anchor) is at (x, y) pixels."""
    return (x - 10, y - 40, x + 10, y)


def walk(rule: LineCrossing, track_id: int, points: list[tuple[float, float]], start: float = 0):  # type: ignore[no-untyped-def]
    hits = []
    for step, (x, y) in enumerate(points):
        hits += rule.update(
            tracked([foot(x, y)], [track_id]), width=W, height=H, now=at(start + step)
        )
    return hits


UP = [(200, 300), (200, 240), (200, 180), (200, 120)]
DOWN = list(reversed(UP))


@pytest.mark.parametrize(
    ("direction", "path", "fires", "counts"),
    [
        ("in", UP, True, {"in": 1, "out": 0}),
        ("in", DOWN, False, {"in": 0, "out": 1}),
        ("out", DOWN, True, {"in": 0, "out": 1}),
        ("both", DOWN, True, {"in": 0, "out": 1}),
    ],
)
def test_direction_decides_what_fires_and_every_crossing_is_counted(
    direction: str, path: list, fires: bool, counts: dict
) -> None:
    rule = LineCrossing(GATE, {"person"}, direction=direction)  # type: ignore[arg-type]
    hits = walk(rule, 1, path)
    assert bool(hits) is fires
    assert rule.counts == counts
    if fires:
        # Over the line at 2 s, and still over it at 3 s (two frames on the new side).
        assert hits[0].detected_at == at(3) and hits[0].details["direction"] == path_way(path)


def path_way(path: list) -> str:
    return "in" if path[0][1] > path[-1][1] else "out"


def test_jitter_on_the_line_is_not_a_crossing() -> None:
    rule = LineCrossing(GATE, {"person"}, margin=0.02)
    # Stands on the line, the foot point wobbling 4 px (0.01) either side of it.
    wobble = [(200, 300)] + [(200, 200 + (4 if i % 2 else -4)) for i in range(10)] + [(200, 300)]
    assert walk(rule, 1, wobble) == []
    assert rule.counts == {"in": 0, "out": 0}


def test_passing_beside_the_segment_is_not_crossing_it() -> None:
    rule = LineCrossing(GATE, {"person"})
    assert walk(rule, 1, [(380, 300), (380, 100)]) == []
    assert rule.counts == {"in": 0, "out": 0}


def test_a_one_frame_flicker_across_the_line_is_not_a_crossing() -> None:
    rule = LineCrossing(GATE, {"person"}, direction="in")
    # Stands below the line; one frame's box puts the feet clearly above it.
    hits = walk(rule, 1, [(200, 260), (200, 260), (200, 160), (200, 260), (200, 260)])
    assert hits == []
    assert rule.counts == {"in": 0, "out": 0}


@pytest.mark.parametrize(
    ("hold_frames", "hold_s", "fires_at"),
    [(1, 0.0, 1), (2, 0.0, 2), (3, 0.0, 3), (2, 2.5, 4)],
)
def test_a_crossing_counts_once_the_object_stays_on_the_new_side(
    hold_frames: int, hold_s: float, fires_at: int
) -> None:
    rule = LineCrossing(GATE, {"person"}, hold_frames=hold_frames, hold_s=hold_s)
    hits = walk(rule, 1, [(200, 260)] + [(200, 150)] * 5)
    assert [hit.detected_at for hit in hits] == [at(fires_at)]
    assert hits[0].started_at == at(1)  # when it got to the other side
    assert rule.counts == {"in": 1, "out": 0}


def test_a_walker_the_tracker_loses_at_the_line_is_counted_once() -> None:
    tracker = ObjectTracker(lost_frames=1)
    rule = LineCrossing(GATE, {"person"}, direction="in")
    # A 100 px tall walker going up slowly at 2 fps, missed by the model at the line for three
    # frames, which ByteTrack does not bridge here: it starts a new track.
    steps: list[float | None] = [212, 209, 206, 203, None, None, None, 194, 191, 188, 185]
    hits = []
    for step, y in enumerate(steps):
        found = detected([(185.0, y - 100, 215.0, y)] if y is not None else [])
        now = at(step * 0.5)
        hits += rule.update(tracker.update(found, now=now), width=W, height=H, now=now)
    assert len(hits) == 1
    assert rule.counts == {"in": 1, "out": 0}


def test_back_and_forth_counts_every_crossing_but_fires_once_per_cooldown() -> None:
    rule = LineCrossing(GATE, {"person"}, cooldown_s=60)
    hits = walk(rule, 1, UP + DOWN + UP)
    assert len(hits) == 1
    assert rule.counts == {"in": 2, "out": 1}


def test_other_classes_are_ignored() -> None:
    rule = LineCrossing(GATE, {"person"})
    hits = []
    for step, (x, y) in enumerate(UP):
        detections = tracked([foot(x, y)], [1], ["dog"])
        hits += rule.update(detections, width=W, height=H, now=at(step))
    assert hits == [] and rule.counts == {"in": 0, "out": 0}


def test_a_line_needs_two_points() -> None:
    with pytest.raises(ValueError, match="two distinct points"):
        Line("dot", (0.5, 0.5), (0.5, 0.5))
