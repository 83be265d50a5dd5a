"""Eight RTSP cameras through the worker at once, one of them flapping: the others keep their
detection rate, and the flapping one comes back each time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import CameraStatus
from tests.ingest.peers import RtspServer
from tests.ingest.workers import RunningWorker, camera

# Measures frame rates of several cameras: runs in the suite's serial part, alone on the CPU.
pytestmark = pytest.mark.timing

STEADY = [f"cam{n}" for n in range(1, 8)]
DETECT_FPS = 5


@pytest.fixture
def steady_server(h264_clip: Path, tmp_path: Path) -> Iterator[RtspServer]:
    with RtspServer(h264_clip, mounts=tuple(STEADY), log_path=tmp_path / "steady.log") as server:
        yield server


class Flapper(threading.Thread):
    """Kills the server every `up_s` seconds and brings it back after `down_s`."""

    def __init__(self, server: RtspServer, up_s: float = 1.5, down_s: float = 0.7):
        super().__init__(daemon=True)
        self.server = server
        self.up_s, self.down_s = up_s, down_s
        self.stop = threading.Event()
        self.cycles = 0

    def run(self) -> None:
        while not self.stop.wait(self.up_s):
            self.server.kill()
            self.cycles += 1
            if self.stop.wait(self.down_s):
                break
            self.server.start()


def test_seven_steady_cameras_keep_their_rate_while_one_flaps(
    steady_server: RtspServer, h264_clip: Path, tmp_path: Path
) -> None:
    flapping = RtspServer(h264_clip, log_path=tmp_path / "flapping.log").start()
    cameras = [camera(name, steady_server.url(name), fps=DETECT_FPS) for name in STEADY]
    cameras.append(camera("flapping", flapping.url(), fps=DETECT_FPS, read_timeout_s=2))
    flapper = Flapper(flapping)
    try:
        with RunningWorker(cameras, tmp_path) as running:
            time.sleep(1.5)  # every camera connected and settled
            flapper.start()
            before, started = running.analysed(), time.monotonic()
            time.sleep(5.0)
            after, elapsed = running.analysed(), time.monotonic() - started
            health = {h.camera_id: h for h in running.worker.health()}
            assert running.thread.is_alive()
        assert running.error is None
    finally:
        flapper.stop.set()
        flapper.join(timeout=10)
        flapping.stop()

    rates = {name: (after[name] - before[name]) / elapsed for name in STEADY}
    slow = {name: round(rate, 2) for name, rate in rates.items() if rate < 0.9 * DETECT_FPS}
    assert not slow, f"below 90% of {DETECT_FPS} fps: {slow}"
    for name in STEADY:
        assert health[name].status is CameraStatus.online, health[name]
        assert health[name].output_fps is not None
        assert health[name].output_fps >= 0.9 * DETECT_FPS
        assert health[name].reconnects == 0
    assert flapper.cycles >= 2
    assert health["flapping"].reconnects >= 1
    assert after["flapping"] > before["flapping"]  # it delivered between its outages
