"""Pure parts of the stream adapters: addresses, SDP, RTSP authorization, MJPEG parts."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from ingest.errors import InvalidSource, mask_credentials
from ingest.ffmpeg import format_options
from ingest.http import MultipartReader, _boundary
from ingest.http import parse_address as parse_http
from ingest.rtsp import authorization, parse_address, parse_sdp


def test_rtsp_address_keeps_credentials_out_of_the_request_url() -> None:
    address = parse_address("gate", "rtsp://admin:p%40ss@10.0.0.7/Streaming/Channels/102")
    assert (address.username, address.password) == ("admin", "p@ss")
    assert address.request_url == "rtsp://10.0.0.7:554/Streaming/Channels/102"
    assert address.masked == "rtsp://***@10.0.0.7:554/Streaming/Channels/102"
    assert parse_address("gate", "rtsps://cam.example/live").port == 322


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("rtsp://cam:99999/live", "port is not a number"),
        ("rtsp://cam:abc/live", "port is not a number"),
        ("rtsp:///live", "no host name"),
        ("rtsp://cam/live stream", "white space"),
        ("http://cam/x", "not an RTSP address"),
    ],
)
def test_malformed_rtsp_addresses_are_refused_without_echoing_them(url: str, reason: str) -> None:
    with pytest.raises(InvalidSource, match=reason) as caught:
        parse_address("gate", url.replace("cam", "user:hunter2@cam", 1))
    assert "hunter2" not in str(caught.value)


def test_http_address() -> None:
    address = parse_http("lobby", "http://viewer:pw@10.0.0.9/cgi-bin/snapshot.cgi?chn=1")
    assert address.url == "http://10.0.0.9:80/cgi-bin/snapshot.cgi?chn=1"
    assert address.masked == "http://***@10.0.0.9:80/cgi-bin/snapshot.cgi?chn=1"
    with pytest.raises(InvalidSource, match="no host"):
        parse_http("lobby", "http:///snapshot.jpg")


def test_masked_url() -> None:
    assert mask_credentials("rtsp://a:b@cam:8554/x") == "rtsp://***@cam:8554/x"
    assert mask_credentials("http://cam/x") == "http://cam/x"
    assert mask_credentials("rtsp://a:b@cam:nope/x") == "rtsp://***@cam:nope/x"
    assert mask_credentials("rtsp://a:p@ss@cam/x") == "rtsp://***@cam/x"  # '@' in the password


@pytest.mark.parametrize(
    ("sdp", "media", "codec"),
    [
        ("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", ("video",), "h264"),
        (
            "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\n",
            ("audio", "video"),
            "h265",
        ),
        ("m=video 0 RTP/AVP 26\r\n", ("video",), "unknown"),  # static payload type: JPEG
        ("m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/8000/1\r\n", ("audio",), None),
        ("", (), None),
    ],
)
def test_sdp_media_and_codec(sdp: str, media: tuple[str, ...], codec: str | None) -> None:
    description = parse_sdp(sdp)
    assert (description.media, description.video_codec) == (media, codec)


def test_digest_answer_follows_rfc_2617() -> None:
    challenge = 'Digest realm="IP Camera", nonce="abc123", stale="FALSE"'
    header = authorization([challenge], "DESCRIBE", "rtsp://cam:554/1", "admin", "12345")
    assert header is not None and header.startswith("Digest ")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash

    expected = md5(f"{md5('admin:IP Camera:12345')}:abc123:{md5('DESCRIBE:rtsp://cam:554/1')}")
    assert f'response="{expected}"' in header
    # Offered both, the camera gets digest: the password never crosses the wire.
    both = authorization(['Basic realm="x"', challenge], "DESCRIBE", "rtsp://c/1", "a", "b")
    assert both is not None and both.startswith("Digest ")
    assert authorization(['Bearer realm="x"'], "DESCRIBE", "rtsp://c/1", "a", "b") is None


def test_ffmpeg_options_format() -> None:
    assert format_options({"rtsp_transport": "udp", "timeout": 5}) == "rtsp_transport;udp|timeout;5"
    with pytest.raises(ValueError):
        format_options({"user_agent": "a;b"})


JPEG_A, JPEG_B, JPEG_C = b"\xff\xd8A\r\n--notaboundary\xff\xd9", b"\xff\xd8BB\xff\xd9", b"\xff\xd8C"


def multipart(boundary: str, with_length: bool) -> bytes:
    stream = b""
    for body in (JPEG_A, JPEG_B, JPEG_C):
        head = f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
        if with_length:
            head += f"Content-Length: {len(body)}\r\n"
        stream += head.encode() + b"\r\n" + body + b"\r\n"
    return stream + f"--{boundary}\r\n".encode()


@pytest.mark.parametrize("with_length", [True, False])
@pytest.mark.parametrize("header_boundary", ["frame", "--frame"])
@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_multipart_parts_survive_any_chunking(
    with_length: bool, header_boundary: str, chunk: int
) -> None:
    stream = b"preamble the camera sends first\r\n" + multipart("frame", with_length)
    reader = MultipartReader(header_boundary)
    parts: list[bytes] = []
    for start in range(0, len(stream), chunk):
        parts += reader.feed(stream[start : start + chunk])
    assert parts == [JPEG_A, JPEG_B, JPEG_C]


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/x-mixed-replace; boundary=frame", "frame"),
        ('multipart/x-mixed-replace;boundary="--my frame"', "--my frame"),
        ("multipart/x-mixed-replace", None),
    ],
)
def test_boundary_from_the_content_type(content_type: str, boundary: str | None) -> None:
    response = httpx.Response(200, headers={"Content-Type": content_type})
    assert _boundary(response) == boundary


def test_multipart_skips_endless_parts_and_goes_on_at_the_next_boundary() -> None:
    reader = MultipartReader("frame", max_part_bytes=1000)
    assert reader.feed(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n") == []
    # Skipped as junk (an empty body, which the camera counts as damaged), never held whole.
    assert reader.feed(b"x" * 2000) == [b""]
    assert reader.feed(b"x" * 2000) == []
    assert reader.feed(b"\r\n--frame\r\n\r\n" + JPEG_A + b"\r\n--frame\r\n") == [JPEG_A]


def test_multipart_skips_headers_that_never_end() -> None:
    reader = MultipartReader("frame")
    assert reader.feed(b"--frame\r\n" + b"X-Junk: y\r\n" * 1000) == [b""]
    assert reader.feed(b"--frame\n\n" + JPEG_A + b"\n--frame\n") == [JPEG_A]
