"""When live cameras reconnect: storms back off, and only a steady stream resets the backoff."""

from __future__ import annotations

import pytest

from ingest.backoff import Backoff
from ingest.reconnects import ReconnectSchedule


def schedule() -> ReconnectSchedule:
    return ReconnectSchedule(Backoff(initial_s=0.5, cap_s=30, jitter=0), steady_after_s=10)


def test_failed_attempts_and_connections_that_come_to_nothing_both_back_off() -> None:
    reconnects = schedule()
    delays = []
    for attempt in range(6):
        delays.append(reconnects.delay())
        if attempt % 2:
            reconnects.failed()
        else:
            reconnects.connected()
            reconnects.good_frame(100.0)  # one good frame is not a steady stream
            reconnects.good_frame(105.0)
            reconnects.lost()
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


@pytest.mark.parametrize(("streamed_s", "next_delay"), [(9.9, 8.0), (10.0, 0.5)])
def test_only_good_frames_for_a_while_reset_the_backoff(
    streamed_s: float, next_delay: float
) -> None:
    reconnects = schedule()
    for _ in range(3):
        reconnects.failed()
    reconnects.connected()
    reconnects.good_frame(200.0)
    reconnects.good_frame(200.0 + streamed_s)
    reconnects.lost()
    assert reconnects.delay() == next_delay
