"""Fixtures for the stream adapters: real RTSP and HTTP peers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.camera import default_data_dir
from tests.ingest.peers import (
    SYSTEM_PYTHON,
    HttpCamera,
    RtspServer,
    SilentServer,
    encoded_clip,
    jpeg_frames,
    still_scene_clip,
)

USER = "operator"
PASSWORD = "p@ss:w/rd"  # characters that must be percent-encoded in a URL


@pytest.fixture(scope="session")
def h264_clip(demo_clip: Path) -> Path:
    """The demo clip as H.264 (encoded once per machine, a few seconds)."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing; run scripts/system-deps.sh")
    return encoded_clip(demo_clip, default_data_dir())


STILL_CROSSING_AT_S = 8.5
"""When the person steps into the still clip, seconds from its start: half a key-frame interval
before the next key frame."""


@pytest.fixture(scope="session")
def still_clip(h264_clip: Path, demo_clip: Path) -> Path:
    """A still street with sensor noise for 8.5 s, then a person walking in from the left for
    the 5.5 s left; a key frame a second (made once per machine, some seconds)."""
    return still_scene_clip(
        demo_clip, default_data_dir(), seconds=14, crossing_at_s=STILL_CROSSING_AT_S,
        crossing_s=30,
    )  # fmt: skip


@pytest.fixture(scope="session")
def rtsp_server(h264_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    """One server for the session: two open mounts and an audio-only one."""
    log = tmp_path_factory.mktemp("rtsp") / "server.log"
    with RtspServer(h264_clip, mounts=("cam", "cam2"), audio_mount="audio", log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
def protected_rtsp_server(
    h264_clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtspServer]:
    """A server that asks for a password with a digest challenge, as most cameras do."""
    log = tmp_path_factory.mktemp("rtsp") / "protected.log"
    server = RtspServer(h264_clip, user=USER, password=PASSWORD, digest=True, log_path=log)
    with server:
        yield server


@pytest.fixture(scope="session")
def http_camera(demo_clip_frames: list[bytes]) -> Iterator[HttpCamera]:
    camera = HttpCamera(demo_clip_frames).start()
    yield camera
    camera.stop()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def demo_clip_frames(demo_clip: Path) -> list[bytes]:
    return jpeg_frames(demo_clip)
