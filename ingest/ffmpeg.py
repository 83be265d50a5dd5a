"""Opening OpenCV's FFmpeg capture with per-source FFmpeg options.

OpenCV takes FFmpeg's demuxer options only from one process-wide environment variable, read
when a capture opens. Cameras open from many threads with different options (TCP for one, UDP
for another, none for a recording), so every open goes through one gate: captures wanting the
same options open concurrently; one wanting different options waits until those in flight have
read theirs. Without it a recording could open with a camera's tiny probe size, or a UDP camera
with TCP.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import cv2

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


class _OptionsGate:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._value: str | None = None
        self._users = 0  # captures opening now, all with options `_value`
        self._original: str | None = None

    @contextmanager
    def applied(self, value: str | None) -> Iterator[None]:
        """Hold the variable at `value` (None: unset) while the body opens a capture."""
        with self._condition:
            while self._users and self._value != value:
                self._condition.wait()
            if not self._users:
                self._original = os.environ.get(OPTIONS_VARIABLE)
            if value is None:
                os.environ.pop(OPTIONS_VARIABLE, None)
            else:
                os.environ[OPTIONS_VARIABLE] = value
            self._value = value
            self._users += 1
        try:
            yield
        finally:
            with self._condition:
                self._users -= 1
                if not self._users:
                    # Leave the process environment as it was found.
                    if self._original is None:
                        os.environ.pop(OPTIONS_VARIABLE, None)
                    else:
                        os.environ[OPTIONS_VARIABLE] = self._original
                    self._value = None
                    self._condition.notify_all()


_gate = _OptionsGate()


def open_capture(
    address: str,
    options: Mapping[str, str | int] | None = None,
    *,
    open_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    threads: int | None = None,
) -> cv2.VideoCapture:
    """A `cv2.VideoCapture` on FFmpeg for `address`, opened with exactly `options`.

    The capture may not be open (check `isOpened()`); OpenCV reports no reason.

    Args:
        address: A URL or a file path.
        options: FFmpeg demuxer and protocol options. Empty means none at all, so OpenCV's own
            default (RTSP over TCP preferred) does not leak into recordings; None means
            OpenCV's defaults.
        open_timeout_s: OpenCV's own limit on opening (its interrupt callback).
        read_timeout_s: OpenCV's own limit on one read.
        threads: Decoder threads; None lets OpenCV choose (one per core).
    """
    params: list[int] = []
    if open_timeout_s is not None:
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, max(1, round(open_timeout_s * 1000))]
    if read_timeout_s is not None:
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(1, round(read_timeout_s * 1000))]
    if threads is not None:
        params += [cv2.CAP_PROP_N_THREADS, threads]
    with _gate.applied(None if options is None else format_options(options)):
        return cv2.VideoCapture(address, cv2.CAP_FFMPEG, params)
