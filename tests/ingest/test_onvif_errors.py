"""ONVIF errors are kinds of the generic ingest errors: code that catches `AuthenticationFailed`,
`SourceRefused` ... catches an ONVIF camera's too, raised against real endpoints on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ingest import (
    AuthenticationFailed,
    CameraUnavailable,
    NotAVideoStream,
    SourceRefused,
    SourceTimeout,
    SourceUnreachable,
)
from ingest.onvif import (
    NotAnOnvifDevice,
    OnvifAnswerNotUnderstood,
    OnvifAuthError,
    OnvifCamera,
    OnvifError,
    OnvifEventsUnsupported,
    OnvifRefused,
    OnvifTimeout,
    OnvifUnreachable,
)
from tests.conftest import REPO
from tests.ingest.onvif_events_device import events_device
from tests.ingest.peers import HttpCamera, SilentServer, refusing_port

GENERIC_KINDS = [
    (OnvifAuthError, AuthenticationFailed),
    (OnvifUnreachable, SourceUnreachable),
    (OnvifRefused, SourceRefused),
    (OnvifTimeout, SourceTimeout),
    (NotAnOnvifDevice, NotAVideoStream),
    (OnvifEventsUnsupported, CameraUnavailable),
    (OnvifError, CameraUnavailable),
]


@pytest.mark.parametrize(("onvif_error", "generic"), GENERIC_KINDS)
def test_each_onvif_error_is_caught_as_its_generic_kind(
    onvif_error: type[OnvifError], generic: type[CameraUnavailable]
) -> None:
    with pytest.raises(generic) as caught:
        raise onvif_error("gate-1", "why")
    assert isinstance(caught.value, OnvifError)
    assert (caught.value.camera_id, caught.value.reason, str(caught.value)) == (
        "gate-1",
        "why",
        "gate-1: why",
    )


def test_a_refused_connection_is_still_an_unreachable_onvif_camera() -> None:
    # Code written against the ONVIF names before OnvifRefused existed keeps catching it.
    assert issubclass(OnvifRefused, OnvifUnreachable)


UNREACHABLE_SCRIPT = """
import json, sys
from ingest import SourceUnreachable
from ingest.onvif import OnvifCamera
found = []
for url in sys.argv[1:]:
    try:
        OnvifCamera.connect("cam", url, timeout_s=5).close()
        found.append(["connected", ""])
    except SourceUnreachable as err:
        found.append([type(err).__name__, err.reason])
