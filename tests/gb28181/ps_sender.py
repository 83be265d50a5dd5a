"""A GB/T 28181 device's media side for tests: the demo clip as an MPEG program stream (muxed by
FFmpeg through PyAV's `mpeg` muxer, one PS pack group per video frame, as devices send it) sent
over RTP as GB/T 28181-2016 appendix C frames it: payload type 96, 90 kHz timestamps, payloads of
at most 1400 bytes, the marker bit on each frame's last packet; over UDP, or over TCP with RFC
4571's 16-bit length before each packet (the device connecting: "TCP active").

Run as a program it sends a prepared clip (`prepare`) to the port a SIPp device was INVITEd to,
as the INVITE's SDP named it (PROTO: RTP/AVP or TCP/RTP/AVP):
``python -m tests.gb28181.ps_sender CLIP.psframes [--speed 2] HOST PORT SSRC PROTO``.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

MAX_PAYLOAD = 1400
CLOCK = 90_000


def prepare(clip: Path, cache_dir: Path, *, codec: str = "libx264", frames: int = 60) -> Path:
    """The first `frames` frames of `clip` encoded with `codec` (libx264 or libx265), each in
    its own PS packs, stored once as (4-byte length, 4-byte timestamp, PS bytes) records;
    returns the file."""
    target = cache_dir / f"{clip.stem}-{codec}-{frames}.psframes"
    if target.exists():
        return target
    elementary = "hevc" if codec == "libx265" else "h264"
    raw = io.BytesIO()
    with av.open(str(clip)) as source, av.open(raw, "w", format=elementary) as out:
        rate = source.streams.video[0].average_rate or Fraction(10)
        stream = out.add_stream(codec, rate=rate)
        first = True
        for index, frame in enumerate(source.decode(video=0)):
            if index >= frames:
                break
            if first:
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
                # A key frame each second, no B-frames: what cameras send.
                gop = str(max(1, round(rate)))
                stream.options = (
                    {"g": gop, "bf": "0", "preset": "veryfast"}
                    if codec == "libx264"
                    else {"preset": "ultrafast",
                          "x265-params": f"keyint={gop}:bframes=0:log-level=error"}
                )  # fmt: skip
                first = False
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    step = round(CLOCK / rate)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with (
        av.open(io.BytesIO(raw.getvalue()), format=elementary) as units,
        partial.open("wb") as out_file,
    ):
        template = units.streams.video[0]
        for index, packet in enumerate(p for p in units.demux(template) if p.size):
            buffer = io.BytesIO()
            with av.open(buffer, "w", format="mpeg") as muxer:
                stream = muxer.add_stream_from_template(template)
                packet.stream = stream
                packet.time_base = Fraction(1, CLOCK)
                packet.pts = packet.dts = index * step
                muxer.mux(packet)
            out_file.write(struct.pack("!II", len(buffer.getvalue()), index * step))
            out_file.write(buffer.getvalue())
    partial.replace(target)
    return target


def read_frames(path: Path) -> list[tuple[int, bytes]]:
    """The (90 kHz timestamp, PS bytes) records of a prepared clip."""
    data, records, offset = path.read_bytes(), [], 0
    while offset < len(data):
        length, timestamp = struct.unpack_from("!II", data, offset)
        records.append((timestamp, data[offset + 8 : offset + 8 + length]))
        offset += 8 + length
    return records


def rtp_packets(
    frames: list[tuple[int, bytes]], ssrc: int, *, first_sequence: int | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Each frame's index and its RTP packets."""
    sequence = secrets.randbelow(1 << 16) if first_sequence is None else first_sequence
    for index, (timestamp, ps) in enumerate(frames):
        chunks = [ps[i : i + MAX_PAYLOAD] for i in range(0, len(ps), MAX_PAYLOAD)]
        packets = []
        for number, chunk in enumerate(chunks):
            marker = 0x80 if number == len(chunks) - 1 else 0
            header = struct.pack("!BBHII", 0x80, marker | 96, sequence, timestamp, ssrc)
            packets.append(header + chunk)
            sequence = (sequence + 1) & 0xFFFF
        yield index, packets


def send(
    frames: list[tuple[int, bytes]],
    host: str,
    port: int,
    ssrc: int,
    *,
    tcp: bool = False,
    fps: float = 10.0,
    speed: float = 1.0,
    stop: threading.Event | None = None,
    reorder: bool = False,
) -> int:
    """Send `frames` paced at `fps` times `speed`; with `reorder` each frame's packets go in
    pairs swapped (a network reordering them). Returns the number of RTP packets sent."""
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if tcp:
            for _attempt in range(50):  # the receiver may not listen yet
                try:
                    sock.connect((host, port))
                    break
                except ConnectionRefusedError:
                    time.sleep(0.1)
        started, sent = time.monotonic(), 0
        for index, packets in rtp_packets(frames, ssrc):
            if stop is not None and stop.is_set():
                break
            delay = started + index / (fps * speed) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if reorder:
                for i in range(0, len(packets) - 1, 2):
                    packets[i], packets[i + 1] = packets[i + 1], packets[i]
            for packet in packets:
                if tcp:
                    sock.sendall(struct.pack("!H", len(packet)) + packet)
                else:
                    sock.sendto(packet, (host, port))
                sent += 1
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", type=Path, help="a clip made by prepare()")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("ssrc", type=int, help="decimal, as the SDP's y= line")
    parser.add_argument("proto", choices=["RTP/AVP", "TCP/RTP/AVP"])
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    send(read_frames(args.frames), args.host, args.port, args.ssrc,
         tcp=args.proto == "TCP/RTP/AVP", fps=args.fps, speed=args.speed)  # fmt: skip


if __name__ == "__main__":
    main()
