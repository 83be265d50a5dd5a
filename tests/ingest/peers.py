"""Real peers for the stream adapters: an RTSP server (gst-rtsp-server in a subprocess), an
HTTP camera (snapshots and MJPEG), and servers that misbehave. All on loopback."""

from __future__ import annotations

import base64
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote

import cv2
import numpy as np

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
# gst-rtsp-server's Python bindings are Debian packages: the system interpreter has them, the
# project's virtual environment does not.
SYSTEM_PYTHON = "/usr/bin/python3"
CLIP_FPS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def encoded_clip(demo_clip: Path, cache_dir: Path) -> Path:
    """The demo clip as stored H.264 access units, encoded once and kept next to the clip."""
    target = cache_dir / f"{demo_clip.stem}-h264-{CLIP_FPS}fps.au"
    if target.exists():
        return target
    capture = cv2.VideoCapture(str(demo_clip))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def frames() -> Iterator[np.ndarray]:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield image

    try:
        _encode(frames(), target, (width, height))
    finally:
        capture.release()
    return target


def _encode(
    frames: Iterator[np.ndarray], target: Path, size: tuple[int, int], gop: int | None = None
) -> None:
    """Encode BGR pictures of `size` (width, height) to `target`'s stored access units at
    CLIP_FPS; with `gop`, a key frame every `gop` frames exactly."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "encode", "--out", str(partial), "--width",
               str(size[0]), "--height", str(size[1]), "--fps", str(CLIP_FPS)]  # fmt: skip
    if gop is not None:
        command += ["--gop", str(gop), "--fixed-gop"]
    encoder = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert encoder.stdin is not None
    try:
        for image in frames:
            encoder.stdin.write(image.tobytes())
    finally:
        encoder.stdin.close()
    if encoder.wait(timeout=300) != 0:
        raise RuntimeError("encoding to H.264 failed (see stderr)")
    # Atomic, so a parallel session never reads a half-written clip.
    partial.replace(target)


def _still_parts(demo_clip: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo clip's street without its people (the median of frames across the clip), and
    one person cut out of it: their pixels and their mask (uint8, 255 inside)."""
    capture = cv2.VideoCapture(str(demo_clip))
    sampled: list[np.ndarray] = []
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % 10 == 0:
            sampled.append(image)
        index += 1
    capture.release()
    if not sampled:
        raise RuntimeError(f"{demo_clip}: no frames")
    background = np.median(np.stack(sampled), axis=0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for image in sampled:
        changed = (cv2.absdiff(image, background).max(axis=2) > 40).astype(np.uint8) * 255
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel)
        changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, kernel)
        count, labels, boxes, _ = cv2.connectedComponentsWithStats(changed)
        for label in range(1, count):
            x, y, w, h, area = boxes[label]
            # One upright person: taller than wide, and filling their box.
            if not (70 <= h <= 150 and 1.8 <= h / w <= 4.0 and area >= 0.45 * w * h):
                continue
            if best is None or area > best[0]:
                mask = (labels[y : y + h, x : x + w] == label).astype(np.uint8) * 255
                best = (float(area), image[y : y + h, x : x + w].copy(), mask)
    if best is None:
        raise RuntimeError(f"{demo_clip}: no person stands out from the street")
    return background, best[1], best[2]


