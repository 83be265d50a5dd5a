"""The one-frame buffer where a camera's frame waits for detection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from ingest.frames import Frame, FrameSlot

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def frame(sequence: int) -> Frame:
    return Frame("gate", np.zeros((4, 4, 3), dtype=np.uint8), T0, sequence)


def test_a_frame_not_taken_is_replaced_and_counted_once() -> None:
    dropped = []
    slot = FrameSlot(on_drop=lambda: dropped.append(1))
    assert slot.take() is None and not slot.waiting
    for sequence in range(3):
        slot.put(frame(sequence))
    assert slot.waiting
    taken = slot.take()
    assert taken is not None and taken.sequence == 2  # the newest
    assert (slot.take(), len(dropped)) == (None, 2)


@pytest.mark.parametrize(("numbered", "expected"), [(True, [0, 1]), (False, [5, 9])])
def test_frames_are_numbered_as_taken_when_asked(numbered: bool, expected: list[int]) -> None:
    slot = FrameSlot(numbered=numbered)
    taken = []
    for sequence in (3, 5, 7, 9):
        slot.put(frame(sequence))
        if sequence in (5, 9):
            got = slot.take()
            assert got is not None
            taken.append(got.sequence)
    assert taken == expected


def test_put_when_free_waits_for_the_frame_before_to_be_taken() -> None:
    dropped = []
    slot = FrameSlot(on_drop=lambda: dropped.append(1))
    stop = threading.Event()
    assert slot.put_when_free(frame(0), stop)
    second = threading.Thread(target=slot.put_when_free, args=(frame(1), stop))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive()  # waiting: the first frame has not been taken
    first = slot.take()
    second.join(timeout=5)
    later = slot.take(timeout=5)
    assert (first and first.sequence, later and later.sequence, dropped) == (0, 1, [])
    assert slot.put_when_free(frame(2), stop)
    stop.set()
    assert not slot.put_when_free(frame(3), stop)  # stopped while full: not held


def test_close_releases_a_waiting_taker() -> None:
    slot = FrameSlot()
    result: list[Frame | None] = []
    taker = threading.Thread(target=lambda: result.append(slot.take(timeout=None)))
    taker.start()
    slot.close()
    taker.join(timeout=5)
    assert result == [None]
