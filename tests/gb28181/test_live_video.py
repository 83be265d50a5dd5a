"""Live video from GB/T 28181 devices: PS over RTP decoded into the clip's frames, and the INVITE,
ACK and BYE against SIPp playing the device, whose ACK starts the PS over RTP sender."""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import uvicorn
from pydantic import SecretStr, ValidationError

from contract.camera import default_data_dir
from gridwatch.gb28181 import sip
from gridwatch.gb28181.media import (
    MediaSettings,
    StreamRequest,
    control_app,
    offer,
    parse_answer,
    ssrc_for,
)
from gridwatch.gb28181.reporting import ApiReporter
from gridwatch.gb28181.service import Device, Gb28181Service, Gb28181Settings
from ingest.decoding import VideoDecoder
from ingest.gb28181 import Gb28181Media, Gb28181Source
from ingest.live import StreamOptions
from ingest.rtp import PayloadStream, RtpReceiver
from tests.conftest import WORKER_TOKEN
from tests.gb28181 import ps_sender
from tests.gb28181.test_sipp_device import (
    DEVICE_ID,
    DOMAIN,
    PASSWORD,
    PLATFORM_ID,
    SCENARIOS,
    listen,
    sipp,
)

CHANNEL_ID = "34020000001310000001"
FRAMES = 40


@pytest.fixture(scope="module", params=["libx264", "libx265"], ids=["h264", "h265"])
def ps_clip(request: pytest.FixtureRequest, demo_clip: Path) -> Path:
    return ps_sender.prepare(demo_clip, default_data_dir(), codec=request.param, frames=FRAMES)


def reference_frames(clip: Path) -> list[np.ndarray]:
    """The clip's frames as FFmpeg decodes its PS from memory: what must come out of RTP."""
    data = b"".join(ps for _, ps in ps_sender.read_frames(clip))
    with av.open(io.BytesIO(data), format="mpeg") as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_sdp_offer_and_answer() -> None:
    request = StreamRequest(
        device_id=DEVICE_ID, channel_id=CHANNEL_ID, media_host="10.0.0.5", media_port=30000,
        transport="tcp",
    )  # fmt: skip
    text = offer(PLATFORM_ID, request, ssrc_for(DOMAIN, 1)).decode()
    for line in ("s=Play", "c=IN IP4 10.0.0.5", "m=video 30000 TCP/RTP/AVP 96",
                 "a=rtpmap:96 PS/90000", "a=setup:passive", "y=0200000001"):  # fmt: skip
        assert f"{line}\r\n" in text
    answer = parse_answer(
        b"v=0\r\nc=IN IP4 10.0.0.9\r\nm=video 15060 RTP/AVP 96\r\ny=0200000001\r\n"
    )
    assert (answer.host, answer.port, answer.ssrc) == ("10.0.0.9", 15060, 200000001)
    with pytest.raises(ValueError, match="no m=video"):
        parse_answer(b"v=0\r\nm=audio 1 RTP/AVP 8\r\n")
    with pytest.raises(ValueError, match="y="):
        parse_answer(b"m=video 1 RTP/AVP 96\r\ny=abc\r\n")


