"""A real RTSP camera dies and comes back: the worker recovers by itself, its health reaches the
API, one video-loss event is raised for the outage and closed when the picture returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from api.settings import Settings
from gridwatch.feed import HealthReporter
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.ingest.peers import RtspServer
from tests.ingest.workers import NullDetector, camera


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_an_outage_raises_one_video_loss_event_that_closes_on_recovery(
    h264_clip: Path, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    server = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'api.db'}", video_loss_grace_s=1.5)
    ).start()
    rtsp = RtspServer(h264_clip, mounts=("cam",), log_path=tmp_path / "rtsp.log").start()
    admin = server.admin_headers()
    config = camera("gate-rtsp", rtsp.url("cam"), fps=2, read_timeout_s=1.0, max_backoff_s=1.0)
    registration = {
        **config.model_dump(mode="json", exclude={"organisation"}),
        "organisation_id": "no1-primary-school",
    }
    assert (
        httpx.post(f"{server.url}/api/v1/cameras", json=registration, headers=admin).status_code
        == 201
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    worker = Worker(
        [config], CameraAssembly(NullDetector()), outbox, sender=None,
        health_reporter=HealthReporter(server.url, WORKER_TOKEN, worker_name="edge"),
        health_interval_s=0.3,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()

    def status() -> str:
        return str(
            httpx.get(f"{server.url}/api/v1/cameras/gate-rtsp/health", headers=admin).json()[
                "status"
            ]
        )

    def video_loss() -> list[dict]:
        params = {"category": "device_fault", "camera_id": "gate-rtsp"}
        return list(
            httpx.get(f"{server.url}/api/v1/events", params=params, headers=admin).json()["items"]
        )

    try:
        assert wait_for(lambda: status() == "online", 20)
        rtsp.kill()
        assert wait_for(lambda: status() == "offline", 15)
        assert wait_for(lambda: len(video_loss()) == 1, 15)
        time.sleep(1.0)
        rtsp.start()  # the same port: the camera is back
        assert wait_for(lambda: status() == "online", 30)
        assert wait_for(lambda: video_loss()[0]["status"] == "closed", 10)
        (event,) = video_loss()
        detail = httpx.get(f"{server.url}/api/v1/events/{event['id']}", headers=admin).json()
        assert [step["action"] for step in detail["history"]] == ["report", "recover"]
        assert worker.watched["gate-rtsp"].reader.health().reconnects >= 1
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        outbox.close()
        rtsp.stop()
        server.stop()
