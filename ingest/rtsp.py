"""The RTSP adapter: rtsp:// and rtsps:// cameras through OpenCV's FFmpeg backend.

Before FFmpeg opens a stream we speak RTSP ourselves: one DESCRIBE over a socket. FFmpeg reports
every failure as the same "could not open", while the DESCRIBE answer says exactly what is
wrong (refused, silent, 401, no such path, no video track) and gives the codec. It costs one
round trip on a camera's LAN.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import ssl
import time
from base64 import b64encode
from dataclasses import dataclass
from typing import ClassVar

from contract.addresses import canonical_address
from ingest.addresses import split_address
from ingest.backoff import Backoff
from ingest.decoding import VideoDecoder
from ingest.errors import (
    AuthenticationFailed,
    CameraUnavailable,
    NotAVideoStream,
    SourceTimeout,
    connection_error,
)
from ingest.live import DecoderSession, LiveSource, StreamOptions

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
USER_AGENT = "GridWatch"


@dataclass(frozen=True)
class RtspAddress:
    """An rtsp(s):// URL taken apart; `request_url` is the URL without credentials."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    request_url: str
    url: str

    @property
    def masked(self) -> str:
        """The URL as it may be shown or logged."""
        return (
            self.request_url
            if self.username is None
            else self.request_url.replace("://", "://***@", 1)
        )


def parse_address(camera_id: str, url: str) -> RtspAddress:
    """Split and check an rtsp(s):// URL; raises InvalidSource saying what is wrong. `url` of
    the answer is the address with its user info percent-encoded, as FFmpeg reads it."""
    url = canonical_address(url)
    address = split_address(camera_id, url, DEFAULT_PORTS, "RTSP")
    return RtspAddress(
        address.scheme, address.host, address.port, address.username, address.password,
        address.url, url,
    )  # fmt: skip


@dataclass(frozen=True)
class StreamDescription:
    """What a camera's DESCRIBE answer says about its stream."""

    media: tuple[str, ...]
    video_codec: str | None
    sdp: str


