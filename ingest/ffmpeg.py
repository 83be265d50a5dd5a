"""FFmpeg options written in the form OpenCV's FFmpeg capture reads from its environment
variable (streams themselves are decoded by `ingest.decoding`, which takes options per open)."""

from __future__ import annotations

from collections.abc import Mapping

OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def format_options(options: Mapping[str, str | int]) -> str:
    """FFmpeg options in the form OpenCV parses: "key;value|key;value".

    Example:
        >>> format_options({"rtsp_transport": "tcp", "probesize": 32768})
        'rtsp_transport;tcp|probesize;32768'
    """
    for key, value in options.items():
        if any(mark in f"{key}{value}" for mark in ";|"):
            raise ValueError(f"FFmpeg option {key!r} may not contain ';' or '|'")
    return "|".join(f"{key};{value}" for key, value in options.items())
