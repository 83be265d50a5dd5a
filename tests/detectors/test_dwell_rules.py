"""Loitering, crowd, illegal parking and fall, driven by hand-made tracks and a test clock."""

from __future__ import annotations

from datetime import time

import pytest
import supervision as sv

from detectors.rules import Crowd, Fall, IllegalParking, Loitering, ZoneIntrusion
from detectors.schedule import Schedule, TimeWindow
from detectors.zones import Zone
from tests.detectors.factories import T0, at, tracked

YARD = Zone("yard", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)))  # bottom half
W, H = 400, 200


def box(x: float, y: float = 150, size: float = 20) -> tuple[float, float, float, float]:
    """A box whose centre is (x, y) pixels; y > 100 is inside YARD."""
    return (x - size / 2, y - size / 2, x + size / 2, y + size / 2)


INSIDE, OUTSIDE = box(100), box(100, y=40)
ON_EDGE_IN, ON_EDGE_OUT = box(100, y=102), box(100, y=98)  # centre 2 px either side of the edge


def run(rule, frames) -> list:  # type: ignore[no-untyped-def]
    """frames: (seconds, [box, ...], [track id, ...], [class, ...] or None)."""
    hits = []
    for seconds, boxes, ids, names in frames:
        hits += rule.update(tracked(boxes, ids, names), width=W, height=H, now=at(seconds))
    return hits


def loitering(**options) -> Loitering:  # type: ignore[no-untyped-def]
    return Loitering(YARD, {"person"}, **{"dwell_s": 10, "grace_s": 2, "cooldown_s": 60,
                                           "anchor": "center", **options})  # fmt: skip


def test_loitering_fires_once_after_the_dwell_with_its_start_time() -> None:
    rule = loitering()
    hits = run(rule, [(t * 0.5, [INSIDE], [1], None) for t in range(40)])  # 20 s inside
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.rule, hit.track_id, hit.started_at, hit.detected_at) == (
        "loitering",
        1,
        at(0),
        at(10),
    )
    assert hit.details["held_s"] == 10.0 and hit.category == "public_safety"
    assert rule.holds(1)


def test_loitering_leaving_for_longer_than_the_grace_restarts_the_clock() -> None:
    rule = loitering()
    frames = [(t, [INSIDE], [1], None) for t in range(8)]  # 0..7 s inside
    frames += [(t, [OUTSIDE], [1], None) for t in range(8, 12)]  # out 4 s > grace
    frames += [(t, [INSIDE], [1], None) for t in range(12, 21)]  # back 12..20: 8 s
    assert run(rule, frames) == []
    assert not rule.holds(99)
    hits = run(rule, [(22, [INSIDE], [1], None)])
    assert len(hits) == 1 and hits[0].started_at == at(12)


def test_loitering_jitter_at_the_zone_edge_does_not_restart_the_clock() -> None:
    rule = loitering()
    frames = [(t, [ON_EDGE_IN if t % 3 else ON_EDGE_OUT], [1], None) for t in range(12)]
    hits = run(rule, frames)
    assert len(hits) == 1 and hits[0].started_at == at(1)


@pytest.mark.parametrize(("skip_stationary", "fired"), [(True, 1), (False, 3)])
def test_a_stationary_object_loiters_once_by_default(skip_stationary: bool, fired: int) -> None:
    # A mannequin in the yard: missed by the model for longer than the grace now and then,
    # and marked stationary by the tracker after its first stay.
    rule = loitering(cooldown_s=30, skip_stationary=skip_stationary)
    hits = []
    for seconds in range(0, 120):
        seen = seconds % 40 < 35
        frame = tracked([INSIDE] if seen else [], [7] if seen else [], stationary=seconds > 20)
        hits += rule.update(frame, width=W, height=H, now=at(seconds))
    assert len(hits) == fired


