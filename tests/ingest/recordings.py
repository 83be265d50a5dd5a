"""Recordings built for a test from the demo clip, in the shapes the field produces."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

MPEG_TS_CLOCK = 90_000  # ticks per second of an MPEG-TS time base


def jittered_mpegts(
    demo_clip: Path,
    target: Path,
    *,
    frames: int = 30,
    fps: int = 10,
    gap_after: int | None = None,
    gap_s: float = 0.0,
) -> Path:
    """The clip's first `frames` frames as H.264 in MPEG-TS, as NVR exports and phones write
    them: a 90 kHz time base, timestamps jittered by up to a third of a frame interval, and an
    encoder that announces the time base as its frame rate. FFmpeg then reports 90000 fps.

    With `gap_after`, the timestamps of the frames after that many jump `gap_s` seconds ahead
    (an export that leaves out idle time, a recorder's clock set forward)."""
    capture = cv2.VideoCapture(str(demo_clip))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    rng = np.random.default_rng(3)
    step = MPEG_TS_CLOCK // fps
    with av.open(str(target), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=MPEG_TS_CLOCK)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            ok, image = capture.read()
            if not ok:
                break
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index * step + int(rng.integers(-step // 3, step // 3, endpoint=True))
            if gap_after is not None and index >= gap_after:
                frame.pts += round(gap_s * MPEG_TS_CLOCK)
            frame.time_base = Fraction(1, MPEG_TS_CLOCK)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    capture.release()
    return target
