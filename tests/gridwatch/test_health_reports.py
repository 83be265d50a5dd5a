"""What a worker tells the API about its cameras' health, and when."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contract.health import HealthReport
from detectors.pipeline import PipelineStats
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.capture import health_report
from gridwatch.worker.runner import Worker
from ingest import CameraHealth, CameraStatus
from tests.ingest.workers import NullDetector

LOST_AT = datetime(2026, 3, 2, 8, 0, 0, 250000, tzinfo=UTC)


def camera_health(status: CameraStatus, **fields: Any) -> CameraHealth:
    values: dict[str, Any] = {
        "camera_id": "gate",
        "kind": "rtsp",
        "status": status,
        "reason": "",
        "detect_fps": 2.0,
        "input_fps": 10.0,
        "output_fps": 2.0,
        "last_frame_at": LOST_AT,
        "last_frame_age_s": 0.1,
        "resolution": (768, 576),
        "codec": "h264",
        "transport": "tcp",
        "reconnects": 0,
        "frames_received": 100,
        "frames_delivered": 20,
        "frames_dropped": 80,
        "last_error": "",
    }
    return CameraHealth(**(values | fields))


OUT = {"last_error": "connection refused", "offline_since": LOST_AT}


@pytest.mark.parametrize(
    ("health", "error", "offline_since"),
    [
        (camera_health(CameraStatus.online), None, None),
        (
            camera_health(CameraStatus.offline, reason="connection refused", **OUT),
            "connection refused",
            LOST_AT.isoformat(),
        ),
        (
            camera_health(CameraStatus.offline, reason="reconnected, no frame yet", **OUT),
            "reconnected, no frame yet",
            LOST_AT.isoformat(),
        ),
        (
            camera_health(CameraStatus.degraded, reason="newest frame is 3.0 s old"),
            "newest frame is 3.0 s old",
            None,
        ),
    ],
    ids=["online", "offline", "reconnected-no-frame", "degraded"],
)
def test_a_report_says_since_when_and_why_a_camera_is_out_and_nothing_once_it_is_back(
    health: CameraHealth, error: str | None, offline_since: str | None
) -> None:
    report = health_report(health)
    HealthReport.model_validate(report)  # what the API takes
    assert (report["error"], report["offline_since"]) == (error, offline_since)


class FakeReader:
    def __init__(self, health: CameraHealth):
        self.current = health

    def health(self) -> CameraHealth:
        return self.current


class RecordingReporter:
    """Takes reports as the API would, or answers none while `down`."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, str, dict[str, Any]]] = []
        self.down = False
        self.attempts_while_down = 0

    def report(self, reports: dict[str, dict[str, Any]]) -> list[str]:
        if self.down:
            self.attempts_while_down += 1
            return []
        now = time.monotonic()
        self.reports += [(now, camera_id, body) for camera_id, body in reports.items()]
        return list(reports)

    def statuses(self) -> list[str]:
        return [body["status"] for _, _, body in self.reports]


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_status_change_is_reported_at_once_and_the_rest_each_round(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    worker = Worker(
        [], CameraAssembly(NullDetector()), outbox, sender=None,
        health_reporter=reporter,  # type: ignore[arg-type]
        health_interval_s=2.0, health_check_s=0.05,
    )  # fmt: skip
    gate = FakeReader(camera_health(CameraStatus.offline, reason="not connected"))
    worker.watched["gate"] = SimpleNamespace(  # type: ignore[assignment]
        reader=gate, pipeline=SimpleNamespace(stats=PipelineStats())
    )
    thread = threading.Thread(target=worker._report_health, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        assert reporter.reports == []  # not tried yet: nothing to say
        gate.current = camera_health(CameraStatus.online)
        assert wait_for(lambda: reporter.statuses() == ["online"], 1)
        time.sleep(0.3)
        assert reporter.statuses() == ["online"]  # unchanged: it waits for the round

        # The API cannot be reached: the change is tried once, then with the next round.
        reporter.down = True
        gate.current = camera_health(
            CameraStatus.offline, reason="stream lost", last_error="stream lost",
            offline_since=LOST_AT,
        )  # fmt: skip
        assert wait_for(lambda: reporter.attempts_while_down == 1, 1)
        time.sleep(0.3)
        reporter.down = False
        assert wait_for(lambda: reporter.statuses() == ["online", "offline"], 3)
        assert reporter.attempts_while_down == 1
        assert reporter.reports[-1][2]["offline_since"] == LOST_AT.isoformat()

        changed = time.monotonic()
        gate.current = replace(camera_health(CameraStatus.online), reconnects=1)
        assert wait_for(lambda: reporter.statuses()[-1] == "online", 1)
        assert reporter.reports[-1][0] - changed < 1.0
        assert reporter.reports[-1][2]["error"] is None
    finally:
        worker.stop.set()
        thread.join(timeout=5)
        outbox.close()
