"""The ONVIF adapter against a real simulated camera (ipycam), a real SOAP event endpoint, and
recorded notification XML."""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from ingest import CameraUnavailable, open_source
from ingest.onvif import (
    CameraEvent,
    MediaProfile,
    NotAnOnvifDevice,
    OnvifAddress,
    OnvifAuthError,
    OnvifCamera,
    OnvifError,
    OnvifEventsUnsupported,
    OnvifTimeout,
    OnvifUnreachable,
    choose_profile,
    event_kind,
    parse_pull_messages,
)
from ingest.rtsp import RtspSource
from tests.conftest import free_port
from tests.ingest.onvif_events_device import DATA, events_device
from tests.ingest.onvif_sim import HEIGHT, WIDTH, Simulator, shared_simulator

# The simulator adds a network link to the machine, and a browser drops its requests when the
# network changes: these run in the suite's serial part, never beside the console's tests.
pytestmark = pytest.mark.hostnet

RECORDED = DATA / "pull_messages_response.xml"
UTC = dt.UTC


@pytest.fixture(scope="session")
def onvif_sim(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    yield from shared_simulator(demo_clip, tmp_path_factory.mktemp("onvif-sim") / "sim.log")


@pytest.fixture(scope="module")
def camera(onvif_sim: Simulator) -> Iterator[OnvifCamera]:
    with OnvifCamera.connect("gate-1", onvif_sim.url()) as connected:
        yield connected


# ------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("onvif://192.0.2.7", OnvifAddress("192.0.2.7", 80)),
        ("onvif://cam.local:8899", OnvifAddress("cam.local", 8899)),
        ("onvif://admin:pw@192.0.2.7:80", OnvifAddress("192.0.2.7", 80, "admin", "pw")),
        ("onvif://admin:p%40ss%3Aw@192.0.2.7", OnvifAddress("192.0.2.7", 80, "admin", "p@ss:w")),
        ("onvif://a:b@[2001:db8::5]:81", OnvifAddress("2001:db8::5", 81, "a", "b")),
        (
            "ONVIF://a:b@192.0.2.7?profile=SubStream",
            OnvifAddress("192.0.2.7", 80, "a", "b", "SubStream"),
        ),
    ],
)
def test_onvif_urls_are_parsed(url: str, expected: OnvifAddress) -> None:
    assert OnvifAddress.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("rtsp://192.0.2.7/stream", "not an onvif:// URL"),
        ("onvif://", "without a host"),
        ("onvif://192.0.2.7:99999", "bad port"),
        ("onvif://192.0.2.7?channel=2", "unknown option 'channel'"),
    ],
)
def test_bad_onvif_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        OnvifAddress.parse(url)


def test_the_password_never_shows() -> None:
    address = OnvifAddress.parse("onvif://admin:hunter2@192.0.2.7:8080")
    assert "hunter2" not in repr(address) and address.where == "192.0.2.7:8080"
    with pytest.raises(OnvifError) as caught:
        OnvifCamera("cam", "onvif://admin:hunter2@/nohost")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


MAIN = MediaProfile("Profile_Main", "MainStream", "H264", 1920, 1080, 25)
SUB = MediaProfile("Profile_Sub", "SubStream", "H264", 640, 360, 25)
AUDIO = MediaProfile("Profile_Audio", "AudioOnly")


@pytest.mark.parametrize(
    ("profiles", "wanted", "chosen"),
    [
        ([SUB, MAIN], None, MAIN),  # the largest, wherever it is
        ([MAIN, SUB], "Profile_Sub", SUB),  # by token
        ([MAIN, SUB], "substream", SUB),  # by name, any case
        ([AUDIO, SUB], None, SUB),  # never a profile without video by default
        ([MAIN, MediaProfile("Profile_2", "Copy", "H264", 1920, 1080)], None, MAIN),  # tie: first
        ([MAIN], "Profile_9", None),
        ([], None, None),
    ],
)
def test_profile_choice(
    profiles: list[MediaProfile], wanted: str | None, chosen: MediaProfile | None
) -> None:
    assert choose_profile(profiles, wanted) == chosen


