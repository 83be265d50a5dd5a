"""Sources that cannot work: each fails with an error that says why, and the worker carries on
with its other cameras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.health import HealthReason
from gridwatch.worker.capture import health_report
from ingest import (
    AuthenticationFailed,
    CameraStatus,
    InvalidSource,
    NotAVideoStream,
    SourceRefused,
    SourceTimeout,
    StreamOptions,
    UnsupportedSource,
    open_source,
)
from tests.conftest import REPO
from tests.ingest.conftest import PASSWORD, USER
from tests.ingest.peers import HttpCamera, RtspServer, SilentServer, refusing_port
from tests.ingest.workers import RunningWorker, camera

QUICK = StreamOptions(open_timeout_s=0.5, read_timeout_s=0.5)


@pytest.fixture
def refused_port() -> Iterator[int]:
    with refusing_port() as port:
        yield port


@pytest.fixture
def peers(
    rtsp_server: RtspServer,
    protected_rtsp_server: RtspServer,
    http_camera: HttpCamera,
    silent_server: SilentServer,
    refused_port: int,
) -> dict[str, str]:
    """Addresses of every bad kind, by name."""
    return {
        "refused-rtsp": f"rtsp://127.0.0.1:{refused_port}/live",
        "refused-http": f"http://127.0.0.1:{refused_port}/snapshot.jpg",
        "silent-rtsp": f"rtsp://127.0.0.1:{silent_server.port}/live",
        "silent-http": f"http://127.0.0.1:{silent_server.port}/snapshot.jpg",
        "web-page": http_camera.url("/index.html"),
        "audio-only": rtsp_server.url("audio"),
        "wrong-password": protected_rtsp_server.url(user=USER, password="not-" + PASSWORD),
        "good": rtsp_server.url("cam2"),
    }


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("refused-rtsp", SourceRefused, "connection refused by 127.0.0.1:{port}"),
        ("refused-http", SourceRefused, "connection refused by 127.0.0.1:{port}"),
        ("silent-rtsp", SourceTimeout, "no answer from 127.0.0.1:{port} within 0.5 s"),
        ("silent-http", SourceTimeout, "no answer from 127.0.0.1:{port} within 0.5 s"),
        ("web-page", NotAVideoStream, "not a video stream: HTTP 200 text/html"),
        ("audio-only", NotAVideoStream, "not a video stream: the RTSP stream has no video track"),
        ("wrong-password", AuthenticationFailed, "user name or password rejected (RTSP 401)"),
    ],
)
def test_each_failure_has_its_own_clear_error(
    peers: dict[str, str], name: str, error: type[Exception], message: str
) -> None:
    url = peers[name]
    port = url.split(":")[-1].split("/")[0]
    started = time.monotonic()
    with pytest.raises(error) as caught:
        open_source("cam", url, detect_fps=2, options=QUICK)
    assert time.monotonic() - started < 2.5
    assert str(caught.value) == f"cam: {caught.value.reason}"  # type: ignore[attr-defined]
    assert message.format(port=port) in str(caught.value)
    assert PASSWORD not in str(caught.value) and "not-" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("ftp://127.0.0.1/cam", UnsupportedSource, "no adapter for ftp:// sources"),
        ("127.0.0.1:554/cam", InvalidSource, "no scheme"),
        ("rtsp://u:secret@127.0.0.1:99999/cam", InvalidSource, "port is not a number"),
        ("rtsp:///cam", InvalidSource, "no host name"),
        ("http://u:secret@:80/x", InvalidSource, "no host name"),
    ],
)
def test_malformed_and_unsupported_addresses(
    url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        open_source("cam", url, detect_fps=2)
    assert "secret" not in str(caught.value)


UNREACHABLE_SCRIPT = """
import json, sys
from ingest import open_source, StreamOptions, IngestError
found = []
for url in sys.argv[1:]:
    try:
        open_source("cam", url, detect_fps=2, options=StreamOptions(open_timeout_s=2))
        found.append(["opened", ""])
    except IngestError as err:
        found.append([type(err).__name__, str(err)])
print(json.dumps(found))
"""


def test_unreachable_hosts_and_unknown_names(tmp_path: Path) -> None:
    """Run in a network namespace of its own, with no network at all: no route anywhere, no
    DNS server, and nothing leaves this machine."""
    urls = [
        "rtsp://192.0.2.1:554/live",
        "http://192.0.2.1/snapshot.jpg",
        "rtsp://camera.invalid/live",
        "http://camera.invalid/snapshot.jpg",
    ]
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.fail("creating a network namespace needs root (make test and CI run as root)")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", UNREACHABLE_SCRIPT, *urls],
        capture_output=True, text=True, timeout=60, env=environment, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[0] == ["SourceUnreachable", "cam: host 192.0.2.1 is unreachable (no route)"]
    assert found[1] == ["SourceUnreachable", "cam: host 192.0.2.1 is unreachable (no route)"]
    dns = ["SourceUnreachable", "cam: host camera.invalid could not be resolved (DNS)"]
    assert found[2] == dns and found[3] == dns


def test_the_worker_keeps_running_its_good_camera_among_bad_ones(
    peers: dict[str, str], tmp_path: Path
) -> None:
    quick = {"open_timeout_s": 0.5, "read_timeout_s": 0.5}
    bad = {name: url for name, url in peers.items() if name != "good"}
    cameras = [camera(name, url, **quick) for name, url in bad.items()]
    cameras.append(camera("malformed", "rtsp://u:secret@127.0.0.1:99999/cam"))
    cameras.append(camera("good", peers["good"]))
    started = time.monotonic()
    with RunningWorker(cameras, tmp_path, max_seconds=3.5) as running:
        running.thread.join(timeout=15)
        stopped_after = time.monotonic() - started
    assert running.error is None
    # It ran its course: neither a silent camera nor a hung reader held it past its time.
    assert 3.4 < stopped_after < 7
    readers = {reader.camera.id: reader for reader in running.worker.readers}
    assert readers["good"].stats.frames_analysed >= 10  # 5 fps for ~3 s
    health = {reader.camera.id: reader.health() for reader in readers.values()}
    # What a person reads is the code, worded in their language; the text is the detail.
    expected = {
        "refused-rtsp": ("connection refused", HealthReason.unreachable),
        "refused-http": ("connection refused", HealthReason.unreachable),
        "silent-rtsp": ("no answer from", HealthReason.unreachable),
        "silent-http": ("no answer from", HealthReason.unreachable),
        "web-page": ("not a video stream: HTTP 200 text/html", HealthReason.not_a_stream),
        "audio-only": ("no video track", HealthReason.not_a_stream),
        "wrong-password": ("user name or password rejected", HealthReason.auth_failed),
        "malformed": ("port is not a number", HealthReason.source_invalid),
    }
    for name, (message, code) in expected.items():
        assert health[name].status is CameraStatus.offline, name
        assert message in health[name].last_error, (name, health[name].last_error)
        report = health_report(health[name])
        assert (report["reason"], health[name].reason_code) == (code, code), name
        assert message in report["error"], (name, report["error"])
        assert "secret" not in health[name].last_error and PASSWORD not in health[name].last_error
    # A malformed address is not retried; a refused one is, with backoff.
    assert readers["malformed"].finished.is_set()
