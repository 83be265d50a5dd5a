"""What a GB/T 28181 camera costs a worker against the same clip over RTSP, in the same run.

GB/T 28181: the SIP service and its stream control in this process, SIPp as the device (it
registers; its ACK starts the PS over RTP sender of the demo clip, H.264, in real time), and
`Gb28181Source` asking for the stream. RTSP: gst-rtsp-server serving the demo clip, H.264 at the
same rate, read by `RtspSource`. Each variant takes turns (`--rounds`), so other load on a shared
machine falls on both alike.

Figures: time from asking to the first frame handed out (GB/T 28181 also split: the INVITE to
the device's 200, that to the first RTP packet, that to the first decoded picture), and the CPU
the worker process spends per camera, in percent of one core, while frames are handed out at
the detection rate (the sender, SIPp and the RTSP server are other processes, not counted; the
SIP service and its control are in this process, and counted).

Usage: python bench/gb28181_video.py [--seconds 12] [--rounds 2] [--detect-fps 5]
"""

from __future__ import annotations

import argparse
import functools
import os
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
from ingest import LiveSource, StreamOptions  # noqa: E402
from ingest.gb28181 import Gb28181Source  # noqa: E402
from ingest.rtsp import RtspSource  # noqa: E402
from tests.gb28181 import ps_sender  # noqa: E402
from tests.gb28181.test_live_video import (  # noqa: E402
    CHANNEL_ID,
    DEVICE_ID,
    media_for,
    service_with_control,
    sipp_device,
)
from tests.ingest.peers import CLIP_FPS, RtspServer, encoded_clip  # noqa: E402


def measure(open_source: Callable[[], LiveSource], seconds: float) -> tuple[float, float, float]:
    """(seconds to the first frame, CPU % of one core while streaming, frames handed out/s)."""
    started = time.monotonic()
    source = open_source()
    try:
        first = source.read()
        assert first is not None, "no frame"
        to_first = time.monotonic() - started
        stop = threading.Event()
        taken = [0]

        def consume() -> None:
            while not stop.is_set() and source.read() is not None:
                taken[0] += 1

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        time.sleep(1.0)  # past the first key frame's burst
        cpu0, wall0, taken0 = time.process_time(), time.monotonic(), taken[0]
        time.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
        rate = (taken[0] - taken0) / seconds
        stop.set()
    finally:
        source.close()
    return to_first, cpu, rate


def gb28181(
    control_url: str, detect_fps: float, options: StreamOptions, opened: list[Gb28181Source]
) -> Gb28181Source:
    source = Gb28181Source(
        "bench", f"gb28181://{DEVICE_ID}/{CHANNEL_ID}", detect_fps=detect_fps, options=options,
        media=media_for(control_url, "udp"),
    )  # fmt: skip
    opened.append(source)
    return source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="CPU measured this long")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--detect-fps", type=float, default=5.0)
    args = parser.parse_args()
    print(describe())
    assets = ensure_all(default_data_dir())
    frames = round((args.seconds + 6) * CLIP_FPS)
    ps_clip = ps_sender.prepare(assets["vtest.avi"], default_data_dir(), frames=frames)
    rtsp_clip = encoded_clip(assets["vtest.avi"], default_data_dir())
    options = StreamOptions(read_timeout_s=3.0)
    results: dict[str, list[tuple[float, float, float]]] = {"rtsp": [], "gb28181": []}
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder, RtspServer(rtsp_clip) as rtsp:
        for _ in range(args.rounds):
            results["rtsp"].append(
                measure(
                    lambda: RtspSource("bench", rtsp.url(), detect_fps=args.detect_fps,
                                       options=options),
                    args.seconds,
                )
            )  # fmt: skip
            with service_with_control() as (service, control_url), sipp_device(
                service, ps_clip, Path(folder), stay_ms=round((args.seconds + 10) * 1000),
                speed=1.0,
            ):  # fmt: skip
                opened: list[Gb28181Source] = []
                open_gb28181 = functools.partial(
                    gb28181, control_url, args.detect_fps, options, opened
                )
                results["gb28181"].append(measure(open_gb28181, args.seconds))
                startup = opened[0].startup() if opened else None
                if startup is not None:
                    phases.append(startup)
    print(f"demo clip 768x576 H.264 at {CLIP_FPS} fps, detection at {args.detect_fps:g} fps,"
          f" {args.rounds} rounds, CPU over {args.seconds:g} s")  # fmt: skip
    print(f"{'variant':10} {'first frame s':>14} {'CPU % core':>11} {'frames/s':>9}")
    for name, rows in results.items():
        first, cpu, rate = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"{name:10} {first:14.3f} {cpu:11.1f} {rate:9.2f}")
    if phases:
        print("gb28181 first frame, medians: " + ", ".join(
            f"{name} {statistics.median(p[name] for p in phases):.3f} s"
            for name in ("answer", "first_packet", "first_picture")
        ) + " (first_packet: SIPp starting the sender process, not the worker)")  # fmt: skip
    print(f"load average over the run: {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
