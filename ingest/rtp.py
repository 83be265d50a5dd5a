"""RTP in: packets received over UDP or TCP (RFC 4571 framing), put back in sequence order, and
their payloads joined into the byte stream they carry (the MPEG program stream of a GB/T 28181
camera), read through a file-like `PayloadStream` that FFmpeg demuxes.

Why a parser of our own for the RTP fixed header: the one maintained Python RTP code is
`aiortc.rtp` (inside aiortc, a WebRTC stack); taking it means aiortc with aioice, pyee, pylibsrtp
and its own codec bindings for 12 bytes of header, and its `RtpPacket` assumes a WebRTC session
around it. `pylibsrtp` only does SRTP crypto. The RFC 3550 §5.1 fixed header, CSRCs, the §5.3.1
extension and padding are what `parse_rtp` reads; everything a peer sends is checked there first.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

RTP_VERSION = 2
MAX_DATAGRAM = 65_535
SEQ_MOD = 1 << 16
MAX_JUMP = 3000
"""A sequence number further than this from the one expected (either way) is a sender that
restarted its numbering, not loss or a late packet: the buffer starts again from it."""

Transport = Literal["udp", "tcp"]


class RtpError(ValueError):
    """The bytes are not an RTP packet; the text says which field and why."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1).

    Attributes:
        payload_type: 7 bits; GB/T 28181 carries PS as dynamic type 96.
        sequence: 16 bits, +1 per packet, wrapping.
        timestamp: 32 bits, 90 kHz for video.
        ssrc: The sender's synchronisation source; GB/T 28181 names it in the SDP's y= line.
        marker: Set on a video frame's last packet.
        payload: The bytes carried, CSRCs, extension and padding removed.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet.

    Raises:
        RtpError: shorter than its header, version not 2, CSRC list, extension or padding
            running past the packet's end.

    Example:
        >>> parse_rtp(bytes.fromhex("80e0000100000000000004d2") + b"PS").payload
        b'PS'
    """
    if len(data) < 12:
        raise RtpError(f"{len(data)} bytes, shorter than the 12-byte RTP header")
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"version {first >> 6}, not 2")
    offset = 12 + 4 * (first & 0x0F)
    end = len(data)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if end < offset + 4:
            raise RtpError("header extension flagged but missing")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    if first & 0x20:  # padding: its length is the packet's last byte
        padding = data[-1]
        if padding == 0:
            raise RtpError("padding flagged with a padding length of 0")
        end -= padding
    if offset > end:
        raise RtpError(f"header of {offset} bytes runs past the packet's {end} bytes of content")
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80),
                     data[offset:end])  # fmt: skip


@dataclass
class RtpStats:
    """What the receiver saw; `lost` counts packets never received (skipped over)."""

    packets: int = 0
    bytes: int = 0
    lost: int = 0
    late: int = 0  # arrived after the buffer had moved past them: dropped
    duplicates: int = 0
    malformed: int = 0
    foreign: int = 0  # another SSRC or payload type than the stream's: dropped
    restarts: int = 0  # sequence numbering started again
    unclaimed: int = 0  # held past `RtpReceiver`'s limit before the stream's SSRC was known
    first_packet_at: float | None = None  # time.monotonic()


@dataclass
class JitterBuffer:
    """Puts packets back in sequence order, waiting for a missing one while at most `depth`
    later packets are held; past that the missing ones are counted lost and skipped.

    The first `start` packets are held before any is released, so that a stream whose first
    packets arrive swapped starts at the earliest of them (its first bytes are the ones a
    demuxer needs).

    Example:
        >>> buffer = JitterBuffer(depth=4, start=1)
        >>> [p.sequence for p in buffer.push(packet_1)], [p.sequence for p in buffer.push(packet_3)]
        ([1], [])
        >>> [p.sequence for p in buffer.push(packet_2)]
        [2, 3]
    """

    depth: int = 64
    start: int = 4
    stats: RtpStats = field(default_factory=RtpStats)
    _expected: int | None = None
    _held: dict[int, RtpPacket] = field(default_factory=dict)
    _started: bool = False

    def push(self, packet: RtpPacket) -> list[RtpPacket]:
        """Take one packet; returns the packets now in order, oldest first."""
        if not self._started:
            if self._expected is None or _before(packet.sequence, self._expected):
                self._expected = packet.sequence
            self._held.setdefault(packet.sequence, packet)
            if len(self._held) < self.start:
                return []
            self._started = True
            return self._release() + (self.flush() if len(self._held) > self.depth else [])
        assert self._expected is not None
        distance = (packet.sequence - self._expected) % SEQ_MOD
        if distance >= SEQ_MOD - MAX_JUMP:  # behind what was already released
            self.stats.late += 1
            return []
        if distance > MAX_JUMP:
            self.stats.restarts += 1
            released = self.flush()
            self._expected = packet.sequence
            return released + self.push(packet)
        if packet.sequence in self._held:
            self.stats.duplicates += 1
            return []
        self._held[packet.sequence] = packet
        released = self._release()
        if len(self._held) > self.depth:
            released += self.flush()
        return released

    def flush(self) -> list[RtpPacket]:
        """Give up on the missing packets: release everything held, in order."""
        self._started = True
        released: list[RtpPacket] = []
        while self._held:
            assert self._expected is not None
            nearest = min(self._held, key=lambda s: (s - self._expected) % SEQ_MOD)  # type: ignore[operator]
            self.stats.lost += (nearest - self._expected) % SEQ_MOD
            self._expected = nearest
            released += self._release()
        return released

    def _release(self) -> list[RtpPacket]:
        released = []
        while self._expected in self._held:
            released.append(self._held.pop(self._expected))
            self._expected = (self._expected + 1) % SEQ_MOD
        return released


def _before(sequence: int, other: int) -> bool:
    """Whether `sequence` comes shortly before `other`, modulo the 16-bit wrap."""
    return 0 < (other - sequence) % SEQ_MOD < MAX_JUMP


class PayloadStream:
    """The payloads in order as a blocking, read-only file for `av.open`.

    `read(n)` waits up to `timeout_s` for bytes (`first_timeout_s` for the first ones: a device
    takes a while to start sending) and returns b"" (end of stream) when none came, or once
    `close()` was called; FFmpeg then ends the stream. At most `max_bytes` wait unread; older
    bytes are dropped (counted in `dropped_bytes`), so a stalled reader cannot grow it.
    """

    def __init__(
        self,
        timeout_s: float,
        max_bytes: int = 16 * 1024 * 1024,
        *,
        first_timeout_s: float | None = None,
    ):
        self.timeout_s = timeout_s
        self.first_timeout_s = timeout_s if first_timeout_s is None else first_timeout_s
        self._written = False
        self.max_bytes = max_bytes
        self.dropped_bytes = 0
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._closed = False
        self._changed = threading.Condition()

    def write(self, payload: bytes) -> None:
        with self._changed:
            self._written = True
            self._chunks.append(payload)
            self._size += len(payload)
            while self._size > self.max_bytes:
                self._size -= len(dropped := self._chunks.popleft())
                self.dropped_bytes += len(dropped)
            self._changed.notify_all()

    def read(self, size: int = -1) -> bytes:
        with self._changed:
            timeout = self.timeout_s if self._written else self.first_timeout_s
            if not self._changed.wait_for(lambda: self._chunks or self._closed, timeout):
                return b""
            if not self._chunks:
                return b""
            out = bytearray()
            while self._chunks and (size < 0 or len(out) < size):
                chunk = self._chunks.popleft()
                room = len(chunk) if size < 0 else size - len(out)
                if len(chunk) > room:
                    self._chunks.appendleft(chunk[room:])
                    chunk = chunk[:room]
                out += chunk
                self._size -= len(chunk)
            return bytes(out)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class RtpReceiver:
    """Receives one RTP stream on a local port and writes its payloads, in order, to `stream`.

    UDP: packets come as datagrams to `port`. TCP: the receiver listens (GB/T 28181's "TCP
    passive" for the platform, `a=setup:passive`), takes the sender's one connection and reads
    RFC 4571 frames (16-bit length, then the packet). The port is bound in the constructor, so it
    can be named in the SDP before the sender starts: the first free one of `ports` (a range a
    firewall is opened for; a busy port is skipped), else `port` (0: any free one).

    Only packets of the stream's SSRC (the `y=` the INVITE and its answer agreed) and payload
    types are taken; packets of another SSRC (a stray or spoofed sender) are counted `foreign`
    and dropped, never decoded. The SSRC is `ssrc`, or, when the port must be opened before the
    answer names it, given later with `expect`: until then up to `hold` packets wait (counted
    `unclaimed` past that), and are taken or dropped by the SSRC once it is known. A thread of
    its own receives, so packets are taken off the socket while the reader decodes.

    Raises (from the constructor): OSError when the port cannot be bound, or every port of
    `ports` is busy.
    """

    def __init__(
        self,
        stream: PayloadStream,
        *,
        transport: Transport = "udp",
        host: str = "0.0.0.0",
        port: int = 0,
        ports: tuple[int, int] | None = None,
        ssrc: int | None = None,
        payload_types: frozenset[int] = frozenset({96}),
        depth: int = 64,
        hold: int = 1024,
        name: str = "rtp",
    ):
        self.stream = stream
        self.transport = transport
        self.ssrc = ssrc
        self.payload_types = payload_types
        self.buffer = JitterBuffer(depth=depth)
        self.stats = self.buffer.stats
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the SSRC and the held packets: receiver and `expect`
        self._held: deque[RtpPacket] = deque()
        self._hold = hold
        self._warned_ssrc: int | None = None
        candidates = range(ports[0], ports[1] + 1) if ports is not None else range(port, port + 1)
        self._socket = _bind(transport, host, candidates)
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def expect(self, ssrc: int) -> None:
        """Take the stream's SSRC, as negotiated: the held packets of it are taken, the others
        counted `foreign`, and from now on only it is taken."""
        with self._lock:
            self.ssrc = ssrc
            held, self._held = self._held, deque()
            for packet in held:
                self._accept(packet)

    def _run(self) -> None:
        try:
            if self.transport == "udp":
                self._receive_udp()
            else:
                self._receive_tcp()
        except OSError as err:
            if not self._stop.is_set():
                log.warning("RTP port %d: %s", self.port, err)
        finally:
            for packet in self.buffer.flush():
                self.stream.write(packet.payload)
            self.stream.close()

    def _receive_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            self._take(data)

    def _receive_tcp(self) -> None:
        connection: socket.socket | None = None
        while connection is None:
            if self._stop.is_set():
                return
            try:
                connection, peer = self._socket.accept()
            except TimeoutError:
                continue
        log.info("RTP port %d: TCP sender %s:%d connected", self.port, *peer[:2])
        connection.settimeout(0.2)
        pending = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    data = connection.recv(MAX_DATAGRAM)
                except TimeoutError:
                    continue
                if not data:
                    return  # the sender closed: the stream ends
                pending += data
                while len(pending) >= 2:
                    (length,) = struct.unpack_from("!H", pending)
                    if len(pending) < 2 + length:
                        break
                    self._take(bytes(pending[2 : 2 + length]))
                    del pending[: 2 + length]
        finally:
            connection.close()

    def _take(self, data: bytes) -> None:
        try:
            packet = parse_rtp(data)
        except RtpError as err:
            self.stats.malformed += 1
            log.debug("RTP port %d: %s", self.port, err)
            return
        with self._lock:
            if self.ssrc is None:
                if len(self._held) >= self._hold:
                    self._held.popleft()
                    self.stats.unclaimed += 1
                self._held.append(packet)
                return
            self._accept(packet)

    def _accept(self, packet: RtpPacket) -> None:
        if packet.ssrc != self.ssrc or packet.payload_type not in self.payload_types:
            self.stats.foreign += 1
            if packet.ssrc != self.ssrc and self._warned_ssrc != packet.ssrc:
                self._warned_ssrc = packet.ssrc
                log.warning("RTP port %d: packets of SSRC %d dropped: the stream is SSRC %s",
                            self.port, packet.ssrc, self.ssrc)  # fmt: skip
            return
        if self.stats.first_packet_at is None:
            self.stats.first_packet_at = time.monotonic()
        self.stats.packets += 1
        self.stats.bytes += len(packet.payload)
        for ready in self.buffer.push(packet):
            self.stream.write(ready.payload)

    def close(self) -> None:
        """Stop receiving and close the port; the stream ends once read out."""
        self._stop.set()
        self._thread.join(2)
        self._socket.close()
        self.stream.close()


def parse_port_range(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` (inclusive, 1 to 65535, FIRST <= LAST) as a pair.

    Raises:
        ValueError: not two port numbers joined by ``-``, or in the wrong order.

    Example:
        >>> parse_port_range("30000-30100")
        (30000, 30100)
    """
    first, dash, last = text.strip().partition("-")
    if not dash or not first.strip().isdigit() or not last.strip().isdigit():
        raise ValueError(f"{text[:40]!r} is not FIRST-LAST, e.g. 30000-30100")
    low, high = int(first), int(last)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{text[:40]!r}: ports must be 1 to 65535, the first not above the last")
    return low, high


def _bind(transport: Transport, host: str, ports: range) -> socket.socket:
    """A socket bound to the first free port of `ports` (listening, over TCP).

    Raises:
        OSError: a port could not be bound for another reason than being busy, or all were busy.
    """
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    for port in ports:
        sock = socket.socket(socket.AF_INET, kind)
        try:
            if transport == "udp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            if transport == "tcp":
                sock.listen(1)
            return sock
        except OSError as err:
            sock.close()
            if err.errno != errno.EADDRINUSE:
                raise
    first, last = ports.start, ports.stop - 1
    which = f"port {first}" if first == last else f"every port of {first}-{last}"
    raise OSError(errno.EADDRINUSE, f"{transport} {which} is in use on {host}")
