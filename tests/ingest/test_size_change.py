"""A stream whose picture size changes mid-stream (a camera re-configured from 4:3 to 16:9) is
delivered at the new size, over RTSP and from recordings: never stretched to the first size."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ingest.rtsp import RtspSource
from ingest.sources import FileSource
from tests.ingest.peers import SERVER_SCRIPT, SYSTEM_PYTHON, RtspServer

FOUR_BY_THREE, SIXTEEN_BY_NINE = (768, 576), (768, 432)


def demo_pictures(demo_clip: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """`count` frames of the demo clip at `size`: the full view for 4:3, its middle for 16:9."""
    capture = cv2.VideoCapture(str(demo_clip))
    pictures = []
    while len(pictures) < count:
        ok, image = capture.read()
        assert ok
        if size == SIXTEEN_BY_NINE:
            image = np.ascontiguousarray(image[72:504])
        pictures.append(image)
    capture.release()
    return pictures


def resized_recording(demo_clip: Path, target: Path) -> Path:
    """2 s of 768x576 then 2 s of 768x432, H.264 in MPEG-TS (an NVR export across the change)."""
    with target.open("wb") as joined:
        for part, size in enumerate((FOUR_BY_THREE, SIXTEEN_BY_NINE)):
            segment = target.with_suffix(f".{part}.ts")
            with av.open(str(segment), "w", format="mpegts") as container:
                stream = container.add_stream("libx264", rate=10)
                stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
                for index, image in enumerate(demo_pictures(demo_clip, 20, size)):
                    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                    frame.pts, frame.time_base = (part * 20 + index) * 9000, Fraction(1, 90_000)
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            joined.write(segment.read_bytes())
    return target


def test_a_recording_that_changes_size_is_read_at_each_size(
    demo_clip: Path, tmp_path: Path
) -> None:
    recording = resized_recording(demo_clip, tmp_path / "export.ts")
    source = FileSource("nvr-1", recording, detect_fps=10, loop=False, realtime=False)
    sizes = []
    while (frame := source.read()) is not None:
        sizes.append(frame.size)
    source.close()
    assert sizes[:18] == [FOUR_BY_THREE] * 18
    assert sizes[-18:] == [SIXTEEN_BY_NINE] * 18
    assert len(sizes) >= 38


def encoded_units(demo_clip: Path, size: tuple[int, int], out: Path) -> bytes:
    """2 s of the demo clip at `size` as the RTSP server's stored H.264 access units."""
    width, height = size
    encoder = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER_SCRIPT), "encode", "--out", str(out),
         "--width", str(width), "--height", str(height), "--fps", "10"],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert encoder.stdin is not None
    for image in demo_pictures(demo_clip, 20, size):
        encoder.stdin.write(image.tobytes())
    encoder.stdin.close()
    assert encoder.wait(timeout=120) == 0
    return out.read_bytes()


def test_an_rtsp_camera_that_changes_size_is_delivered_at_the_new_size(
    demo_clip: Path, tmp_path: Path
) -> None:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing; run scripts/system-deps.sh")
    clip = tmp_path / "resized.au"
    clip.write_bytes(
        encoded_units(demo_clip, FOUR_BY_THREE, tmp_path / "a.au")
        + encoded_units(demo_clip, SIXTEEN_BY_NINE, tmp_path / "b.au")
    )
    with RtspServer(clip, log_path=tmp_path / "server.log") as server:
        source = RtspSource("gate-1", server.url(), detect_fps=10)
        sizes: Counter[tuple[int, int]] = Counter()
        deadline = time.monotonic() + 30
        try:
            # The clip loops: 2 s at 4:3, 2 s at 16:9, again; a few frames of each will do.
            while time.monotonic() < deadline:
                if len(sizes) == 2 and min(sizes.values()) >= 5:
                    break
                frame = source.read()
                if frame is not None:
                    sizes[frame.size] += 1
        finally:
            source.close()
    assert set(sizes) == {FOUR_BY_THREE, SIXTEEN_BY_NINE}, sizes
