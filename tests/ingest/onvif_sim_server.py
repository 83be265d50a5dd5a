"""Run the ipycam ONVIF camera simulator on one address, fed from a recording.

Runs under the simulator's own interpreter (scripts/onvif-sim.sh builds it), never the project's:
ipycam pins nothing and would drag its own OpenCV into our environment. It prints one JSON line
with the addresses once the ONVIF service answers, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from ipycam import CameraConfig, IPCamera


def _frames(clip: Path | None, width: int, height: int):  # type: ignore[no-untyped-def]
    """Endless frames: the recording looped, or a moving test pattern without one."""
    if clip is not None:
        while True:
            capture = cv2.VideoCapture(str(clip))
            ok, image = capture.read()
            if not ok:
                raise SystemExit(f"not a readable video: {clip}")
            while ok:
                yield cv2.resize(image, (width, height))
                ok, image = capture.read()
            capture.release()
    step = 0
    while True:
        image = np.full((height, width, 3), 40, np.uint8)
        x = step * 7 % max(width - 40, 1)
        cv2.rectangle(image, (x, height // 3), (x + 40, height // 3 + 40), (0, 200, 255), -1)
        step += 1
        yield image


def _wait_listening(host: str, port: int, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ip", required=True, help="Address the camera advertises.")
    parser.add_argument("--onvif-port", type=int, default=8080)
    parser.add_argument("--rtsp-port", type=int, default=8554)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--name", default="GridWatch-Sim")
    parser.add_argument("--clip", type=Path, default=None)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=5)
    args = parser.parse_args()

    config = CameraConfig(
        name=args.name,
        manufacturer="PythonCam",
        model="VirtualCam-1",
        serial_number="GW-SIM-0001",
        local_ip=args.ip,
        onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port,
        username=args.user,
        password=args.password,
        main_width=args.width,
        main_height=args.height,
        main_fps=args.fps,
        main_bitrate="1M",
        sub_width=args.width // 2,
        sub_height=args.height // 2,
        sub_fps=args.fps,
        sub_bitrate="256K",
        hw_accel="cpu",
        show_timestamp=False,
    )
    # The web UI saves config changes back to this path; keep it out of the checkout.
    config._config_path = str(Path(tempfile.mkdtemp(prefix="ipycam-")) / "camera_config.json")
    camera = IPCamera(config)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    if not camera.start():
        print(json.dumps({"error": "camera did not start"}), flush=True)
        return 1
    frames = _frames(args.clip, args.width, args.height)
    camera.stream(next(frames))  # the snapshot endpoint answers 503 until a first frame
    if not _wait_listening(args.ip, args.onvif_port, 10):
        print(json.dumps({"error": "ONVIF port not listening"}), flush=True)
        return 1
    ready = {
        "onvif": config.onvif_url,
        "rtsp_main": config.main_stream_rtsp,
        "rtsp_sub": config.sub_stream_rtsp,
        "rtsp_listening": _wait_listening(args.ip, args.rtsp_port, 5),
        "mode": camera._streaming_mode,
    }
    print(json.dumps(ready), flush=True)
    try:
        while not stopping.is_set():
            camera.stream(next(frames))  # paces itself to --fps
    finally:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
