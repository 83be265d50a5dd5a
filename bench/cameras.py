"""How many cameras one worker sustains: the demo clip served over RTSP as N cameras, each at
1 detect fps, through the real worker and model; a camera counts as sustained when it is
analysed at 95% or more of its configured rate.

Also the speed-up over what a user would write by hand: one `YOLO(...).predict()` loop per
camera, each reading its own RTSP stream in its own thread.

Each count runs with the worker's detection threads as configured (one per core by default);
`--detect-threads auto,1` also runs the single-thread worker to compare.

Usage: python bench/cameras.py [--counts 4,8,12,16] [--seconds 30] [--fps 1]
                               [--detect-threads auto,1] [--no-plain]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.camera import CameraConfig, default_data_dir  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import Outbox  # noqa: E402
from gridwatch.worker.assemble import CameraAssembly, DetectorPool  # noqa: E402
from gridwatch.worker.runner import Worker  # noqa: E402
from gridwatch.worker.settings import usable_cores  # noqa: E402
from tests.ingest.peers import RtspServer, encoded_clip  # noqa: E402


def camera(index: int, url: str, fps: float, imgsz: int = 640) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": f"cam-{index:02d}",
            "name": f"Bench camera {index}",
            "organisation": {"id": "bench", "name": "Bench", "kind": "public"},
            "source": url,
            "location": {"lat": 30.25, "lon": 120.12},
            "detect": {"fps": fps, "imgsz": imgsz},
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "rules": [
                {"kind": "intrusion", "zone": "all", "classes": ["person"], "cooldown_s": 3600}
            ],
        }
    )


def run_worker(
    server: RtspServer,
    count: int,
    fps: float,
    seconds: float,
    folder: Path,
    imgsz: int = 640,
    detect_threads: int | None = None,
) -> list[float]:
    """Analysed frames per second of each camera, over the steady part of a run."""
    cameras = [camera(i, server.url(f"cam{i}"), fps, imgsz) for i in range(count)]
    outbox = Outbox(folder / f"outbox-{count}-{detect_threads}.sqlite")
    worker = Worker(
        cameras,
        CameraAssembly(DetectorPool(default_data_dir()), detect_threads=detect_threads),
        outbox,
        sender=None,
    )
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    time.sleep(min(8.0, seconds / 3))  # connect, load the model, warm up
    start = {r.camera.id: r.stats.frames_analysed for r in worker.readers}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    rates = [(r.stats.frames_analysed - start[r.camera.id]) / elapsed for r in worker.readers]
    worker.stop.set()
    thread.join(timeout=60)
    outbox.close()
    return rates


def plain_loops(server: RtspServer, count: int, seconds: float, weights: Path) -> float:
    """Frames per second over all cameras with one naive predict() loop per camera."""
    import cv2
    from ultralytics import YOLO

    frames = [0] * count
    stop = threading.Event()

    def loop(index: int) -> None:
        model = YOLO(str(weights))
        capture = cv2.VideoCapture(server.url(f"cam{index}"), cv2.CAP_FFMPEG)
        while not stop.is_set():
            ok, image = capture.read()
            if not ok:
                break
            model.predict(image, verbose=False, classes=[0])
            frames[index] += 1
        capture.release()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(min(8.0, seconds / 3))
    before = sum(frames)
    time.sleep(seconds)
    rate = (sum(frames) - before) / seconds
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="4,8,12,16")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--imgsz", type=int, default=640, help="Model input size in pixels.")
    parser.add_argument(
        "--detect-threads",
        default="auto",
        help="Comma-separated detection thread counts to compare; auto is one per core.",
    )
    parser.add_argument("--no-plain", action="store_true", help="Skip the plain-loop comparison.")
    arguments = parser.parse_args()
    thread_counts = [
        None if value == "auto" else int(value) for value in arguments.detect_threads.split(",")
    ]
    logging.basicConfig(level=logging.WARNING)
    counts = [int(c) for c in arguments.counts.split(",")]
    assets = ensure_all(default_data_dir())
    clip = encoded_clip(assets["vtest.avi"], default_data_dir())
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory(prefix="gridwatch-cameras-") as temporary:
        folder = Path(temporary)
        mounts = tuple(f"cam{i}" for i in range(max(counts)))
        with RtspServer(clip, mounts=mounts, log_path=folder / "rtsp.log") as server:
            for threads in thread_counts:
                shown = threads or f"{usable_cores()} (auto)"
                best = 0
                for count in counts:
                    rates = run_worker(
                        server, count, arguments.fps, arguments.seconds, folder,
                        arguments.imgsz, threads,
                    )  # fmt: skip
                    sustained = sum(rate >= 0.95 * arguments.fps for rate in rates)
                    print(
                        f"{count:2d} cameras at {arguments.fps:g} fps, {arguments.imgsz} px, "
                        f"{shown} detection threads: {sustained}/{count} sustained, "
                        f"rates min {min(rates):.2f} median {sorted(rates)[len(rates) // 2]:.2f} "
                        f"max {max(rates):.2f} fps, {sum(rates):.1f} frames/s in all",
                        flush=True,
                    )
                    if sustained == count:
                        best = count
                print(
                    f"largest sustained with {shown} detection threads: {best} cameras "
                    f"at {arguments.fps:g} detect fps each",
                    flush=True,
                )
            if arguments.no_plain:
                return
            few = min(4, max(counts))
            naive = plain_loops(server, few, arguments.seconds, assets["yolov8n.pt"])
            print(
                f"plain YOLO().predict() loops, {few} cameras: {naive:.1f} frames/s in all"
                " (every frame of each stream, no gate, no sampling)"
            )


if __name__ == "__main__":
    main()
