"""The HTTP adapter against a real HTTP camera on loopback: snapshots and MJPEG."""

from __future__ import annotations

import time

import pytest

from ingest import (
    AuthenticationFailed,
    CameraStatus,
    NotAVideoStream,
    StreamOptions,
    open_source,
)
from ingest.http import HttpSource
from tests.ingest.peers import HttpCamera


@pytest.mark.parametrize(
    ("path", "kind", "codec"),
    [
        ("/snapshot.jpg", "http-snapshot", "jpeg"),
        ("/mjpeg", "mjpeg", "mjpeg"),
        ("/mjpeg-bare", "mjpeg", "mjpeg"),
    ],
)
def test_the_answer_decides_snapshot_or_mjpeg(
    http_camera: HttpCamera, path: str, kind: str, codec: str
) -> None:
    source = open_source("lobby", http_camera.url(path), detect_fps=5)
    assert isinstance(source, HttpSource)
    try:
        first = source.read()
        started = time.monotonic()
        frames, ages = [], []
        for _ in range(5):
            frame = source.read()
            assert frame is not None
            frames.append(frame)
            ages.append(frame.age_s())
        elapsed = time.monotonic() - started
        health = source.health()
    finally:
        source.close()
    assert first is not None and first.size == (768, 576)
    # A snapshot is fetched one detection interval (0.2 s) before it is handed out at most.
    assert max(ages) < 0.3, ages
    assert elapsed == pytest.approx(1.0, abs=0.25)  # 5 frames at 5 fps
    assert (health.kind, health.codec, health.status) == (kind, codec, CameraStatus.online)
    # Different pictures, not the same one over and over (the camera changes it at 10 fps).
    assert len({frame.image.tobytes()[:20000] for frame in frames}) > 1


def test_mjpeg_frames_between_hand_outs_are_dropped_and_counted(http_camera: HttpCamera) -> None:
    source = open_source("lobby", http_camera.url("/mjpeg"), detect_fps=2)
    try:
        for _ in range(3):
            source.read()
        health = source.health()
    finally:
        source.close()
    assert health.frames_delivered == 3
    assert health.frames_dropped >= 6  # 10 fps in, 2 fps out over a second


def test_basic_authentication(http_camera: HttpCamera) -> None:
    url = http_camera.url(
        "/private/snapshot.jpg", user=HttpCamera.USER, password=HttpCamera.PASSWORD
    )
    source = open_source("lobby", url, detect_fps=2)
    try:
        assert source.read() is not None
    finally:
        source.close()
    with pytest.raises(AuthenticationFailed, match=r"rejected \(HTTP 401\)") as caught:
        open_source(
            "lobby",
            http_camera.url("/private/snapshot.jpg", user="viewer", password="guess"),
            detect_fps=2,
        )
    assert "guess" not in str(caught.value)
    with pytest.raises(AuthenticationFailed, match=r"HTTP 401"):
        open_source("lobby", http_camera.url("/private/snapshot.jpg"), detect_fps=2)


def test_a_web_page_is_not_a_video_stream(http_camera: HttpCamera) -> None:
    with pytest.raises(NotAVideoStream, match="not a video stream: HTTP 200 text/html"):
        open_source("lobby", http_camera.url("/index.html"), detect_fps=2)


def test_snapshot_camera_that_stops_answering_goes_offline(demo_clip_frames: list[bytes]) -> None:
    camera = HttpCamera(demo_clip_frames).start()
    source = open_source(
        "lobby",
        camera.url("/snapshot.jpg"),
        detect_fps=5,
        options=StreamOptions(open_timeout_s=1, read_timeout_s=1),
    )
    try:
        assert source.read() is not None
        camera.stop()
        deadline = time.monotonic() + 5
        while source.health().status is not CameraStatus.offline:
            assert time.monotonic() < deadline, "snapshot camera never went offline"
            time.sleep(0.05)
        assert "closed the connection" in source.health().reason
        # Then the reconnection attempts find nobody listening.
        while "connection refused" not in source.health().reason:
            assert time.monotonic() < deadline, source.health().reason
            time.sleep(0.05)
        assert source.health().status is CameraStatus.offline
    finally:
        source.close()


def test_a_snapshot_past_the_size_limit_is_refused_not_held() -> None:
    """A camera (HTTP or ONVIF, which share the reader) that sends an endless or huge picture
    is cut off at 16 MiB rather than filling the worker's memory."""
    import httpx

    from ingest import CameraUnavailable
    from ingest.http import MAX_IMAGE_BYTES, fetch_snapshot, parse_address

    huge = b"\xff\xd8" + bytes(MAX_IMAGE_BYTES)
    camera = HttpCamera([huge]).start()
    try:
        address = parse_address("lobby", camera.url("/snapshot.jpg"))
        with httpx.Client(timeout=10) as client, pytest.raises(CameraUnavailable, match="16 MiB"):
            fetch_snapshot("lobby", address, client, 10)
    finally:
        camera.stop()
