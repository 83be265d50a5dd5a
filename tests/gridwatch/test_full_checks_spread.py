"""Still cameras that start together do not send their still frames to the model together: each
camera's motion gate checks the full picture every `full_check_s`, at a phase of its own."""

from __future__ import annotations

from collections import Counter

from contract.camera import CameraConfig
from gridwatch.worker.assemble import build_pipeline
from tests.detectors.factories import at
from tests.detectors.test_pipeline import ScriptedDetector, scene

CAMERAS = 64
FULL_CHECK_S = 10


def still_camera(index: int) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": f"static-{index:02d}",
            "name": f"Still street {index}",
            "organisation": {"id": "org-1", "name": "Org", "kind": "public"},
            "source": f"rtsp://127.0.0.1:8554/cam{index}",
            "location": {"lat": 30.25, "lon": 120.12},
            "motion": {"full_check_s": FULL_CHECK_S},
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "rules": [{"kind": "intrusion", "zone": "all", "classes": ["person"]}],
        }
    )


def test_still_cameras_started_together_spread_their_full_checks_over_the_interval() -> None:
    """64 still cameras started in the same second, at 1 detect fps for 30 s: their full checks
    fall over the whole interval, a few a second, and each camera still has one every
    `full_check_s` (at the same phase, all 64 came in one second: more than 2 cores could run
    within the second, and every camera lost a frame each time)."""
    pipelines = [build_pipeline(still_camera(index), ScriptedDetector()) for index in range(64)]
    checks: dict[str, list[int]] = {pipeline.camera_id: [] for pipeline in pipelines}
    for second in range(30):
        for number, pipeline in enumerate(pipelines):
            pipeline.process(scene(noise=6, seed=second * CAMERAS + number), now=at(second))
            decision = pipeline.last_decision
            assert decision is not None and decision.reason in ("first", "still", "periodic")
            if decision.reason == "periodic":
                checks[pipeline.camera_id].append(second)
    per_second = Counter(second for seconds in checks.values() for second in seconds)
    assert max(per_second.values()) <= 16, sorted(per_second.items())
    for camera_id, seconds in checks.items():
        steps = [later - earlier for earlier, later in zip([0, *seconds], seconds, strict=False)]
        assert len(seconds) >= 2 and max(steps) <= FULL_CHECK_S, (camera_id, seconds)
