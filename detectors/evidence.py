"""Evidence: the annotated picture an operator sees first and a short clip, with digests to prove
them unchanged."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from fractions import Fraction

import av
import cv2
import numpy as np
import supervision as sv

from detectors.rules.line_crossing import Line
from detectors.zones import Zone

ZONE_COLOUR = (0, 215, 255)  # amber, BGR
BOX_COLOUR = (80, 200, 80)
HIT_COLOUR = (40, 40, 230)


def burned_in_time(at: datetime, zone: tzinfo = UTC) -> str:
    """The time written on evidence: local to the camera's zone, with its UTC offset, so that the
    picture and the console (which labels its times the same way) agree at a glance.

    Example:
        >>> burned_in_time(datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC), ZoneInfo("Asia/Shanghai"))
        '2026-03-01 10:00:05 UTC+08:00'
    """
    local = at.astimezone(zone)
    offset = local.strftime("%z") or "+0000"
    return f"{local:%Y-%m-%d %H:%M:%S} UTC{offset[:3]}:{offset[3:5]}"


def annotate(
    image: np.ndarray,
    detections: sv.Detections,
    zones: Sequence[Zone],
    *,
    highlight_track: int | None = None,
    highlight_tracks: Sequence[int] = (),
    caption: str = "",
    lines: Sequence[Line] = (),
    shade_zones: bool = True,
) -> np.ndarray:
    """A copy of `image` with zones and lines outlined, every box drawn and the offending ones in
    red (`highlight_track`, and every id in `highlight_tracks`).

    The offending boxes are drawn last, over the others: a neighbour's box or label drawn after
    them would otherwise cover their outline where people walk side by side, and the order of
    `detections` is the tracker's, which says nothing about what matters."""
    highlighted = set(highlight_tracks) | ({highlight_track} if highlight_track else set())
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 300))
    for zone in zones:
        polygon = zone.pixel_polygon(width, height)
        if shade_zones:
            overlay = canvas.copy()
            cv2.fillPoly(overlay, [polygon], ZONE_COLOUR)
            cv2.addWeighted(overlay, 0.15, canvas, 0.85, 0, dst=canvas)
        cv2.polylines(canvas, [polygon], isClosed=True, color=ZONE_COLOUR, thickness=thickness)
        x, y = polygon[0]
        _label(canvas, zone.name, (int(x) + 4, int(y) + 16), ZONE_COLOUR)
    for line in lines:
        start = (round(line.start[0] * width), round(line.start[1] * height))
        end = (round(line.end[0] * width), round(line.end[1] * height))
        cv2.arrowedLine(canvas, start, end, ZONE_COLOUR, thickness + 1, tipLength=0.03)
        _label(canvas, line.name, (start[0] + 4, start[1] - 6), ZONE_COLOUR)
    names = detections.data.get("class_name")
    track_ids: list[int | None] = [
        int(track_id) if track_id >= 0 else None  # below 0: not (yet) tracked
        for track_id in (
            detections.tracker_id
            if detections.tracker_id is not None
            else np.full(len(detections), -1)
        )
    ]
    hit = [track_id is not None and track_id in highlighted for track_id in track_ids]
    # Stable: among the others, and among the offending, the order given is kept.
    for index in sorted(range(len(detections)), key=lambda index: hit[index]):
        x1, y1, x2, y2 = (round(float(v)) for v in detections.xyxy[index])
        track_id = track_ids[index]
        colour = HIT_COLOUR if hit[index] else BOX_COLOUR
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness + (colour == HIT_COLOUR))
        parts = [str(names[index]) if names is not None else "object"]
        if detections.confidence is not None:
            parts.append(f"{float(detections.confidence[index]):.2f}")
        if track_id is not None:
            parts.append(f"#{track_id}")
        _label(canvas, " ".join(parts), (x1, max(12, y1 - 4)), colour)
    if caption:
        _label(canvas, caption, (6, height - 8), (255, 255, 255))
    return canvas


