"""RTP in: the header parser, the jitter buffer and the payload stream FFmpeg reads."""

from __future__ import annotations

import struct
import threading

import pytest

from ingest.rtp import JitterBuffer, PayloadStream, RtpError, RtpPacket, parse_rtp


def rtp(sequence: int, payload: bytes = b"x", *, first: int = 0x80, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", first, pt, sequence, 9000, 1234) + payload


def packet(sequence: int) -> RtpPacket:
    return RtpPacket(96, sequence, 0, 1, False, sequence.to_bytes(2, "big"))


def test_header_fields_and_payload() -> None:
    parsed = parse_rtp(struct.pack("!BBHII", 0x80, 0x80 | 96, 65535, 90000, 200000001) + b"PS")
    assert parsed == RtpPacket(96, 65535, 90000, 200000001, True, b"PS")


def test_csrcs_extension_and_padding_are_removed() -> None:
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x01\x02\x03\x04"
    data = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 96, 7, 0, 9) + csrcs + extension
    assert parse_rtp(data + b"payload" + b"\x00\x00\x03").payload == b"payload"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x80\x60\x00", "shorter than the 12-byte"),
        (rtp(1, first=0x40), "version 1"),
        (rtp(1, b"", first=0x90), "extension flagged but missing"),
        (rtp(1, b"\x00", first=0xA0), "padding length of 0"),
        (rtp(1, b"ab\x09", first=0xA0), "runs past"),
        (rtp(1, b"", first=0x83), "runs past"),
    ],
)
def test_malformed_packets_say_why(data: bytes, why: str) -> None:
    with pytest.raises(RtpError, match=why):
        parse_rtp(data)


def test_reordered_packets_come_out_in_sequence() -> None:
    buffer = JitterBuffer(depth=8, start=1)
    out = [p.sequence for s in (10, 12, 11, 14, 13) for p in buffer.push(packet(s))]
    assert out == [10, 11, 12, 13, 14]
    assert buffer.stats.lost == 0


def test_the_stream_starts_at_the_earliest_of_its_first_packets() -> None:
    buffer = JitterBuffer(depth=8, start=3)
    assert buffer.push(packet(11)) == [] and buffer.push(packet(10)) == []
    assert [p.sequence for p in buffer.push(packet(13))] == [10, 11]
    assert [p.sequence for p in buffer.push(packet(12))] == [12, 13]
    assert buffer.stats.late == 0


def test_sequence_wraps_around() -> None:
    buffer = JitterBuffer(depth=8, start=1)
    out = [p.sequence for s in (65534, 0, 65535, 1) for p in buffer.push(packet(s))]
    assert out == [65534, 65535, 0, 1]


def test_a_lost_packet_is_skipped_once_depth_later_packets_wait() -> None:
    buffer = JitterBuffer(depth=3, start=1)
    released = [p.sequence for s in (1, 3, 4, 5) for p in buffer.push(packet(s))]
    assert released == [1]  # 2 may still come
    released += [p.sequence for p in buffer.push(packet(6))]
    assert released == [1, 3, 4, 5, 6] and buffer.stats.lost == 1
    assert buffer.push(packet(2)) == [] and buffer.stats.late == 1


def test_duplicates_and_a_restarted_sender() -> None:
    buffer = JitterBuffer(depth=8, start=1)
    buffer.push(packet(100))
    buffer.push(packet(102))
    assert buffer.push(packet(102)) == [] and buffer.stats.duplicates == 1
    # A sender that restarts its numbering far away: what was held goes out, then the new run.
    out = [p.sequence for p in buffer.push(packet(40000))]
    assert out == [102, 40000] and buffer.stats.restarts == 1 and buffer.stats.lost == 1


def test_payload_stream_reads_in_order_and_ends_on_silence() -> None:
    stream = PayloadStream(timeout_s=0.2)
    stream.write(b"abc")
    stream.write(b"defg")
    assert stream.read(5) == b"abcde"
    assert stream.read(-1) == b"fg"
    assert stream.read(10) == b""  # silent for the timeout: end of stream


def test_payload_stream_drops_the_oldest_past_its_limit() -> None:
    stream = PayloadStream(timeout_s=0.1, max_bytes=6)
    for chunk in (b"aaa", b"bbb", b"ccc"):
        stream.write(chunk)
    assert stream.read(100) == b"bbbccc" and stream.dropped_bytes == 3


def test_close_wakes_a_waiting_reader() -> None:
    stream = PayloadStream(timeout_s=30)
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.read(10)))
    reader.start()
    stream.close()
    reader.join(2)
    assert result == [b""]


def test_the_first_bytes_may_take_longer_than_the_next() -> None:
    stream = PayloadStream(timeout_s=0.05, first_timeout_s=2.0)
    threading.Timer(0.3, stream.write, args=(b"late start",)).start()
    assert stream.read(100) == b"late start"  # waited past timeout_s for the first bytes
    assert stream.read(100) == b""  # after them, silence for timeout_s ends the stream
