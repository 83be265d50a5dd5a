"""The connection test (`probe`) and `gridwatch cameras test` against real peers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from gridwatch.cli import app
from ingest import AuthenticationFailed, SourceTimeout
from ingest.probe import probe
from tests.ingest.conftest import PASSWORD, USER
from tests.ingest.peers import HttpCamera, RtspServer, SilentServer
from tests.ingest.recordings import jittered_mpegts


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.timing  # the frame rate is measured on the stream as it arrives
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_probe_an_rtsp_camera(protected_rtsp_server: RtspServer, transport: str) -> None:
    url = protected_rtsp_server.url(user=USER, password=PASSWORD)
    result = probe(url, timeout_s=5, transport=transport)  # type: ignore[arg-type]
    assert result.url == f"rtsp://***@127.0.0.1:{protected_rtsp_server.port}/cam"
    assert (result.kind, result.codec, result.transport) == ("rtsp", "h264", transport)
    assert (result.width, result.height) == (768, 576)
    assert result.fps == pytest.approx(10, abs=1)
    assert result.time_to_first_frame_s < 1.0
    assert decoded(result.snapshot_jpeg).shape == (576, 768, 3)


@pytest.mark.parametrize(
    ("path", "kind", "codec", "fps"),
    [("/snapshot.jpg", "http-snapshot", "jpeg", None), ("/mjpeg", "mjpeg", "mjpeg", 10)],
)
def test_probe_http_cameras(
    http_camera: HttpCamera, path: str, kind: str, codec: str, fps: float | None
) -> None:
    result = probe(http_camera.url(path), timeout_s=5)
    assert (result.kind, result.codec, result.width, result.height) == (kind, codec, 768, 576)
    assert result.fps == (None if fps is None else pytest.approx(fps, abs=1))
    assert decoded(result.snapshot_jpeg).shape == (576, 768, 3)


def test_probe_a_recording(demo_clip: Path) -> None:
    result = probe(f"file://{demo_clip}", timeout_s=5)
    assert (result.kind, result.fps, result.codec, result.width) == ("file", 10, "div3", 768)


def test_probe_a_recording_whose_container_says_90000_fps(demo_clip: Path, tmp_path: Path) -> None:
    recording = jittered_mpegts(demo_clip, tmp_path / "nvr-export.ts", frames=20, fps=10)
    result = probe(f"file://{recording}", timeout_s=5)
    assert (result.kind, result.codec, result.width) == ("file", "h264", 768)
    assert result.fps == pytest.approx(10, abs=1.5)


def test_probe_gives_up_at_its_timeout(silent_server: SilentServer) -> None:
    with pytest.raises(SourceTimeout, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.5 s"):
        probe(f"rtsp://127.0.0.1:{silent_server.port}/live", timeout_s=0.5)


def test_probe_names_the_address_without_its_password(protected_rtsp_server: RtspServer) -> None:
    url = protected_rtsp_server.url(user=USER, password="hunter2")
    with pytest.raises(AuthenticationFailed) as caught:
        probe(url, timeout_s=5)
    assert str(caught.value) == (
        f"rtsp://***@127.0.0.1:{protected_rtsp_server.port}/cam: authentication failed:"
        " user name or password rejected (RTSP 401)"
    )


def test_cli_prints_what_it_found_and_saves_the_snapshot(
    protected_rtsp_server: RtspServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The variable holds the password as it is; its URL characters are encoded on the way in.
    monkeypatch.setenv("CAM_PASSWORD", PASSWORD)
    url = protected_rtsp_server.url(user=USER, password="PLACEHOLDER").replace(
        "PLACEHOLDER", "${CAM_PASSWORD}"
    )
    snapshot = tmp_path / "gate.jpg"
    result = CliRunner().invoke(app, ["cameras", "test", url, "--snapshot", str(snapshot)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"ok  rtsp://***@127.0.0.1:{protected_rtsp_server.port}/cam"
    assert "  kind         rtsp (tcp)" in lines
    assert "  resolution   768x576" in lines
    assert "  codec        h264" in lines
    assert any(line.startswith("  fps          ") for line in lines)
    assert any(line.startswith("  first frame  0.") for line in lines)
    assert decoded(snapshot.read_bytes()).shape == (576, 768, 3)
    assert "p@ss" not in result.output and "p%40ss" not in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtsp://operator:hunter2@127.0.0.1:PORT/cam", "password rejected (RTSP 401)"),
        ("ftp://operator:hunter2@127.0.0.1/x", "no adapter for ftp:// sources"),
        (
            "rtsp://operator:hunter2@127.0.0.1:PORT/${NOT_SET_ANYWHERE}",
            "NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_cli_exits_1_with_the_reason(
    protected_rtsp_server: RtspServer, url: str, message: str
) -> None:
    result = CliRunner().invoke(
        app,
        ["cameras", "test", url.replace("PORT", str(protected_rtsp_server.port)), "--timeout", "3"],
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert message in result.output
    assert "hunter2" not in result.output