@pytest.mark.parametrize(
    ("transport", "reorder"),
    [("udp", False), ("udp", True), ("tcp", False)],
    ids=["udp", "udp-reordered", "tcp"],
)
def test_ps_over_rtp_gives_the_clips_frames(ps_clip: Path, transport: str, reorder: bool) -> None:
    expected = reference_frames(ps_clip)
    assert len(expected) == FRAMES
    stream = PayloadStream(timeout_s=1.0)
    receiver = RtpReceiver(stream, transport=transport, host="127.0.0.1", ssrc=200000001)  # type: ignore[arg-type]
    sender = threading.Thread(
        target=ps_sender.send,
        args=(ps_sender.read_frames(ps_clip), "127.0.0.1", receiver.port, 200000001),
        kwargs={"tcp": transport == "tcp", "speed": 4.0, "reorder": reorder},
    )
    sender.start()
    try:
        decoder = VideoDecoder(stream, {"probesize": 65536, "analyzeduration": 0}, format="mpeg")  # type: ignore[arg-type]
        assert decoder.codec_name == ("hevc" if "265" in ps_clip.name else "h264")
        frames = []
        while decoder.grab():
            image = decoder.retrieve()
            assert image is not None
            frames.append(image)
    finally:
        sender.join(30)
        receiver.close()
    assert receiver.stats.lost == 0 and receiver.stats.malformed == 0
    assert len(frames) == FRAMES
    assert frames[0].shape == (576, 768, 3)
    # Bit for bit the pictures FFmpeg decodes from the PS the sender muxed: nothing lost or
    # garbled between the two.
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))


def test_a_stray_senders_packets_are_dropped_not_decoded(demo_clip: Path) -> None:
    """Two senders to one port: the stream's SSRC (known only once the answer names it, as in
    the adapter) and a stray one of another SSRC sending garbage with the same payload type and
    sequence numbers; only the first is decoded, the other counted and dropped."""
    clip = ps_sender.prepare(demo_clip, default_data_dir(), codec="libx264", frames=FRAMES)
    expected = reference_frames(clip)
    stream = PayloadStream(timeout_s=1.0, first_timeout_s=5.0)
    receiver = RtpReceiver(stream, host="127.0.0.1")
    first_sequence = 1000
    stray_sent = 0

    def stray() -> None:
        nonlocal stray_sent
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            frames = [(t, bytes(len(ps))) for t, ps in ps_sender.read_frames(clip)]
            for _index, packets in ps_sender.rtp_packets(frames, 7, first_sequence=first_sequence):
                for packet in packets:
                    sock.sendto(packet[:12] + secrets.token_bytes(len(packet) - 12),
                                ("127.0.0.1", receiver.port))  # fmt: skip
                    stray_sent += 1
                time.sleep(0.02)

    def genuine() -> None:
        frames = ps_sender.read_frames(clip)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            ssrc = 200000001
            for _index, packets in ps_sender.rtp_packets(
                frames, ssrc, first_sequence=first_sequence
            ):
                for packet in packets:
                    sock.sendto(packet, ("127.0.0.1", receiver.port))
                time.sleep(0.02)

    senders = [threading.Thread(target=stray), threading.Thread(target=genuine)]
    for sender in senders:
        sender.start()
    time.sleep(0.2)  # packets of both arrive before the answer's SSRC is known: they wait
    receiver.expect(200000001)
    try:
        decoder = VideoDecoder(stream, {"probesize": 65536, "analyzeduration": 0}, format="mpeg")  # type: ignore[arg-type]
        frames = []
        while decoder.grab():
            image = decoder.retrieve()
            assert image is not None
            frames.append(image)
    finally:
        for sender in senders:
            sender.join(30)
        receiver.close()
    assert len(frames) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))
    assert receiver.stats.foreign == stray_sent > 0
    assert receiver.stats.lost == 0 and receiver.stats.duplicates == 0


