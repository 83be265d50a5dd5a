"""Live video from GB/T 28181 devices: the platform's INVITE, ACK and BYE, and the loopback HTTP
control through which a worker asks for a channel's stream.

Where the INVITE is made, and why: the SIP service makes it, the worker asks for it. Only the
service can: it holds each device's registration (the address and, over TCP, the connection a
device behind NAT is reached through; a second SIP endpoint would not be) and the platform's SIP
id the device trusts. Only the worker knows when: it holds the camera's lease, opens the RTP
port the stream must reach (on its own host, which may not be the service's), decodes, and sees
a stream die. So the worker's `ingest.gb28181` adapter opens the port and calls `POST /streams`
here with it; the service sends the INVITE whose SDP names that port (GB/T 28181-2016 §9.2 and
appendix F: `s=Play`, `m=video PORT RTP/AVP 96`, `a=rtpmap:96 PS/90000`, `y=SSRC`; over TCP
`TCP/RTP/AVP` with `a=setup:passive`, the worker listening), waits for the device's 200, sends the
ACK and answers with the device's SDP. `DELETE /streams/ID` sends the BYE. When the stream dies
the worker stops it and asks again, with backoff (`ingest.live.LiveSource`); a device that sends
BYE is answered 200 and its stream ends at the worker. Calls are kept in memory: a restarted
service forgets them, and the workers, seeing their streams stop, ask again.

The control listens on loopback by default and takes the workers' bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridwatch.gb28181 import sip
from gridwatch.gb28181.sip import SipMessage

if TYPE_CHECKING:
    from gridwatch.gb28181.service import Device, Gb28181Service

log = logging.getLogger(__name__)

GbCode = Annotated[str, Field(pattern=r"^[0-9]{20}$", description="A 20-digit GB/T 28181 code.")]
Transport = Literal["udp", "tcp"]


class MediaSettings(BaseSettings):
    """Settings of the stream control (prefix ``GRIDWATCH_GB28181_``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_GB28181_", extra="ignore")

    control_host: str = Field("127.0.0.1", description="Address the stream control listens on.")
    control_port: int = Field(
        5070, ge=0, le=65535, description="HTTP port of the stream control (0: any free one)."
    )
    invite_timeout_s: float = Field(
        8.0, gt=0, le=64, description="Seconds to wait for a device's final answer to INVITE."
    )


class StreamRequest(BaseModel):
    """A worker's request for a channel's live stream to a port it listens on."""

    model_config = ConfigDict(extra="forbid")

    device_id: GbCode
    channel_id: GbCode
    media_host: str = Field(
        max_length=64, pattern=r"^[0-9.]+$", description="IPv4 address the device sends RTP to."
    )
    media_port: int = Field(ge=1, le=65535, description="The worker's RTP port.")
    transport: Transport = Field("udp", description="udp, or tcp: the worker listens (passive).")


class StreamAnswer(BaseModel):
    """The stream as the device accepted it."""

    stream_id: str = Field(description="Identifies the call for DELETE /streams/ID.")
    ssrc: int = Field(description="SSRC the RTP carries: the device's y= line, else ours.")
    sender_host: str = Field(description="Address the device says it sends from.")
    sender_port: int = Field(description="Port the device says it sends from.")
    invite_to_answer_s: float = Field(description="Seconds from INVITE to the device's 200.")


class InviteFailed(Exception):
    """The device did not accept the INVITE; `status` is the HTTP status the control answers."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def ssrc_for(domain: str, serial: int) -> str:
    """A real-time stream's SSRC as GB/T 28181-2016 appendix F writes it in `y=`: ten decimal
    digits, 0 (real time), the domain's digits 4 to 8, and a 4-digit serial.

    Example:
        >>> ssrc_for("3402000000", 7)
        '0020000007'
    """
    return f"0{domain[3:8]}{serial % 10_000:04d}"


def offer(platform_id: str, request: StreamRequest, ssrc: str) -> bytes:
    """The INVITE's SDP (GB/T 28181-2016 appendix F) for a real-time stream to the worker."""
    proto = "TCP/RTP/AVP" if request.transport == "tcp" else "RTP/AVP"
    lines = [
        "v=0",
        f"o={platform_id} 0 0 IN IP4 {request.media_host}",
        "s=Play",
        f"c=IN IP4 {request.media_host}",
        "t=0 0",
        f"m=video {request.media_port} {proto} 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
    ]
    if request.transport == "tcp":
        lines += ["a=setup:passive", "a=connection:new"]
    lines.append(f"y={ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class SdpAnswer:
    """What a device's answer says of the stream it sends."""

    host: str
    port: int
    ssrc: int | None


def parse_answer(body: bytes) -> SdpAnswer:
    """Read the device's SDP: its c= address, the video m= port and its y= SSRC.

    Raises:
        ValueError: not text, no video m= line, or a port or SSRC that is not a number.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"SDP is not UTF-8 at byte {err.start}") from err
    host, port, ssrc = "", None, None
    for line in text.replace("\r\n", "\n").split("\n"):
        kind, _, value = line.strip().partition("=")
        if kind == "c" and not host:
            host = value.split()[-1] if value.split() else ""
        elif kind == "m" and value.startswith("video ") and port is None:
            raw = value.split()[1]
            if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
                raise ValueError(f"m= port {raw[:10]!r} is not a port number")
            port = int(raw)
        elif kind == "y":
            if not re.fullmatch(r"[0-9]{1,10}", value.strip()):
                raise ValueError(f"y= {value[:20]!r} is not a decimal SSRC")
            ssrc = int(value.strip())
    if port is None:
        raise ValueError("no m=video line")
    return SdpAnswer(host, port, ssrc)


@dataclass
class Call:
    """One INVITE dialog: a channel streaming to a worker's port."""

    call_id: str
    device_id: str
    channel_id: str
    address: tuple[str, int]
    from_tag: str
    cseq: int
    invite: SipMessage
    ssrc: str
    answered: asyncio.Future[SipMessage] = field(repr=False)
    to: str = ""  # the To with the device's tag, once answered
    target: str = ""  # the device's Contact URI: where in-dialog requests go
    established: bool = False
    started: float = field(default_factory=time.monotonic)


class MediaCalls:
    """The INVITE dialogs of a service: made on request, answered, ended.

    Args:
        service: The SIP service whose devices and transports the calls go through.
        settings: The control's settings.
    """

    def __init__(self, service: Gb28181Service, settings: MediaSettings):
        self.service = service
        self.settings = settings
        self.calls: dict[str, Call] = {}
        self.invites = 0  # INVITEs made (retransmissions not counted)
        self.byes = 0  # calls this side ended
        self._serial = 0

    async def start(self, request: StreamRequest) -> StreamAnswer:
        """INVITE `request`'s channel to stream to its port, ACK the 200, return the answer.

        Raises:
            InviteFailed: 404 the device is not registered; 409 it is offline; 502 it refused
                (its status and reason in the text) or answered an unreadable SDP; 504 no answer
                within `invite_timeout_s`.
        """
        device = self.service.devices.get(request.device_id)
        if device is None:
            raise InviteFailed(404, f"device_id: {request.device_id} is not registered")
        if not device.online:
            raise InviteFailed(409, f"device_id: {request.device_id} is offline (no keep-alive)")
        self._serial += 1
        ssrc = ssrc_for(self.service.settings.domain, self._serial)
        call = self._invite(device, request, ssrc)
        self.invites += 1
        started = time.monotonic()
        try:
            answer = await self._await_answer(call)
        except BaseException:
            self.calls.pop(call.call_id, None)
            raise
        elapsed = time.monotonic() - started
        try:
            sdp = parse_answer(answer.body)
        except ValueError as err:
            self.bye(call.call_id)
            raise InviteFailed(502, f"device's SDP refused: {err}") from err
        sent_ssrc = sdp.ssrc if sdp.ssrc is not None else int(ssrc)
        log.info("%s/%s: streaming to %s:%d over %s (SSRC %d), answered in %.3f s",
                 request.device_id, request.channel_id, request.media_host, request.media_port,
                 request.transport, sent_ssrc, elapsed)  # fmt: skip
        return StreamAnswer(
            stream_id=call.call_id, ssrc=sent_ssrc,
            sender_host=sdp.host, sender_port=sdp.port, invite_to_answer_s=elapsed,
        )  # fmt: skip

    def _invite(self, device: Device, request: StreamRequest, ssrc: str) -> Call:
        s = self.service.settings
        host, port = self.service._local_address()
        self.service._cseq += 1
        call_id = f"{secrets.token_hex(8)}@{host}"
        tag = secrets.token_hex(4)
        invite = SipMessage(
            method="INVITE",
            uri=f"sip:{request.channel_id}@{device.address[0]}:{device.address[1]}",
            headers=[
                ("via", f"SIP/2.0/{device.transport.upper()} {host}:{port};rport;"
                        f"branch={sip.branch()}"),
                ("from", f"<sip:{s.sip_id}@{s.domain}>;tag={tag}"),
                ("to", f"<sip:{request.channel_id}@{s.domain}>"),
                ("call-id", call_id),
                ("cseq", f"{self.service._cseq} INVITE"),
                ("contact", f"<sip:{s.sip_id}@{host}:{port}>"),
                ("max-forwards", "70"),
                ("subject", f"{request.channel_id}:{ssrc},{s.sip_id}:0"),
                ("content-type", "APPLICATION/SDP"),
            ],
            body=offer(s.sip_id, request, ssrc),
        )  # fmt: skip
        call = Call(
            call_id, request.device_id, request.channel_id, device.address, tag,
            self.service._cseq, invite, ssrc, asyncio.get_running_loop().create_future(),
        )  # fmt: skip
        self.calls[call_id] = call
        return call

    async def _await_answer(self, call: Call) -> SipMessage:
        """Send the INVITE (again at 0.5, 1, 2, 4 s over UDP: RFC 3261 timer A) until a final
        answer; a 1xx stops the retransmissions."""
        deadline = time.monotonic() + self.settings.invite_timeout_s
        interval = 0.5
        self.service._send(call.invite, call.address)
        while True:
            wait = min(interval, deadline - time.monotonic())
            if wait <= 0:
                raise InviteFailed(504, f"device_id: {call.device_id} did not answer the INVITE")
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(call.answered), wait)
            if not call.established and call.address not in self.service._tcp:
                self.service._send(call.invite, call.address)
            interval *= 2

    def on_response(self, response: SipMessage, addr: tuple[str, int]) -> bool:
        """Take a response to one of our INVITEs or BYEs; False when it is not ours."""
        call = self.calls.get(response.header("call-id") or "")
        if call is None:
            return False
        _, method = response.cseq
        status = response.status or 0
        if method != "INVITE":
            if method == "BYE":
                self.calls.pop(call.call_id, None)
            return True
        if status < 200:
            call.established = True  # provisional: the device is at it; stop retransmitting
            return True
        to = response.header("to") or ""
        if status < 300:
            call.to = to
            contact = response.header("contact") or ""
            match = re.search(r"<([^>]+)>", contact)
            call.target = (
                match.group(1) if match else (contact.split(";")[0] or call.invite.uri or "")
            )
            self._ack(call, addr)  # every 200, retransmitted ones too (RFC 3261 §13.2.2.4)
            if not call.answered.done():
                call.answered.set_result(response)
            return True
        # A refusal: the ACK is part of the INVITE transaction (RFC 3261 §17.1.1.3).
        self._ack(call, addr, to=to, failed=True)
        self.calls.pop(call.call_id, None)
        if not call.answered.done():
            call.answered.set_exception(
                InviteFailed(502, f"device answered {status} {response.reason}".strip())
            )
        return True

    def _ack(
        self, call: Call, addr: tuple[str, int], *, to: str = "", failed: bool = False
    ) -> None:
        invite = call.invite
        via = (invite.header("via") or "") if failed else self._via(call)
        ack = SipMessage(
            method="ACK",
            uri=invite.uri if failed else call.target,
            headers=[
                ("via", via),
                ("from", invite.header("from") or ""),
                ("to", to or call.to),
                ("call-id", call.call_id),
                ("cseq", f"{call.cseq} ACK"),
                ("max-forwards", "70"),
            ],
        )
        self.service._send(ack, addr)

    def _via(self, call: Call) -> str:
        host, port = self.service._local_address()
        transport = "TCP" if call.address in self.service._tcp else "UDP"
        return f"SIP/2.0/{transport} {host}:{port};rport;branch={sip.branch()}"

    def bye(self, call_id: str) -> bool:
        """End a call with BYE; False when there is no such call."""
        call = self.calls.get(call_id)
        if call is None:
            return False
        if not call.to:  # never answered: nothing to end
            self.calls.pop(call_id, None)
            return True
        self.service._cseq += 1
        request = SipMessage(
            method="BYE",
            uri=call.target,
            headers=[
                ("via", self._via(call)),
                ("from", call.invite.header("from") or ""),
                ("to", call.to),
                ("call-id", call.call_id),
                ("cseq", f"{call.cseq + 1} BYE"),
                ("max-forwards", "70"),
            ],
        )
        device = self.service.devices.get(call.device_id)
        self.service._send(request, device.address if device else call.address)
        self.byes += 1
        log.info("%s/%s: BYE", call.device_id, call.channel_id)
        # Forgotten now: a lost BYE leaves a device streaming to a closed port, which it stops
        # on its own when the port refuses (ICMP) or at its next re-registration.
        self.calls.pop(call_id, None)
        return True

    def on_bye(self, request: SipMessage, addr: tuple[str, int]) -> None:
        """A device ended a call: answer 200 (481 when there is no such call)."""
        call = self.calls.pop(request.header("call-id") or "", None)
        self.service._send(sip.response(request, 200 if call else 481), addr)
        if call is not None:
            log.info("%s/%s: the device ended the stream (BYE)", call.device_id, call.channel_id)


def control_app(calls: MediaCalls, token: SecretStr) -> FastAPI:
    """The HTTP control: `POST /streams` (a `StreamRequest`, answered with a `StreamAnswer`),
    `DELETE /streams/{stream_id}` and `GET /metrics` (Prometheus text: what the service refused
    and why, devices online, streams); all take ``Authorization: Bearer`` with the workers' token.
    Errors answer ``{"detail": "field: why"}`` with 401, 404, 409, 502 or 504."""

    def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given, f"Bearer {token.get_secret_value()}"):
            raise HTTPException(401, detail="authorization: not the workers' bearer token")

    app = FastAPI(title="GridWatch GB/T 28181 stream control", dependencies=[Depends(authorised)])

    @app.post("/streams", response_model=StreamAnswer)
    async def start(request: StreamRequest) -> StreamAnswer:
        try:
            return await calls.start(request)
        except InviteFailed as err:
            raise HTTPException(err.status, detail=err.reason) from err

    @app.delete("/streams/{stream_id}", status_code=204)
    async def stop(stream_id: str) -> None:
        if not calls.bye(stream_id):
            raise HTTPException(404, detail=f"stream_id: no stream {stream_id[:80]}")

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """The service's counters and gauges for Prometheus (`gridwatch.gb28181.metrics`)."""
        from gridwatch.gb28181.metrics import render

        return Response(render(calls.service), media_type=CONTENT_TYPE_LATEST)

    return app
