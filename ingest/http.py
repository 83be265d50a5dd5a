"""HTTP cameras: JPEG snapshots polled at the detection rate, and MJPEG streams.

Which one a URL is, the camera says itself: an image/jpeg answer is a snapshot to poll, a
multipart/x-mixed-replace answer is an MJPEG stream. Anything else (a login page, a JSON error)
is refused with a clear reason.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import ClassVar

import cv2
import httpx
import numpy as np

from ingest.addresses import split_address
from ingest.backoff import Backoff
from ingest.errors import (
    AuthenticationFailed,
    CameraUnavailable,
    NotAVideoStream,
    connection_error,
)
from ingest.live import LiveSource, StreamOptions

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 16 * 1024 * 1024
SNAPSHOT_TYPES = ("image/jpeg", "image/jpg", "image/png")
MJPEG_TYPE = "multipart/x-mixed-replace"


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


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _boundary(response: httpx.Response) -> str | None:
    match = re.search(r'boundary="?([^";]+)"?', response.headers.get("Content-Type", ""), re.I)
    return match.group(1).strip() if match else None


def check_response(camera_id: str, response: httpx.Response) -> str:
    """'snapshot' or 'mjpeg' for a usable answer; raises the error naming what it is instead."""
    if response.status_code in (401, 403):
        raise AuthenticationFailed(
            camera_id,
            f"authentication failed: user name or password rejected (HTTP {response.status_code})",
        )
    content_type = _content_type(response) or "no content type"
    if response.status_code != 200:
        raise CameraUnavailable(
            camera_id, f"the camera answered HTTP {response.status_code} {response.reason_phrase}"
        )
    if content_type in SNAPSHOT_TYPES:
        return "snapshot"
    if content_type == MJPEG_TYPE:
        return "mjpeg"
    raise NotAVideoStream(
        camera_id, f"not a video stream: HTTP {response.status_code} {content_type}"
    )


def decode_image(camera_id: str, payload: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise CameraUnavailable(camera_id, "the camera sent an image that could not be decoded")
    return image


class MultipartReader:
    """Splits a multipart/x-mixed-replace byte stream into its parts' bodies.

    Parts with a Content-Length are cut by it; parts without one (many cameras) end at the next
    boundary. Some cameras put the leading dashes into the boundary parameter itself; both forms
    are accepted.

    Example:
        >>> reader = MultipartReader("frame")
        >>> reader.feed(b"--frame\\r\\nContent-Type: image/jpeg\\r\\n\\r\\nJPEG1\\r\\n--fr")
        []
        >>> reader.feed(b"ame\\r\\n\\r\\nJPEG2\\r\\n--frame\\r\\n")
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
        """Add received bytes; returns the bodies of parts completed by them, oldest first."""
        self._buffer += chunk
        parts: list[bytes] = []
        while True:
            if not self._in_part:
                start = self._buffer.find(self._delimiter)
                if start < 0:
                    # Keep a tail that could be the start of a split delimiter.
                    del self._buffer[: max(0, len(self._buffer) - len(self._delimiter))]
                    return parts
                head_end = self._buffer.find(b"\r\n\r\n", start)
                if head_end < 0:
                    if len(self._buffer) - start > 8192:
                        raise ValueError("multipart part headers are too long")
                    return parts
                headers = bytes(self._buffer[start + len(self._delimiter) : head_end])
                match = re.search(rb"content-length:\s*(\d+)", headers, re.I)
                self._length = int(match.group(1)) if match else None
                del self._buffer[: head_end + 4]
                self._in_part = True
            if self._length is not None:
                if len(self._buffer) < self._length:
                    break
                parts.append(bytes(self._buffer[: self._length]))
                del self._buffer[: self._length]
            else:
                end = self._buffer.find(self._delimiter)
                if end < 0:
                    break
                parts.append(bytes(self._buffer[:end]).removesuffix(b"\r\n"))
                del self._buffer[:end]
            self._in_part = False
        if len(self._buffer) > self._max:
            raise ValueError(f"a multipart part is larger than {self._max} bytes")
        return parts


def _client(address: HttpAddress, options: StreamOptions) -> httpx.Client:
    auth = (
        CameraAuth(address.username, address.password or "")
        if address.username is not None
        else None
    )
    timeout = httpx.Timeout(
        options.read_timeout_s, connect=options.open_timeout_s, pool=options.open_timeout_s
    )
    # Cameras ship self-signed certificates; the operator vouches for the address.
    return httpx.Client(auth=auth, timeout=timeout, verify=False, follow_redirects=True)  # noqa: S501


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
            return read_limited(camera_id, response.iter_bytes())
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
        except ValueError as err:
            raise CameraUnavailable(self.camera_id, f"broken MJPEG stream: {err}") from err
        # Parts that arrived in one chunk: only the newest matters.
        count = len(self._parts)
        self._payload = self._parts.pop()
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
        client = _client(self.address, self.options)
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
