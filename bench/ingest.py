"""Camera ingest figures on this machine, against real local peers (the test suite's RTSP
server serving the demo clip as H.264 768x576 at 10 fps, and its HTTP camera):

- time to first frame per source kind (RTSP with our FFmpeg options and with OpenCV's
  defaults, HTTP snapshot, MJPEG, recording);
- frame age at the consumer for an RTSP camera (median, p95);
- recovery time: from the RTSP server being back to the first frame handed out;
- CPU per camera decoding 768x576 H.264 at 10 fps (process CPU time / wall time).

Usage: python bench/ingest.py [--runs 5] [--seconds 10]
Needs the system packages of scripts/system-deps.sh.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.camera import default_data_dir  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from ingest import CameraStatus, StreamOptions, open_source  # noqa: E402
from ingest.backoff import Backoff  # noqa: E402
from ingest.rtsp import RtspSource  # noqa: E402
from tests.ingest.peers import HttpCamera, RtspServer, encoded_clip, jpeg_frames  # noqa: E402


def first_frame_s(opener: Callable[[], object]) -> float:
    started = time.monotonic()
    source = opener()
    frame = source.read()  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started
    source.close()  # type: ignore[attr-defined]
    assert frame is not None
    return elapsed


def summary(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    ordered = sorted(v * scale for v in values)
    median = statistics.median(ordered)
    return f"median {median:.3f} {unit}, min {ordered[0]:.3f}, max {ordered[-1]:.3f}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_to_first_frame(server: RtspServer, camera: HttpCamera, clip: Path, runs: int) -> None:
    print(f"\ntime to first frame ({runs} runs each)")
    kinds: list[tuple[str, Callable[[], object]]] = [
        ("rtsp, tuned (tcp)", lambda: RtspSource("bench", server.url(), detect_fps=10)),
        (
            "rtsp, tuned (udp)",
            lambda: RtspSource(
                "bench", server.url(), detect_fps=10, options=StreamOptions(transport="udp")
            ),
        ),
        (
            "rtsp, OpenCV defaults",
            lambda: RtspSource("bench", server.url(), detect_fps=10, tuned=False),
        ),
        ("http snapshot", lambda: open_source("bench", camera.url("/snapshot.jpg"), detect_fps=10)),
        ("mjpeg", lambda: open_source("bench", camera.url("/mjpeg"), detect_fps=10)),
        ("file", lambda: open_source("bench", f"file://{clip}", detect_fps=10, realtime=False)),
    ]
    for name, opener in kinds:
        timings = [first_frame_s(opener) for _ in range(runs)]
        print(f"  {name:<22} {summary(timings)}")


def frame_age(server: RtspServer, seconds: float) -> None:
    for detect_fps in (2, 5):
        source = RtspSource("bench", server.url("cam2"), detect_fps=detect_fps)
        ages = []
        source.read()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = source.read()
            assert frame is not None
            ages.append(frame.age_s())
        health = source.health()
        source.close()
        print(
            f"  detect {detect_fps} fps: {len(ages)} frames, age median"
            f" {statistics.median(ages) * 1000:.0f} ms, p95 {percentile(ages, 0.95) * 1000:.0f} ms;"
            f" dropped {health.frames_dropped} of {health.frames_received} received"
        )


def recovery(clip: Path, log: Path, downtimes: list[float]) -> None:
    for down_s in downtimes:
        server = RtspServer(clip, log_path=log).start()
        source = RtspSource(
            "bench",
            server.url(),
            detect_fps=5,
            options=StreamOptions(max_backoff_s=30),
            backoff=Backoff(initial_s=0.5, cap_s=30),
        )
        frames: list[float] = []

        def consume(source: RtspSource = source, frames: list[float] = frames) -> None:
            while source.read() is not None:
                frames.append(time.monotonic())

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        time.sleep(1)
        server.kill()
        while source.health().status is not CameraStatus.offline:
            time.sleep(0.01)
        time.sleep(down_s)
        server.start()
        back_at = time.monotonic()
        while not frames or frames[-1] < back_at:
            time.sleep(0.01)
        recovered = frames[-1] - back_at
        reconnects = source.health().reconnects
        source.close()
        server.stop()
        print(
            f"  down {down_s:.0f} s: first frame {recovered:.2f} s after the server was back"
            f" (reconnects {reconnects}; backoff 0.5 s doubling, cap 30 s, jitter -20%)"
        )


def cpu_per_camera(server: RtspServer, seconds: float) -> None:
    for cameras, detect_fps in ((1, 10), (4, 10), (4, 2)):
        sources = [
            RtspSource("bench", server.url("cam" if n % 2 else "cam2"), detect_fps=detect_fps)
            for n in range(cameras)
        ]
        stop = threading.Event()

        def consume(source: RtspSource, stop: threading.Event = stop) -> None:
            while not stop.is_set() and source.read() is not None:
                pass

        threads = [threading.Thread(target=consume, args=(s,), daemon=True) for s in sources]
        for thread in threads:
            thread.start()
        time.sleep(1)  # past the connection burst
        cpu_before, wall_before = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        stop.set()
        fps = statistics.mean(s.health().input_fps or 0 for s in sources)
        for source in sources:
            source.close()
        print(
            f"  {cameras} camera(s), detect {detect_fps} fps: {100 * cpu / wall / cameras:.1f}%"
            f" of one core per camera (decoding {fps:.1f} fps each)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(describe())
    demo = ensure_all(default_data_dir())["vtest.avi"]
    clip = encoded_clip(demo, default_data_dir())
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-") as folder:
        log = Path(folder) / "rtsp.log"
        server = RtspServer(clip, mounts=("cam", "cam2"), log_path=log).start()
        camera = HttpCamera(jpeg_frames(demo)).start()
        try:
            time_to_first_frame(server, camera, demo, args.runs)
            print("\nframe age at the consumer, RTSP 10 fps camera (receipt to hand-out)")
            frame_age(server, args.seconds)
            print("\nrecovery after the RTSP server returns")
            recovery(clip, log, [2, 5])
            print("\nCPU per camera, 768x576 H.264 at 10 fps (process CPU time / wall time)")
            cpu_per_camera(server, args.seconds)
        finally:
            camera.stop()
            server.stop()


if __name__ == "__main__":
    main()
