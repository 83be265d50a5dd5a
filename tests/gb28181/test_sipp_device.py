"""The GB/T 28181 service against SIPp playing the device, on loopback UDP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gridwatch.api_client import ApiClient
from gridwatch.gb28181 import sip
from gridwatch.gb28181.reporting import ApiReporter
from gridwatch.gb28181.service import Gb28181Service, Gb28181Settings
from tests.conftest import WORKER_TOKEN, LiveServer

SCENARIOS = Path(__file__).parent / "scenarios"
PLATFORM_ID = "34020000002000000001"
DOMAIN = "3402000000"
DEVICE_ID = "34020000001320000001"
PASSWORD = "12345678"


class Clock:
    """Monotonic time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def listen(service: Gb28181Service) -> asyncio.Server:
    """Listen for the service on one free loopback port, UDP and TCP alike (its TCP server)."""
    loop = asyncio.get_running_loop()
    # A free UDP port may be taken for TCP by another test on the machine: try again.
    for _attempt in range(20):
        await loop.create_datagram_endpoint(lambda: service, local_addr=("127.0.0.1", 0))
        assert service.transport is not None
        port = service.transport.get_extra_info("sockname")[1]
        try:
            return await asyncio.start_server(service.serve_tcp, "127.0.0.1", port)
        except OSError:
            service.transport.close()
    raise AssertionError("no loopback port free for both UDP and TCP")


@contextmanager
def running(
    reporter: ApiReporter | None = None, password: str = PASSWORD
) -> Iterator[Gb28181Service]:
    """The service on a free loopback UDP port, its loop on a thread of its own; `password` is
    the platform's ("": devices need their own)."""
    settings = Gb28181Settings(
        host="127.0.0.1", port=5060, sip_id=PLATFORM_ID, domain=DOMAIN,
        password=password, keepalive_interval_s=60, keepalive_missed=3,
    )  # fmt: skip
    service = Gb28181Service(settings, clock=Clock(), reporter=reporter)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    tcp: list[asyncio.Server] = []

    async def start() -> None:
        tcp.append(await listen(service))
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    assert ready.wait(10)
    yield service
    assert service.transport is not None
    loop.call_soon_threadsafe(service.transport.close)
    loop.call_soon_threadsafe(tcp[0].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def service() -> Iterator[Gb28181Service]:
    with running() as service:
        yield service


def sipp(
    service: Gb28181Service,
    scenario: str,
    password: str = PASSWORD,
    *,
    check: bool = True,
    transport: str = "u1",
) -> None:
    """Run one SIPp call of `scenario` as device DEVICE_ID; fails the test when SIPp does."""
    sipp_path = shutil.which("sipp")
    assert sipp_path, "SIPp missing: scripts/system-deps.sh installs sip-tester"
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    result = subprocess.run(
        [sipp_path, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-m", "1",
         "-oocsf", str(SCENARIOS / "catalog_answer.xml"),
         "-i", "127.0.0.1", "-p", "0", "-s", DEVICE_ID, "-au", DEVICE_ID, "-ap", password,
         "-t", transport, "-key", "platform", PLATFORM_ID, "-key", "domain", DOMAIN,
         "-timeout", "30s", "-timeout_error", "-recv_timeout", "20000", "-nostdin", "-trace_err",
         "-error_file", "/dev/stderr"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 or not check, (
        f"SIPp {scenario}: rc {result.returncode}\n{result.stderr}"
    )


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
def test_register_with_digest_challenge_catalog_and_keepalive(
    service: Gb28181Service, transport: str
) -> None:
    sipp(service, "register_catalog.xml", transport=transport)
    assert service.devices[DEVICE_ID].transport == {"u1": "udp", "t1": "tcp"}[transport]

    device = service.devices[DEVICE_ID]
    assert device.online and service.stats.challenges == 1
    assert device.catalog_sum == 2
    gate, east = (device.channels[c] for c in ("34020000001310000001", "34020000001310000002"))
    assert (gate.name, gate.manufacturer, gate.model, gate.civil_code, gate.status) == (
        "Gate camera", "Hikvision", "DS-2CD2T47G2", "340200", "ON")  # fmt: skip
    assert (gate.longitude, gate.latitude) == (117.2272, 31.8206)
    assert (east.name, east.manufacturer, east.status) == ("东门通道", "Dahua", "OFF")
    assert east.longitude is None and east.device_id == DEVICE_ID


def test_silent_device_goes_offline_after_missed_keepalives(service: Gb28181Service) -> None:
    sipp(service, "register_catalog.xml")
    clock = service.clock
    assert isinstance(clock, Clock)

    clock.offset = 60 * 3 - 5  # still inside three intervals
    assert service.check_keepalives(clock()) == []
    clock.offset = 60 * 3 + 5
    assert service.check_keepalives(clock()) == [DEVICE_ID]
    assert not service.devices[DEVICE_ID].online


def test_wrong_password_is_refused_403_and_not_registered(
    service: Gb28181Service, caplog: pytest.LogCaptureFixture
) -> None:
    sipp(service, "wrong_password.xml", password="not-the-password")

    assert DEVICE_ID not in service.devices
    assert service.stats.wrong_password == 1
    assert "not-the-password" not in caplog.text and PASSWORD not in caplog.text


def test_unregister_with_expires_zero(service: Gb28181Service) -> None:
    sipp(service, "register_unregister.xml")

    assert DEVICE_ID not in service.devices


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKa\r\n"
         b"From: <sip:1@x>;tag=a\r\nTo: <sip:1@x>\r\nCall-ID: c1\r\nCSeq: one REGISTER\r\n\r\n",
         "CSeq"),
        (b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKb\r\n"
         b"From: <sip:123@x>;tag=a\r\nTo: <sip:123@x>\r\nCall-ID: c2\r\nCSeq: 1 REGISTER\r\n\r\n",
         "20-digit"),
    ],
)  # fmt: skip
def test_malformed_request_is_answered_400_and_counted(
    service: Gb28181Service, datagram: bytes, reason: str
) -> None:
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(datagram, ("127.0.0.1", port))
        answer = sock.recv(65535).decode()

    assert answer.startswith("SIP/2.0 400 ")
    assert service.stats.malformed == 1


