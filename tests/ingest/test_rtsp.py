"""The RTSP adapter against a real RTSP server (gst-rtsp-server) serving the demo clip."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest import (
    AuthenticationFailed,
    CameraStatus,
    CameraUnavailable,
    Frame,
    NotAVideoStream,
    StreamOptions,
)
from ingest.backoff import Backoff
from ingest.rtsp import RtspSource
from tests.ingest.conftest import PASSWORD, USER
from tests.ingest.peers import RtspServer


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds it took `condition` to hold; fails the test after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.timing  # the pace of reads and the stream's rate are measured
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_frames_come_at_the_detect_rate_and_are_fresh(
    rtsp_server: RtspServer, transport: str
) -> None:
    source = RtspSource(
        "gate", rtsp_server.url(), detect_fps=5, options=StreamOptions(transport=transport)
    )
    try:
        first = source.read()
        assert first is not None and first.size == (768, 576)
        started = time.monotonic()
        frames = [source.read() for _ in range(10)]
        elapsed = time.monotonic() - started
        health = source.health()
    finally:
        source.close()
    assert all(frame is not None for frame in frames)
    assert elapsed == pytest.approx(2.0, abs=0.3)  # 10 frames at 5 fps
    sequences = [frame.sequence for frame in frames if frame]
    assert sequences == list(range(1, 11))
    assert health.status is CameraStatus.online
    assert (health.codec, health.transport) == ("h264", transport)
    assert health.resolution == (768, 576) and health.reconnects == 0
    # The camera sends 10 fps, detection takes 5: the others are dropped and counted.
    assert health.input_fps == pytest.approx(10, abs=2)
    assert health.frames_dropped >= 8
    assert health.frames_received - health.frames_delivered - health.frames_dropped in (0, 1)


def test_a_slow_consumer_gets_the_newest_frame_not_a_backlog(rtsp_server: RtspServer) -> None:
    source = RtspSource("gate", rtsp_server.url("cam2"), detect_fps=10)
    try:
        assert source.read() is not None
        ages = []
        for _ in range(3):
            time.sleep(0.7)  # detection is busy; the camera keeps sending
            frame = source.read()
            assert frame is not None
            ages.append(frame.age_s())
        dropped = source.health().frames_dropped
    finally:
        source.close()
    assert max(ages) < 0.15, ages
    assert dropped >= 15  # ~6 frames a pause went unused


def test_digest_credentials_with_special_characters(protected_rtsp_server: RtspServer) -> None:
    url = protected_rtsp_server.url(user=USER, password=PASSWORD)
    assert "%40" in url  # the password's @ travels percent-encoded
    source = RtspSource("gate", url, detect_fps=5)
    try:
        frame = source.read()
    finally:
        source.close()
    assert frame is not None and frame.size == (768, 576)


@pytest.mark.parametrize(
    ("user", "password", "error", "message"),
    [
        (USER, "wrong", AuthenticationFailed, "user name or password rejected (RTSP 401)"),
        (None, None, AuthenticationFailed, "requires a user name and password (RTSP 401)"),
    ],
)
def test_rejected_credentials(
    protected_rtsp_server: RtspServer,
    user: str | None,
    password: str | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        RtspSource("gate", protected_rtsp_server.url(user=user, password=password), detect_fps=5)
    assert message in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_audio_only_and_missing_streams(rtsp_server: RtspServer) -> None:
    with pytest.raises(NotAVideoStream, match=r"no video track \(audio\)"):
        RtspSource("gate", rtsp_server.url("audio"), detect_fps=5)
    with pytest.raises(CameraUnavailable, match=r"no stream at this path \(RTSP 404\)"):
        RtspSource("gate", rtsp_server.url("nothing-here"), detect_fps=5)


class Consumer(threading.Thread):
    """Reads a source as the worker does, recording what it gets."""

    def __init__(self, source: RtspSource):
        super().__init__(daemon=True)
        self.source = source
        self.frames: list[Frame] = []

    def run(self) -> None:
        while (frame := self.source.read()) is not None:
            self.frames.append(frame)


def test_recovers_by_itself_when_the_server_dies_and_returns(
    h264_clip: Path, tmp_path: Path
) -> None:
    server = RtspServer(h264_clip, log_path=tmp_path / "server.log").start()
    source = RtspSource(
        "gate",
        server.url(),
        detect_fps=5,
        options=StreamOptions(read_timeout_s=2),
        backoff=Backoff(initial_s=0.2, cap_s=0.5),
    )
    consumer = Consumer(source)
    consumer.start()
    try:
        wait_for(lambda: len(consumer.frames) >= 3, 5, "first frames")
        server.kill()
        wait_for(lambda: source.health().status is CameraStatus.offline, 5, "going offline")
        offline = source.health()
        assert offline.reconnects == 0 and offline.reason == "stream lost"
        frames_while_down = len(consumer.frames)
        time.sleep(1.0)  # a few refused reconnection attempts
        assert len(consumer.frames) == frames_while_down
        assert "connection refused" in source.health().reason

        server.start()
        back_after = wait_for(
            lambda: len(consumer.frames) > frames_while_down, 5, "frames after the restart"
        )
        health = source.health()
        assert health.status is CameraStatus.online
        assert health.reconnects == 1
        assert back_after < 2.0  # the backoff was capped at 0.5 s

        server.kill()
        wait_for(lambda: source.health().status is CameraStatus.offline, 5, "offline again")
        started = time.monotonic()
        source.close()
        consumer.join(timeout=3)
        assert not consumer.is_alive()  # a reader waiting for the camera is released by close
        assert time.monotonic() - started < 3
    finally:
        source.close()
        server.stop()
    sequences = [frame.sequence for frame in consumer.frames]
    assert sequences == list(range(len(sequences)))  # no frame handed out twice
    stamps = [frame.received or 0.0 for frame in consumer.frames]
    assert stamps == sorted(stamps)


def test_frame_age_at_the_consumer_stays_under_half_a_frame_interval(
    rtsp_server: RtspServer,
) -> None:
    source = RtspSource("gate", rtsp_server.url(), detect_fps=4)
    ages = []
    try:
        source.read()
        for _ in range(8):
            frame = source.read()
            assert frame is not None
            ages.append(frame.age_s())
    finally:
        source.close()
    assert statistics.median(ages) < 0.05  # the camera sends every 0.1 s
