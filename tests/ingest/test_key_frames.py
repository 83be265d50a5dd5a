"""Decoding only what is needed: a still camera's stream decoded key frames only, every frame
again as soon as something moves, against the real RTSP server and the real decoder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from contract.camera import CameraConfig
from detectors.incident import Incident
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly, DetectorPool
from gridwatch.worker.capture import STILL_BEFORE_KEY_FRAMES_S
from gridwatch.worker.runner import Worker
from ingest.decoding import MAX_KEY_INTERVAL_S, VideoDecoder
from ingest.live import StreamOptions
from ingest.rtsp import RtspSource
from tests.ingest.conftest import STILL_CROSSING_AT_S
from tests.ingest.peers import RtspServer
from tests.ingest.workers import RunningWorker, camera


def recording(path: Path, *, gop: int, frames: int = 40) -> Path:
    """An H.264 recording at 10 fps of a bar moving over a grainy grey picture, a key frame
    every `gop` frames exactly."""
    container = av.open(str(path), "w")
    stream = container.add_stream(
        "libx264", rate=10, options={"g": str(gop), "sc_threshold": "0", "bf": "0"}
    )
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    grain = np.random.default_rng(7)
    for index in range(frames):
        image = np.full((240, 320, 3), 90, np.uint8)
        image[:, (index * 7) % 300 : (index * 7) % 300 + 20] = 250
        image = np.clip(image + grain.normal(0, 2, image.shape), 0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def pictures(decoder: VideoDecoder) -> dict[int, np.ndarray]:
    """Every picture `decoder` gives, by presentation timestamp."""
    found = {}
    while decoder.grab():
        frame = decoder._frame
        assert frame is not None and frame.pts is not None
        image = decoder.retrieve()
        assert image is not None
        found[frame.pts] = image
    return found


def test_key_frames_only_then_every_frame_again_mid_gop_gives_whole_pictures(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path / "gop10.mkv", gop=10)
    everything = pictures(VideoDecoder(str(path)))
    decoder = VideoDecoder(str(path))
    decoder.key_frames_only = True

    def passed_over() -> None:
        # Motion seen four pictures into the third GOP: decoding resumes mid-GOP.
        if decoder.skipped == 13:
            decoder.key_frames_only = False

    decoder.on_skip = passed_over
    some = pictures(decoder)
    # The first GOP is decoded in full, to learn the key-frame interval (1 s); the second is
    # key frame only; the third from its fifth picture on.
    assert decoder.key_interval_s == pytest.approx(1.0)
    assert decoder.skipped == 13 and len(some) == 40 - 13
    assert decoder.damaged == 0
    # The pictures after the resumption are those full decoding gives, bit for bit: the
    # passed-over packets were decoded first, so no picture lacks its references.
    for stamp, image in some.items():
        assert np.array_equal(image, everything[stamp]), stamp
    assert decoder.decoded == len(some) + 4  # the four caught up on, discarded


def test_a_gop_longer_than_the_bound_is_decoded_in_full(tmp_path: Path) -> None:
    path = recording(tmp_path / "gop30.mkv", gop=30, frames=70)
    decoder = VideoDecoder(str(path))
    decoder.key_frames_only = True
    assert len(pictures(decoder)) == 70
    assert decoder.key_interval_s == pytest.approx(3.0) and MAX_KEY_INTERVAL_S < 3.0
    assert decoder.skipped == 0


def test_key_frames_at_the_detect_rate_are_all_that_is_decoded(tmp_path: Path) -> None:
    path = recording(tmp_path / "gop10.mkv", gop=10)
    everything = pictures(VideoDecoder(str(path)))
    decoder = VideoDecoder(str(path))
    decoder.key_frames_within_s = 1.0  # analysed once a second; a key frame a second
    some = pictures(decoder)
    # The first GOP in full, to learn the interval; then the key frames alone, whole.
    assert sorted(some) == sorted(everything)[:10] + sorted(everything)[10::10]
    # Decoded: those 13, and the last GOP's pictures, caught up on (and discarded) as the
    # recording ends.
    assert decoder.skipped == 27 and decoder.decoded == 13 + 9
    for stamp, image in some.items():
        assert np.array_equal(image, everything[stamp]), stamp


def test_key_frames_further_apart_than_the_detect_interval_are_not_enough(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path / "gop20.mkv", gop=20)
    decoder = VideoDecoder(str(path))
    decoder.key_frames_within_s = 1.0  # a key frame every 2 s would halve the detect rate
    assert len(pictures(decoder)) == 40
    assert decoder.key_interval_s == pytest.approx(2.0)
    assert decoder.skipped == 0


def rate(counter: Callable[[], int | None], seconds: float) -> float:
    """How fast `counter` grows, per second, over `seconds`."""
    before = counter()
    assert before is not None
    time.sleep(seconds)
    after = counter()
    assert after is not None
    return (after - before) / seconds


@pytest.mark.timing  # the stream's rate is measured as it arrives
def test_an_rtsp_camera_decodes_key_frames_only_when_asked_and_counts_the_rest(
    rtsp_server: RtspServer,
) -> None:
    source = RtspSource("gate", rtsp_server.url("cam2"), detect_fps=1)
    try:
        assert source.read() is not None
        time.sleep(1.2)  # two key frames: the interval is known (1 s)
        full = rate(lambda: source.frames_decoded, 2)
        source.decode_key_frames_only(True)
        time.sleep(1.2)
        assert source.skipping
        still = rate(lambda: source.frames_decoded, 3)
        frames = [source.read() for _ in range(2)]
        source.decode_key_frames_only(False)
        time.sleep(0.5)
        again = rate(lambda: source.frames_decoded, 2)
        health = source.health()
    finally:
        source.close()
    assert full == pytest.approx(10, abs=1.5)  # the camera's 10 fps
    assert still == pytest.approx(1, abs=0.5)  # a key frame a second
    assert again == pytest.approx(10, abs=1.5)
    # Still handed out at the detection rate, 1 fps, from the key frames.
    assert all(frame is not None and frame.size == (768, 576) for frame in frames)
    # Pictures passed over arrived and were dropped, counted once each.
    assert health.input_fps == pytest.approx(10, abs=2)
    assert health.frames_received - health.frames_delivered - health.frames_dropped in (0, 1)
    assert health.frames_damaged == 0


def test_an_rtsp_camera_at_its_key_frame_rate_decodes_only_them_and_keeps_its_rate(
    rtsp_server: RtspServer,
) -> None:
    options = StreamOptions(key_frames_at_detect_rate=True)
    source = RtspSource("gate", rtsp_server.url("cam2"), detect_fps=1, options=options)
    try:
        assert source.read() is not None
        time.sleep(2.5)  # key frames enough to know the interval (1 s), and caught up
        decoded = rate(lambda: source.frames_decoded, 3)
        source.read()  # the frame waiting since; the next ones come at the detect rate
        handed_out = [source.read() for _ in range(4)]
        health = source.health()
    finally:
        source.close()
    assert decoded == pytest.approx(1, abs=0.5)  # a key frame a second, of 10 a second
    assert all(frame is not None and frame.size == (768, 576) for frame in handed_out)
    first, last = handed_out[0], handed_out[-1]
    assert first is not None and first.monotonic is not None
    assert last is not None and last.monotonic is not None
    assert last.monotonic - first.monotonic == pytest.approx(3, abs=0.5)  # 1 fps all the same
    assert health.frames_damaged == 0


@pytest.mark.timing
def test_a_worker_decodes_a_still_scene_key_frames_only_and_all_again_when_someone_crosses(
    still_clip: Path, tmp_path: Path
) -> None:
    with RtspServer(still_clip, mounts=("cam",), log_path=tmp_path / "rtsp.log") as server:
        # The still-scene path alone: key frames at the detect rate would hide its switch back.
        yard = camera("yard", server.url("cam"), fps=1, key_frames_at_detect_rate=False)
        running = RunningWorker([yard], tmp_path)
        with running:
            started = time.monotonic()  # the clip starts as the camera connects
            deadline = started + 20
            while not running.worker.readers or running.worker.readers[0].frames_decoded is None:
                assert time.monotonic() < deadline, "the camera did not connect"
                time.sleep(0.05)
            reader = running.worker.readers[0]
            # Still for 8.5 s: key frames only once it has been still for 3 s.
            time.sleep(STILL_BEFORE_KEY_FRAMES_S + 2.5 - (time.monotonic() - started))
            assert reader.key_frames_only
            still = rate(lambda: reader.frames_decoded, STILL_CROSSING_AT_S - 1 - 5.5)
            analysed_still = reader.stats.frames_analysed
            # The person enters at 8.5 s: every frame is decoded again within a key-frame
            # interval and a detection interval (the gate sees them on the next key frame).
            while reader.key_frames_only:
                assert time.monotonic() - started < STILL_CROSSING_AT_S + 3.5, "no motion seen"
                time.sleep(0.05)
            back_after = time.monotonic() - started - STILL_CROSSING_AT_S
            crossing = rate(lambda: reader.frames_decoded, 2)
    assert still <= 1.5, still  # a key frame a second, of 10 frames a second
    assert analysed_still >= 5  # analysed at its 1 fps meanwhile
    assert back_after <= 2.5, back_after
    assert crossing == pytest.approx(10, abs=2)


class KeptIncidents(Outbox):
    """The worker's outbox, noting each incident as it is kept."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.incidents: list[Incident] = []

    def put(self, incident: Incident) -> bool:
        self.incidents.append(incident)
        return super().put(incident)


