"""HTTP cameras: JPEG snapshots polled at the detection rate, and MJPEG streams.

Which one a URL is, the camera says itself: a multipart/x-mixed-replace answer is an MJPEG
stream; a picture is a snapshot to poll. Whether an answer is a picture is decided by its bytes
(JPEG or PNG) when its Content-Type is missing or generic (application/octet-stream, as many
encoders send), by `snapshot_format`, which the ONVIF snapshot shares. Anything else (a login
page, a JSON error) is refused with a clear reason.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import cv2
import httpx
import numpy as np

from ingest.addresses import split_address
from ingest.backoff import Backoff
from ingest.errors import (
    AuthenticationFailed,
    CameraUnavailable,
    DamagedFrame,
    NotAVideoStream,
    connection_error,
)
from ingest.images import check_image_size
from ingest.live import LiveSource, StreamOptions

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 16 * 1024 * 1024
MJPEG_TYPE = "multipart/x-mixed-replace"
# Content types that say nothing about what the body is: the bytes decide.
GENERIC_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/binary", "unknown"}
)
JPEG_START = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
PNG_START = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"

PictureFormat = Literal["jpeg", "png"]


def picture_format(payload: bytes) -> PictureFormat | None:
    """The picture format `payload` starts with (JPEG or PNG), None for anything else.

    Example:
        >>> picture_format(b"\\xff\\xd8\\xff\\xe0...")
        'jpeg'
    """
    if payload.startswith(JPEG_START):
        return "jpeg"
    if payload.startswith(PNG_START):
        return "png"
    return None


def may_be_picture(content_type: str) -> bool:
    """Whether an answer of `content_type` (lower case, no parameters) may hold a picture: an
    image type, or a missing or generic one, whose bytes then decide."""
    return content_type in GENERIC_TYPES or content_type.startswith("image/")


def snapshot_format(content_type: str, payload: bytes) -> PictureFormat | None:
    """The one decision whether a snapshot answer is a picture, for HTTP and ONVIF snapshots.

    Args:
        content_type: The answer's Content-Type, lower case, without parameters ("" if none).
        payload: The answer's body.

    Returns:
        "jpeg" or "png" when the type may hold a picture and the bytes are one; None otherwise
        (a web page, a JSON error, an image type over bytes that are no picture).
    """
    return picture_format(payload) if may_be_picture(content_type) else None


def ends_picture(payload: bytes) -> bool:
    """Whether `payload` ends as a complete JPEG or PNG does (trailing padding ignored)."""
    tail = payload.rstrip(b"\r\n\x00")
    return tail.endswith(JPEG_END) or tail.endswith(PNG_END)


@dataclass(frozen=True)
class HttpAddress:
    """An http(s):// camera URL with its credentials taken out."""

    url: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def masked(self) -> str:
        return self.url if self.username is None else self.url.replace("://", "://***@", 1)


def parse_address(camera_id: str, url: str) -> HttpAddress:
    """Split and check an http(s):// URL; raises InvalidSource saying what is wrong."""
    address = split_address(camera_id, url, {"http": 80, "https": 443}, "HTTP")
    return HttpAddress(address.url, address.host, address.port, address.username, address.password)


class CameraAuth(httpx.Auth):
    """Answers whichever challenge the camera makes: Digest (most cameras) or Basic.

    Nothing is sent before the camera asks, so a password never goes to a server that did not
    request it; after the first challenge the same scheme is used up front.
    """

    def __init__(self, username: str, password: str):
        self._basic = httpx.BasicAuth(username, password)
        self._digest = httpx.DigestAuth(username, password)
        self._scheme: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self._scheme == "basic":
            yield from self._basic.auth_flow(request)
            return
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("WWW-Authenticate", "").lower()
        if challenge.startswith("digest"):
            self._scheme = "digest"
            yield from self._digest.auth_flow(request)
        elif challenge.startswith("basic"):
            self._scheme = "basic"
            yield from self._basic.auth_flow(request)