def _label(
    canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (text_width, text_height), baseline = cv2.getTextSize(text, font, scale, 1)
    x, y = origin
    cv2.rectangle(
        canvas, (x - 2, y - text_height - 3), (x + text_width + 2, y + baseline), (0, 0, 0), -1
    )
    cv2.putText(canvas, text, (x, y), font, scale, colour, 1, cv2.LINE_AA)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("image could not be encoded as JPEG")
    return buffer.tobytes()


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
"""A fragmented MP4 with its index up front (`empty_moov`): a browser starts playing it before
it has the whole file, and it is written to memory with no temporary file."""

_TIME_BASE = Fraction(1, 1000)
# One encoder thread: the model owns the cores; zerolatency drops the lookahead, which pictures
# encoded each on its own do not need.
_X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28", "threads": "1"}


class KeyFrameEncoder:
    """Encodes pictures of one size as H.264 key frames (IDR), each on its own, so that any run
    of them, in any order and shared by any number of clips, is muxed into an MP4 with no more
    encoding (`mux`).

    Every picture a key frame costs little at evidence rates: at 1 frame a second, a frame
    predicted from the one a second before saves almost nothing, and a clip encoded on its own
    pays for opening an encoder and for its first key frame anyway. Pictures are BGR, (height,
    width, 3) uint8, cropped to the encoder's even size (4:2:0 chroma needs even sizes). PyAV's
    wheels bundle libx264, so this needs no system FFmpeg. Safe to use from several threads.

    Example:
        >>> encoder = KeyFrameEncoder(768, 576)
        >>> frames = [encoder.encode(image) for image in images]
        >>> clip = encoder.mux(frames, timestamps)
    """

    def __init__(self, width: int, height: int):
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise ValueError(f"a picture of {width}x{height} pixels cannot be encoded")
        self._lock = threading.Lock()
        self._frames = 0
        # The stream's parameters (size, SPS and PPS) are what each clip's stream is made from;
        # its container only ever holds the header.
        self._container = av.open(io.BytesIO(), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", options=_X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.time_base = _TIME_BASE
        stream.codec_context.gop_size = 1
        self._container.start_encoding()
        self._stream = stream

    def encode(self, image: np.ndarray) -> bytes:
        """The picture as one H.264 key frame (an access unit, as the MP4 muxer takes it).

        Raises:
            ValueError: The picture is smaller than the encoder's size.
        """
        height, width = image.shape[:2]
        if width < self.width or height < self.height:
            raise ValueError(
                f"a picture of {width}x{height} pixels given to an encoder of "
                f"{self.width}x{self.height}"
            )
        # OpenCV's conversion to 4:2:0 is several times faster than FFmpeg's from BGR.
        planar = cv2.cvtColor(
            np.ascontiguousarray(image[: self.height, : self.width]), cv2.COLOR_BGR2YUV_I420
        )
        frame = av.VideoFrame.from_ndarray(np.asarray(planar, dtype=np.uint8), format="yuv420p")
        with self._lock:
            frame.pts, frame.time_base = self._frames, _TIME_BASE  # increasing, as x264 wants
            self._frames += 1
            packets = self._stream.encode(frame)
        if len(packets) != 1 or not packets[0].is_keyframe:
            raise RuntimeError("the encoder did not give one key frame for one picture")
        return bytes(packets[0])

    def mux(self, frames: Sequence[bytes], timestamps: Sequence[datetime]) -> bytes:
        """An MP4 of key frames from `encode`, shown at the times they were taken.

        Raises:
            ValueError: No frame, or not one timestamp per frame.
        """
        if not frames or len(frames) != len(timestamps):
            raise ValueError("a clip needs one timestamp per frame and at least one frame")
        # Milliseconds since the first frame; strictly increasing as the muxer demands.
        shown_at: list[int] = []
        for taken_at in timestamps:
            since = round((taken_at - timestamps[0]).total_seconds() * 1000)
            shown_at.append(max(shown_at[-1] + 1, since) if shown_at else 0)
        # Each frame lasts until the next; the last one the clip's mean frame interval.
        span_ms = max(shown_at[-1], 1)
        last_ms = round(1000 / max(1, round(1000 * (len(frames) - 1) / span_ms)))
        ends = [*shown_at[1:], shown_at[-1] + last_ms]
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="mp4", options=MP4_OPTIONS) as container:
            stream = container.add_stream_from_template(self._stream)
            stream.time_base = _TIME_BASE
            for data, start, end in zip(frames, shown_at, ends, strict=True):
                packet = av.Packet(data)
                packet.pts = packet.dts = start
                packet.duration = end - start
                packet.time_base, packet.stream, packet.is_keyframe = _TIME_BASE, stream, True
                container.mux(packet)
        return buffer.getvalue()


class KeyFrameEncoders:
    """One `KeyFrameEncoder` per picture size, made when first asked for and shared by every
    camera given this set: an encoder holds about 4 MiB (768x576), which a worker of 96
    cameras would otherwise hold 96 times, and one serves any number of cameras, each picture
    encoded on its own. Safe to use from several threads.

    Example:
        >>> encoders = KeyFrameEncoders()
        >>> encoder = encoders.of_size(768, 576)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_size: dict[tuple[int, int], KeyFrameEncoder] = {}

    def of_size(self, width: int, height: int) -> KeyFrameEncoder:
        """The encoder of pictures `width` x `height` pixels (see `KeyFrameEncoder`)."""
        with self._lock:
            encoder = self._by_size.get((width, height))
            if encoder is None:
                encoder = self._by_size[(width, height)] = KeyFrameEncoder(width, height)
            return encoder


def encode_mp4(frames: Sequence[np.ndarray], timestamps: Sequence[datetime]) -> bytes:
    """H.264 in MP4 that browsers play: BGR frames, shown at the times they were taken (see
    `KeyFrameEncoder`; a camera's clips share one, so that a frame in several clips is encoded
    once).

    Example:
        >>> clip = encode_mp4([frame_a, frame_b], [at_0s, at_0_5s])
        >>> clip[4:8]
        b'ftyp'
    """
    if not frames or len(frames) != len(timestamps):
        raise ValueError("a clip needs one timestamp per frame and at least one frame")
    height, width = frames[0].shape[:2]
    encoder = KeyFrameEncoder(width, height)
    return encoder.mux([encoder.encode(image) for image in frames], timestamps)
