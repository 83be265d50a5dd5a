"""bench/triage.py on a slice of the demo: the shipped cameras and the labelled rule in the real
worker with the real model, against the real API; what the bench measures over an hour, here
over half a minute of footage, so that the bench's path cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.triage import run_triage

pytestmark = pytest.mark.slow


def test_a_slice_of_the_demo_is_one_item_per_situation_and_a_verdict_holds(
    tmp_path: Path,
    assets: dict[str, Path],
) -> None:
    result = run_triage(
        minutes=0.5, suppress_minutes=0.5, folder=tmp_path, detect_threads=2, log=lambda _: None
    )

    assert result.failures == []
    # Half a minute is well inside the grouping window: every situation is exactly one item,
    # and every incident the worker sent is one of their occurrences.
    assert result.items == result.situations >= 4
    assert result.occurrences == result.incidents_sent > result.items
    assert all(items >= 1 for items, _ in result.per_camera.values())
    # The labelled visits of the first half minute: each one the rule found is inside an item.
    ((labelled, found, listed),) = result.loops
    assert labelled >= 8
    assert listed == found >= labelled - 1
    # "Do not raise this again": held back, counted, and none reached an operator.
    assert result.rejected_event is not None
    assert result.suppressed >= 1
    assert result.came_back == 0
