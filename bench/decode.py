"""What decoding costs per camera, every frame against key frames only (what a still scene
gets): CPU seconds per camera-second of stream, in this process (the RTSP server's apart).

Two streams, both H.264 768x576 at 10 fps with a key frame a second, served by the test suite's
RTSP server: the busy demo clip, and a still street with sensor noise (a person crossing once a
minute). `--cameras` cameras each; every camera hands out frames at 1 detect fps to a reader,
which takes them as detection would. The two ways take turns on the same connections, round
after round, so other load on a shared machine falls on both alike.

Usage: python bench/decode.py [--cameras 8] [--seconds 10] [--rounds 3]
Needs the system packages of scripts/system-deps.sh.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.camera import default_data_dir  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from ingest.rtsp import RtspSource  # noqa: E402
from tests.ingest.peers import RtspServer, encoded_clip, still_scene_clip  # noqa: E402


def process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(
    sources: list[RtspSource], server: psutil.Process, key_frames_only: bool, seconds: float
) -> tuple[float, float, float]:
    """(CPU seconds per camera-second here, pictures decoded per camera-second, the server's
    CPU seconds per second) with every source decoding as `key_frames_only` says."""
    for source in sources:
        source.decode_key_frames_only(key_frames_only)
    time.sleep(1.5)  # the next key frame: the new way is in force
    decoded = sum(source.frames_decoded for source in sources)
    served = server.cpu_times()
    cpu = process_cpu_s()
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu = process_cpu_s() - cpu
    decoded = sum(source.frames_decoded for source in sources) - decoded
    after = server.cpu_times()
    server_cpu = (after.user + after.system - served.user - served.system) / elapsed
    camera_seconds = len(sources) * elapsed
    return cpu / camera_seconds, decoded / camera_seconds, server_cpu


def take_frames(source: RtspSource, stop: threading.Event) -> None:
    """Take each frame handed out, as detection would (converted to pixels, then dropped)."""
    while not stop.is_set() and source.read() is not None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=8, help="Cameras per stream.")
    parser.add_argument("--seconds", type=float, default=10, help="Length of one measurement.")
    parser.add_argument("--rounds", type=int, default=3, help="Turns each way takes.")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = default_data_dir()
    assets = ensure_all(data)
    clips = {
        "busy demo clip": encoded_clip(assets["vtest.avi"], data),
        "still street": still_scene_clip(assets["vtest.avi"], data),
    }
    print(f"machine: {describe()}")
    print(f"{arguments.cameras} cameras per stream, H.264 768x576 at 10 fps, 1 s GOP, 1 detect fps")
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="gridwatch-decode-") as temporary:
        for name, clip in clips.items():
            mounts = tuple(f"cam{i}" for i in range(arguments.cameras))
            log_path = Path(temporary) / "rtsp.log"
            with RtspServer(clip, mounts=mounts, log_path=log_path, stagger_s=7) as server:
                assert server.process is not None
                serving = psutil.Process(server.process.pid)
                sources = [
                    RtspSource(f"bench-{mount}", server.url(mount), detect_fps=1)
                    for mount in mounts
                ]
                readers = [
                    threading.Thread(target=take_frames, args=(source, stop)) for source in sources
                ]
                for reader in readers:
                    reader.start()
                time.sleep(3)  # connected, key-frame interval known
                figures: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
                for _ in range(arguments.rounds):
                    for key_frames_only in (False, True):
                        figures[key_frames_only].append(
                            measure(sources, serving, key_frames_only, arguments.seconds)
                        )
                stop.set()
                for source in sources:
                    source.close()
                for reader in readers:
                    reader.join(timeout=10)
                stop.clear()
            full = statistics.median(cpu for cpu, _, _ in figures[False])
            key = statistics.median(cpu for cpu, _, _ in figures[True])
            for key_frames_only, label in ((False, "every frame"), (True, "key frames only")):
                rows = figures[key_frames_only]
                print(
                    f"{name}, {label:15s}: "
                    f"{1000 * statistics.median(cpu for cpu, _, _ in rows):6.1f} ms CPU per"
                    f" camera-second (rounds: "
                    f"{', '.join(f'{1000 * cpu:.1f}' for cpu, _, _ in rows)}), "
                    f"{statistics.median(d for _, d, _ in rows):.1f} pictures decoded per"
                    f" camera-second; RTSP server "
                    f"{100 * statistics.median(s for _, _, s in rows):.0f}% of a core",
                    flush=True,
                )
            print(f"{name}: key frames only cost {key / full:.2f} of every frame; {load()}")


if __name__ == "__main__":
    main()