def content_type_of(response: httpx.Response) -> str:
    """The answer's Content-Type, lower case and without parameters; "" when there is none."""
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _boundary(response: httpx.Response) -> str | None:
    match = re.search(r'boundary="?([^";]+)"?', response.headers.get("Content-Type", ""), re.I)
    return match.group(1).strip() if match else None


def check_response(camera_id: str, response: httpx.Response) -> str:
    """'snapshot' or 'mjpeg' for a usable answer; raises the error naming what it is instead.

    'snapshot' means the answer may hold a picture (see `may_be_picture`); the body's bytes
    decide whether it does (`snapshot_format`).
    """
    if response.status_code in (401, 403):
        raise AuthenticationFailed(
            camera_id,
            f"authentication failed: user name or password rejected (HTTP {response.status_code})",
        )
    content_type = content_type_of(response) or "no content type"
    if response.status_code != 200:
        raise CameraUnavailable(
            camera_id, f"the camera answered HTTP {response.status_code} {response.reason_phrase}"
        )
    if content_type == MJPEG_TYPE:
        return "mjpeg"
    if may_be_picture(content_type_of(response)):
        return "snapshot"
    raise NotAVideoStream(
        camera_id, f"not a video stream: HTTP {response.status_code} {content_type}"
    )


def check_picture(camera_id: str, response: httpx.Response, payload: bytes) -> PictureFormat:
    """The format of a snapshot answer's body; raises NotAVideoStream when it is no picture."""
    content_type = content_type_of(response)
    found = snapshot_format(content_type, payload)
    if found is None:
        raise NotAVideoStream(
            camera_id,
            f"not a video stream: HTTP {response.status_code} {content_type or 'no content type'}"
            " that is neither a JPEG nor a PNG picture",
        )
    return found


def decode_image(camera_id: str, payload: bytes) -> np.ndarray:
    """BGR pixels of a JPEG or PNG; raises DamagedFrame when they cannot be decoded."""
    image = None
    if payload:
        check_image_size(camera_id, payload)
        image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DamagedFrame(camera_id, "the camera sent a picture that could not be decoded")
    return image


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)
MAX_HEADER_BYTES = 8192


