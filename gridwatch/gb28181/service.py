"""The GB/T 28181 SIP service: registration with digest auth (the platform's password or a
device's own), keep-alive, catalog and device-information queries, alarms, and the INVITEs of
live video that workers ask for (`media`).

It runs as its own process (`gridwatch gb28181`), not inside the worker: devices register to one
fixed address and port that the district's NAT and firewall rules point at, while workers come
and go and share cameras through leases; one signalling endpoint per platform id is what the
standard assumes. Timers take the clock as an argument (`check_keepalives(now)`) so tests drive
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.gb28181 import DeviceInfo
from gridwatch.gb28181 import manscdp, sip
from gridwatch.gb28181.manscdp import Channel, ManscdpError
from gridwatch.gb28181.media import MediaCalls, MediaSettings, control_app
from gridwatch.gb28181.reporting import ApiReporter, device_report
from gridwatch.gb28181.sip import SipMessage, SipParseError

log = logging.getLogger(__name__)

_DIGITS20 = re.compile(r"^[0-9]{20}$")
_DIGITS10 = re.compile(r"^[0-9]{10}$")
NONCE_TTL_S = 300.0
# RFC 3261 §17.1.1.1: T1 (the round-trip estimate) and T2 (the longest wait between two sends
# of a request other than INVITE). §17.2.2: a non-INVITE server transaction over UDP stays
# Completed for Timer J (64 x T1) and answers each retransmission of its request with the
# response it sent; §17.1.2.2: a client transaction over UDP sends its request again after T1,
# then twice as long each time up to T2, until an answer or Timer F (64 x T1).
T1_S, T2_S = 0.5, 4.0
TIMER_J_S = TIMER_F_S = 64 * T1_S


class Gb28181Settings(BaseSettings):
    """Environment settings of the GB/T 28181 service (prefix ``GRIDWATCH_GB28181_``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_GB28181_", extra="ignore")

    host: str = Field("0.0.0.0", description="Address to listen on for SIP over UDP and TCP.")
    port: int = Field(5060, ge=1, le=65535, description="SIP port, UDP and TCP alike.")
    sip_id: str = Field(
        "34020000002000000001",
        description="The platform's 20-digit SIP id: 8-digit civil code, 2-digit industry, "
        "3-digit type (200: SIP server), 7-digit serial (GB/T 28181-2016 appendix D).",
    )
    domain: str = Field(
        "3402000000", description="The SIP domain: the 10-digit center code, the id's first 10."
    )
    password: SecretStr = Field(
        SecretStr(""),
        description="Digest password of every device without a password of its own (set by an "
        "admin in the API); empty: only devices with their own password can register.",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Zone of the local times devices send (AlarmTime)."
    )
    realm: str | None = Field(None, description="Digest realm; the domain when unset.")
    keepalive_interval_s: float = Field(
        60.0, gt=0, description="Seconds between a device's keep-alives (the standard's 60)."
    )
    keepalive_missed: int = Field(
        3, ge=1, description="Missed keep-alives after which a device is offline (standard: 3)."
    )
    report_interval_s: float = Field(
        20.0,
        gt=0,
        description="Seconds between reports of every device's state to the API, "
        "so the API can tell a live service from a dead one; keep it under the video-loss grace.",
    )
    min_expires_s: int = Field(60, ge=1, description="Shortest registration accepted.")
    max_expires_s: int = Field(86_400, ge=60, description="Longest registration granted.")

    @field_validator("sip_id")
    @classmethod
    def _platform_id(cls, value: str) -> str:
        if not _DIGITS20.match(value):
            raise ValueError(f"{value!r} is not a 20-digit GB/T 28181 code")
        if value[10:13] != "200":
            raise ValueError(f"type code {value[10:13]} is not 200 (SIP server)")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DIGITS10.match(value):
            raise ValueError(f"{value!r} is not a 10-digit center code")
        return value

    @model_validator(mode="after")
    def _domain_is_prefix(self) -> Gb28181Settings:
        if not self.sip_id.startswith(self.domain):
            raise ValueError(f"sip_id {self.sip_id} does not start with domain {self.domain}")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"{value!r} is not an IANA time zone") from err
        return value


