"""Evidence: the annotated picture an operator sees first and a short clip, with digests to prove
them unchanged."""

from __future__ import annotations

import hashlib
import io
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


def encode_mp4(frames: Sequence[np.ndarray], timestamps: Sequence[datetime]) -> bytes:
    """H.264 in MP4 that browsers play: BGR frames, shown at the times they were taken.

    The MP4 is fragmented with its index up front (`empty_moov`), so a browser starts playing
    before it has the whole file, and it is written to memory with no temporary file. Frames are
    cropped to even sizes, as 4:2:0 chroma needs. PyAV's wheels bundle libx264, so this needs
    no system FFmpeg.

    Example:
        >>> clip = encode_mp4([frame_a, frame_b], [at_0s, at_0_5s])
        >>> clip[4:8]
        b'ftyp'
    """
    if not frames or len(frames) != len(timestamps):
        raise ValueError("a clip needs one timestamp per frame and at least one frame")
    height, width = (dimension - dimension % 2 for dimension in frames[0].shape[:2])
    span = max((timestamps[-1] - timestamps[0]).total_seconds(), 1e-3)
    rate = max(1, round((len(frames) - 1) / span)) if len(frames) > 1 else 1
    time_base = Fraction(1, 1000)
    buffer = io.BytesIO()
    with av.open(
        buffer, mode="w", format="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof"},
    ) as container:  # fmt: skip
        # One encoder thread: the model owns the cores; zerolatency drops the lookahead, which
        # a few seconds of evidence do not need.
        stream = container.add_stream(
            "libx264",
            rate=rate,
            options={"preset": "ultrafast", "tune": "zerolatency", "crf": "28", "threads": "1"},
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        last_pts = -1
        for image, taken_at in zip(frames, timestamps, strict=True):
            # OpenCV's conversion to 4:2:0 is several times faster than FFmpeg's from BGR.
            planar = np.asarray(
                cv2.cvtColor(np.ascontiguousarray(image[:height, :width]), cv2.COLOR_BGR2YUV_I420),
                dtype=np.uint8,
            )
            frame = av.VideoFrame.from_ndarray(planar, format="yuv420p")
            # Milliseconds since the first frame; strictly increasing as the muxer demands.
            pts = max(last_pts + 1, round((taken_at - timestamps[0]).total_seconds() * 1000))
            frame.pts, frame.time_base, last_pts = pts, time_base, pts
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()
