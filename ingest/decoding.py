"""Decoding a video stream (a recording or a camera's RTSP URL) picture by picture with PyAV.

Each picture comes at the size the stream has when it is decoded. OpenCV's FFmpeg capture scales
every picture to the size of the first: a camera re-configured from 768x576 to 768x432 went on
being delivered at 768x576, stretched, and nothing downstream could tell.

A camera's stream can be decoded key frames only, while nothing happens in front of it: the
other pictures of a group of pictures (GOP) depend on its key frame and on each other, so they
are passed over undecoded as whole packets, and kept until the next key frame so that full
decoding resumes mid-GOP without a broken picture.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import BinaryIO

import av
import av.error
import numpy as np

log = logging.getLogger(__name__)

MAX_KEY_INTERVAL_S = 2.0
"""The longest key-frame interval (seconds) at which a stream is decoded key frames only when
asked: each key frame skipped to is one interval later than the picture that would have shown
the change, so this bounds what key-frame decoding adds to the first detection. Cameras send a
key frame every 1 to 2 s by default; a longer or "smart" (dynamic) GOP is always fully decoded."""


class VideoDecoder:
    """One video stream, decoded with FFmpeg's libraries through PyAV.

    `grab` decodes the next picture and `retrieve` converts it to BGR pixels (the costly step,
    only for pictures that are used), as with `cv2.VideoCapture`. A packet the decoder cannot
    read is skipped and counted in `damaged`; the next key frame recovers.

    `address` is a URL or path, or a readable file object (a stream arriving over RTP); `format`
    names FFmpeg's demuxer when it cannot be guessed ("mpeg": an MPEG program stream).
    With `key_frames_only` set (from any thread), `grab` decodes only key frames, once the
    stream has shown key frames at most `MAX_KEY_INTERVAL_S` apart; the packets in between are
    not decoded at all (`on_skip` is called for each as it arrives, and `skipped` counts them).
    They are kept until the next key frame: when `key_frames_only` is cleared mid-GOP, they are
    decoded (and their pictures discarded) before the next packet, so the next picture `grab`
    gives is whole. `decoded` counts the pictures the decoder produced.

    With `key_frames_within_s` set, key frames only are decoded whenever the stream's key
    frames come at most that many seconds apart, `key_frames_only` or not: a camera analysed
    once a second needs no more than a key frame a second.

    Raises (from the constructor): `OSError` when the address cannot be opened (FFmpeg's
    error chained), `LookupError` when it has no video stream.

    Example:
        >>> decoder = VideoDecoder("rtsp://10.0.0.7/Streaming/101", {"rtsp_transport": "tcp"})
        >>> if decoder.grab():
        ...     image = decoder.retrieve()  # (height, width, 3) uint8 at the picture's own size
    """

    def __init__(
        self,
        address: str | BinaryIO,
        options: Mapping[str, str | int] | None = None,
        *,
        format: str | None = None,
        open_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        threads: int | None = None,
    ):
        timeout: tuple[float, float] | None = None
        if open_timeout_s is not None or read_timeout_s is not None:
            opening = open_timeout_s or read_timeout_s or 0.0
            timeout = (opening, read_timeout_s or opening)
        try:
            self._container = av.open(
                address, mode="r", format=format,
                options={key: str(value) for key, value in (options or {}).items()},
                timeout=timeout,
            )  # fmt: skip
        except av.error.FFmpegError as err:
            raise OSError(f"FFmpeg could not open it: {err.strerror or err}") from err
        if not self._container.streams.video:
            self._container.close()
            raise LookupError(f"{address if isinstance(address, str) else format}: no video stream")
        self.stream = self._container.streams.video[0]
        if self.stream.codec_context is None:
            self._container.close()
            raise LookupError(f"no decoder for the video stream ({self.stream.codec_tag or '?'})")
        if threads is not None:
            self.stream.codec_context.thread_count = threads
        self._packets: Iterator[av.Packet] = self._container.demux(self.stream)
        self._decoded: deque[av.VideoFrame] = deque()
        self._frame: av.VideoFrame | None = None
        self.damaged = 0
        self.ended = False
        self.key_frames_only = False
        self.key_frames_within_s: float | None = None
        self.on_skip: Callable[[], object] | None = None
        self.skipped = 0  # packets passed over undecoded
        self.decoded = 0  # pictures the decoder produced, those discarded catching up included
        self._held: list[av.Packet] = []  # packets since the last key frame, not decoded
        self._last_key_s: float | None = None  # the last key frame's stream time, seconds
        self.key_interval_s: float | None = None  # between the last two key frames, seconds

    @property
    def fps(self) -> float | None:
        """The rate the container states (frames per second), if it states one."""
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    @property
    def codec_tag(self) -> str:
        """The stream's codec tag as the container gives it ("" if none), e.g. "div3"."""
        return str(self.stream.codec_tag or "")

    @property
    def codec_name(self) -> str:
        """FFmpeg's name of the stream's codec, e.g. "h264"."""
        return str(self.stream.codec_context.name)

    def grab(self) -> bool:
        """Decode the next picture; False at the end of the stream (or once it broke off)."""
        while not self._decoded:
            if self.ended:
                return False
            try:
                packet = next(self._packets)
            except StopIteration:
                self.ended = True
                return False
            except (av.error.FFmpegError, OSError) as err:
                log.debug("%s", err)
                self.ended = True
                return False
            if packet.is_keyframe:
                self._key_frame_at(packet)
                self._held.clear()  # the new GOP depends on none of them
            elif self._skipping() and packet.size:
                self._held.append(packet)
                self.skipped += 1
                if self.on_skip is not None:
                    self.on_skip()
                continue
            elif self._held:
                # Full decoding resumed mid-GOP: rebuild the references first.
                held, self._held = self._held, []
                for earlier in held:
                    self._decode(earlier)
                self._decoded.clear()  # older than the packet in hand; it is the next picture
            self._decode(packet)
        self._frame = self._decoded.popleft()
        return True

    @property
    def skipping(self) -> bool:
        """Whether pictures between key frames are being passed over now."""
        return self._skipping()

    def _skipping(self) -> bool:
        interval = self.key_interval_s
        if self._last_key_s is None or interval is None:
            return False
        if self.key_frames_only and interval <= MAX_KEY_INTERVAL_S:
            return True
        within = self.key_frames_within_s
        # A hair of tolerance: a key frame every 10 frames at 10 fps is 1 s apart to rounding.
        return within is not None and interval <= within * 1.001

    def _key_frame_at(self, packet: av.Packet) -> None:
        """Note a key frame's stream time, and the interval from the one before."""
        time_base = packet.time_base or self.stream.time_base
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or time_base is None:
            self._last_key_s = self.key_interval_s = None
            return
        seconds = float(stamp * time_base)
        if self._last_key_s is not None and seconds > self._last_key_s:
            self.key_interval_s = seconds - self._last_key_s
        self._last_key_s = seconds

    def _decode(self, packet: av.Packet) -> None:
        try:
            pictures = packet.decode()
        except av.error.InvalidDataError:
            self.damaged += 1
            return
        self.decoded += len(pictures)
        self._decoded.extend(pictures)

    @property
    def position_s(self) -> float:
        """The grabbed picture's presentation time in seconds; NaN if it has none."""
        frame = self._frame
        if frame is None or frame.time is None:
            return math.nan
        return float(frame.time)

    def retrieve(self) -> np.ndarray | None:
        """The grabbed picture as BGR pixels, shape (height, width, 3); None if none."""
        if self._frame is None:
            return None
        return self._frame.to_ndarray(format="bgr24")

    def close(self) -> None:
        self._container.close()