def parse_sdp(sdp: str) -> StreamDescription:
    """The media kinds of an SDP and the codec of its first video track.

    Example:
        >>> parse_sdp("m=video 0 RTP/AVP 96\\r\\na=rtpmap:96 H264/90000\\r\\n").video_codec
        'h264'
    """
    media: list[str] = []
    codec = None
    payload_types: list[str] = []
    in_video = False
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            fields = line[2:].split()
            media.append(fields[0] if fields else "")
            in_video = bool(fields) and fields[0] == "video" and codec is None
            payload_types = fields[3:] if in_video else []
        elif in_video and line.startswith("a=rtpmap:"):
            number, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            if number in payload_types:
                codec = encoding.split("/")[0].lower()
                in_video = False
    if codec is None and "video" in media:
        codec = "unknown"
    return StreamDescription(tuple(media), codec, sdp)


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class _RtspConnection:
    """A bare RTSP request/response exchange over one socket (no media)."""

    def __init__(self, camera_id: str, address: RtspAddress, timeout_s: float):
        self.camera_id = camera_id
        self.address = address
        self.timeout_s = timeout_s
        self.cseq = 0
        try:
            raw = socket.create_connection((address.host, address.port), timeout=timeout_s)
        except OSError as err:
            raise connection_error(camera_id, err, address.host, address.port, timeout_s) from err
        self.sock: socket.socket = raw
        if address.scheme == "rtsps":
            # Cameras ship self-signed certificates and FFmpeg does not verify them either;
            # TLS here protects the credentials on the wire, identity is the operator's call.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                self.sock = context.wrap_socket(raw, server_hostname=address.host)
            except (OSError, ssl.SSLError) as err:
                raw.close()
                raise connection_error(
                    camera_id, err, address.host, address.port, timeout_s
                ) from err
        self._buffer = b""

    def request(self, method: str, headers: dict[str, str] | None = None) -> _Response:
        self.cseq += 1
        lines = [f"{method} {self.address.request_url} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"User-Agent: {USER_AGENT}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        try:
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            return self._read_response()
        except OSError as err:
            raise connection_error(
                self.camera_id, err, self.address.host, self.address.port, self.timeout_s
            ) from err

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CameraUnavailable(
                    self.camera_id,
                    f"{self.address.host}:{self.address.port} closed the connection "
                    "without an RTSP answer",
                )
            self._buffer += chunk
            if len(self._buffer) > 65536:
                raise CameraUnavailable(self.camera_id, "the answer is not RTSP")
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_response(self) -> _Response:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        match = re.match(r"RTSP/\d\.\d (\d{3}) ?(.*)", status_line)
        if not match:
            raise NotAVideoStream(
                self.camera_id,
                f"{self.address.host}:{self.address.port} does not speak RTSP",
            )
        headers = []
        for line in header_lines:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
        response = _Response(int(match.group(1)), match.group(2), headers, b"")
        length = int(response.header("Content-Length") or 0)
        while len(self._buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self._buffer += chunk
        response.body, self._buffer = self._buffer[:length], self._buffer[length:]
        return response

    def close(self) -> None:
        self.sock.close()


def _challenge_parameters(challenge: str) -> dict[str, str]:
    pairs = re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', challenge)
    return {key.lower(): quoted or bare for key, quoted, bare in pairs}


def authorization(
    challenges: list[str], method: str, uri: str, username: str, password: str
) -> str | None:
    """The Authorization header answering a camera's WWW-Authenticate challenges.

    Digest (RFC 2617, MD5, with or without qop=auth) is preferred when offered, as most cameras
    do; Basic otherwise. None if no challenge is one we can answer.

    Example:
        >>> authorization(['Basic realm="cam"'], "DESCRIBE", "rtsp://cam/1", "admin", "pw")
        'Basic YWRtaW46cHc='
    """
    digest = next((c for c in challenges if c.lower().startswith("digest")), None)
    if digest is not None:
        params = _challenge_parameters(digest[len("digest") :])
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        if params.get("algorithm", "MD5").upper() == "MD5":

            def md5(text: str) -> str:
                return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

            ha1 = md5(f"{username}:{realm}:{password}")
            ha2 = md5(f"{method}:{uri}")
            fields = [
                f'username="{username}"',
                f'realm="{realm}"',
                f'nonce="{nonce}"',
                f'uri="{uri}"',
            ]
            qop = params.get("qop", "")
            if "auth" in [q.strip() for q in qop.split(",")]:
                cnonce = os.urandom(8).hex()
                response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
                fields += ["qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
            else:
                response = md5(f"{ha1}:{nonce}:{ha2}")
            fields.append(f'response="{response}"')
            if "opaque" in params:
                fields.append(f'opaque="{params["opaque"]}"')
            return "Digest " + ", ".join(fields)
    if any(c.lower().startswith("basic") for c in challenges):
        return "Basic " + b64encode(f"{username}:{password}".encode()).decode()
    return None


def describe(camera_id: str, address: RtspAddress, timeout_s: float) -> StreamDescription:
    """Ask the camera to describe its stream, answering its authentication challenge.

    Raises the error that names the problem: SourceUnreachable, SourceRefused, SourceTimeout,
    AuthenticationFailed, NotAVideoStream, or CameraUnavailable for other RTSP answers.
    """
    connection = _RtspConnection(camera_id, address, timeout_s)
    try:
        response = connection.request("DESCRIBE", {"Accept": "application/sdp"})
        if response.status == 401:
            if address.username is None:
                raise AuthenticationFailed(
                    camera_id, "the camera requires a user name and password (RTSP 401)"
                )
            answer = authorization(
                response.all("WWW-Authenticate"),
                "DESCRIBE",
                address.request_url,
                address.username,
                address.password or "",
            )
            if answer is None:
                raise AuthenticationFailed(
                    camera_id, "the camera asks for an authentication method we do not support"
                )
            if (response.header("Connection") or "").lower() == "close":
                connection.close()
                connection = _RtspConnection(camera_id, address, timeout_s)
            response = connection.request(
                "DESCRIBE", {"Accept": "application/sdp", "Authorization": answer}
            )
            if response.status == 401:
                raise AuthenticationFailed(
                    camera_id, "authentication failed: user name or password rejected (RTSP 401)"
                )
        if response.status == 403:
            raise AuthenticationFailed(camera_id, "access to this stream is forbidden (RTSP 403)")
        if response.status == 404:
            raise CameraUnavailable(camera_id, "no stream at this path (RTSP 404)")
        if response.status != 200:
            raise CameraUnavailable(
                camera_id, f"the camera answered RTSP {response.status} {response.reason}".strip()
            )
        description = parse_sdp(response.body.decode("utf-8", "replace"))
        if description.video_codec is None:
            found = ", ".join(description.media) or "no media at all"
            raise NotAVideoStream(
                camera_id, f"not a video stream: the RTSP stream has no video track ({found})"
            )
        return description
    except TimeoutError as err:
        raise SourceTimeout(
            camera_id,
            f"no answer from {address.host}:{address.port} within {timeout_s:g} s",
        ) from err
    finally:
        connection.close()


def capture_options(options: StreamOptions) -> dict[str, str | int]:
    """FFmpeg options that open an RTSP stream in a fraction of a second.

    FFmpeg's defaults probe 5 MB and 5 s of stream to guess parameters the SDP and the first
    key frame already give; the socket timeout (microseconds) bounds every network wait.
    ("fflags nobuffer" is left out on purpose: measured, it delays the first frame by a second.)
    """
    return {
        "rtsp_transport": options.transport,
        "probesize": 32768,
        "analyzeduration": 0,
        "timeout": round(options.read_timeout_s * 1_000_000),
        # UDP packets arriving out of order are held this long (microseconds) for reordering.
        "max_delay": 200_000,
    }


class RtspSource(LiveSource):
    """An RTSP camera (main or sub stream, whichever URL the camera's config gives).

    `decode_key_frames_only(True)` (a still scene) has the decoder pass over every picture but
    the key frames, once the stream has shown key frames at most `MAX_KEY_INTERVAL_S` apart:
    with a key frame a second, a 10 fps camera costs a tenth of its decoding. The pictures passed
    over count as received and dropped in health, as those between two detection intervals do.
    With `decode_key_frames_only(False)` every picture is decoded again from the next packet on.
    With `options.key_frames_at_detect_rate`, key frames only are decoded, motion or not,
    whenever they alone come at the detection rate (a key frame a second at 1 detect fps).

    Example:
        >>> source = RtspSource("gate", "rtsp://user:pw@10.0.0.7/Streaming/101", detect_fps=2)
        >>> frame = source.read()
        >>> frame.age_s() < 0.5
        True
    """

    kind: ClassVar[str] = "rtsp"

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        detect_fps: float,
        options: StreamOptions | None = None,
        tuned: bool = True,
        backoff: Backoff | None = None,
    ):
        self.address = parse_address(camera_id, url)
        self.tuned = tuned
        self.description: StreamDescription | None = None
        self._decoder: VideoDecoder | None = None  # the current connection's
        self._decoded_before = 0  # pictures decoded by connections before it
        super().__init__(camera_id, detect_fps=detect_fps, options=options, backoff=backoff)
        self._start()

    def _transport(self) -> str | None:
        return self.options.transport

    def decode_key_frames_only(self, wanted: bool) -> None:
        super().decode_key_frames_only(wanted)
        decoder = self._decoder
        if decoder is not None:
            decoder.key_frames_only = wanted

    @property
    def frames_decoded(self) -> int:
        decoder = self._decoder
        return self._decoded_before + (decoder.decoded if decoder is not None else 0)

    @property
    def skipping(self) -> bool:
        """Whether the decoder is passing over the pictures between key frames now."""
        decoder = self._decoder
        return decoder is not None and decoder.skipping

    def _skipped(self) -> None:
        # A picture passed over undecoded: it arrived and was never analysed.
        self.health_tracker.received()
        self.health_tracker.dropped()

    def _connect(self) -> DecoderSession:
        started = time.monotonic()
        self.description = describe(self.camera_id, self.address, self.options.open_timeout_s)
        # Untuned means OpenCV's own defaults, as a plain VideoCapture(url) would open it.
        options = capture_options(self.options) if self.tuned else None
        try:
            decoder = VideoDecoder(
                self.address.url,
                options,
                open_timeout_s=self.options.open_timeout_s,
                read_timeout_s=self.options.read_timeout_s,
                threads=self.options.decode_threads if self.tuned else None,
            )
        except (OSError, LookupError) as err:
            raise CameraUnavailable(
                self.camera_id,
                f"FFmpeg could not open the {self.description.video_codec} stream",
            ) from err
        decoder.on_skip = self._skipped
        decoder.key_frames_only = self.key_frames_wanted
        if self.options.key_frames_at_detect_rate:
            decoder.key_frames_within_s = self._interval
        previous, self._decoder = self._decoder, decoder
        if previous is not None:
            self._decoded_before += previous.decoded
        log.info(
            "%s: opened %s (%s over %s) in %.2fs",
            self.camera_id, self.address.masked, self.description.video_codec,
            self.options.transport, time.monotonic() - started,
        )  # fmt: skip
        return DecoderSession(self.camera_id, decoder, self.description.video_codec)
