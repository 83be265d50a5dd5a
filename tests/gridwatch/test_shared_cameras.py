"""Workers against the real API: cameras come from leases, changes arrive without a restart,
a dead worker's cameras are taken over, health reaches the API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from gridwatch.feed import ApiLeaseFeed, HealthReporter
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.ingest.workers import NullDetector

ALL = {"hospital-east-entrance", "public-square-north", "school-no1-gate", "urban-works-west"}


class EdgeWorker:
    """A worker with a do-nothing detector, its cameras leased from the API, in a thread."""

    def __init__(self, name: str, server: LiveServer, folder: Path, capacity: int = 4):
        self.feed = ApiLeaseFeed(server.url, WORKER_TOKEN, worker_name=name, capacity=capacity)
        self.outbox = Outbox(folder / f"{name}.sqlite")
        self.worker = Worker(
            [], CameraAssembly(NullDetector()), self.outbox, sender=None,
            feed=self.feed, feed_interval_s=0.5,
            health_reporter=HealthReporter(server.url, WORKER_TOKEN, worker_name=name),
            health_interval_s=0.5,
        )  # fmt: skip
        self.thread = threading.Thread(target=self.worker.run, kwargs={"drain_s": 0}, daemon=True)

    def start(self) -> EdgeWorker:
        self.thread.start()
        return self

    def watching(self) -> set[str]:
        return {
            camera_id for camera_id, w in list(self.worker.watched.items()) if w.reader.is_alive()
        }

    def stop(self, *, crash: bool = False) -> None:
        if crash:
            # Dies without a word: its leases are not given back.
            self.feed.close = lambda: None  # type: ignore[method-assign]
        self.worker.stop.set()
        self.thread.join(timeout=20)
        self.outbox.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture
def server(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'shared.db'}", lease_s=2)).start()
    yield live
    live.stop()


def test_workers_share_cameras_and_take_over_a_dead_ones(
    server: LiveServer, tmp_path: Path
) -> None:
    first = EdgeWorker("edge-a", server, tmp_path).start()
    assert wait_for(lambda: first.watching() == ALL)
    second = EdgeWorker("edge-b", server, tmp_path).start()
    time.sleep(1.5)
    assert second.watching() == set()  # nothing is watched twice

    first.stop(crash=True)
    assert wait_for(lambda: second.watching() == ALL, timeout_s=10)  # within the 2 s lease
    # A clean stop gives the cameras back at once.
    second.stop()
    third = EdgeWorker("edge-c", server, tmp_path).start()
    try:
        assert wait_for(lambda: third.watching() == ALL, timeout_s=5)
    finally:
        third.stop()


def test_a_camera_changed_in_the_api_is_picked_up_without_a_restart(
    server: LiveServer, tmp_path: Path
) -> None:
    edge = EdgeWorker("edge-a", server, tmp_path).start()
    admin = server.admin_headers()
    try:
        assert wait_for(lambda: edge.watching() == ALL)
        before = edge.worker.watched["urban-works-west"].reader
        response = httpx.patch(
            f"{server.url}/api/v1/cameras/urban-works-west",
            json={"detect": {"fps": 1}},
            headers=admin,
        )
        assert response.status_code == 200, response.text

        def restarted() -> bool:
            watched = edge.worker.watched.get("urban-works-west")
            return watched is not None and watched.reader is not before

        assert wait_for(restarted)
        assert edge.worker.watched["urban-works-west"].config.detect.fps == 1
        disabled = httpx.patch(
            f"{server.url}/api/v1/cameras/school-no1-gate", json={"enabled": False}, headers=admin
        )
        assert disabled.status_code == 200
        assert wait_for(lambda: "school-no1-gate" not in edge.watching())

        def online() -> bool:
            camera = httpx.get(
                f"{server.url}/api/v1/cameras/public-square-north/health", headers=admin
            ).json()
            return camera["status"] == "online" and camera["health"].get("resolution") == [768, 576]

        assert wait_for(online)
    finally:
        edge.stop()