class MultipartReader:
    """Splits a multipart/x-mixed-replace byte stream into its parts' bodies.

    What cameras send is taken as it comes, never as a reason to hang up:

    - Lines may end in CRLF or in a bare LF.
    - A part's Content-Length is trusted when the body it cuts ends as a picture does; a wrong
      one (short or long) falls back to the next boundary, as parts without one (many cameras)
      always end.
    - Junk (headers that never end, a part past `max_part_bytes`) is skipped up to the next
      boundary and handed out as an empty body, so the caller counts a damaged part.

    Some cameras put the leading dashes into the boundary parameter itself; both forms are
    accepted.

    Example:
        >>> reader = MultipartReader("frame")
        >>> reader.feed(b"--frame\\r\\nContent-Type: image/jpeg\\r\\n\\r\\nJPEG1\\r\\n--fr")
        []
        >>> reader.feed(b"ame\\n\\nJPEG2\\n--frame\\r\\n")
        [b'JPEG1', b'JPEG2']
    """

    def __init__(self, boundary: str, *, max_part_bytes: int = MAX_IMAGE_BYTES):
        boundary = boundary.strip()
        self._delimiter = ("--" + boundary.removeprefix("--")).encode("latin-1")
        self._max = max_part_bytes
        self._buffer = bytearray()
        self._in_part = False
        self._length: int | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add received bytes; returns the bodies of parts completed by them, oldest first.

        An empty body stands for a part that was skipped as junk.
        """
        self._buffer += chunk
        parts: list[bytes] = []
        while True:
            if not self._in_part:
                start = self._buffer.find(self._delimiter)
                if start < 0:
                    # Keep a tail that could be the start of a split delimiter.
                    del self._buffer[: max(0, len(self._buffer) - len(self._delimiter))]
                    return parts
                head_start = start + len(self._delimiter)
                head_end = _HEAD_END.search(self._buffer, head_start)
                if head_end is None:
                    if len(self._buffer) - head_start <= MAX_HEADER_BYTES:
                        return parts
                    # Headers that never end: not a part; look for the next boundary.
                    del self._buffer[:head_start]
                    parts.append(b"")
                    continue
                length = _CONTENT_LENGTH.search(self._buffer, head_start, head_end.start())
                self._length = int(length.group(1)) if length else None
                if self._length is not None and self._length > self._max:
                    self._length = None  # never buffered whole: the boundary ends it
                del self._buffer[: head_end.end()]
                self._in_part = True
            if self._length is not None:
                if len(self._buffer) < self._length:
                    if self._buffer.find(self._delimiter) < 0:
                        break
                    self._length = None  # a boundary before the promised length: too long
                    continue
                body = bytes(self._buffer[: self._length])
                if not ends_picture(body):
                    self._length = None  # cut where no picture ends: the length is wrong
                    continue
                parts.append(body)
                del self._buffer[: self._length]
            else:
                end = self._buffer.find(self._delimiter)
                if end < 0:
                    if len(self._buffer) > self._max:
                        # No boundary in sight: skip what came, keep looking for one.
                        del self._buffer[: len(self._buffer) - len(self._delimiter)]
                        self._in_part = False
                        parts.append(b"")
                    break
                body = bytes(self._buffer[:end])
                parts.append(body.removesuffix(b"\n").removesuffix(b"\r"))
                del self._buffer[:end]
            self._in_part = False
        return parts


def _client(camera_id: str, address: HttpAddress, options: StreamOptions) -> httpx.Client:
    auth = (
        CameraAuth(address.username, address.password or "")
        if address.username is not None
        else None
    )
    timeout = httpx.Timeout(
        options.read_timeout_s, connect=options.open_timeout_s, pool=options.open_timeout_s
    )

    def same_host(request: httpx.Request) -> None:
        # A redirect may change the path or the scheme, never the host: the address someone
        # checked and gave is the only one reached (a camera is not a way to reach others).
        if request.url.host != address.host:
            raise NotAVideoStream(
                camera_id, f"{address.host} redirects to another host, which is not followed"
            )

    # Cameras ship self-signed certificates; the operator vouches for the address.
    return httpx.Client(
        auth=auth,
        timeout=timeout,
        verify=False,  # noqa: S501
        follow_redirects=True,
        event_hooks={"request": [same_host]},
    )


class _SnapshotSession:
    """Polls a snapshot URL, once per detection interval."""

    codec: str | None = "jpeg"

    def __init__(
        self,
        camera_id: str,
        address: HttpAddress,
        client: httpx.Client,
        first: bytes,
        interval_s: float,
        timeout_s: float,
        stop: threading.Event,
    ):
        self.camera_id = camera_id
        self.address = address
        self.client = client
        self.stop = stop
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._pending: bytes | None = first
        self._payload = b""
        self._next_poll = time.monotonic() + interval_s

    def receive(self) -> int:
        if self._pending is not None:
            self._payload, self._pending = self._pending, None
            return 1
        wait = self._next_poll - time.monotonic()
        if wait > 0 and self.stop.wait(wait):
            raise CameraUnavailable(self.camera_id, "closed")
        self._next_poll = max(self._next_poll + self.interval_s, time.monotonic())
        self._payload = fetch_snapshot(self.camera_id, self.address, self.client, self.timeout_s)
        return 1

    def decode(self) -> np.ndarray:
        return decode_image(self.camera_id, self._payload)

    def close(self) -> None:
        self.client.close()


def fetch_snapshot(
    camera_id: str, address: HttpAddress, client: httpx.Client, timeout_s: float
) -> bytes:
    try:
        with client.stream("GET", address.url) as response:
            if check_response(camera_id, response) != "snapshot":
                raise NotAVideoStream(camera_id, "the snapshot address now sends a stream")
            payload = read_limited(camera_id, response.iter_bytes())
            check_picture(camera_id, response, payload)
            return payload
    except httpx.HTTPError as err:
        raise _http_error(camera_id, err, address, timeout_s) from err


def _http_error(
    camera_id: str, err: httpx.HTTPError, address: HttpAddress, timeout_s: float
) -> CameraUnavailable:
    if isinstance(err, httpx.RemoteProtocolError):
        return CameraUnavailable(
            camera_id,
            f"{address.host}:{address.port} closed the connection without a valid HTTP answer",
        )
    return connection_error(camera_id, err, address.host, address.port, timeout_s)


def read_limited(camera_id: str, chunks: Iterator[bytes]) -> bytes:
    """A response body, refused once it grows past MAX_IMAGE_BYTES."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_IMAGE_BYTES:
            raise CameraUnavailable(camera_id, "the snapshot is larger than 16 MiB")
    return bytes(body)


