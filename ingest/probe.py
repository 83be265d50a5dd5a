"""The connection test a camera owner runs when registering a camera: connect once, take one
frame, and report what the camera sends, or exactly why it cannot be used."""

from __future__ import annotations

import ipaddress
import itertools
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import cv2
import psutil

from contract.addresses import canonical_address
from ingest.errors import CameraUnavailable, InvalidSource, SourceTimeout, mask_credentials
from ingest.live import LiveSource, StreamOptions
from ingest.sources import FileSource, open_source

FILE_RATE_FRAMES = 12
"""Frames of a recording read after the first to measure its frame rate."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressNotAllowed(InvalidSource):
    """The connection test may not reach this host: a loopback, link-local, unspecified or
    multicast address, or one of the server's own. Not retried: the address must change, or an
    administrator must allow its network."""


def _own_addresses() -> set[IPAddress]:
    """Every address of this machine's network interfaces."""
    own: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                own.add(ipaddress.ip_address(address.address.split("%", 1)[0]))
    return own


@dataclass(frozen=True)
class ReachPolicy:
    """Which hosts a connection test may reach on someone's behalf: none whose address is
    loopback, link-local (169.254.0.0/16 holds cloud metadata services), unspecified, multicast
    or this server's own, unless it lies in `allowed_networks` (a site whose cameras live on
    such a network). Every address the host name resolves to is checked.

    Example:
        >>> ReachPolicy().check("gate", "http://127.0.0.1:8080/")
        Traceback (most recent call last):
        AddressNotAllowed: gate: invalid source address: 127.0.0.1 is a loopback, ...
    """

    allowed_networks: tuple[IPNetwork, ...] = ()

    def check(self, camera_id: str, url: str) -> None:
        """Raise AddressNotAllowed when `url`'s host may not be reached. An address that does
        not parse or resolve is left to the adapter, which says so as for any address."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            return
        if not host:
            return
        try:
            resolved = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return
        own = _own_addresses()
        for *_, sockaddr in resolved:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if any(address in network for network in self.allowed_networks):
                continue
            if (
                address.is_loopback
                or address.is_link_local
                or address.is_unspecified
                or address.is_multicast
                or address in own
            ):
                raise AddressNotAllowed(
                    camera_id,
                    f"{host} is a loopback, link-local or this server's own address, which a"
                    " connection test may not reach (an administrator can allow its network:"
                    " GRIDWATCH_CAMERA_TEST_ALLOWED_NETWORKS)",
                )


@dataclass(frozen=True)
class ProbeResult:
    """What a camera sent during a connection test.

    Attributes:
        url: The address, credentials masked.
        kind: rtsp, http-snapshot, mjpeg or file.
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frames per second measured arriving (for files, the rate of the recording's
            timestamps; None for a snapshot camera, which sends a picture only when asked, and
            for a recording whose rate is unknown).
        codec: The stream's codec (h264, hevc, mjpeg, jpeg, ...), if known.
        transport: tcp or udp for RTSP, else None.
        time_to_first_frame_s: Seconds from starting to connect to the first decoded frame.
        snapshot_jpeg: The first frame, JPEG-encoded.
    """

    url: str
    kind: str
    width: int
    height: int
    fps: float | None
    codec: str | None
    transport: str | None
    time_to_first_frame_s: float
    snapshot_jpeg: bytes


def probe(
    url: str,
    timeout_s: float = 10.0,
    *,
    transport: Literal["tcp", "udp"] = "tcp",
    measure_s: float = 1.0,
    policy: ReachPolicy | None = None,
) -> ProbeResult:
    """Connect to `url`, take the first frame, and measure the frame rate for `measure_s`.

    With a `policy`, the address, and the stream address an onvif:// camera answers with, are
    checked against it before anything connects to them (AddressNotAllowed).

    Errors name the address with its credentials masked, and say what failed: the host is
    unreachable (SourceUnreachable), the port refuses (SourceRefused), the camera is silent
    (SourceTimeout), the credentials are rejected (AuthenticationFailed), it sends no video
    (NotAVideoStream), the address is malformed or of an unknown kind (InvalidSource,
    UnsupportedSource).

    Example:
        >>> result = probe("rtsp://admin:pw@10.0.0.7/Streaming/102", timeout_s=5)
        >>> (result.width, result.height, result.codec)
        (640, 360, 'h264')
    """
    # Every reader takes a password's unencoded / # ? @ as the password: the policy must too.
    url = canonical_address(url)
    label = mask_credentials(url)
    options = StreamOptions(transport=transport, open_timeout_s=timeout_s, read_timeout_s=timeout_s)
    started = time.monotonic()
    deadline = started + timeout_s
    check_address = None
    if policy is not None:
        policy.check(label, url)

        def check_address(resolved: str) -> None:
            policy.check(label, resolved)

    # Paced faster than any camera sends, so every frame is seen while measuring.
    source = open_source(
        label,
        url,
        detect_fps=100,
        loop=False,
        realtime=False,
        options=options,
        check_address=check_address,
    )
    # A live source waits for its camera as long as it takes; the test must not. Its capture
    # thread retries whatever went wrong: the last reason, taken before closing, says why.
    last_error = ""

    def give_up() -> None:
        nonlocal last_error
        if isinstance(source, LiveSource):
            last_error = source.health().last_error
        source.close()

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), give_up)
    timer.daemon = True
    if isinstance(source, LiveSource):
        timer.start()
    try:
        frame = source.read()
        if frame is None:
            if isinstance(source, FileSource):
                raise CameraUnavailable(label, "the recording has no frames")
            because = f" (last error: {last_error})" if last_error else ""
            raise SourceTimeout(
                label, f"connected, but no frame arrived within {timeout_s:g} s{because}"
            )
        first_frame_s = time.monotonic() - started
        ok, encoded = cv2.imencode(".jpg", frame.image)
        if not ok:
            raise CameraUnavailable(label, "the first frame could not be encoded as JPEG")
        width, height = frame.size
        fps: float | None
        if isinstance(source, LiveSource):
            # The median gap between arrivals, not a count: frames buffered while connecting
            # arrive in a burst that says nothing about the camera's rate.
            arrivals: list[float] = []
            measure_until = min(deadline, time.monotonic() + measure_s)
            if source.health().kind == "http-snapshot":
                measure_until = 0.0  # a snapshot camera's rate is whatever we poll at
            while time.monotonic() < measure_until:
                following = source.read()
                if following is None or following.received is None:
                    break
                arrivals.append(following.received)
            gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
            health = source.health()
            kind, codec, transport_used = health.kind, health.codec, health.transport
            fps = health.input_fps
            if len(gaps) >= 3 and statistics.median(gaps) > 0:
                fps = 1 / statistics.median(gaps)
            if kind == "http-snapshot":
                fps = None
        elif isinstance(source, FileSource):
            kind, codec, transport_used = "file", source.codec, None
            # The rate the frames' timestamps give, not the container's word for it (an
            # MPEG-TS says 90000); a dozen frames are enough and cost milliseconds.
            for _ in range(FILE_RATE_FRAMES):
                if source.read() is None:
                    break
            fps = source.native_fps
        else:  # an adapter added later: report what every frame says
            kind, codec, transport_used, fps = "other", None, None, None
        return ProbeResult(
            url=label,
            kind=kind,
            width=width,
            height=height,
            fps=None if fps is None else round(fps, 1),
            codec=codec,
            transport=transport_used,
            time_to_first_frame_s=first_frame_s,
            snapshot_jpeg=encoded.tobytes(),
        )
    finally:
        timer.cancel()
        source.close()