def still_scene_clip(
    demo_clip: Path,
    cache_dir: Path,
    *,
    seconds: float = 60.0,
    crossing_at_s: float = 40.0,
    crossing_s: float = 20.0,
    gop_s: float = 1.0,
    noise: float = 2.0,
) -> Path:
    """A mostly-still camera as stored H.264 access units at CLIP_FPS, made once and kept
    next to the demo clip: the demo clip's empty street with sensor noise (Gaussian, `noise`
    grey levels), and one person from it stepping in at the left edge `crossing_at_s` into the
    clip and crossing to the right edge in `crossing_s` seconds (once per loop; slowly enough
    that their boxes overlap from one second to the next, which a tracker at 1 detect fps
    needs); a key frame every `gop_s` seconds exactly, as IP cameras send them."""
    name = (
        f"{demo_clip.stem}-still-{seconds:g}s-crossing{crossing_at_s:g}+{crossing_s:g}s"
        f"-gop{gop_s:g}s-noise{noise:g}-{CLIP_FPS}fps-v2.au"
    )
    target = cache_dir / name
    if target.exists():
        return target
    background, person, mask = _still_parts(demo_clip)
    height, width = background.shape[:2]
    person_height, person_width = person.shape[:2]
    inside = mask > 0
    generator = np.random.default_rng(15)
    # A bank of noise fields, one drawn per frame: sensor grain that never repeats in step.
    grain = [
        np.round(generator.normal(0, noise, background.shape)).astype(np.int16) for _ in range(16)
    ]
    base = background.astype(np.int16)
    top = round(height * 0.6) - person_height // 2

    def frames() -> Iterator[np.ndarray]:
        for index in range(round(seconds * CLIP_FPS)):
            picture = base + grain[int(generator.integers(len(grain)))]
            moment = index / CLIP_FPS - crossing_at_s
            if 0 <= moment < crossing_s:
                left = round((width - person_width) * moment / crossing_s)
                first, last = max(0, left), min(width, left + person_width)
                if first < last:
                    region = picture[top : top + person_height, first:last]
                    cut = inside[:, first - left : last - left]
                    region[cut] = person[:, first - left : last - left][cut]
            yield np.clip(picture, 0, 255).astype(np.uint8)

    _encode(frames(), target, (width, height), gop=max(1, round(gop_s * CLIP_FPS)))
    return target


class RtspServer:
    """gst-rtsp-server serving the encoded clip on 127.0.0.1; can be killed and restarted."""

    def __init__(
        self,
        clip: Path,
        *,
        port: int | None = None,
        mounts: tuple[str, ...] = ("cam",),
        audio_mount: str | None = None,
        user: str | None = None,
        password: str | None = None,
        digest: bool = False,
        log_path: Path | None = None,
        stagger_s: float = 0.0,
        size: tuple[int, int] = (768, 576),
    ):
        self.clip = clip
        self.port = port or free_port()
        self.mounts = mounts
        self.audio_mount = audio_mount
        self.user = user
        self.password = password
        self.digest = digest
        self.log_path = log_path
        self.stagger_s = stagger_s
        self.size = size
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> RtspServer:
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "serve", "--port", str(self.port),
                   "--clip", str(self.clip)]  # fmt: skip
        for mount in self.mounts:
            command += ["--mount", mount]
        if self.audio_mount:
            command += ["--audio-mount", self.audio_mount]
        if self.user:
            command += ["--user", self.user, "--password", self.password or ""]
        if self.digest:
            command += ["--digest"]
        if self.stagger_s:
            command += ["--stagger", str(self.stagger_s)]
        command += ["--width", str(self.size[0]), "--height", str(self.size[1])]
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                self.kill()
                raise RuntimeError(f"RTSP server did not start within {timeout_s} s")
        line = self.process.stdout.readline().decode()
        if not line.startswith("ready"):
            self.kill()
            raise RuntimeError(f"RTSP server failed to start: {line!r}")
        return self

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-stream, as a camera losing power does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def url(self, mount: str = "cam", *, user: str | None = None, password: str | None = None):
        credentials = ""
        if user is not None:
            credentials = f"{quote(user, safe='')}:{quote(password or '', safe='')}@"
        return f"rtsp://{credentials}127.0.0.1:{self.port}/{mount}"

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def jpeg_frames(demo_clip: Path, count: int = 20, step: int = 5) -> list[bytes]:
    """`count` JPEG frames of the demo clip, `step` frames apart (people move between them)."""
    capture = cv2.VideoCapture(str(demo_clip))
    frames: list[bytes] = []
    index = 0
    while len(frames) < count:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            assert ok
            frames.append(encoded.tobytes())
        index += 1
    capture.release()
    return frames


def damaged(jpeg: bytes) -> bytes:
    """`jpeg` with its headers scrambled past the start marker: no decoder reads it, as a part
    damaged on the wire or by a camera's encoder."""
    return jpeg[:2] + bytes(byte ^ 0x5A for byte in jpeg[2:600]) + jpeg[600:]


