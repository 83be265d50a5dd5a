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


@pytest.mark.timing  # the pace of reads and the pictures' ages are measured
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


@pytest.mark.parametrize(
    ("query", "codec"),
    [
        ("type=application/octet-stream", "jpeg"),
        ("type=binary/octet-stream", "jpeg"),
        ("type=none", "jpeg"),
        ("type=image/png&format=png", "png"),
        ("type=application/octet-stream&format=png", "png"),
    ],
)
def test_a_snapshot_is_a_picture_by_its_bytes_when_the_type_says_nothing(
    http_camera: HttpCamera, query: str, codec: str
) -> None:
    source = open_source("lobby", http_camera.url(f"/snapshot.jpg?{query}"), detect_fps=5)
    try:
        frame = source.read()
        health = source.health()
    finally:
        source.close()
    assert frame is not None and frame.size == (768, 576)
    assert (health.kind, health.codec) == ("http-snapshot", codec)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=application/octet-stream&format=text", "application/octet-stream that is neither"),
        ("type=image/jpeg&format=text", "image/jpeg that is neither a JPEG nor a PNG"),
        ("type=text/plain", "not a video stream: HTTP 200 text/plain"),
    ],
)
def test_an_answer_that_is_no_picture_is_refused_whatever_its_type(
    http_camera: HttpCamera, query: str, message: str
) -> None:
    with pytest.raises(NotAVideoStream, match=message):
        open_source("lobby", http_camera.url(f"/snapshot.jpg?{query}"), detect_fps=2)


@pytest.mark.parametrize(
    ("content_type", "payload", "found"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0 a JPEG", "jpeg"),
        ("application/octet-stream", b"\xff\xd8\xff\xdb a JPEG", "jpeg"),
        ("", b"\x89PNG\r\n\x1a\n a PNG", "png"),
        ("image/png", b"\xff\xd8\xff\xe0 a JPEG served as PNG", "jpeg"),
        ("text/html", b"\xff\xd8\xff\xe0 bytes of a page that says it is one", None),
        ("application/octet-stream", b"<html>login</html>", None),
        ("image/jpeg", b"", None),
    ],
)
def test_one_decision_types_http_and_onvif_snapshots(
    content_type: str, payload: bytes, found: str | None
) -> None:
    from ingest.http import snapshot_format

    assert snapshot_format(content_type, payload) == found


def _watch(source: HttpSource, frames: int) -> list[bytes]:
    seen = []
    for _ in range(frames):
        frame = source.read()
        assert frame is not None
        seen.append(frame.image.tobytes()[:20000])
    return seen


def test_a_damaged_jpeg_is_skipped_and_counted_not_a_reason_to_reconnect(
    http_camera: HttpCamera,
) -> None:
    # 10 fps in, every part decoded: one part in 5 is damaged.
    source = open_source("lobby", http_camera.url("/mjpeg?damaged=5"), detect_fps=10)
    assert isinstance(source, HttpSource)
    try:
        _watch(source, 20)
        health = source.health()
    finally:
        source.close()
    assert health.reconnects == 0 and health.last_error == ""
    assert health.frames_damaged >= 3
    assert health.status is CameraStatus.online


@pytest.mark.parametrize(
    "path",
    ["/mjpeg?newline=lf", "/mjpeg-bare?newline=lf", "/mjpeg?length=short"],
)
def test_framing_cameras_get_wrong_is_read_as_it_comes(http_camera: HttpCamera, path: str) -> None:
    source = open_source("lobby", http_camera.url(path), detect_fps=5)
    assert isinstance(source, HttpSource)
    try:
        seen = _watch(source, 8)
        health = source.health()
    finally:
        source.close()
    assert (health.reconnects, health.frames_damaged, health.last_error) == (0, 0, "")
    assert len(set(seen)) > 1


def test_a_camera_that_breaks_every_connection_is_called_less_and_less_often(
    demo_clip_frames: list[bytes],
) -> None:
    """Connecting succeeds each time, so only the stream's frames may reset the backoff."""
    camera = HttpCamera(demo_clip_frames).start()
    try:
        source = open_source("lobby", camera.url("/mjpeg?hangup=2"), detect_fps=5)
        time.sleep(6)
        source.close()
    finally:
        camera.stop()
    # Waits of 0.5, 1, 2, 4 s (jitter shortens each by up to a fifth): at most 5 connections
    # in 6 s, where a backoff that restarts on every connect makes about 12.
    assert 3 <= len(camera.requests) <= 5, camera.requests