def test_an_object_marked_stationary_before_its_first_stay_still_fires_once() -> None:
    rule = loitering()
    frames = [tracked([INSIDE], [7], stationary=True) for _ in range(30)]
    hits = [
        hit
        for t, frame in enumerate(frames)
        for hit in rule.update(frame, width=W, height=H, now=at(t))
    ]
    assert len(hits) == 1


def test_loitering_re_entering_within_the_cooldown_does_not_fire_again() -> None:
    rule = loitering(cooldown_s=60)
    assert len(run(rule, [(t, [INSIDE], [1], None) for t in range(12)])) == 1
    run(rule, [(t, [OUTSIDE], [1], None) for t in range(12, 20)])
    assert run(rule, [(t, [INSIDE], [1], None) for t in range(20, 40)]) == []
    run(rule, [(t, [OUTSIDE], [1], None) for t in range(40, 100, 5)])
    # After the cooldown, a new stay fires again.
    assert len(run(rule, [(t, [INSIDE], [1], None) for t in range(100, 112)])) == 1


def test_loitering_only_counts_within_its_schedule() -> None:
    # Armed from 22:00:05 UTC; T0 is 22:00:00 UTC.
    schedule = Schedule((TimeWindow(time(22, 0, 5), time(23)),), timezone="UTC")
    rule = loitering(schedule=schedule)
    hits = run(rule, [(t, [INSIDE], [1], None) for t in range(20)])
    assert len(hits) == 1 and hits[0].started_at == at(5) and hits[0].detected_at == at(15)


def test_intrusion_respects_its_schedule_boundary() -> None:
    schedule = Schedule((TimeWindow(time(22, 0, 2), time(22, 0, 10)),), timezone="UTC")
    rule = ZoneIntrusion(YARD, {"person"}, min_frames=3, anchor="center", schedule=schedule)
    hits = run(rule, [(t, [INSIDE], [1], None) for t in range(6)])
    assert [hit.started_at for hit in hits] == [at(2)]  # frames before 22:00:02 do not count
    # A stay entirely outside the window never fires.
    late = ZoneIntrusion(YARD, {"person"}, min_frames=3, anchor="center", schedule=schedule)
    assert run(late, [(t, [INSIDE], [1], None) for t in range(10, 20)]) == []


def crowd(**options) -> Crowd:  # type: ignore[no-untyped-def]
    defaults = {"min_people": 3, "hold_s": 5, "grace_s": 2, "cooldown_s": 60, "anchor": "center"}
    return Crowd(YARD, {"person"}, **{**defaults, **options})


def people(count: int, y: float = 150) -> tuple[list, list[int]]:
    return [box(30 + 40 * i, y) for i in range(count)], list(range(1, count + 1))


def test_crowd_fires_when_enough_people_stay_long_enough() -> None:
    rule = crowd()
    boxes, ids = people(4)
    hits = run(rule, [(t, boxes, ids, None) for t in range(8)])
    assert len(hits) == 1
    hit = hits[0]
    assert hit.started_at == at(0) and hit.detected_at == at(5)
    assert hit.track_ids == (1, 2, 3, 4) and hit.details["count"] == 4
    assert hit.box_xyxy == (20.0, 140.0, 160.0, 160.0)  # all of them


def test_crowd_below_the_count_or_outside_the_zone_does_not_fire() -> None:
    two, two_ids = people(2)
    above, above_ids = people(5, y=40)
    assert run(crowd(), [(t, two, two_ids, None) for t in range(20)]) == []
    assert run(crowd(), [(t, above, above_ids, None) for t in range(20)]) == []


def test_crowd_dip_shorter_than_the_grace_keeps_the_clock() -> None:
    rule = crowd()
    four, ids4 = people(4)
    two, ids2 = people(2)
    frames = [(0, four, ids4, None), (1, four, ids4, None), (2, two, ids2, None)]
    frames += [(t, four, ids4, None) for t in range(3, 6)]
    hits = run(rule, frames)
    assert len(hits) == 1 and hits[0].started_at == at(0)


