"""A camera reader outlives whatever goes wrong while opening its camera."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gridwatch.worker.capture as capture_module
from contract.camera import expand_source
from gridwatch.worker.assemble import stream_options
from gridwatch.worker.capture import CameraReader
from ingest import Frame
from tests.ingest.workers import camera


def next_frame(reader: CameraReader, timeout_s: float) -> Frame:
    """The reader's next frame for detection, as the worker's dispatcher takes it."""
    deadline = time.monotonic() + timeout_s
    while (frame := reader.take()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"no frame within {timeout_s} s")
        reader.frame_ready.wait(0.1)
        reader.frame_ready.clear()
    return frame


def test_an_unexpected_error_while_opening_is_retried_not_fatal(
    demo_clip: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_open = capture_module.open_source
    attempts = []

    def flaky_open(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise KeyError("SOMETHING_THE_LIBRARY_DID_NOT_EXPECT")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(capture_module, "open_source", flaky_open)
    stop = threading.Event()
    gate = camera("gate", f"file://{demo_clip}", fps=5, max_backoff_s=1)
    reader = CameraReader(
        gate, threading.Event(), stop, options=stream_options(gate.stream),
        realtime=False, loop=False,
    )  # fmt: skip
    reader.start()
    try:
        frame = next_frame(reader, timeout_s=10)
    finally:
        stop.set()
        reader.join(timeout=10)
    assert frame.image.shape == (576, 768, 3)
    assert len(attempts) == 2
    assert "could not be opened: KeyError; retry in" in caplog.text
    # Open now: the error was the failed attempt's, and is not kept past it.
    assert reader.stats.last_error == "" and reader.health().last_error == ""


def test_sources_name_only_the_variables_they_use() -> None:
    environ = {"CAM_USER": "ops", "CAM_PASS": "s3cret"}
    assert (
        expand_source("rtsp://${CAM_USER}:${CAM_PASS}@127.0.0.1/stream1", environ)
        == "rtsp://ops:s3cret@127.0.0.1/stream1"
    )
    assert expand_source("file://${GRIDWATCH_DATA_DIR}/vtest.avi", {}).endswith("/vtest.avi")