def test_rtp_ports_come_from_the_configured_range(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        first = busy.getsockname()[1]
        monkeypatch.setenv("GRIDWATCH_GB28181_RTP_PORTS", f"{first}-{first + 20}")
        port_range = Gb28181Media().rtp_port_range
        assert port_range == (first, first + 20)
        receiver = RtpReceiver(PayloadStream(timeout_s=0.1), host="127.0.0.1", ports=port_range)
        try:
            assert first < receiver.port <= first + 20  # the busy first port was skipped
        finally:
            receiver.close()
        with pytest.raises(OSError, match=f"udp port {first} is in use on 127.0.0.1"):
            RtpReceiver(PayloadStream(timeout_s=0.1), host="127.0.0.1", ports=(first, first))
    for bad in ("30000", "30100-30000", "0-10", "30000-70000", "a-b"):
        monkeypatch.setenv("GRIDWATCH_GB28181_RTP_PORTS", bad)
        with pytest.raises(ValidationError, match="GRIDWATCH_GB28181_RTP_PORTS"):
            Gb28181Media()


# --- against SIPp playing the device -----------------------------------------------------------


@contextmanager
def service_with_control(
    reporter: ApiReporter | None = None, media: MediaSettings | None = None
) -> Iterator[tuple[Gb28181Service, str]]:
    """The SIP service on a free loopback port (UDP and TCP) and its stream control, on one
    loop."""
    settings = Gb28181Settings(
        host="127.0.0.1", port=5060, sip_id=PLATFORM_ID, domain=DOMAIN, password=PASSWORD,
    )  # fmt: skip
    service = Gb28181Service(settings, reporter=reporter, media=media)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    control = uvicorn.Server(
        uvicorn.Config(control_app(service.media, SecretStr(WORKER_TOKEN)), log_level="warning",
                       lifespan="off")
    )  # fmt: skip
    listening = socket.create_server(("127.0.0.1", 0))
    tasks: list[asyncio.Task[None]] = []

    tcp: list[asyncio.Server] = []

    async def start() -> None:
        tcp.append(await listen(service))
        tasks.append(loop.create_task(control.serve(sockets=[listening])))

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    deadline = time.monotonic() + 10
    while not control.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield service, f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        control.should_exit = True
        time.sleep(0.3)
        assert service.transport is not None
        loop.call_soon_threadsafe(service.transport.close)
        for server in tcp:
            loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def sipp_device(
    service: Gb28181Service,
    clip: Path,
    tmp_path: Path,
    *,
    stay_ms: int,
    speed: float = 2.0,
    finish: bool = True,
    signalling: str = "u1",
) -> Iterator[Path]:
    """SIPp as the device: registers, answers the catalog query and INVITEs (device_media.xml
    runs the PS over RTP sender on each ACK), stays `stay_ms`, unregisters. Yields the file of
    the SIP messages it traced; fails the test when SIPp does. Without `finish` SIPp is stopped
    at the end instead of waited for. `signalling` is SIPp's transport: u1 (UDP) or t1 (TCP,
    one connection, over which the INVITE, ACK and BYE come too)."""
    sipp = shutil.which("sipp")
    assert sipp, "SIPp missing: scripts/system-deps.sh installs sip-tester"
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    sender = f"{sys.executable} -m tests.gb28181.ps_sender {clip} --speed {speed:g}"
    messages = tmp_path / "sipp-messages.log"
    process = subprocess.Popen(
        [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register_and_wait.xml"), "-m", "1",
         "-oocsf", str(SCENARIOS / "device_media.xml"), "-d", str(stay_ms),
         "-i", "127.0.0.1", "-p", "0", "-s", DEVICE_ID, "-au", DEVICE_ID, "-ap", PASSWORD,
         "-t", signalling,
         "-key", "platform", PLATFORM_ID, "-key", "domain", DOMAIN, "-key", "sender", sender,
         "-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err", "-trace_msg",
         "-message_file", str(messages), "-error_file", str(tmp_path / "sipp-errors.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while DEVICE_ID not in service.devices and time.monotonic() < deadline:
            time.sleep(0.05)
        if DEVICE_ID not in service.devices:
            process.kill()
            pytest.fail(f"SIPp did not register: {process.communicate()[1][-2000:]}")
        yield messages
        if finish:
            _, errors = process.communicate(timeout=stay_ms / 1000 + 30)
            assert process.returncode == 0, f"SIPp rc {process.returncode}: {errors}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def media_for(control_url: str, transport: str) -> Gb28181Media:
    return Gb28181Media(
        control_url=control_url, token=SecretStr(WORKER_TOKEN), media_host="127.0.0.1",
        media_bind="127.0.0.1", media_transport=transport,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("transport", "signalling"),
    [("udp", "u1"), ("tcp", "u1"), ("udp", "t1")],
    ids=["udp", "tcp", "sip-over-tcp"],
)
def test_sipp_device_is_invited_and_streams_the_clip(
    ps_clip: Path, transport: str, signalling: str, tmp_path: Path
) -> None:
    """RTP over UDP or TCP passive; signalling over UDP, or over the device's TCP connection,
    which the INVITE, ACK and BYE must then take (a device behind NAT is reached only there)."""
    expected = reference_frames(ps_clip)
    with (
        service_with_control() as (service, control_url),
        sipp_device(service, ps_clip, tmp_path, stay_ms=7000, signalling=signalling) as messages,
    ):
        assert service.devices[DEVICE_ID].transport == ("tcp" if signalling == "t1" else "udp")
        source = Gb28181Source(
            "gate", f"gb28181://{DEVICE_ID}/{CHANNEL_ID}", detect_fps=20,
            options=StreamOptions(read_timeout_s=3.0), media=media_for(control_url, transport),
        )  # fmt: skip
        try:
            frames = [source.read() for _ in range(8)]
            assert source.invite_to_first_frame_s is not None
            deadline = time.monotonic() + 15
            while source.health().frames_received < FRAMES and time.monotonic() < deadline:
                time.sleep(0.1)
            health = source.health()
        finally:
            source.close()
        assert len(service.media.calls) == 0, "the stream was not ended with BYE"
    assert health.frames_received == FRAMES
    assert health.codec == ("hevc" if "265" in ps_clip.name else "h264")
    for frame in frames:
        assert frame is not None and frame.size == (768, 576)
        assert any(np.array_equal(frame.image, picture) for picture in expected)
    trace = messages.read_text(errors="replace")
    assert trace.count("INVITE sip:") == 1 and "BYE sip:" in trace and "ACK sip:" in trace
    proto = "TCP/RTP/AVP" if transport == "tcp" else "RTP/AVP"
    assert f"m=video {source.rtp.port if source.rtp else 0} {proto} 96" in trace


def test_stream_control_refuses_with_reasons() -> None:
    body = {"device_id": DEVICE_ID, "channel_id": CHANNEL_ID, "media_host": "127.0.0.1",
            "media_port": 30000}  # fmt: skip
    with service_with_control() as (service, control_url):
        auth = {"Authorization": f"Bearer {WORKER_TOKEN}"}
        wrong = httpx.post(f"{control_url}/streams", json=body, headers={"Authorization": "x"})
        assert wrong.status_code == 401
        unknown = httpx.post(f"{control_url}/streams", json=body, headers=auth)
        assert unknown.status_code == 404 and "not registered" in unknown.json()["detail"]
        bad = httpx.post(f"{control_url}/streams", json={**body, "media_port": 0}, headers=auth)
        assert bad.status_code == 422 and "media_port" in bad.text
        assert httpx.delete(f"{control_url}/streams/nope", headers=auth).status_code == 404
        assert not service.media.calls


def test_metrics_count_what_was_refused() -> None:
    """Malformed SIP, unreadable MANSCDP and a wrong digest (SIPp) are answered 400 and 403 and
    show in the control's Prometheus metrics, by reason."""
    garbage = b"HELLO\r\n\r\n"
    body = b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType>'
    bad_xml = (
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm\r\nFrom: <sip:1@x>;tag=a\r\n"
        "To: <sip:2@x>\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with service_with_control() as (service, control_url):
        assert httpx.get(f"{control_url}/metrics").status_code == 401
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(garbage, request_source(service))  # nothing to answer it to: dropped
            sock.sendto(bad_xml, request_source(service))
            assert sock.recv(65535).startswith(b"SIP/2.0 400 ")
        sipp(service, "wrong_password.xml", password="not-the-password")
        answer = httpx.get(
            f"{control_url}/metrics", headers={"Authorization": f"Bearer {WORKER_TOKEN}"}
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in answer.text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['gridwatch_gb28181_refused_total{reason="malformed_sip"}'] == 1
    assert samples['gridwatch_gb28181_refused_total{reason="malformed_manscdp"}'] == 1
    assert samples['gridwatch_gb28181_refused_total{reason="wrong_password"}'] == 1
    assert samples['gridwatch_gb28181_refused_total{reason="no_password"}'] == 0
    assert samples["gridwatch_gb28181_challenges_total"] >= 1
    assert samples['gridwatch_gb28181_devices{state="online"}'] == 0
    assert samples["gridwatch_gb28181_streams"] == 0


def test_a_device_that_refuses_or_stays_silent() -> None:
    """A device answering 486 is ACKed and the worker told why (502); a silent one, after the
    INVITE's retransmissions, is 504."""
    body = {"device_id": DEVICE_ID, "channel_id": CHANNEL_ID, "media_host": "127.0.0.1",
            "media_port": 30000}  # fmt: skip
    auth = {"Authorization": f"Bearer {WORKER_TOKEN}"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device, service_with_control(
        media=MediaSettings(invite_timeout_s=1.5)
    ) as (service, control_url):  # fmt: skip
        device.bind(("127.0.0.1", 0))
        device.settimeout(5)
        service.devices[DEVICE_ID] = Device(DEVICE_ID, device.getsockname(), 1e12, 1e12)
        answered: list[bytes] = []

        def refuse() -> None:
            invite = device.recv(65535)
            request = sip.parse(invite)
            device.sendto(sip.response(request, 486).encode(), request_source(service))
            answered.append(device.recv(65535))  # the ACK

        helper = threading.Thread(target=refuse)
        helper.start()
        refused = httpx.post(f"{control_url}/streams", json=body, headers=auth, timeout=10)
        helper.join(5)
        assert refused.status_code == 502 and "486" in refused.json()["detail"]
        assert answered and answered[0].startswith(b"ACK sip:")
        assert not service.media.calls

        started = time.monotonic()
        silent = httpx.post(f"{control_url}/streams", json=body, headers=auth, timeout=10)
        assert silent.status_code == 504 and "did not answer" in silent.json()["detail"]
        assert 1.4 < time.monotonic() - started < 5
        invites = 0
        with contextlib.suppress(TimeoutError):
            device.settimeout(0.2)
            while device.recv(65535).startswith(b"INVITE"):
                invites += 1
        assert invites >= 2  # sent again at 0.5 and 1 s over UDP


def request_source(service: Gb28181Service) -> tuple[str, int]:
    assert service.transport is not None
    return service.transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]


@pytest.mark.timing
def test_a_stream_that_stops_is_invited_again(tmp_path: Path, demo_clip: Path) -> None:
    clip = ps_sender.prepare(demo_clip, default_data_dir(), codec="libx264", frames=FRAMES)
    with service_with_control() as (service, control_url), sipp_device(
        service, clip, tmp_path, stay_ms=60_000, finish=False
    ):  # fmt: skip
        source = Gb28181Source(
            "gate", f"gb28181://{DEVICE_ID}/{CHANNEL_ID}", detect_fps=20,
            options=StreamOptions(read_timeout_s=1.5, open_timeout_s=10, max_backoff_s=1.0),
            media=media_for(control_url, "udp"),
        )  # fmt: skip
        try:
            # The sender stops after the clip's frames: silence for the read timeout is a lost
            # stream, ended with BYE and asked for again.
            deadline = time.monotonic() + 50
            while source.health().reconnects < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            health = source.health()
            after = source.read()
            invites, byes, open_calls = (
                service.media.invites,
                service.media.byes,
                len(service.media.calls),
            )
        finally:
            source.close()
    assert health.reconnects >= 1
    assert after is not None and after.size == (768, 576)
    assert invites >= 2 and byes >= 1 and open_calls == 1
