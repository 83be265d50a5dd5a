"""A real RTSP camera dies and comes back: the worker recovers by itself, its health reaches the
API, one video-loss event is raised for the outage and closed when the picture returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from gridwatch.feed import HealthReporter
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.ingest.peers import RtspServer
from tests.ingest.workers import NullDetector, camera

# Measures when an outage and a recovery are reported: runs in the suite's serial part, alone on
# the CPU.
pytestmark = pytest.mark.timing


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@dataclass
class WatchedRtspCamera:
    """A real RTSP camera, registered in a real API, watched by a real worker reporting health."""

    api: LiveServer
    rtsp: RtspServer
    worker: Worker
    admin: dict[str, str]
    camera_id: str = "gate-rtsp"

    def health(self) -> dict[str, Any]:
        url = f"{self.api.url}/api/v1/cameras/{self.camera_id}/health"
        return dict(httpx.get(url, headers=self.admin).json())

    def status(self) -> str:
        return str(self.health()["status"])

    def video_loss(self) -> list[dict[str, Any]]:
        params = {"category": "device_fault", "camera_id": self.camera_id}
        page = httpx.get(f"{self.api.url}/api/v1/events", params=params, headers=self.admin)
        return list(page.json()["items"])

    def history(self, event: dict[str, Any]) -> list[str]:
        detail = httpx.get(f"{self.api.url}/api/v1/events/{event['id']}", headers=self.admin)
        return [step["action"] for step in detail.json()["history"]]


@contextmanager
def watched_rtsp_camera(
    clip: Path, settings: Settings, folder: Path, *, health_interval_s: float
) -> Iterator[WatchedRtspCamera]:
    api = LiveServer(settings).start()
    rtsp = RtspServer(clip, mounts=("cam",), log_path=folder / "rtsp.log").start()
    admin = api.admin_headers()
    config = camera("gate-rtsp", rtsp.url("cam"), fps=2, read_timeout_s=1.0, max_backoff_s=1.0)
    registration = {
        **config.model_dump(mode="json", exclude={"organisation"}),
        "organisation_id": "no1-primary-school",
    }
    assert httpx.post(f"{api.url}/api/v1/cameras", json=registration, headers=admin).is_success
    outbox = Outbox(folder / "outbox.sqlite")
    worker = Worker(
        [config], CameraAssembly(NullDetector()), outbox, sender=None,
        health_reporter=HealthReporter(api.url, WORKER_TOKEN, worker_name="edge"),
        health_interval_s=health_interval_s,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    try:
        yield WatchedRtspCamera(api, rtsp, worker, admin)
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        outbox.close()
        rtsp.stop()
        api.stop()


def test_an_outage_raises_one_video_loss_event_that_closes_on_recovery(
    h264_clip: Path, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(f"sqlite:///{tmp_path / 'api.db'}", video_loss_grace_s=1.5)
    with watched_rtsp_camera(h264_clip, settings, tmp_path, health_interval_s=0.3) as gate:
        assert wait_for(lambda: gate.status() == "online", 20)
        gate.rtsp.kill()
        assert wait_for(lambda: gate.status() == "offline", 15)
        assert wait_for(lambda: len(gate.video_loss()) == 1, 15)
        time.sleep(1.0)
        gate.rtsp.start()  # the same port: the camera is back
        assert wait_for(lambda: gate.status() == "online", 30)
        assert wait_for(lambda: gate.video_loss()[0]["status"] == "closed", 10)
        (event,) = gate.video_loss()
        assert gate.history(event) == ["report", "recover"]
        assert gate.worker.watched["gate-rtsp"].reader.health().reconnects >= 1


def test_loss_and_recovery_reach_the_api_at_once_dated_from_the_picture(
    h264_clip: Path, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """With the production rounds of 10 s between health reports, a camera's loss and its
    recovery still reach the API within seconds: the outage is dated from the last frame before
    the loss, not from the report, and once the picture is back no error is left."""
    settings = settings_factory(f"sqlite:///{tmp_path / 'api.db'}", video_loss_grace_s=1.5)
    with watched_rtsp_camera(h264_clip, settings, tmp_path, health_interval_s=10) as gate:
        assert wait_for(lambda: gate.status() == "online", 20)
        time.sleep(0.5)  # frames keep coming
        lost = datetime.now(UTC)
        gate.rtsp.kill()
        killed = datetime.now(UTC)  # the server is gone; frames it sent may still be read
        assert wait_for(lambda: gate.status() == "offline", 4)  # not at the next round
        out = gate.health()
        since = datetime.fromisoformat(out["status_since"])
        assert lost - timedelta(seconds=1) <= since <= killed + timedelta(seconds=0.2), (
            lost, killed, since,
        )  # fmt: skip
        assert datetime.fromisoformat(out["health"]["offline_since"]) == since
        assert out["health"]["error"]

        # The round after the grace opens the event, dated from the loss.
        assert wait_for(lambda: len(gate.video_loss()) == 1, 15)
        (event,) = gate.video_loss()
        assert datetime.fromisoformat(event["occurred_at"]) == since

        restarted = time.monotonic()
        gate.rtsp.start()
        assert wait_for(lambda: gate.status() == "online", 8)  # the next round is further off
        back = gate.health()
        recovered_s = time.monotonic() - restarted
        assert back["health"]["error"] is None and back["health"]["offline_since"] is None
        first_frame = datetime.fromisoformat(back["last_frame_at"])
        reported = datetime.fromisoformat(back["status_since"])
        assert reported - first_frame <= timedelta(seconds=5), (first_frame, reported)
        assert recovered_s < 8
        assert wait_for(lambda: gate.video_loss()[0]["status"] == "closed", 5)
        assert gate.history(event) == ["report", "recover"]