def watched(camera_id: str, url: str) -> CameraConfig:
    """A camera at 1 detect fps raising an intrusion for each person anywhere in view."""
    return CameraConfig.model_validate(
        {
            "id": camera_id,
            "name": camera_id,
            "organisation": {"id": "test-org", "name": "Test", "kind": "public"},
            "source": url,
            "location": {"lat": 30.25, "lon": 120.12},
            # 320 px: a quarter of the model's work at 640, so the still seconds are analysed
            # on a busy machine too; the person is 60 px tall at that size.
            "detect": {"fps": 1, "imgsz": 320},
            "evidence": {"clip": False},
            "stream": {"max_backoff_s": 1},
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "rules": [{"kind": "intrusion", "zone": "all", "classes": ["person"], "min_frames": 2}],
        }
    )


@pytest.mark.slow
def test_no_incident_is_lost_to_key_frame_decoding(
    still_clip: Path, h264_clip: Path, model_path: Path, tmp_path: Path
) -> None:
    still = RtspServer(still_clip, mounts=("yard",), log_path=tmp_path / "still.log")
    busy = RtspServer(h264_clip, mounts=("road",), log_path=tmp_path / "busy.log")
    outbox = KeptIncidents(tmp_path / "outbox.sqlite")
    cameras = [watched("yard", still.url("yard")), watched("road", busy.url("road"))]
    worker = Worker(
        cameras, CameraAssembly(DetectorPool(model_path.parent), detect_threads=1), outbox,
        sender=None,
    )  # fmt: skip
    key_frames_only: dict[str, list[bool]] = {"yard": [], "road": []}
    with busy:
        thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
        thread.start()
        try:
            # The model loaded and running on the road first; then the yard's server starts
            # and its camera connects (its clip starts then), so its still seconds are
            # analysed, not spent loading the model.
            deadline = time.monotonic() + 60
            while not worker.readers or worker.readers[-1].stats.frames_analysed < 2:
                assert time.monotonic() < deadline, "the road was not analysed"
                time.sleep(0.1)
            with still:
                yard = worker.readers[0]
                while yard.frames_decoded is None:
                    assert time.monotonic() < deadline, "the yard did not connect"
                    time.sleep(0.05)
                connected = datetime.now(UTC)
                until = time.monotonic() + STILL_CROSSING_AT_S + 6
                while time.monotonic() < until:
                    for reader in worker.readers:
                        key_frames_only[reader.camera.id].append(reader.key_frames_only)
                    time.sleep(0.25)
        finally:
            worker.stop.set()
            thread.join(timeout=30)
            outbox.close()
    # The yard was still long enough to be decoded key frames only before the person came...
    assert any(key_frames_only["yard"]), key_frames_only["yard"]
    # ... and their crossing is an incident all the same, within a key-frame interval, the
    # rule's two frames and a detection's time of their entering the picture.
    crossed = [i for i in outbox.incidents if i.camera_id == "yard"]
    assert crossed, "the person crossing the still yard raised no incident"
    delay = (crossed[0].detected_at - connected).total_seconds() - STILL_CROSSING_AT_S
    assert -0.5 < delay < 4.5, delay
    # The demo clip is never still for long: every frame is decoded, and its people raise
    # incidents as they always did.
    assert not any(key_frames_only["road"])
    assert any(i.camera_id == "road" for i in outbox.incidents)