@dataclass
class Device:
    """A registered device or lower platform, as the service knows it now."""

    device_id: str
    address: tuple[str, int]
    expires_at: float
    last_keepalive: float
    online: bool = True
    transport: str = "udp"  # or "tcp": where answers and the platform's requests go
    channels: dict[str, Channel] = field(default_factory=dict)
    catalog_sum: int | None = None
    catalog_seen: set[str] = field(default_factory=set)  # item ids, directories included
    info: DeviceInfo | None = None  # its DeviceInfo answer
    keepalive_at: datetime | None = None  # wall clock of the last keep-alive, for the API


@dataclass
class Stats:
    """Counters of what the service refused, for logs and health."""

    malformed: int = 0
    bad_xml: int = 0
    wrong_password: int = 0
    no_password: int = 0  # REGISTERs of devices that have no password here
    challenges: int = 0
    alarms: int = 0
    retransmissions: int = 0  # requests received again and answered as the first time


class Gb28181Service(asyncio.DatagramProtocol):
    """SIP over UDP (the datagram protocol) and TCP (`serve_tcp`) for GB/T 28181 devices.

    Args:
        settings: Validated settings.
        clock: Seconds, monotonic; tests pass their own.
        reporter: Where devices and alarms are reported to the API, and where devices' own
            passwords and admissions come from (None: kept here only). A device the API says is
            refused is answered 403; pending ones register, so that their catalog reaches the
            admin who decides, but cannot be adopted until accepted. A device with its own
            password registers with that one only.
        media: Settings of live video's INVITEs (see `media`).
    """

    def __init__(
        self,
        settings: Gb28181Settings,
        clock: Any = time.monotonic,
        reporter: ApiReporter | None = None,
        media: MediaSettings | None = None,
    ):
        self.settings = settings
        self.reporter = reporter
        self.clock = clock
        self.realm = settings.realm or settings.domain
        self.zone = ZoneInfo(settings.timezone)
        self.devices: dict[str, Device] = {}
        self.stats = Stats()
        self._nonces: dict[str, float] = {}
        self._sn = 0
        self._reported_at = float("-inf")
        self._cseq = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._tcp: dict[tuple[str, int], asyncio.StreamWriter] = {}
        # Final answers sent over UDP, by transaction (`_transaction`): (until when, bytes).
        self._answered: dict[tuple[str, str, str], tuple[float, bytes]] = {}
        # Our requests over UDP not answered yet, by Via branch: the next send's timer.
        self._unanswered: dict[str, asyncio.TimerHandle] = {}
        self.media = MediaCalls(self, media or MediaSettings())

    # --- transport -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # NAT keep-alive CRLFs (RFC 5626)
        try:
            message = sip.parse(data)
        except SipParseError as err:
            self.stats.malformed += 1
            log.warning("%s:%d: malformed SIP (%s)", addr[0], addr[1], err)
            self._answer_malformed(data, addr, str(err))
            return
        if message.status is not None:
            branch = sip.params(message.header("via") or "").get("branch", "")
            resend = self._unanswered.pop(branch, None) if message.status >= 200 else None
            if resend is not None:
                resend.cancel()  # answered: our MESSAGE is not sent again
            elif not self.media.on_response(message, addr):
                log.debug("%s:%d: response to no request of ours", *addr)
            return
        answered = self._answered.get(_transaction(message))
        if answered is not None and answered[0] > self.clock():
            # The device did not hear the answer in time (a lost datagram, a slow network, a
            # loaded platform) and sent the request again: handled once, answered alike. A
            # second REGISTER would otherwise get a new challenge that the device, waiting for
            # its 200, does not expect, and a second alarm would be reported twice.
            self.stats.retransmissions += 1
            log.debug("%s:%d: %s retransmitted, answered again", *addr, message.method)
            self._send_bytes(answered[1], addr)
            return
        try:
            if message.method == "REGISTER":
                self._register(message, addr)
            elif message.method == "MESSAGE":
                self._message(message, addr)
            elif message.method == "BYE":
                self.media.on_bye(message, addr)
            elif message.method is not None and message.method != "ACK":
                self._send(
                    sip.response(message, 405, ("allow", "REGISTER, MESSAGE, ACK, BYE")), addr
                )
        except SipParseError as err:
            self.stats.malformed += 1
            log.warning("%s:%d: malformed %s (%s)", addr[0], addr[1], message.method, err)
            self._send(sip.response(message, 400), addr)

    def _send(self, message: SipMessage, addr: tuple[str, int]) -> None:
        data = message.encode()
        if message.status is not None and message.status >= 200 and addr not in self._tcp:
            # Kept for the request's retransmissions (none over TCP: Timer J is 0 there).
            now = self.clock()
            while self._answered:  # oldest first: every entry lives as long
                oldest = next(iter(self._answered))
                if self._answered[oldest][0] > now:
                    break
                del self._answered[oldest]
            key = _transaction(message)
            self._answered.pop(key, None)  # re-inserted last, in the order of expiry
            self._answered[key] = (now + TIMER_J_S, data)
        self._send_bytes(data, addr)

    def _send_bytes(self, data: bytes, addr: tuple[str, int]) -> None:
        connection = self._tcp.get(addr)
        if connection is not None:
            connection.write(data)
        elif self.transport is not None:
            self.transport.sendto(data, addr)

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One device's SIP over TCP (RFC 3261 §18.3): messages framed by Content-Length.

        Answers and the platform's requests to a device registered over TCP go back over its
        connection. A frame without Content-Length or over the size limit is answered 400 (when
        it can be) and the connection closed, since the stream cannot be resynchronised.
        """
        addr = cast(tuple[str, int], writer.get_extra_info("peername")[:2])
        self._tcp[addr] = writer
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    self.stats.malformed += 1
                    log.warning("%s:%d: SIP header over the limit over TCP", *addr)
                    return
                if not head.strip():
                    continue  # CRLF keep-alives (RFC 5626 §3.5.1)
                length = _content_length(head)
                if length is None or length > sip.MAX_MESSAGE_BYTES:
                    self.stats.malformed += 1
                    log.warning("%s:%d: TCP frame without a usable Content-Length", *addr)
                    self._answer_malformed(head, addr, "Content-Length missing or too large")
                    return
                body = await reader.readexactly(length) if length else b""
                self.datagram_received(head + body, addr)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._tcp.pop(addr, None)
            writer.close()

    def _answer_malformed(self, data: bytes, addr: tuple[str, int], reason: str) -> None:
        """Answer 400 when the headers needed to address an answer are there, else drop."""
        lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        if not lines or lines[0].startswith("SIP/2.0"):
            return  # never answer a response
        request = SipMessage(method="X")
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                key = {"v": "via", "f": "from", "t": "to", "i": "call-id"}.get(key, key)
                request.headers.append((key, value.strip()))
        if all(request.header(h) for h in ("via", "from", "to", "call-id", "cseq")):
            answer = sip.response(request, 400)
            answer.reason = f"Bad Request ({reason[:100]})"
            self._send(answer, addr)

    # --- REGISTER --------------------------------------------------------------------------
    def _register(self, request: SipMessage, addr: tuple[str, int]) -> None:
        now = self.clock()
        device_id = sip.user_of(request.header("from") or "")
        if not _DIGITS20.match(device_id):
            raise SipParseError(f"From user {device_id[:40]!r} is not a 20-digit device id")
        password = self._password_of(device_id)
        if password is None:
            # A new id while devices register with passwords of their own: listed for an admin
            # (who accepts it and gives it a password, or refuses it), never let in.
            self.stats.no_password += 1
            log.warning("%s from %s:%d: REGISTER refused, no password for this device",
                        device_id, *addr)  # fmt: skip
            if self.reporter is not None:
                self.reporter.report(
                    device_id,
                    device_report(False, addr, None).model_copy(update={"authenticated": False}),
                )
            self._send(sip.response(request, 403), addr)
            return
        authorization = request.header("authorization")
        if authorization is None:
            self._challenge(request, addr, stale=False)
            return
        credentials = _digest_params(authorization)
        nonce = credentials.get("nonce", "")
        issued = self._nonces.get(nonce)
        if issued is None or now - issued > NONCE_TTL_S:
            self._challenge(request, addr, stale=issued is not None)
            return
        if credentials.get("username") != device_id or not self._digest_ok(
            request, credentials, password
        ):
            self.stats.wrong_password += 1
            log.warning("%s from %s:%d: REGISTER refused, wrong digest", device_id, *addr)
            self._send(sip.response(request, 403), addr)
            return
        if self.reporter is not None and self.reporter.admission(device_id) == "refused":
            log.warning(
                "%s from %s:%d: REGISTER refused, an admin refused the device", device_id, *addr
            )
            self.devices.pop(device_id, None)
            self._send(sip.response(request, 403), addr)
            return
        expires = _expires(request)
        if expires == 0:
            gone = self.devices.pop(device_id, None)
            if gone is not None:
                self._report(gone, online=False)
            log.info("%s: unregistered%s", device_id, "" if gone else " (was not registered)")
            self._send(sip.response(request, 200, ("expires", "0")), addr)
            return
        expires = min(max(expires, self.settings.min_expires_s), self.settings.max_expires_s)
        device = self.devices.get(device_id)
        first = device is None
        if device is None:
            device = Device(device_id, addr, now + expires, now)
            self.devices[device_id] = device
        device.address, device.expires_at, device.last_keepalive = addr, now + expires, now
        device.online, device.keepalive_at = True, datetime.now(UTC)
        device.transport = "tcp" if addr in self._tcp else "udp"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        self._send(
            sip.response(
                request, 200, ("contact", request.header("contact") or ""),
                ("expires", str(expires)), ("date", stamp),
            ),
            addr,
        )  # fmt: skip
        log.info("%s at %s:%d: %s for %d s", device_id, *addr,
                 "registered" if first else "re-registered", expires)  # fmt: skip
        if first:
            self._report(device, online=True)
            self.query_catalog(device)
            self.query_device_info(device)

    def _challenge(self, request: SipMessage, addr: tuple[str, int], *, stale: bool) -> None:
        nonce = secrets.token_hex(16)
        self._nonces = {n: t for n, t in self._nonces.items() if self.clock() - t <= NONCE_TTL_S}
        self._nonces[nonce] = self.clock()
        self.stats.challenges += 1
        value = f'Digest realm="{self.realm}", nonce="{nonce}", algorithm=MD5'
        if stale:
            value += ", stale=TRUE"
        self._send(sip.response(request, 401, ("www-authenticate", value)), addr)

    def _password_of(self, device_id: str) -> str | None:
        """The device's own password when an admin gave it one, else the platform's (None: no
        password for it; it cannot register)."""
        own = self.reporter.password(device_id) if self.reporter is not None else None
        return own or self.settings.password.get_secret_value() or None

    def _digest_ok(self, request: SipMessage, credentials: dict[str, str], password: str) -> bool:
        """RFC 2617 MD5 digest, with or without qop=auth."""
        ha1 = _md5(f"{credentials.get('username')}:{credentials.get('realm', '')}:{password}")
        ha2 = _md5(f"{request.method}:{credentials.get('uri', '')}")
        nonce = credentials.get("nonce", "")
        if credentials.get("qop"):
            expected = _md5(
                f"{ha1}:{nonce}:{credentials.get('nc', '')}:{credentials.get('cnonce', '')}"
                f":{credentials['qop']}:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return credentials.get("realm") == self.realm and secrets.compare_digest(
            expected, credentials.get("response", "").lower()
        )

    # --- MESSAGE ---------------------------------------------------------------------------
    def _message(self, request: SipMessage, addr: tuple[str, int]) -> None:
        try:
            root = manscdp.decode(request.body)
            command = manscdp.text_of(root, "CmdType", required=True)
            device_id = manscdp.device_id_of(root)
        except ManscdpError as err:
            self.stats.bad_xml += 1
            log.warning("%s:%d: MESSAGE with unreadable MANSCDP (%s)", addr[0], addr[1], err)
            self._send(sip.response(request, 400), addr)
            return
        sender = sip.user_of(request.header("from") or "")
        device = self.devices.get(sender)
        if device is None:
            log.warning("%s:%d: %s %s from unregistered %s", *addr, root.tag, command, sender)
            self._send(sip.response(request, 403), addr)
            return
        if root.tag == "Notify" and command == "Keepalive":
            device.last_keepalive, device.address = self.clock(), addr
            device.keepalive_at = datetime.now(UTC)
            if not device.online:
                log.info("%s: online again", device.device_id)
                device.online = True
                self._report(device, online=True)
            self._send(sip.response(request, 200), addr)
        elif root.tag == "Response" and command == "Catalog":
            try:
                total, channels, directories = manscdp.catalog_items(root, device_id)
            except ManscdpError as err:
                self.stats.bad_xml += 1
                log.warning("%s: catalog response refused (%s)", sender, err)
                self._send(sip.response(request, 400), addr)
                return
            self._send(sip.response(request, 200), addr)
            device.catalog_sum = total
            for channel in channels:
                device.channels[channel.channel_id] = channel
            device.catalog_seen.update(directories, (c.channel_id for c in channels))
            log.info("%s: catalog %d of %d items", sender, len(device.catalog_seen), total)
            if len(device.catalog_seen) >= total:
                self._report(device, online=True, catalog=True)
        elif root.tag == "Notify" and command == "Alarm":
            self._alarm(request, root, device, addr)
        elif root.tag == "Response" and command == "DeviceInfo":
            try:
                device.info = manscdp.device_info(root)
            except ManscdpError as err:
                self.stats.bad_xml += 1
                log.warning("%s: DeviceInfo response refused (%s)", sender, err)
                self._send(sip.response(request, 400), addr)
                return
            self._send(sip.response(request, 200), addr)
            info = device.info
            log.info("%s: %s %s, firmware %s, %s channels", sender, info.manufacturer,
                     info.model, info.firmware, info.channel_count)  # fmt: skip
            self._report(device, online=device.online)
        else:
            self._send(sip.response(request, 200), addr)
            log.info("%s: %s %s not handled yet", sender, root.tag, command)

    def _alarm(self, request: SipMessage, root: Any, device: Device, addr: tuple[str, int]) -> None:
        """A device's alarm (GB/T 28181-2016 §9.4.2): 200 OK to the MESSAGE, then a MESSAGE
        Response CmdType=Alarm Result=OK, and the alarm to the API (an incident when its
        channel is an adopted camera)."""
        try:
            alarm = manscdp.alarm(root, device.device_id, self.zone)
        except ManscdpError as err:
            self.stats.bad_xml += 1
            log.warning("%s: alarm refused (%s)", device.device_id, err)
            self._send(sip.response(request, 400), addr)
            return
        self._send(sip.response(request, 200), addr)
        self.stats.alarms += 1
        log.warning("%s: alarm %s on %s, priority %d, at %s", device.device_id, alarm.label(),
                    alarm.channel_id, alarm.priority, alarm.time.isoformat())  # fmt: skip
        self.send_request(device, manscdp.alarm_response(alarm.sn, alarm.channel_id))
        if self.reporter is not None:
            self.reporter.alarm(alarm)

    def reset_alarm(self, device_id: str, channel_id: str, method: int, alarm_type: int | None):
        """Send the device DeviceControl AlarmCmd=ResetAlarm for `channel_id` (§9.4.3)."""
        device = self.devices.get(device_id)
        if device is None:
            raise KeyError(f"{device_id} is not registered")
        self._sn += 1
        self.send_request(device, manscdp.alarm_reset(self._sn, channel_id, method, alarm_type))

    def query_catalog(self, device: Device) -> None:
        """Send the device a MESSAGE Query CmdType=Catalog; its Responses fill `channels`."""
        self._sn += 1
        self.send_request(device, manscdp.catalog_query(self._sn, device.device_id))

    def query_device_info(self, device: Device) -> None:
        """Send the device a MESSAGE Query CmdType=DeviceInfo; its Response fills `info`."""
        self._sn += 1
        self.send_request(device, manscdp.device_info_query(self._sn, device.device_id))

    def send_request(self, device: Device, body: bytes) -> None:
        """Send the device a MESSAGE with a MANSCDP body, over its transport."""
        self._cseq += 1
        host, port = self._local_address()
        s = self.settings
        request = SipMessage(
            method="MESSAGE",
            uri=f"sip:{device.device_id}@{device.address[0]}:{device.address[1]}",
            headers=[
                (
                    "via",
                    f"SIP/2.0/{'TCP' if device.address in self._tcp else 'UDP'} "
                    f"{host}:{port};rport;branch={sip.branch()}",
                ),
                ("from", f"<sip:{s.sip_id}@{s.domain}>;tag={secrets.token_hex(4)}"),
                ("to", f"<sip:{device.device_id}@{s.domain}>"),
                ("call-id", f"{secrets.token_hex(8)}@{host}"),
                ("cseq", f"{self._cseq} MESSAGE"),
                ("max-forwards", "70"),
                ("content-type", "Application/MANSCDP+xml"),
            ],
            body=body,
        )
        self._send(request, device.address)
        if device.address not in self._tcp:  # over UDP a datagram may be lost: send it again
            loop = asyncio.get_running_loop()
            branch = sip.params(request.header("via") or "")["branch"]
            self._resend_later(
                branch, request.encode(), device.address, T1_S, loop.time() + TIMER_F_S
            )

    def _resend_later(
        self, branch: str, data: bytes, addr: tuple[str, int], wait: float, deadline: float
    ) -> None:
        """Send our request `data` again after `wait` seconds unless answered meanwhile, then
        after twice as long, up to T2, until `deadline` (the loop's time: Timer F)."""
        loop = asyncio.get_running_loop()
        self._unanswered[branch] = loop.call_later(
            max(0.0, min(wait, deadline - loop.time())), self._resend, branch, data, addr, wait,
            deadline,
        )  # fmt: skip

    def _resend(
        self, branch: str, data: bytes, addr: tuple[str, int], waited: float, deadline: float
    ) -> None:
        if asyncio.get_running_loop().time() >= deadline:
            del self._unanswered[branch]
            log.warning("%s:%d: no answer to our MESSAGE after %.0f s; given up", *addr,
                        TIMER_F_S)  # fmt: skip
            return
        log.debug("%s:%d: our MESSAGE unanswered after %.1f s, sent again", *addr, waited)
        self._send_bytes(data, addr)
        self._resend_later(branch, data, addr, min(2 * waited, T2_S), deadline)

    def _report(self, device: Device, *, online: bool, catalog: bool = False) -> None:
        if self.reporter is not None:
            channels = list(device.channels.values()) if catalog else None
            report = device_report(online, device.address, channels).model_copy(
                update={"info": device.info, "last_keepalive_at": device.keepalive_at}
            )
            self.reporter.report(device.device_id, report)

    def _local_address(self) -> tuple[str, int]:
        if self.transport is None:
            return self.settings.host, self.settings.port
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    # --- timers ----------------------------------------------------------------------------
    def check_keepalives(self, now: float) -> list[str]:
        """Mark offline the devices silent for `keepalive_missed` intervals, drop expired ones,
        and report every device's state to the API each `report_interval_s`.

        Returns:
            The ids of the devices that went offline in this round.
        """
        limit = self.settings.keepalive_interval_s * self.settings.keepalive_missed
        went_offline = []
        for device in list(self.devices.values()):
            if device.online and now - device.last_keepalive > limit:
                device.online = False
                went_offline.append(device.device_id)
                log.warning("%s: offline, no keep-alive for %.0f s", device.device_id, limit)
                self._report(device, online=False)
            if now > device.expires_at:
                device.online = False
                log.info("%s: registration expired", device.device_id)
                del self.devices[device.device_id]
                self._report(device, online=False)
        if now - self._reported_at >= self.settings.report_interval_s:
            self._reported_at = now
            for device in self.devices.values():
                self._report(device, online=device.online)
        return went_offline


def _transaction(message: SipMessage) -> tuple[str, str, str]:
    """The transaction a request or its response belongs to: its top Via (branch and sent-by,
    RFC 3261 §17.2.3), Call-ID and CSeq, which a retransmission repeats exactly; the three
    together also tell apart the transactions of devices whose branch lacks the RFC 3261 magic
    cookie (RFC 2543 matching, §17.2.3's last paragraph)."""
    return (message.header("via") or "", message.header("call-id") or "",
            message.header("cseq") or "")  # fmt: skip


def _content_length(head: bytes) -> int | None:
    match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$", head)
    return int(match.group(1)) if match else None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_params(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"Authorization scheme {scheme[:20]!r} is not Digest")
    found = re.findall(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', rest)
    return {name.lower(): quoted or bare for name, quoted, bare in found}


def _expires(request: SipMessage) -> int:
    contact = request.header("contact") or ""
    raw = sip.params(contact).get("expires") or request.header("expires") or "3600"
    if not (raw.isascii() and raw.isdigit()):
        raise SipParseError(f"Expires {raw[:20]!r} is not a number of seconds")
    return int(raw)


async def serve(
    settings: Gb28181Settings,
    reporter: ApiReporter | None = None,
    *,
    stop: asyncio.Event | None = None,
    media: MediaSettings | None = None,
    control_token: SecretStr | None = None,
) -> None:
    """Listen on the settings' address, UDP and TCP, until `stop` is set; keep-alives are
    checked each second. With `control_token`, the workers' stream control (`media`) listens
    on HTTP too, on the same loop. Open streams are ended with BYE on the way out.

    Signals are the caller's to handle (`gridwatch gb28181` sets `stop` on SIGTERM and SIGINT):
    the control's uvicorn does not take them over, since it would stop alone and then re-raise
    the signal, ending the process before any BYE went out.
    """
    import uvicorn

    class ControlServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    loop = asyncio.get_running_loop()
    media = media or MediaSettings()
    transport, service = await loop.create_datagram_endpoint(
        lambda: Gb28181Service(settings, reporter=reporter, media=media),
        local_addr=(settings.host, settings.port),
    )
    tcp = await asyncio.start_server(service.serve_tcp, settings.host, settings.port)
    log.info("GB/T 28181 %s (domain %s) on udp and tcp %s:%d", settings.sip_id, settings.domain,
             settings.host, settings.port)  # fmt: skip
    control: uvicorn.Server | None = None
    control_task: asyncio.Task[None] | None = None
    if control_token is not None:
        control = ControlServer(
            uvicorn.Config(
                control_app(service.media, control_token), host=media.control_host,
                port=media.control_port, log_level="warning", lifespan="off",
            )
        )  # fmt: skip
        # Bound here, so a port in use raises OSError now (uvicorn would exit the process).
        listening = socket.create_server((media.control_host, media.control_port))
        control_task = asyncio.create_task(control.serve(sockets=[listening]))
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            if control_task is not None and control_task.done():
                control_task.result()
                raise OSError(f"stream control on {media.control_host}:{media.control_port} ended")
            service.check_keepalives(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        open_calls = list(service.media.calls)
        for call_id in open_calls:
            service.media.bye(call_id)
        log.info("GB/T 28181 service stopping: %d open streams ended with BYE", len(open_calls))
        if control is not None and control_task is not None:
            control.should_exit = True
            with contextlib.suppress(Exception):
                await control_task
        transport.close()
        tcp.close()
