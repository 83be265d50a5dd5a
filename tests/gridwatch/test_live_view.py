"""A real worker against the real API sends a camera's live pictures only while someone watches."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

import api.liveview
from api.settings import Settings
from contract.live_view import CAPTURED_AT_HEADER
from gridwatch.feed import ApiLeaseFeed, HealthReporter
from gridwatch.live_view import LivePictureSender
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.gridwatch.test_shared_cameras import wait_for
from tests.ingest.workers import NullDetector

# Measures how fresh the live pictures are: runs in the suite's serial part, alone on the CPU.
pytestmark = pytest.mark.timing

WATCHED = "school-no1-gate"


@pytest.fixture
def server(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.setattr(api.liveview, "VIEW_S", 3.0)  # a view lapses 3 s after its last renewal
    live = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'live.db'}")).start()
    yield live
    live.stop()


def test_the_worker_sends_live_pictures_only_while_someone_watches(
    server: LiveServer, tmp_path: Path
) -> None:
    pictures: Counter[str] = Counter()

    def count(request: httpx.Request) -> None:
        if request.method == "PUT" and request.url.path.endswith("/live.jpg"):
            pictures[request.url.path.split("/")[-2]] += 1

    sender = LivePictureSender(
        server.url, WORKER_TOKEN, worker_name="edge",
        client=httpx.Client(timeout=5, event_hooks={"request": [count]}),
    )  # fmt: skip
    worker = Worker(
        [], CameraAssembly(NullDetector()), Outbox(tmp_path / "outbox.sqlite"), sender=None,
        feed=ApiLeaseFeed(server.url, WORKER_TOKEN, worker_name="edge", capacity=4),
        feed_interval_s=0.5,
        health_reporter=HealthReporter(
            server.url, WORKER_TOKEN, worker_name="edge", live_view=sender.demand
        ),
        health_interval_s=0.5, live_pictures=sender,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    admin = server.admin_headers()
    picture_url = f"{server.url}/api/v1/cameras/{WATCHED}/live.jpg"
    try:
        assert wait_for(lambda: WATCHED in worker.watched and worker.health_reporter.sent > 4)  # type: ignore[union-attr]
        assert sum(pictures.values()) == 0  # nobody watches yet

        def watch() -> None:
            grant = httpx.post(f"{server.url}/api/v1/cameras/{WATCHED}/live-view", headers=admin)
            assert grant.status_code == 200, grant.text

        def fresh_picture() -> bool:
            watch()
            answer = httpx.get(picture_url, headers=admin)
            if answer.status_code != 200:
                return False
            taken = datetime.fromisoformat(answer.headers[CAPTURED_AT_HEADER])
            return (
                answer.content[:3] == b"\xff\xd8\xff"
                and (datetime.now(UTC) - taken).total_seconds() < 2
            )

        assert wait_for(fresh_picture, timeout_s=15)
        start = pictures[WATCHED]
        for _ in range(4):  # the console renews every few seconds while the view is open
            watch()
            time.sleep(1)
        sent = pictures[WATCHED] - start
        assert 2 <= sent <= 6, sent  # about one a second
        assert set(pictures) == {WATCHED}  # no other camera is sent

        # A camera's privacy masks are black in its live picture as in all evidence.
        masked = "hospital-east-entrance"  # ward windows: x 0.40-0.80, y 0-0.16

        def masked_picture() -> np.ndarray | None:
            httpx.post(f"{server.url}/api/v1/cameras/{masked}/live-view", headers=admin)
            answer = httpx.get(f"{server.url}/api/v1/cameras/{masked}/live.jpg", headers=admin)
            if answer.status_code != 200:
                return None
            return cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_GRAYSCALE)

        assert wait_for(lambda: masked_picture() is not None, timeout_s=15)
        picture = masked_picture()
        assert picture is not None
        height, width = picture.shape
        windows = picture[: int(0.16 * height) - 2, int(0.40 * width) + 2 : int(0.80 * width) - 2]
        assert windows.mean() < 8 and picture.mean() > 40

        # The viewers leave: within the view's time the worker stops sending.
        time.sleep(3 + 1.5)
        stopped = sum(pictures.values())
        time.sleep(2.5)
        assert sum(pictures.values()) == stopped
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        worker.close()