def wait_until_sent(reporter: ApiReporter) -> None:
    """Until every report and alarm queued so far has reached the API (reports of one device
    queued before the first is sent go as one)."""
    deadline = time.monotonic() + 30
    while not reporter.idle():
        assert time.monotonic() < deadline, f"reports still queued; {reporter.sent} sent"
        time.sleep(0.05)


def test_device_reaches_the_api_is_adopted_and_its_health_follows(live_api: LiveServer) -> None:
    admin = live_api.admin_headers()
    reporter = ApiReporter(ApiClient(live_api.url, WORKER_TOKEN, worker_name="gb28181", timeout=10))
    try:
        with running(reporter) as service:
            sipp(service, "register_catalog.xml")
            wait_until_sent(reporter)  # registration, the whole catalog, DeviceInfo
            devices = httpx.get(f"{live_api.url}/api/v1/gb28181/devices", headers=admin).json()
            assert [(d["id"], d["admission"], d["online"]) for d in devices] == [
                (DEVICE_ID, "pending", True)
            ]
            names = {c["channel_id"]: c["name"] for c in devices[0]["channels"]}
            assert names == {"34020000001310000001": "Gate camera",
                             "34020000001310000002": "东门通道"}  # fmt: skip

            device_url = f"{live_api.url}/api/v1/gb28181/devices/{DEVICE_ID}"
            httpx.put(f"{device_url}/admission", json={"admission": "accepted"}, headers=admin)
            adopted = httpx.post(
                f"{device_url}/channels/34020000001310000001/camera",
                json={"id": "gb-gate", "organisation_id": "no1-primary-school",
                      "zones": [{"name": "gate", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
                      "rules": [{"kind": "intrusion", "zone": "gate", "classes": ["person"]}]},
                headers=admin,
            )  # fmt: skip
            assert adopted.status_code == 201, adopted.text
            camera_url = f"{live_api.url}/api/v1/cameras/gb-gate"
            assert httpx.get(camera_url, headers=admin).json()["status"] == "online"

            clock = service.clock
            assert isinstance(clock, Clock)
            clock.offset = 60 * 3 + 5
            assert service.check_keepalives(clock()) == [DEVICE_ID]
            wait_until_sent(reporter)
            assert httpx.get(camera_url, headers=admin).json()["status"] == "offline"

            # Refused by an admin: the device's next REGISTER, with the right password, gets 403.
            httpx.put(f"{device_url}/admission", json={"admission": "refused"}, headers=admin)
            # The service learns it with the devices' credentials (each 10 s; now here).
            reporter.refresh_credentials()
            wait_until_sent(reporter)
            assert reporter.admission(DEVICE_ID) == "refused"
            service.devices.clear()  # a restarted device registers again
            sipp(service, "wrong_password.xml")  # right password, still 403
            assert DEVICE_ID not in service.devices
    finally:
        reporter.close()


def test_unreadable_manscdp_is_answered_400_and_counted(service: Gb28181Service) -> None:
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    body = b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType>'
    datagram = (
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKc\r\nFrom: <sip:1@x>;tag=a\r\n"
        "To: <sip:2@x>\r\nCall-ID: c3\r\nCSeq: 1 MESSAGE\r\n"
        f"Content-Type: Application/MANSCDP+xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(datagram, ("127.0.0.1", port))
        answer = sock.recv(65535).decode()

    assert answer.startswith("SIP/2.0 400 ")
    assert service.stats.bad_xml == 1


def test_re_registration_renews_and_expiry_drops_the_device(service: Gb28181Service) -> None:
    sipp(service, "register_catalog.xml")
    queries = service._sn
    clock = service.clock
    assert isinstance(clock, Clock)
    clock.offset = 3000.0  # keep-alives would have been missed; a new REGISTER renews
    sipp(service, "register_catalog.xml")

    device = service.devices[DEVICE_ID]
    assert device.online and service._sn == queries  # no second catalog query
    assert device.expires_at == pytest.approx(clock() + 3600, abs=60)
    clock.offset += 3600 + 5
    service.check_keepalives(clock())
    assert DEVICE_ID not in service.devices


def test_tcp_frame_without_content_length_is_answered_400_and_closed(
    service: Gb28181Service,
) -> None:
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    frame = (
        b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKd\r\nFrom: <sip:1@x>;tag=a\r\n"
        b"To: <sip:1@x>\r\nCall-ID: c4\r\nCSeq: 1 REGISTER\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n\r\n" + frame)  # a CRLF keep-alive first, then the bad frame
        answer = sock.recv(65535).decode()
        assert sock.recv(65535) == b""  # closed: the stream cannot be resynchronised

    assert answer.startswith("SIP/2.0 400 ")
    assert service.stats.malformed == 1


class RawDevice:
    """A device made of one UDP socket, for what SIPp cannot be told to do: send a request
    twice on purpose, or not answer one."""

    def __init__(self, service: Gb28181Service) -> None:
        assert service.transport is not None
        self.port = service.transport.get_extra_info("sockname")[1]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.local = self.sock.getsockname()[1]
        self.requests: list[bytes] = []  # the service's requests heard so far, in order

    def request(self, method: str, cseq: int, branch: str, *extra: str, body: str = "") -> bytes:
        lines = [
            f"{method} sip:{PLATFORM_ID}@{DOMAIN} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.local};rport;branch={branch}",
            f"From: <sip:{DEVICE_ID}@{DOMAIN}>;tag=d1",
            f"To: <sip:{PLATFORM_ID}@{DOMAIN}>",
            "Call-ID: retrans-1@127.0.0.1",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{DEVICE_ID}@127.0.0.1:{self.local}>",
            "Expires: 3600",
            *extra,
            f"Content-Length: {len(body.encode())}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def answers(self, datagram: bytes, times: int) -> list[bytes]:
        """Send `datagram` `times` times; the service's answers (its own requests kept aside)."""
        got: list[bytes] = []
        for _ in range(times):
            self.sock.sendto(datagram, ("127.0.0.1", self.port))
            while True:
                data = self.sock.recv(65535)
                if data.startswith(b"SIP/2.0 "):
                    got.append(data)
                    break
                self.requests.append(data)
        return got

    def listen(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        """Hear the service's requests for `seconds`, or until `until()`, answering none."""
        deadline = time.monotonic() + seconds
        while not until() and (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                self.requests.append(self.sock.recv(65535))
            except TimeoutError:
                break
        self.sock.settimeout(10)

    def catalog_queries(self) -> list[bytes]:
        return [data for data in self.requests if b"<CmdType>Catalog</CmdType>" in data]

    def close(self) -> None:
        self.sock.close()

    def register(self) -> None:
        """REGISTER, answered 401, then with the digest of PASSWORD, answered 200."""
        (challenge,) = self.answers(self.request("REGISTER", 1, "z9hG4bK-reg1"), 1)
        nonce = re.search(rb'nonce="([0-9a-f]+)"', challenge)
        assert nonce is not None, challenge
        first, again = self.answers(
            self.request("REGISTER", 2, "z9hG4bK-reg2", self.authorization(nonce[1].decode())), 2
        )
        assert first.startswith(b"SIP/2.0 200 ") and again == first

    @staticmethod
    def authorization(nonce: str) -> str:
        uri = f"sip:{PLATFORM_ID}@{DOMAIN}"
        ha1, ha2 = (  # RFC 2617 digest, MD5 as GB/T 28181 has it
            hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
            for text in (f"{DEVICE_ID}:{DOMAIN}:{PASSWORD}", f"REGISTER:{uri}")
        )
        digest = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode(), usedforsecurity=False).hexdigest()
        return (
            f'Authorization: Digest username="{DEVICE_ID}", realm="{DOMAIN}", '
            f'nonce="{nonce}", uri="{uri}", response="{digest}", algorithm=MD5'
        )


def test_retransmitted_requests_are_answered_alike_and_handled_once(
    service: Gb28181Service,
) -> None:
    """A device that did not hear the answer in time sends its request again (RFC 3261 §17.1.2,
    Timer E); SIPp does so every 500 ms and aborts on a second, different challenge. Each
    retransmission gets the first answer, byte for byte, and is not handled again, until the
    transaction's Timer J (32 s) has passed."""
    with contextlib.closing(RawDevice(service)) as device:
        first, again = device.answers(device.request("REGISTER", 1, "z9hG4bK-r1"), 2)
        assert first.startswith(b"SIP/2.0 401 ") and again == first
        assert service.stats.challenges == 1 and service.stats.retransmissions == 1
        nonce = re.search(rb'nonce="([0-9a-f]+)"', first)
        assert nonce is not None
        registered = device.request(
            "REGISTER", 2, "z9hG4bK-r2", device.authorization(nonce[1].decode())
        )
        first, again = device.answers(registered, 2)
        assert first.startswith(b"SIP/2.0 200 ") and again == first
        requests = service._cseq  # the catalog and device-information queries, once each

        alarm = device.request(
            "MESSAGE", 3, "z9hG4bK-a1", "Content-Type: Application/MANSCDP+xml",
            body=(
                '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Alarm</CmdType>'
                f"<SN>17</SN><DeviceID>{DEVICE_ID}</DeviceID><AlarmPriority>1</AlarmPriority>"
                "<AlarmMethod>5</AlarmMethod><AlarmTime>2026-11-29T20:30:00</AlarmTime>"
                "</Notify>"
            ),
        )  # fmt: skip
        first, again, third = device.answers(alarm, 3)
        assert first.startswith(b"SIP/2.0 200 ") and again == first and third == first
        assert service.stats.alarms == 1 and service.stats.retransmissions == 4
        assert service._cseq == requests + 1  # one alarm Response to the device, not three

        # Past Timer J the transaction is gone: the same request is a new one.
        clock = service.clock
        assert isinstance(clock, Clock)
        clock.offset += 33
        (late,) = device.answers(alarm, 1)
        assert late.startswith(b"SIP/2.0 200 ")
        deadline = time.monotonic() + 10  # counted on the service's thread once answered
        while service.stats.alarms < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (service.stats.alarms, service.stats.retransmissions) == (2, 4)


def test_a_query_the_device_does_not_answer_is_sent_again_until_it_does(
    service: Gb28181Service,
) -> None:
    """Over UDP the platform's Catalog query may be lost on its way (or its answer): sent again
    after 0.5 s, then 1 s later (RFC 3261 §17.1.2.2, Timer E), the same bytes, until the device
    answers; then no more."""
    with contextlib.closing(RawDevice(service)) as device:
        device.register()
        started = time.monotonic()
        device.listen(10, until=lambda: len(device.catalog_queries()) >= 3)  # 0, 0.5, 1.5 s
        catalogs = device.catalog_queries()
        assert len(catalogs) == 3 and time.monotonic() - started >= 1.2, device.requests
        assert set(catalogs) == {catalogs[0]}  # the same request, byte for byte
        for query in {sip.parse(data).header("via"): sip.parse(data) for data in
                      device.requests}.values():  # fmt: skip
            device.sock.sendto(sip.response(query, 200).encode(), ("127.0.0.1", device.port))
        device.listen(0.5)  # a send that crossed the answers
        heard = len(device.requests)
        device.listen(4.5)  # past the next send (3.5 s, then every 4 s), had none been answered
        assert device.requests[heard:] == []
