"""The intrusion rule, driven by hand-made tracked detections and a clock the test controls."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.rules import ZoneIntrusion
from detectors.zones import Zone
from tests.detectors.factories import at, tracked

YARD = Zone("yard", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)))  # bottom half of the picture
W, H = 400, 200
INSIDE = (100, 120, 120, 180)  # centre (110, 150): bottom half
OUTSIDE = (100, 10, 120, 60)


def rule(**options) -> ZoneIntrusion:  # type: ignore[no-untyped-def]
    defaults = {"min_frames": 3, "cooldown_s": 60, "anchor": "center"}
    return ZoneIntrusion(YARD, {"person"}, **{**defaults, **options})


def feed(intrusion: ZoneIntrusion, frames: list[tuple[float, list, list, list | None]]):  # type: ignore[no-untyped-def]
    hits = []
    for seconds, boxes, ids, names in frames:
        hits += intrusion.update(tracked(boxes, ids, names), width=W, height=H, now=at(seconds))
    return hits


def test_fires_after_min_frames_consecutive_inside_with_start_time_and_box() -> None:
    intrusion = rule()
    hits = feed(intrusion, [(0, [INSIDE], [1], None), (0.5, [INSIDE], [1], None)])
    assert hits == []
    hits = feed(intrusion, [(1.0, [INSIDE], [1], None)])
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.track_id, hit.zone, hit.object_class) == (1, "yard", "person")
    assert hit.started_at == at(0) and hit.detected_at == at(1.0)
    assert hit.box_xyxy == INSIDE
    assert hit.parameters["min_frames"] == 3


def test_one_incident_per_track_within_the_cooldown() -> None:
    intrusion = rule(cooldown_s=60)
    frames = [(t * 0.5, [INSIDE], [1], None) for t in range(40)]  # 20 s inside
    assert len(feed(intrusion, frames)) == 1
    # Leaves and comes back within the cooldown: still the same incident.
    feed(intrusion, [(21, [OUTSIDE], [1], None)])
    assert feed(intrusion, [(22 + t, [INSIDE], [1], None) for t in range(5)]) == []
    # After the cooldown a new stay counts again.
    assert len(feed(intrusion, [(90 + t, [INSIDE], [1], None) for t in range(3)])) == 1


def test_leaving_resets_the_consecutive_count() -> None:
    intrusion = rule()
    frames = [
        (0, [INSIDE], [1], None), (1, [INSIDE], [1], None), (2, [OUTSIDE], [1], None),
        (3, [INSIDE], [1], None), (4, [INSIDE], [1], None),
    ]  # fmt: skip
    assert feed(intrusion, frames) == []
    assert len(feed(intrusion, [(5, [INSIDE], [1], None)])) == 1


def test_each_track_fires_on_its_own_and_other_classes_are_ignored() -> None:
    intrusion = rule()
    frames = [
        (t, [INSIDE, INSIDE, INSIDE], [1, 2, 3], ["person", "person", "dog"]) for t in range(3)
    ]
    hits = feed(intrusion, frames)
    assert sorted(hit.track_id for hit in hits) == [1, 2]


def test_a_vanished_track_is_forgotten_after_its_cooldown() -> None:
    intrusion = rule(cooldown_s=10)
    feed(intrusion, [(t, [INSIDE], [1], None) for t in range(3)])
    feed(intrusion, [(20, [], [], None)])
    assert intrusion._tracks == {}


@pytest.mark.parametrize(("skip_stationary", "fired"), [(True, 1), (False, 4)])
def test_a_stationary_object_opens_one_intrusion_by_default(
    skip_stationary: bool, fired: int
) -> None:
    # A poster of a person in the yard, there for 4 cooldowns; the tracker marks it stationary.
    intrusion = rule(cooldown_s=60, skip_stationary=skip_stationary)
    hits = []
    for seconds in range(0, 240, 2):
        frame = tracked([INSIDE], [5], stationary=seconds >= 60)
        hits += intrusion.update(frame, width=W, height=H, now=at(seconds))
    assert len(hits) == fired


def test_someone_next_to_a_stationary_object_still_counts() -> None:
    intrusion = rule(cooldown_s=60)
    hits = feed(intrusion, [(t, [INSIDE], [5], None) for t in range(3)])
    people = tracked([INSIDE, INSIDE], [5, 6])
    people.data["stationary"] = np.array([True, False])
    for t in range(100, 106):
        hits += intrusion.update(people, width=W, height=H, now=at(t))
    assert [hit.track_id for hit in hits] == [5, 6]


def test_untracked_detections_are_refused() -> None:
    detections = tracked([INSIDE], [1])
    detections.tracker_id = None
    with pytest.raises(ValueError, match="tracked detections"):
        rule().update(detections, width=W, height=H, now=at(0))
