"""Split brain: a worker cut off from the API (the link, not the API) stops analysing its
cameras once their lease has run out on its own clock, before another worker takes them over;
what it recorded until then reaches the API when the link is back, and no moment of a camera is
reported by two workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import supervision as sv
from sqlalchemy import create_engine, select

from api.models import CameraTenure, Incident
from api.settings import Settings
from contract.coco import COCO_CLASS_NAMES
from gridwatch.feed import ApiLeaseFeed, HealthReporter
from gridwatch.outbox import IncidentSender, Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.gridwatch.relay import TcpRelay

# Times lease lapses and takeovers: runs in the suite's serial part, alone on the CPU.
pytestmark = pytest.mark.timing

LEASE_S = 4.0

# One camera over the demo recording; a person who steps into the yard for three frames and out
# for three is a new intrusion each time, so a worker watching it reports incidents steadily.
CAMERA = """
id: gate-cam
name: School gate
organisation: {id: no1-primary-school, name: No.1 Primary School, kind: education}
source: file://${GRIDWATCH_DATA_DIR}/vtest.avi
location: {lat: 30.2550, lon: 120.1200}
detect: {fps: 4}
zones:
  - name: yard
    polygon: [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
rules:
  - kind: intrusion
    zone: yard
    classes: [person]
    min_frames: 1
    cooldown_s: 0
    skip_stationary: false
    grouping: {window_s: 0}
"""


class BlinkingPerson:
    """A person who walks into the yard for three frames and out of it for three: a steady
    stream of incidents, with no model to run on a loaded machine."""

    name = "blink"
    version = "0"
    class_names: ClassVar[dict[int, str]] = dict(enumerate(COCO_CLASS_NAMES))

    def __init__(self) -> None:
        self.calls = 0

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        self.calls += 1
        height, width = image.shape[:2]
        left = 0.1 if self.calls % 6 < 3 else 0.7  # in the yard (the left half), then out
        box = [width * left, height * 0.4, width * (left + 0.15), height * 0.9]
        return sv.Detections(
            xyxy=np.array([box], dtype=float),
            confidence=np.array([0.9]),
            class_id=np.array([0]),
            data={"class_name": np.array(["person"])},
        )


class LeasingWorker:
    """A real worker whose leases, health and incidents all go through `api_url`."""

    def __init__(self, name: str, api_url: str, folder: Path):
        self.name = name
        self.feed = ApiLeaseFeed(api_url, WORKER_TOKEN, worker_name=name, capacity=1)
        self.outbox = Outbox(folder / f"{name}.sqlite")
        self.sender = IncidentSender(
            self.outbox, api_url, WORKER_TOKEN, worker_name=name, timeout=2
        )
        self.sender.unavailable_backoff.cap_s = 1.0
        self.worker = Worker(
            [], CameraAssembly(BlinkingPerson()), self.outbox, sender=self.sender,
            feed=self.feed, feed_interval_s=0.5,
            health_reporter=HealthReporter(api_url, WORKER_TOKEN, worker_name=name),
            health_interval_s=1.0,
        )  # fmt: skip
        self.thread = threading.Thread(target=self.worker.run, kwargs={"drain_s": 5}, daemon=True)
        # When this worker analysed a frame of the camera (monotonic), sampled by a watcher.
        self.analysing: list[float] = []
        self._stop_watch = threading.Event()
        self._watch = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        last = 0
        while not self._stop_watch.wait(0.05):
            watched = self.worker.watched.get("gate-cam")
            analysed = 0 if watched is None else watched.reader.stats.frames_analysed
            if watched is not None and analysed != last:
                self.analysing.append(time.monotonic())
            last = analysed if watched is not None else 0

    def start(self) -> LeasingWorker:
        self.thread.start()
        self._watch.start()
        return self

    def stop(self) -> None:
        self._stop_watch.set()
        self.worker.stop.set()
        self.thread.join(timeout=30)
        self.worker.close()


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def server(
    settings_factory: Callable[..., Settings], postgres_server: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, str]]:
    from tests.conftest import _postgres_database

    folder = tmp_path / "cameras"
    folder.mkdir()
    (folder / "gate.yaml").write_text(CAMERA)
    databases = _postgres_database(postgres_server)
    url = next(databases)
    settings = settings_factory(url, lease_s=LEASE_S, camera_configs=folder)
    live = LiveServer(settings).start()
    yield live, url
    live.stop()
    next(databases, None)


def reported_by(database_url: str, worker: str) -> list[datetime]:
    """When the incidents of gate-cam that `worker` reported were detected."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Incident.reported_by, Incident.detected_at).where(
                    Incident.camera_id == "gate-cam"
                )
            ).all()
    finally:
        engine.dispose()
    return [at for by, at in rows if by.endswith(worker)]


def test_a_cut_off_worker_stops_before_another_takes_its_camera_and_loses_nothing(
    server: tuple[LiveServer, str], tmp_path: Path
) -> None:
    live, database_url = server
    relay = TcpRelay(live.port)
    cut_off = LeasingWorker("edge-cut", relay.url, tmp_path).start()
    spare = None
    try:
        assert wait_for(lambda: cut_off.sender.delivered_count >= 3, 30)
        spare = LeasingWorker("edge-spare", live.url, tmp_path).start()
        time.sleep(1.5)
        assert "gate-cam" not in spare.worker.watched  # held: nobody watches it twice

        relay.cut()
        cut_at, cut_wall = time.monotonic(), datetime.now(UTC)
        assert wait_for(lambda: bool(spare.analysing), LEASE_S * 3)
        taken_at = spare.analysing[0]
        stopped_at = cut_off.analysing[-1]
        # The cut-off worker analysed nothing once its lease could have gone to another.
        assert stopped_at < taken_at, (stopped_at - cut_at, taken_at - cut_at)
        assert "gate-cam" not in cut_off.worker.watched
        assert taken_at - cut_at <= LEASE_S + 2.0  # the lease time plus a poll or so
        kept = cut_off.outbox.pending_incidents()
        assert kept >= 1  # recorded after the cut, before the lapse: waiting for the link

        relay.restore()
        assert wait_for(lambda: cut_off.outbox.pending_incidents() == 0, 20)
        assert cut_off.sender.dropped_count == 0  # nothing it recorded was refused: it stopped
        # Waited for where the checks below look, the database: the sender's count of delivered
        # incidents also counts those the API answered as already recorded.
        assert wait_for(lambda: len(reported_by(database_url, "edge-spare")) >= 3, 30)
        time.sleep(1.0)
        # Back in touch, it does not take the camera back: the spare holds it.
        assert "gate-cam" not in cut_off.worker.watched
    finally:
        cut_off.stop()
        if spare is not None:
            spare.stop()
        relay.close()

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            tenures = connection.execute(
                select(CameraTenure.epoch, CameraTenure.worker, CameraTenure.started_at)
                .where(CameraTenure.camera_id == "gate-cam")
                .order_by(CameraTenure.epoch)
            ).all()
    finally:
        engine.dispose()
    assert [(epoch, worker) for epoch, worker, _ in tenures] == [(1, "edge-cut"), (2, "edge-spare")]
    takeover = tenures[1][2]
    first, second = reported_by(database_url, "edge-cut"), reported_by(database_url, "edge-spare")
    assert len(first) >= 3 and len(second) >= 3
    # What it recorded during the cut, before its lease ran out, reached the API afterwards.
    assert any(at > cut_wall for at in first)
    # Every moment of the camera was reported by one worker: the first before the takeover.
    assert max(first) < takeover <= min(second)
