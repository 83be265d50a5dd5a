"""Hostile and odd peers on loopback for the connection-test probes: a web server that sends a
picture bomb, redirects elsewhere, answers with web pages and statuses, and a silent port."""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.factories import jpeg

BOUNDARY = "frame"


@cache
def png_bomb(side: int = 16000) -> bytes:
    """A PNG of side x side black pixels: a few hundred KiB that decode to side² x 3 bytes.
    Written chunk by chunk, so making it takes neither the memory nor the time decoding does."""
    # Raw deflate blocks ended by a full flush are byte-identical for identical rows, so one
    # block of 500 rows is compressed once and repeated; the checksum is the whole image's.
    row = b"\x00" * (side + 1)  # filter type 0, then one grey byte per pixel
    rows = row * 500
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(rows) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(row * (side % 500)) + compressor.flush()
    checksum = 1
    for _ in range(side // 500):
        checksum = zlib.adler32(rows, checksum)
    checksum = zlib.adler32(row * (side % 500), checksum)
    data = b"\x78\xda" + block * (side // 500) + tail + struct.pack(">I", checksum)

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


class _Handler(BaseHTTPRequestHandler):
    server: WebServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path == "/snapshot.jpg":
            self._send(200, "image/jpeg", jpeg(320, 240))
        elif self.path == "/bomb.png":
            self._send(200, "image/png", png_bomb())
        elif self.path == "/bomb.mjpg":
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
            part = png_bomb()
            head = f"--{BOUNDARY}\r\nContent-Type: image/png\r\nContent-Length: {len(part)}\r\n\r\n"
            self.wfile.write(head.encode() + part + b"\r\n")
            self.wfile.flush()
        elif self.path == "/elsewhere":
            target = f"http://localhost:{self.server.server_port}/snapshot.jpg"
            self._send(302, "text/plain", b"", Location=target)
        elif self.path == "/same-host":
            self._send(302, "text/plain", b"", Location="/snapshot.jpg")
        elif self.path == "/admin":
            self._send(200, "text/html", b"<html><title>Router admin</title></html>")
        else:
            self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:  # an ONVIF client posts SOAP; a web server answers a page
        self.server.paths.append(self.path)
        self._send(200, "text/html", b"<html><body>It works!</body></html>")


class WebServer(ThreadingHTTPServer):
    """The web server, on 127.0.0.1 and a free port, in a thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_port}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class SilentPort:
    """A port that accepts connections and never answers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = int(self._socket.getsockname()[1])

    def close(self) -> None:
        self._socket.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