print(json.dumps(found))
"""


def test_no_route_and_unknown_names_are_source_unreachable(tmp_path: Path) -> None:
    """Run in a network namespace with no network at all: no route anywhere, no DNS server."""
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.fail("creating a network namespace needs root (make test and CI run as root)")
    urls = ["onvif://a:b@192.0.2.1:80", "onvif://a:b@camera.invalid:80"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", UNREACHABLE_SCRIPT, *urls],
        capture_output=True, text=True, timeout=60, env=environment, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["OnvifUnreachable", "192.0.2.1:80 is unreachable (no route to host)"],
        ["OnvifUnreachable", "host name not found: camera.invalid"],
    ]


def test_nothing_listening_is_source_refused() -> None:
    with (
        refusing_port() as port,
        pytest.raises(SourceRefused, match="connection refused") as caught,
    ):
        OnvifCamera.connect("gate-1", f"onvif://a:b@127.0.0.1:{port}", timeout_s=5)
    assert isinstance(caught.value, OnvifRefused) and caught.value.__cause__ is not None


def test_a_silent_camera_is_source_timeout(silent_server: SilentServer) -> None:
    with pytest.raises(SourceTimeout, match=r"did not answer connect within 0.5 s") as caught:
        OnvifCamera.connect("gate-1", f"onvif://a:b@127.0.0.1:{silent_server.port}", timeout_s=0.5)
    assert isinstance(caught.value, OnvifTimeout) and caught.value.__cause__ is not None


def test_a_web_server_that_is_no_onvif_device_is_not_a_video_stream(
    http_camera: HttpCamera,
) -> None:
    url = http_camera.url("/").replace("http://", "onvif://a:b@").rstrip("/")
    with pytest.raises(NotAVideoStream, match="not an ONVIF device service") as caught:
        OnvifCamera.connect("gate-1", url, timeout_s=5)
    assert isinstance(caught.value, NotAnOnvifDevice) and caught.value.__cause__ is not None


@pytest.fixture
def locked_device() -> Iterator[int]:
    """A SOAP endpoint that answers HTTP 401 to everything but the clock, as a camera does to a
    wrong password; yields its port."""
    with events_device() as device:
        original = device.answer

        def refuse(action: str, request: str) -> tuple[int, str]:
            if action == "GetSystemDateAndTime":
                return original(action, request)
            return 401, ""

        device.answer = refuse  # type: ignore[method-assign]
        yield device.port


def test_a_refused_password_is_authentication_failed(locked_device: int) -> None:
    url = f"onvif://admin:wrong-pass@127.0.0.1:{locked_device}"
    with pytest.raises(AuthenticationFailed, match="authentication failed") as caught:
        OnvifCamera.connect("gate-1", url, timeout_s=5)
    assert isinstance(caught.value, OnvifAuthError) and caught.value.__cause__ is not None
    assert "wrong-pass" not in str(caught.value)


def test_a_camera_without_pullpoint_is_camera_unavailable() -> None:
    with events_device() as device:
        original = device.answer

        def refuse(action: str, request: str) -> tuple[int, str]:
            if action == "CreatePullPointSubscription":
                return original("NoSuchAction", request)
            return original(action, request)

        device.answer = refuse  # type: ignore[method-assign]
        with (
            OnvifCamera.connect("gate-1", f"onvif://u:p@127.0.0.1:{device.port}") as camera,
            pytest.raises(CameraUnavailable, match="refused a PullPoint subscription") as caught,
        ):
            camera.subscribe_events()
    assert isinstance(caught.value, OnvifEventsUnsupported) and caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("clock", "drift", "signed_with"),
    [
        ("utc", timedelta(minutes=3), timedelta(minutes=3)),
        ("local", timedelta(minutes=3), timedelta(minutes=3)),  # no UTCDateTime: local time
        ("local", timedelta(seconds=-40), timedelta(seconds=-40)),
        ("none", timedelta(minutes=3), timedelta(0)),  # no time at all: our clock
    ],
)
def test_a_camera_that_reports_only_local_time_or_none_connects(
    clock: str, drift: timedelta, signed_with: timedelta
) -> None:
    with (
        events_device(clock=clock, clock_drift=drift) as device,
        OnvifCamera.connect(
            "gate-1", f"onvif://u:p@127.0.0.1:{device.port}", timeout_s=5
        ) as camera,
    ):
        assert abs(camera.client().dt_diff - signed_with) < timedelta(seconds=3)
        subscription = camera.subscribe_events()
        subscription.close()
    assert device.subscriptions == 1


def test_an_answer_the_library_cannot_read_is_our_error_with_a_reason() -> None:
    """The library's own AttributeError on an answer without an element it assumed (as a
    missing UTCDateTime gave) comes out as an OnvifError, chained, not a traceback."""

    async def read_missing_element() -> str:
        answer = type("SystemDateAndTime", (), {"UTCDateTime": None})()
        return str(answer.UTCDateTime.Date)

    with events_device() as device:
        camera = OnvifCamera.connect("gate-1", f"onvif://u:p@127.0.0.1:{device.port}", timeout_s=5)
        try:
            with pytest.raises(OnvifAnswerNotUnderstood) as caught:
                camera.bridge.call("GetSystemDateAndTime", read_missing_element)
        finally:
            camera.close()
    assert isinstance(caught.value, CameraUnavailable)
    assert isinstance(caught.value.__cause__, AttributeError)
    assert caught.value.reason == (
        f"127.0.0.1:{device.port} answered GetSystemDateAndTime in a form that could not be read"
        " (AttributeError: 'NoneType' object has no attribute 'Date')"
    )