def picture(jpeg: bytes, format: str) -> bytes:
    """The same picture as `format`: jpeg (as it is), png, or text (a page of words, no picture)."""
    if format == "png":
        ok, encoded = cv2.imencode(".png", cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1))
        assert ok
        return encoded.tobytes()
    if format == "text":
        return b"<html><body>Please log in</body></html>"
    return jpeg


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up mid-stream is what these tests do on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HttpCamera:
    """An HTTP camera on 127.0.0.1: what IP cameras and encoders serve.

    /snapshot.jpg          the current frame (image/jpeg)
    /mjpeg                 MJPEG with a Content-Length on each part
    /mjpeg-bare            MJPEG without lengths and with the dashes in the boundary parameter
    /private/snapshot.jpg  the same, behind basic authentication (user USER, password PASSWORD)
    /index.html            a web page (text/html), as a camera's login page

    Faults that cameras in the field have, asked for in the query:

    /snapshot.jpg?type=T&format=F  sent as Content-Type T ("none": no header) and as picture
                                   format F (jpeg, png, or text for a page of words)
    /mjpeg?damaged=N               every Nth part a damaged JPEG (its bytes scrambled)
    /mjpeg?newline=lf              bare LF line ends instead of CRLF
    /mjpeg?length=short            each part's Content-Length 64 bytes short of the truth
    /mjpeg?hangup=N                the connection closed after N parts, every time

    `requests` lists the paths asked for, in order.
    """

    USER = "viewer"
    PASSWORD = "s3cret:pass"
    BOUNDARY = "gridwatchframe"

    def __init__(self, frames: list[bytes], fps: float = CLIP_FPS):
        self.frames = frames
        self.fps = fps
        self.started = time.monotonic()
        self.requests: list[str] = []
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test output is what matters

            def do_GET(self) -> None:
                camera.handle(self)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._stopping = threading.Event()

    def current(self) -> bytes:
        index = int((time.monotonic() - self.started) * self.fps)
        return self.frames[index % len(self.frames)]

    def url(self, path: str, *, user: str | None = None, password: str | None = None) -> str:
        credentials = ""
        if user is not None:
            credentials = f"{quote(user, safe='')}:{quote(password or '', safe='')}@"
        return f"http://{credentials}127.0.0.1:{self.port}{path}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if self._stopping.is_set():
            # Stopped: kept-alive connections are hung up on too, as a camera losing power.
            request.close_connection = True
            return
        self.requests.append(request.path)
        path, _, query = request.path.partition("?")
        faults = dict(parse_qsl(query))
        if path.startswith("/private/"):
            expected = base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                self._reply(request, 401, "text/plain", b"unauthorized",
                            {"WWW-Authenticate": 'Basic realm="camera"'})  # fmt: skip
                return
            path = path.removeprefix("/private")
        if path == "/snapshot.jpg":
            self._reply(
                request, 200, faults.get("type", "image/jpeg"),
                picture(self.current(), faults.get("format", "jpeg")),
            )  # fmt: skip
        elif path == "/index.html":
            self._reply(request, 200, "text/html; charset=utf-8", b"<html>login</html>")
        elif path in ("/mjpeg", "/mjpeg-bare"):
            self._stream(request, with_length=path == "/mjpeg", faults=faults)
        else:
            self._reply(request, 404, "text/plain", b"not found")

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        status: int,
        content_type: str,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        if content_type != "none":
            request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(body)

    def _stream(
        self, request: BaseHTTPRequestHandler, *, with_length: bool, faults: dict[str, str]
    ) -> None:
        boundary = self.BOUNDARY if with_length else f"--{self.BOUNDARY}"
        newline = "\n" if faults.get("newline") == "lf" else "\r\n"
        damaged_every = int(faults.get("damaged", 0))
        length_error = -64 if faults.get("length") == "short" else 0
        hangup_after = int(faults.get("hangup", 0))
        sent = 0
        request.send_response(200)
        request.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={boundary}")
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        next_at = time.monotonic()
        with contextlib.suppress(OSError):
            while not self._stopping.is_set() and not (hangup_after and sent >= hangup_after):
                frame = self.current()
                sent += 1
                if damaged_every and sent % damaged_every == 0:
                    frame = damaged(frame)
                head = f"--{self.BOUNDARY}{newline}Content-Type: image/jpeg{newline}"
                if with_length:
                    head += f"Content-Length: {len(frame) + length_error}{newline}"
                request.wfile.write((head + newline).encode() + frame + newline.encode())
                request.wfile.flush()
                next_at += 1 / self.fps
                time.sleep(max(0.0, next_at - time.monotonic()))

    def start(self) -> HttpCamera:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts connections and never answers, as a hung camera or a wrong service does."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.sock.accept()
                self._held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self._held:
            connection.close()


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, so no one else takes it, not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
