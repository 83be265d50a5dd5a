"""The tracker: stable small ids, one id for an object lost and re-found, stationary objects."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.rules import Crowd, Fall, IllegalParking, Loitering, Rule, ZoneIntrusion
from detectors.tracking import ObjectTracker
from detectors.zones import Zone
from tests.detectors.factories import at, detected

STILL = np.empty((0, 4), dtype=np.float32)  # a picture where nothing changed
PERSON = (100.0, 200.0, 130.0, 290.0)


def test_two_walkers_keep_their_ids_and_ids_are_small() -> None:
    tracker = ObjectTracker(high_confidence=0.4)
    seen: list[list[int]] = []
    for step in range(12):
        left = (10 + 6 * step, 100, 40 + 6 * step, 180)
        right = (400 - 6 * step, 90, 430 - 6 * step, 170)
        out = tracker.update(detected([left, right]), now=at(step * 0.5))
        if len(out) == 2:
            seen.append(sorted(out.tracker_id.tolist()))
    assert seen and all(ids == seen[0] for ids in seen)
    assert seen[0] == [1, 2]


def test_no_detections_give_empty_tracked_detections() -> None:
    out = ObjectTracker().update(detected([]), now=at(0))
    assert len(out) == 0
    assert out.tracker_id is not None
    assert out.data["stationary"].dtype == bool


def test_a_walker_moving_most_of_its_width_per_frame_keeps_one_confirmed_id() -> None:
    # A 30 px wide person sampled at 2 fps moves ~25 px a frame: boxes barely overlap.
    tracker = ObjectTracker(high_confidence=0.4)
    ids = []
    for step in range(8):
        x = 100 + 25 * step
        found = tracker.update(detected([(x, 200, x + 30, 290)]), now=at(step * 0.5))
        ids.append(int(found.tracker_id[0]) if len(found) else None)
    assert ids[0] is not None and None not in ids[1:]
    assert len(set(ids)) == 1


def test_each_id_comes_with_the_detectors_own_box_of_that_object() -> None:
    """Evidence draws an incident's object by its id on the boxes the tracker hands on: those
    are the model's boxes, not the tracker's predictions, each with its own id, in whatever
    order the model listed them (here shuffled each frame, one walker seen with low
    confidence at times, which ByteTrack matches in a second pass)."""
    rng = np.random.default_rng(3)
    tracker = ObjectTracker(high_confidence=0.4)
    walker_of_id: dict[int, int] = {}
    for step in range(16):
        walkers = [
            (20 + 14 * step, 100, 50 + 14 * step, 190),
            (420 - 12 * step, 90, 452 - 12 * step, 175),
            (200 + 3 * step, 260 - 9 * step, 236 + 3 * step, 360 - 9 * step),
        ]
        jittered = [np.add(box, rng.uniform(-3, 3, 4)) for box in walkers]
        order = rng.permutation(3)
        frame = detected([tuple(jittered[walker]) for walker in order])
        frame.confidence = np.array([0.3 if order[row] == 2 and step % 3 else 0.9
                                     for row in range(3)], dtype=np.float32)  # fmt: skip
        out = tracker.update(frame, now=at(step * 0.5))
        for row, track_id in enumerate(out.tracker_id.tolist()):
            source = int(out.data["source_index"][row])
            assert np.array_equal(out.xyxy[row], frame.xyxy[source])
            assert out.confidence[row] == frame.confidence[source]
            assert walker_of_id.setdefault(track_id, int(order[source])) == order[source]
    assert sorted(walker_of_id.values()) == [0, 1, 2]


def ids_over(tracker: ObjectTracker, frames: list[tuple[float, list]]) -> list[int]:
    """Every track id output, frame after frame: (seconds, boxes) per frame."""
    ids: list[int] = []
    for seconds, boxes in frames:
        ids += tracker.update(detected(boxes), now=at(seconds)).tracker_id.tolist()
    return ids


def missed_for(gap_s: float, after: tuple[float, float, float, float] = PERSON) -> list:
    """A person seen 3 s, missed by the model for `gap_s`, then seen again at `after`."""
    frames = [(t * 0.5, [PERSON]) for t in range(6)]
    frames += [(3 + t * 0.5, []) for t in range(round(gap_s * 2))]
    return frames + [(3 + gap_s + t * 0.5, [after]) for t in range(6)]


def test_an_object_lost_and_re_found_where_it_stood_keeps_its_id() -> None:
    # ByteTrack forgets a track after one lost frame here, so it starts a new one.
    assert set(ids_over(ObjectTracker(lost_frames=1), missed_for(1.5))) == {1}
    assert len(set(ids_over(ObjectTracker(lost_frames=1, handover_s=0), missed_for(1.5)))) == 2


@pytest.mark.parametrize(
    ("gap_s", "after"),
    [
        (1.5, (250.0, 200.0, 280.0, 290.0)),  # five widths away
        (1.5, (100.0, 245.0, 115.0, 290.0)),  # half the size: someone else, farther away
        (5.0, PERSON),  # longer ago than the hand-over allows
    ],
    ids=["far", "other-size", "too-late"],
)
def test_a_new_object_does_not_take_a_lost_id_it_cannot_be(
    gap_s: float, after: tuple[float, float, float, float]
) -> None:
    ids = ids_over(ObjectTracker(lost_frames=1), missed_for(gap_s, after))
    assert len(set(ids)) == 2


def test_two_objects_in_one_frame_never_share_an_id() -> None:
    tracker = ObjectTracker(lost_frames=1)
    beside = (135.0, 200.0, 165.0, 290.0)
    frames = [(t * 0.5, [PERSON]) for t in range(4)]
    frames += [(2 + t * 0.5, [PERSON, beside]) for t in range(6)]
    for seconds, boxes in frames:
        out = tracker.update(detected(boxes), now=at(seconds))
        assert len(set(out.tracker_id.tolist())) == len(out)


YARD = Zone("yard", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)))  # bottom half of 400 x 400


@pytest.mark.parametrize(
    ("rule", "names"),
    [
        (ZoneIntrusion(YARD, {"person"}, min_frames=2, cooldown_s=300), None),
        (Loitering(YARD, dwell_s=4, grace_s=3, cooldown_s=300), None),
        (Crowd(YARD, min_people=1, hold_s=4, grace_s=3, cooldown_s=300), None),
        (IllegalParking(YARD, max_stay_s=4, grace_s=3, read_plate=False), ["car"]),
        (Fall(YARD, hold_s=4, grace_s=3), ["Fall"]),
    ],
    ids=["intrusion", "loitering", "crowd", "illegal_parking", "fall"],
)
def test_every_rule_sees_an_object_the_tracker_re_found_once(
    rule: Rule, names: list[str] | None
) -> None:
    # One object standing still for 10 s, missed by the model for 1.5 s in the middle.
    tracker = ObjectTracker(lost_frames=1)
    hits = []
    for step in range(20):
        seconds = step * 0.5
        boxes = [] if 3 <= seconds < 4.5 else [PERSON]
        found = detected(boxes, names if boxes else None)
        tracked = tracker.update(found, now=at(seconds), motion=STILL)
        hits += rule.update(tracked, width=400, height=400, now=at(seconds))
    assert len(hits) == 1, hits


def stand(tracker: ObjectTracker, seconds: range, box=PERSON, motion=STILL) -> list[bool]:  # type: ignore[no-untyped-def]
    """The stationary mark of one object seen once a second for `seconds`."""
    return [
        bool(tracker.update(detected([box]), now=at(t), motion=motion).data["stationary"][0])
        for t in seconds
    ]


def test_an_object_in_place_with_no_motion_in_it_becomes_stationary() -> None:
    tracker = ObjectTracker(stationary_s=60)
    marks = stand(tracker, range(0, 70))
    assert not any(marks[:60]) and all(marks[60:])  # still for 60 s
    # Someone walking past moves pixels in its box: it stays stationary.
    assert stand(tracker, range(70, 75), motion=np.array([PERSON], dtype=np.float32)) == [True] * 5
    # Moved: no longer stationary.
    assert stand(tracker, range(75, 80), box=(130.0, 200.0, 160.0, 290.0)) == [False] * 5


@pytest.mark.parametrize(
    "motion",
    [None, np.array([(110.0, 220.0, 125.0, 260.0)], dtype=np.float32)],
    ids=["motion-unknown", "moving-in-place"],
)
def test_an_object_is_not_stationary_without_proof_of_stillness(motion: np.ndarray | None) -> None:
    assert not any(stand(ObjectTracker(stationary_s=60), range(0, 90), motion=motion))


def test_jitter_of_a_box_does_not_stop_it_becoming_stationary() -> None:
    tracker = ObjectTracker(stationary_s=10)
    marks = [
        bool(
            tracker.update(
                detected([(100.0 + t % 2, 200.0, 130.0 + t % 2, 290.0 - t % 3)]),
                now=at(t),
                motion=STILL,
            ).data["stationary"][0]
        )
        for t in range(20)
    ]
    assert marks[-1]