def test_importing_the_adapter_leaves_logging_alone() -> None:
    # The client library calls logging.basicConfig when imported; the CLI sets logging up itself.
    probe = (
        "import logging, ingest.onvif; root = logging.getLogger();"
        " print(len(root.handlers), root.level)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == ["0", str(logging.WARNING)]


# --------------------------------------------------------------------- the simulated camera


def test_device_information(camera: OnvifCamera) -> None:
    info = camera.device_info()
    assert (info.manufacturer, info.model, info.serial_number) == (
        "PythonCam",
        "VirtualCam-1",
        "GW-SIM-0001",
    )
    assert info.firmware_version == "1.3.0"


def test_profiles_and_the_default_choice(camera: OnvifCamera) -> None:
    profiles = camera.profiles()
    assert [(p.token, p.name, p.encoding, p.width, p.height, p.fps) for p in profiles] == [
        ("Profile_Main", "MainStream", "H264", WIDTH, HEIGHT, 5.0),
        ("Profile_Sub", "SubStream", "H264", WIDTH // 2, HEIGHT // 2, 5.0),
    ]
    assert camera.profile().token == "Profile_Main"
    assert camera.profile("SubStream").token == "Profile_Sub"
    with pytest.raises(OnvifError, match=r"no media profile 'Night' .*MainStream \(Profile_Main\)"):
        camera.profile("Night")


def test_stream_uri_carries_credentials_for_the_reader_only(
    camera: OnvifCamera, onvif_sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="ingest.onvif"):
        uri = camera.stream_uri()
        bare = camera.stream_uri("Profile_Sub", with_credentials=False)
    assert uri == f"rtsp://admin:gw-Sim-pass%3A1@{onvif_sim.camera_ip}:8554/video_main"
    assert bare == f"rtsp://{onvif_sim.camera_ip}:8554/video_sub"
    assert caplog.messages and all("gw-Sim-pass" not in line for line in caplog.messages)
    assert all(line.startswith("gate-1: ") for line in caplog.messages)


def test_snapshot_is_a_decodable_jpeg(camera: OnvifCamera, onvif_sim: Simulator) -> None:
    assert camera.snapshot_uri() == f"http://{onvif_sim.camera_ip}:8080/snapshot.jpg"
    jpeg = camera.snapshot()
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (HEIGHT, WIDTH, 3)
    assert image.std() > 10  # a picture of the scene, not a blank frame


def test_describe_holds_no_secrets(camera: OnvifCamera, onvif_sim: Simulator) -> None:
    description = camera.describe()
    assert description.device.model == "VirtualCam-1"
    assert description.profile.token == "Profile_Main" and len(description.profiles) == 2
    assert description.address == f"{onvif_sim.camera_ip}:8080"
    assert "gw-Sim-pass" not in repr(description)


@pytest.mark.parametrize(("user", "password"), [("admin", "wrong"), ("intruder", "gw-Sim-pass:1")])
def test_wrong_credentials_are_an_authentication_error(
    onvif_sim: Simulator, user: str, password: str
) -> None:
    with pytest.raises(OnvifAuthError, match="authentication failed") as caught:
        OnvifCamera.connect("gate-1", onvif_sim.url(user, password))
    assert isinstance(caught.value, CameraUnavailable) and caught.value.camera_id == "gate-1"
    assert caught.value.__cause__ is not None  # chained to what the library raised
    assert password not in str(caught.value)


def test_no_credentials_for_a_camera_that_wants_them(onvif_sim: Simulator) -> None:
    with pytest.raises(OnvifAuthError, match="authentication failed"):
        OnvifCamera.connect("gate-1", onvif_sim.url(user=""))


def test_the_simulator_has_no_event_service(camera: OnvifCamera) -> None:
    with pytest.raises(OnvifEventsUnsupported, match="no ONVIF event service"):
        camera.subscribe_events()


def test_open_source_reads_frames_from_an_onvif_camera(onvif_sim: Simulator) -> None:
    source = open_source("gate-1", onvif_sim.url(query="?profile=SubStream"), detect_fps=5)
    try:
        assert isinstance(source, RtspSource)
        assert "gw-Sim-pass" in source.address.url  # the reader logs in; the URL is never logged
        frame = source.read()
        assert frame is not None and frame.size == (WIDTH // 2, HEIGHT // 2)
        assert frame.camera_id == "gate-1"
    finally:
        source.close()


# ---------------------------------------------------------------- what is not an ONVIF camera


def test_nothing_listening_is_connection_refused(onvif_sim: Simulator) -> None:
    with pytest.raises(OnvifUnreachable, match=r"connection refused at 198\.18\..*:9 "):
        OnvifCamera.connect("gate-1", f"onvif://a:b@{onvif_sim.camera_ip}:9", timeout_s=5)


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_plain_web_server_is_not_an_onvif_device(plain_http_server: int) -> None:
    with pytest.raises(NotAnOnvifDevice, match="not an ONVIF device service"):
        OnvifCamera.connect("gate-1", f"onvif://a:b@127.0.0.1:{plain_http_server}", timeout_s=5)


def test_a_camera_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers a request
        port = silent.getsockname()[1]
        with pytest.raises(OnvifTimeout, match=r"did not answer connect within 0.5 s"):
            OnvifCamera.connect("gate-1", f"onvif://a:b@127.0.0.1:{port}", timeout_s=0.5)


def test_open_source_reports_an_unreachable_onvif_camera() -> None:
    with pytest.raises(CameraUnavailable, match="connection refused"):
        open_source("gate-1", f"onvif://a:b@127.0.0.1:{free_port()}", detect_fps=2)


# ------------------------------------------------------------------------------------ events


@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("tns1:RuleEngine/CellMotionDetector/Motion", "motion"),
        ("tns1:VideoSource/MotionAlarm", "motion"),
        ("tns1:RuleEngine/MotionRegionDetector/Motion", "motion"),
        ("tns1:VideoSource/GlobalSceneChange/ImagingService", "tamper"),
        ("tns1:RuleEngine/TamperDetector/Tamper", "tamper"),
        ("tns1:VideoSource/ImageTooBlurry/AnalyticsService", "tamper"),
        ("tnsaxis:VideoSource/Tampering", "tamper"),
        ("tns1:RuleEngine/LineDetector/Crossed", "analytics"),
        ("tns1:RuleEngine/FieldDetector/ObjectsInside", "analytics"),
        ("tns1:RuleEngine/CountAggregation/Counter", "analytics"),
        ("tns1:Device/Trigger/DigitalInput", "other"),
        ("tns1:Monitoring/ProcessorUsage", "other"),
    ],
)
def test_topics_sort_into_kinds(topic: str, kind: str) -> None:
    assert event_kind(topic) == kind


def _expected_recorded_events() -> list[tuple[str, str, bool | None, dict[str, str], dt.datetime]]:
    rule = {"VideoSourceConfigurationToken": "VSC_1", "VideoAnalyticsConfigurationToken": "VAC_1"}
    at = dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    return [
        (
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "motion",
            True,
            {**rule, "Rule": "MyMotionDetectorRule"},
            at.replace(second=1, microsecond=250000),
        ),
        ("tns1:VideoSource/MotionAlarm", "motion", False, {"Source": "VS_1"}, at.replace(second=1)),
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            "tamper",
            True,
            {"Source": "VS_1"},
            at.replace(second=2),
        ),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            "tamper",
            True,
            {**rule, "Rule": "MyTamperDetectorRule"},
            at.replace(second=2, microsecond=500000),
        ),
        (
            "tns1:RuleEngine/LineDetector/Crossed",
            "analytics",
            None,
            {**rule, "Rule": "SchoolGateLine"},
            at.replace(second=3),
        ),
        (
            "tns1:RuleEngine/FieldDetector/ObjectsInside",
            "analytics",
            True,
            {**rule, "Rule": "PlaygroundAfterHours"},
            at.replace(second=4),
        ),
        (
            "tns1:Device/Trigger/DigitalInput",
            "other",
            False,
            {"InputToken": "DI_1"},
            at.replace(second=5),
        ),
    ]


