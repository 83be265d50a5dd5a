"""A real worker watching a real MJPEG camera that switches from 4:3 to 16:9 keeps analysing
every frame with its tamper rule, and the change (and any rule's failures) reaches the camera's
health in the API and its /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from contract.camera import CameraConfig
from gridwatch.feed import HealthReporter
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.api.helpers import WORKER
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.gridwatch.test_shared_cameras import wait_for
from tests.ingest.peers import HttpCamera, jpeg_frames
from tests.ingest.workers import NullDetector

CAMERA_ID = "school-yard-mjpeg"


def sixteen_by_nine(jpeg: bytes) -> bytes:
    """The same view after the camera was re-configured to 16:9: 768x576 becomes 768x432."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image[72:504]))
    assert ok
    return encoded.tobytes()


@pytest.fixture
def server(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'api.db'}", metrics_public=True)
    ).start()
    yield live
    live.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_a_camera_switching_to_16_9_keeps_its_rules_and_says_so_in_health(
    server: LiveServer, demo_clip: Path, tmp_path: Path
) -> None:
    frames = jpeg_frames(demo_clip, count=20)
    camera = HttpCamera(frames, fps=10).start()
    registration = {
        "id": CAMERA_ID, "name": "Yard (MJPEG)", "organisation_id": "no1-primary-school",
        "source": camera.url("/mjpeg"), "location": {"lat": 30.256, "lon": 120.121},
        "detect": {"fps": 5},
        "zones": [{"name": "yard", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        "rules": [{"kind": "tamper", "hold_s": 2}, {"kind": "intrusion", "zone": "yard"}],
    }  # fmt: skip
    admin = server.admin_headers()
    answer = httpx.post(f"{server.url}/api/v1/cameras", json=registration, headers=admin)
    assert answer.status_code == 201, answer.text
    workers_view = httpx.get(f"{server.url}/api/v1/worker/cameras", headers=WORKER)
    assert workers_view.status_code == 200, workers_view.text
    (served,) = [item for item in workers_view.json()["cameras"] if item["id"] == CAMERA_ID]
    watched_config = CameraConfig.model_validate(served)

    worker = Worker(
        [watched_config], CameraAssembly(NullDetector()), Outbox(tmp_path / "outbox.sqlite"),
        sender=None, health_reporter=HealthReporter(server.url, WORKER_TOKEN, worker_name="edge"),
        health_interval_s=0.5,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: CAMERA_ID in worker.watched)
        watched = worker.watched[CAMERA_ID]
        assert wait_for(lambda: watched.reader.stats.frames_analysed >= 8)
        camera.frames = [sixteen_by_nine(jpeg) for jpeg in frames]
        assert wait_for(lambda: watched.pipeline.stats.size_changes == 1)
        analysed = watched.reader.stats.frames_analysed
        assert wait_for(lambda: watched.reader.stats.frames_analysed >= analysed + 10)

        stats = watched.pipeline.stats
        assert stats.frame_size == (768, 432) and stats.size_changes == 1
        assert not stats.rule_failures  # the tamper rule took the new size in its stride

        def reported() -> dict:
            return httpx.get(
                f"{server.url}/api/v1/cameras/{CAMERA_ID}/health", headers=admin
            ).json()["health"]

        assert wait_for(lambda: reported().get("size_changes") == 1)
        health = reported()
        assert health["last_size_change"] == "768x576 -> 768x432"
        assert health["resolution"] == [768, 432]
        assert health["rule_failures"] == {}
        scraped = httpx.get(f"{server.url}/metrics").text
        assert metric(scraped, "gridwatch_camera_size_changes", camera=CAMERA_ID) == 1
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        camera.stop()
    assert worker.outbox.pending_incidents() == 0  # no tamper alarm for a new picture size
    worker.outbox.close()