class _MjpegSession:
    """Reads an open MJPEG response part by part."""

    codec: str | None = "mjpeg"

    def __init__(
        self,
        camera_id: str,
        address: HttpAddress,
        client: httpx.Client,
        response: httpx.Response,
        boundary: str,
        timeout_s: float,
    ):
        self.camera_id = camera_id
        self.address = address
        self.client = client
        self.response = response
        self.timeout_s = timeout_s
        self._reader = MultipartReader(boundary)
        self._chunks = response.iter_bytes(65536)
        self._parts: list[bytes] = []
        self._payload = b""

    def receive(self) -> int:
        try:
            while not self._parts:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    raise CameraUnavailable(self.camera_id, "stream lost") from None
                self._parts.extend(self._reader.feed(chunk))
        except httpx.HTTPError as err:
            raise _http_error(self.camera_id, err, self.address, self.timeout_s) from err
        # Parts that arrived in one chunk: only the newest matters, a junk one (empty) only if
        # there is nothing else, so that it is decoded, refused and counted as damaged.
        count = len(self._parts)
        self._payload = next((part for part in reversed(self._parts) if part), b"")
        self._parts.clear()
        return count

    def decode(self) -> np.ndarray:
        return decode_image(self.camera_id, self._payload)

    def close(self) -> None:
        self.response.close()
        self.client.close()


class HttpSource(LiveSource):
    """An HTTP camera: a JPEG snapshot URL polled at the detection rate, or an MJPEG stream.

    Example:
        >>> source = HttpSource("lobby", "http://10.0.0.9/snapshot.jpg", detect_fps=1)
        >>> source.mode
        'snapshot'
    """

    kind: ClassVar[str] = "http"

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        detect_fps: float,
        options: StreamOptions | None = None,
        backoff: Backoff | None = None,
    ):
        self.address = parse_address(camera_id, url)
        self.mode: str | None = None
        super().__init__(camera_id, detect_fps=detect_fps, options=options, backoff=backoff)
        self._start()

    def _decode_every_frame(self) -> bool:
        # Snapshots are fetched only when due, so each one is wanted.
        return self.mode == "snapshot"

    def _connect(self) -> _SnapshotSession | _MjpegSession:
        started = time.monotonic()
        client = _client(self.camera_id, self.address, self.options)
        timeout = self.options.open_timeout_s
        try:
            request = client.build_request("GET", self.address.url)
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as err:
                raise _http_error(self.camera_id, err, self.address, timeout) from err
            try:
                mode = check_response(self.camera_id, response)
                if self.mode is None:
                    self.mode = mode
                    self.health_tracker.kind = "http-snapshot" if mode == "snapshot" else mode
                session: _SnapshotSession | _MjpegSession
                if mode == "snapshot":
                    first = read_limited(self.camera_id, response.iter_bytes())
                    picture = check_picture(self.camera_id, response, first)
                    response.close()
                    session = _SnapshotSession(
                        self.camera_id,
                        self.address,
                        client,
                        first,
                        1 / self.detect_fps,
                        timeout,
                        self._closed,
                    )
                    session.codec = picture
                else:
                    boundary = _boundary(response)
                    if boundary is None:
                        raise NotAVideoStream(
                            self.camera_id, "MJPEG answer without a multipart boundary"
                        )
                    session = _MjpegSession(
                        self.camera_id, self.address, client, response, boundary, timeout
                    )
            except BaseException:
                response.close()
                raise
            log.info(
                "%s: opened %s (%s) in %.2fs",
                self.camera_id, self.address.masked, mode, time.monotonic() - started,
            )  # fmt: skip
            return session
        except BaseException:
            client.close()
            raise