def _summary(events: list[CameraEvent]) -> list[tuple[object, ...]]:
    return [(e.topic, e.kind, e.state, dict(e.source), e.time) for e in events]


def test_recorded_notifications_become_camera_events() -> None:
    events = parse_pull_messages(RECORDED.read_bytes())
    assert _summary(events) == _expected_recorded_events()
    assert events[1].operation == "Initialized" and events[0].operation == "Changed"
    assert events[4].data == {"ObjectId": "17"}
    assert all(event.time.tzinfo is not None for event in events)


def test_a_message_without_time_takes_the_time_it_arrived() -> None:
    xml = (
        '<m xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"><wsnt:NotificationMessage>'
        "<wsnt:Topic>tns1:VideoSource/MotionAlarm</wsnt:Topic></wsnt:NotificationMessage>"
        "<wsnt:NotificationMessage><wsnt:Topic/></wsnt:NotificationMessage></m>"
    )
    arrived = dt.datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    (event,) = parse_pull_messages(xml, received=arrived)
    assert (event.kind, event.state, event.time, dict(event.source)) == (
        "motion",
        None,
        arrived,
        {},
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pullpoint_subscription_pulls_renews_and_unsubscribes() -> None:
    clock = FakeClock()
    with events_device(lifetime=dt.timedelta(seconds=60)) as device:
        device.pending.append(RECORDED.read_text())
        with OnvifCamera.connect("gate-1", f"onvif://u:p@127.0.0.1:{device.port}") as camera:
            subscription = camera.subscribe_events(monotonic=clock)
            events = subscription.pull(timeout_s=1)
            assert _summary(events) == _expected_recorded_events()
            assert subscription.pull(timeout_s=0) == []
            assert "Renew" not in device.actions
            clock.now += 49  # four fifths of the 60 s the camera granted, and a bit
            subscription.pull(timeout_s=0)
            assert device.actions.count("Renew") == 1 and subscription.renewals == 1
            subscription.pull(timeout_s=0)
            assert device.actions.count("Renew") == 1  # renewed for another 60 s
            subscription.close()
        assert device.actions[-1] == "Unsubscribe"
        assert device.actions.count("CreatePullPointSubscription") == 1


def test_a_camera_that_forgot_the_subscription_gets_a_new_one() -> None:
    clock = FakeClock()
    with (
        events_device() as device,
        OnvifCamera.connect("gate-1", f"onvif://u:p@127.0.0.1:{device.port}") as camera,
    ):
        subscription = camera.subscribe_events(monotonic=clock)
        device.forget_subscriptions = True  # as after a reboot
        assert subscription.pull(timeout_s=0) == []
        assert subscription.restarts == 1 and device.subscriptions == 2
        device.pending.append(RECORDED.read_text())
        assert len(subscription.pull(timeout_s=0)) == 7
        device.forget_subscriptions = True
        clock.now += 100
        subscription.pull(timeout_s=0)  # the renewal is refused: subscribe again
        assert device.subscriptions == 3 and subscription.restarts == 2


def test_a_camera_without_pullpoint_says_so() -> None:
    with events_device() as device:
        original = device.answer

        def refuse(action: str, request: str) -> tuple[int, str]:
            if action == "CreatePullPointSubscription":
                return original("NoSuchAction", request)
            return original(action, request)

        device.answer = refuse  # type: ignore[method-assign]
        with (
            OnvifCamera.connect("gate-1", f"onvif://u:p@127.0.0.1:{device.port}") as camera,
            pytest.raises(OnvifEventsUnsupported, match="refused a PullPoint subscription"),
        ):
            camera.subscribe_events()


def test_a_message_the_wsdls_do_not_describe_is_read_as_xml() -> None:
    from types import SimpleNamespace

    from lxml import etree

    from ingest.onvif.parsers import event_from_zeep

    # The client hands such a message over as a raw element instead of a typed object.
    raw = etree.fromstring(
        '<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2026-11-27T08:00:09Z"'
        ' PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="Channel" Value="2"/>'
        '</tt:Source><tt:Data><tt:SimpleItem Name="State" Value="true"/></tt:Data></tt:Message>'
    )
    notification = SimpleNamespace(
        Topic=SimpleNamespace(_value_1="tnsvendor:Device/HardDisk/Full"),
        Message=SimpleNamespace(_value_1=raw),
    )
    event = event_from_zeep(notification, dt.datetime.now(UTC))
    assert event is not None
    assert (event.kind, event.state, dict(event.source)) == ("other", True, {"Channel": "2"})
    assert event.time == dt.datetime(2026, 11, 27, 8, 0, 9, tzinfo=UTC)