def test_crowd_fires_once_per_zone_within_the_cooldown() -> None:
    rule = crowd(cooldown_s=60)
    four, ids4 = people(4)
    assert len(run(rule, [(t, four, ids4, None) for t in range(10)])) == 1
    run(rule, [(t, [], [], None) for t in range(10, 20)])
    assert run(rule, [(t, four, ids4, None) for t in range(20, 40)]) == []


CAR = box(200, 150, 40)


def parking(**options) -> IllegalParking:  # type: ignore[no-untyped-def]
    return IllegalParking(YARD, **{"max_stay_s": 30, "max_movement": 0.03, "grace_s": 5,
                                   "cooldown_s": 600, **options})  # fmt: skip


def test_a_vehicle_standing_still_past_the_limit_is_reported() -> None:
    rule = parking()
    hits = run(rule, [(t * 2, [CAR], [9], ["car"]) for t in range(20)])
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.rule, hit.category, hit.object_class) == (
        "illegal_parking",
        "urban_management",
        "car",
    )
    assert hit.started_at == at(0) and hit.detected_at == at(30)


def test_a_vehicle_that_keeps_moving_is_not_parked() -> None:
    # Crawls 8 px (0.02 of the width) a second through the zone: over 30 s it leaves any stop.
    frames = [(t, [box(40 + 8 * t, 150, 40)], [9], ["truck"]) for t in range(40)]
    assert run(parking(), frames) == []


def test_jitter_of_a_parked_vehicle_box_is_still_standing_still() -> None:
    frames = [(t, [box(200 + (t % 3) * 2, 150 + (t % 2), 40)], [9], ["car"]) for t in range(35)]
    assert len(run(parking(), frames)) == 1


def test_people_are_not_parked_vehicles() -> None:
    assert run(parking(), [(t, [CAR], [9], ["person"]) for t in range(40)]) == []


def test_a_parked_vehicle_missed_by_the_detector_for_a_moment_keeps_its_clock() -> None:
    frames = [(t, [CAR], [9], ["car"]) if t % 7 else (t, [], [], None) for t in range(32)]
    hits = run(parking(), frames)
    assert len(hits) == 1 and hits[0].started_at == at(1)


def fall(**options) -> Fall:  # type: ignore[no-untyped-def]
    return Fall(YARD, **{"hold_s": 3, "grace_s": 1.5, **options})


def test_a_person_down_for_the_hold_time_is_a_health_emergency() -> None:
    frames = [(t * 0.5, [INSIDE], [4], ["Normal"]) for t in range(4)]
    frames += [(2 + t * 0.5, [INSIDE], [4], ["Fall"]) for t in range(8)]
    hits = run(fall(), frames)
    assert len(hits) == 1
    assert (hits[0].category, hits[0].severity) == ("health_emergency", "critical")
    assert hits[0].started_at == at(2) and hits[0].detected_at == at(5)


def test_a_flicker_to_normal_shorter_than_the_grace_does_not_reset_a_fall() -> None:
    classes = ["Fall", "Fall", "Normal", "Fall", "Fall", "Fall", "Fall"]
    frames = [(t * 0.5, [INSIDE], [4], [name]) for t, name in enumerate(classes)]
    hits = run(fall(), frames)
    assert len(hits) == 1 and hits[0].started_at == at(0)


def test_someone_bending_down_briefly_is_not_a_fall() -> None:
    classes = ["Normal", "Fall", "Fall", "Normal", "Normal", "Normal", "Normal", "Fall"]
    assert run(fall(), [(t, [INSIDE], [4], [n]) for t, n in enumerate(classes)]) == []


def test_rules_need_tracked_detections() -> None:
    untracked = sv.Detections(xyxy=tracked([INSIDE], [1]).xyxy)
    with pytest.raises(ValueError, match="tracked"):
        loitering().update(untracked, width=W, height=H, now=T0)
