"""The clip encoder: clips wait for it in order, as many as the cameras watched call for, and
detection waits for a place only past that bound."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from detectors.incident import IncidentClip
from gridwatch.worker.scheduling import CLIPS_WAITING_PER_CAMERA, ClipEncoder

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def recorded_clip(number: int, encoded: threading.Event) -> IncidentClip:
    """A clip whose encoding lasts until `encoded` is set."""

    def encode() -> bytes:
        encoded.wait(30)
        return b"mp4"

    return IncidentClip(
        incident_id=f"incident-{number}", camera_id="cam-01", started_at=AT, duration_s=6.0,
        frame_count=7, ended_at=AT, ongoing=False, encoder=encode,
    )  # fmt: skip


@pytest.mark.parametrize("cameras", [1, 32])
def test_clips_wait_up_to_a_bound_that_follows_the_cameras_watched(cameras: int) -> None:
    bound = max(8, CLIPS_WAITING_PER_CAMERA * cameras)
    encoded = threading.Event()
    kept: list[IncidentClip] = []
    encoder = ClipEncoder(kept.append)
    encoder.size_for(cameras)
    encoder.start()
    submitted = 0

    def detection() -> None:
        nonlocal submitted
        for number in range(bound + 2):
            encoder.submit(recorded_clip(number, encoded))
            submitted += 1

    thread = threading.Thread(target=detection, daemon=True)
    thread.start()
    # One clip being encoded, `bound` waiting: the next one's detection thread waits.
    deadline = time.monotonic() + 10
    while submitted < bound + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert submitted == bound + 1 and thread.is_alive()
    encoded.set()
    thread.join(timeout=10)
    encoder.close()
    assert [clip.incident_id for clip in kept] == [f"incident-{n}" for n in range(bound + 2)]
    assert all(clip.mp4 == b"mp4" for clip in kept)
    assert encoder.waited_s > 0.2


def test_closing_encodes_what_waits_even_at_the_bound() -> None:
    encoded = threading.Event()
    kept: list[IncidentClip] = []
    encoder = ClipEncoder(kept.append, capacity=2)
    encoder.start()
    for number in range(3):  # one being encoded, two waiting: the bound
        encoder.submit(recorded_clip(number, encoded))
    encoded.set()
    encoder.close(timeout=10)
    assert not encoder.is_alive()
    assert len(kept) == 3
