"""The recorded-footage adapter on the real demo clip (768x576, 10 fps, 79 s)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest

from ingest import CameraUnavailable, UnsupportedSource, open_source
from ingest.sources import FileSource
from tests.ingest.recordings import jittered_mpegts

# Measures a recording paced in real time: runs in the suite's serial part, alone on the CPU.
pytestmark = pytest.mark.timing

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_samples_at_the_detect_rate_with_recording_timestamps(demo_clip: Path) -> None:
    source = FileSource(
        "cam", demo_clip, detect_fps=2, loop=False, realtime=False, start_time=START
    )
    frames = [source.read() for _ in range(5)]
    source.close()
    assert all(frame is not None for frame in frames)
    assert [f.sequence for f in frames if f] == [0, 1, 2, 3, 4]
    assert [(f.timestamp - START).total_seconds() for f in frames if f] == pytest.approx(
        [0.0, 0.5, 1.0, 1.5, 2.0], abs=0.051
    )
    first = frames[0]
    assert first is not None and first.size == (768, 576) and first.camera_id == "cam"
    assert first.timestamp.tzinfo is not None


def test_played_once_it_ends_and_covers_the_whole_recording(demo_clip: Path) -> None:
    source = FileSource(
        "cam", demo_clip, detect_fps=1, loop=False, realtime=False, start_time=START
    )
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert source.ended and source.read() is None
    assert 78 <= len(frames) <= 80  # 79.5 s at one frame a second
    assert frames[-1].timestamp - START == pytest.approx(
        timedelta(seconds=len(frames) - 1), abs=timedelta(seconds=0.1)
    )


def test_looped_it_continues_with_growing_timestamps(demo_clip: Path) -> None:
    source = FileSource(
        "cam", demo_clip, detect_fps=0.5, loop=True, realtime=False, start_time=START
    )
    stamps = [source.read().timestamp for _ in range(45)]  # type: ignore[union-attr]
    source.close()
    seconds = [(stamp - START).total_seconds() for stamp in stamps]
    assert seconds == sorted(seconds)
    assert seconds[-1] == pytest.approx(88, abs=0.2)  # past the 79.5 s end


def test_realtime_waits_for_the_wall_clock_and_skips_when_behind(demo_clip: Path) -> None:
    clock = {"now": 100.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    source = FileSource(
        "cam", demo_clip, detect_fps=2, realtime=True,
        monotonic=lambda: clock["now"], sleep=sleep, now=lambda: START,
    )  # fmt: skip
    source.read()
    source.read()
    assert slept == [pytest.approx(0.5)]
    clock["now"] += 10  # the process stalled for ten seconds
    frame = source.read()
    assert frame is not None and frame.sequence == 21  # jumped to the present, no backlog
    source.close()


def test_missing_or_unreadable_recordings_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable, match="recording not found"):
        FileSource("cam", tmp_path / "nope.avi", detect_fps=1)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CameraUnavailable, match="not a readable video"):
        FileSource("cam", junk, detect_fps=1)


def test_open_source_dispatches_on_the_scheme(demo_clip: Path) -> None:
    source = open_source("cam", f"file://{demo_clip}", detect_fps=2, loop=False, realtime=False)
    assert isinstance(source, FileSource)
    source.close()
    with pytest.raises(UnsupportedSource, match="srt"):
        open_source("cam", "srt://127.0.0.1:8080", detect_fps=2)


@pytest.fixture(scope="module")
def mpegts_90khz(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of the demo clip at 10 fps as a jittered MPEG-TS whose container says 90000 fps."""
    target = tmp_path_factory.mktemp("recordings") / "nvr-export.ts"
    recording = jittered_mpegts(demo_clip, target, frames=30, fps=10)
    claimed = cv2.VideoCapture(str(recording), cv2.CAP_FFMPEG).get(cv2.CAP_PROP_FPS)
    assert claimed == 90000  # the fault this recording is here to bring
    return recording


def test_a_recording_is_paced_by_its_timestamps_not_its_containers_rate(
    mpegts_90khz: Path,
) -> None:
    source = FileSource(
        "cam", mpegts_90khz, detect_fps=2, loop=False, realtime=False, start_time=START
    )
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert source.container_fps is None  # 90000 fps is no rate a recording has
    assert source.native_fps == pytest.approx(10, abs=1)
    seconds = [(frame.timestamp - START).total_seconds() for frame in frames]
    assert seconds == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], abs=0.07)


def test_a_looped_recording_with_an_absurd_rate_plays_in_real_time(mpegts_90khz: Path) -> None:
    source = FileSource("cam", mpegts_90khz, detect_fps=4, loop=True, realtime=True)
    wall, cpu = time.monotonic(), time.process_time()
    frames = [source.read() for _ in range(16)]  # 4 s: past the 3 s end, into the second pass
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    source.close()
    assert all(frame is not None for frame in frames)
    assert wall == pytest.approx(3.75, abs=0.5)
    assert cpu < 1.5  # decoding 40 frames, not spinning through the file
    images = {frame.image.tobytes()[:20000] for frame in frames if frame}
    assert len(images) >= 12


def test_a_jump_in_a_recordings_timestamps_is_not_waited_out(
    demo_clip: Path, tmp_path: Path
) -> None:
    recording = jittered_mpegts(demo_clip, tmp_path / "gap.ts", frames=20, gap_after=10, gap_s=600)
    source = FileSource(
        "cam", recording, detect_fps=10, loop=False, realtime=False, start_time=START
    )
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    seconds = [(frame.timestamp - START).total_seconds() for frame in frames]
    assert len(frames) >= 18  # sampled at 10 fps from jittered 10 fps
    assert seconds[-1] == pytest.approx(1.9, abs=0.15)  # ten minutes left out, not played
