"""The pipeline around the model: privacy masks, the motion gate, pending clips, evidence."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from detectors.evidence import KeyFrameEncoders, annotate, burned_in_time, encode_mp4, sha256_hex
from detectors.motion import MotionGate
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.privacy import PrivacyMask
from detectors.rules import Tamper, ZoneIntrusion
from detectors.zones import Zone
from tests.detectors.factories import at

W, H = 320, 240
EVERYWHERE = Zone("all", ((0, 0), (1, 0), (1, 1), (0, 1)))


class ScriptedDetector:
    """Finds one person wherever a bright square is in the picture; records what it saw."""

    name, version, backend = "scripted", "0" * 12, "test"
    class_names: ClassVar[dict[int, str]] = {0: "person", 1: "car"}

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        self.seen.append(image.copy())
        ys, xs = np.nonzero(image[:, :, 0] > 200)
        if len(xs) == 0:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=np.float32),
            confidence=np.array([0.9], dtype=np.float32),
            class_id=np.array([0]),
            data={"class_name": np.array(["person"])},
        )

    def detect_batch(
        self, images: Sequence[np.ndarray], *, confidence: float, classes: list[int] | None = None
    ) -> list[sv.Detections]:
        return [self.detect(image, confidence=confidence, classes=classes) for image in images]


def scene(x: int | None = None, *, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A grey textured yard, with a bright 20 x 40 'person' at column x."""
    rng = np.random.default_rng(seed)
    image = np.full((H, W, 3), 90, dtype=np.uint8)
    image[::16, :, :] = 60  # paving lines
    if noise:
        grain = rng.integers(-noise, noise + 1, image.shape)
        image = np.clip(image.astype(int) + grain, 0, 255).astype(np.uint8)
    if x is not None:
        image[150:190, x : x + 20] = 255
    return image


def pipeline(detector: ScriptedDetector, **options) -> CameraPipeline:  # type: ignore[no-untyped-def]
    rule = ZoneIntrusion(EVERYWHERE, {"person"}, min_frames=2, cooldown_s=600, anchor="center")
    defaults = {"evidence": EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0)}
    return CameraPipeline("cam", detector, [EVERYWHERE], [rule], classes=["person"],
                          confidence=0.4, **{**defaults, **options})  # fmt: skip


def test_the_incident_waits_for_its_post_roll_and_carries_a_playable_clip() -> None:
    detector = ScriptedDetector()
    pipe = pipeline(detector)
    reported = []
    for step in range(12):  # 2 fps, walking right
        reported.append(pipe.process(scene(20 + 10 * step), now=at(step * 0.5)))
    # Fires on the 2nd frame (0.5 s), reported once 1 s of frames followed (1.5 s).
    assert [len(found) for found in reported[:4]] == [0, 0, 0, 1]
    incident = reported[3][0]
    assert (incident.started_at, incident.detected_at) == (at(0), at(0.5))
    assert incident.ended_at == at(1.5) and incident.ongoing
    assert incident.track_ids == (incident.track_id,)
    assert incident.clip_mp4 is not None and incident.clip_sha256 == sha256_hex(incident.clip_mp4)
    assert incident.clip_started_at == at(0) and incident.clip_frame_count == 4
    assert incident.clip_duration_s == pytest.approx(1.5)
    with av.open(io.BytesIO(incident.clip_mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 4
    metadata = incident.metadata()
    assert (
        metadata["ended_at"] == at(1.5).isoformat() and metadata["clip_content_type"] == "video/mp4"
    )
    assert metadata["clip_sha256"] == incident.clip_sha256 and metadata["track_ids"] == [1]
    assert metadata["model_backend"] == "test"


def test_flush_completes_pending_incidents_with_the_frames_there_are() -> None:
    pipe = pipeline(ScriptedDetector())
    assert pipe.process(scene(20), now=at(0)) == []
    assert pipe.process(scene(30), now=at(0.5)) == []
    assert pipe.pending == 1
    (incident,) = pipe.flush()
    assert incident.clip_frame_count == 2 and pipe.pending == 0


def test_the_snapshot_is_the_frame_where_the_object_was_seen_best() -> None:
    class Fading(ScriptedDetector):
        def detect(self, image, *, confidence, classes=None):  # type: ignore[no-untyped-def]
            found = super().detect(image, confidence=confidence, classes=classes)
            if len(found):
                found.confidence = np.array([0.5 + 0.1 * len(self.seen)], dtype=np.float32)
            return found

    pipe = pipeline(Fading(), evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0))
    incidents = []
    for step in range(4):
        incidents += pipe.process(scene(20 + 10 * step), now=at(step * 0.5))
    (incident,) = incidents
    assert incident.snapshot_at == at(1.5)  # the last, surest frame
    assert incident.confidence == pytest.approx(0.9)
    assert incident.box_xyxy[0] == 50.0


def test_privacy_masks_black_out_before_the_model_and_in_the_evidence() -> None:
    detector = ScriptedDetector()
    # The right half is a neighbour's garden: a person there must be neither seen nor shown.
    mask = PrivacyMask([((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))])
    pipe = pipeline(detector, privacy_mask=mask)
    incidents = []
    for step in range(6):
        incidents += pipe.process(scene(240), now=at(step * 0.5))
    incidents += pipe.flush()
    assert incidents == []
    assert all(seen[:, 160:].max() == 0 for seen in detector.seen)

    pipe = pipeline(ScriptedDetector(), privacy_mask=mask)
    for step in range(6):
        incidents += pipe.process(scene(40), now=at(step * 0.5))
    incidents += pipe.flush()
    assert incidents
    import cv2

    snapshot = cv2.imdecode(np.frombuffer(incidents[0].snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    # JPEG blurs the edge a little and the caption sits at the bottom: look inside the mask.
    assert snapshot[20:200, 175:].max() < 40
    with av.open(io.BytesIO(incidents[0].clip_mp4 or b"")) as container:
        for frame in container.decode(video=0):
            assert frame.to_ndarray(format="bgr24")[20:200, 175:].max() < 40


def test_the_motion_gate_skips_the_model_on_a_still_scene_and_checks_it_periodically() -> None:
    detector = ScriptedDetector()
    gate = MotionGate(min_changed=0.002, full_check_s=10)
    pipe = pipeline(detector, motion_gate=gate)
    for step in range(60):  # 30 s of a parked 'person', with sensor grain
        pipe.process(scene(100, noise=6, seed=step), now=at(step * 0.5))
    # The first frame, then a full check every 10 s: 0, 10, 20 s (+ the frame at 30 s is not in).
    assert len(detector.seen) == 3
    assert gate.stats.skipped == 57 and gate.stats.periodic == 2
    assert pipe.stats.skipped == 57 and pipe.stats.inferred == 3


def test_the_motion_gates_phase_brings_its_full_checks_forward() -> None:
    gate = MotionGate(min_changed=0.002, full_check_s=10, phase=0.45)
    reasons = [
        gate.update(scene(100, noise=6, seed=second), now=at(second)).reason for second in range(30)
    ]
    checks = [second for second, reason in enumerate(reasons) if reason != "still"]
    assert checks == [0, 6, 16, 26]  # the first frame, then 4.5 s sooner, 10 s apart (1 fps)
    with pytest.raises(ValueError, match="phase"):
        MotionGate(phase=1.0)


def test_the_motion_gate_runs_the_model_when_something_moves() -> None:
    detector = ScriptedDetector()
    pipe = pipeline(detector, motion_gate=MotionGate())
    for step in range(10):
        pipe.process(scene(20 + 15 * step, noise=6, seed=step), now=at(step * 0.5))
    assert len(detector.seen) == 10


def test_tracks_and_rules_go_on_while_the_gate_skips_the_model() -> None:
    # A person who stands still still fires: the last detections stand for the skipped frames.
    pipe = pipeline(ScriptedDetector(), motion_gate=MotionGate(full_check_s=60))
    incidents = []
    for step in range(8):
        incidents += pipe.process(scene(100), now=at(step * 0.5))
    assert len(incidents) == 1 and pipe.stats.skipped == 7


def test_a_tampered_view_is_an_incident_without_any_detection() -> None:
    pipe = CameraPipeline(
        "cam", ScriptedDetector(), [], [], frame_rules=[Tamper(hold_s=2)],
        evidence=EvidenceSettings(pre_roll_s=1, post_roll_s=1),
    )  # fmt: skip
    incidents = []
    for step in range(6):
        incidents += pipe.process(scene(100), now=at(step * 0.5))
    black = np.zeros((H, W, 3), dtype=np.uint8)
    for step in range(6, 14):
        incidents += pipe.process(black, now=at(step * 0.5))
    (incident,) = incidents
    assert (incident.rule, incident.category, incident.track_id) == ("tamper", "device_fault", 0)
    assert incident.details == {"reason": "blacked_out"}
    assert incident.started_at == at(3) and incident.detected_at == at(5)


def test_clips_are_cut_to_even_sizes_and_keep_their_timing() -> None:
    frames = [scene(20 + 5 * i)[:239, :319] for i in range(5)]
    times = [at(0) + timedelta(seconds=0.5 * i) for i in range(5)]
    clip = encode_mp4(frames, times)
    with av.open(io.BytesIO(clip)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 5 and decoded[0].width == 318 and decoded[0].height == 238
    assert float(decoded[-1].time) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        encode_mp4([], [])


def test_deferred_clips_are_encoded_later_to_the_same_result() -> None:
    deferred = pipeline(
        ScriptedDetector(),
        evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0, defer_clip_encoding=True),
    )
    inline = pipeline(ScriptedDetector())
    late, now = [], []
    for step in range(4):
        late += deferred.process(scene(20 + 10 * step), now=at(step * 0.5))
        now += inline.process(scene(20 + 10 * step), now=at(step * 0.5))
    (waiting,) = late
    assert waiting.clip_pending and waiting.clip_mp4 is None and waiting.clip_frame_count == 4
    with pytest.raises(ValueError, match="with_clip"):
        waiting.metadata()
    ready = waiting.with_clip()
    assert not ready.clip_pending and ready.clip_mp4 == now[0].clip_mp4
    assert ready.metadata() == now[0].metadata()


def test_with_clip_follows_the_incident_is_handed_out_at_once_and_its_clip_after() -> None:
    follows = pipeline(
        ScriptedDetector(),
        evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0, clip_follows=True),
    )
    waits = pipeline(ScriptedDetector())
    reported, clips, later = [], [], []
    for step in range(6):
        reported.append(follows.process(scene(20 + 10 * step), now=at(step * 0.5)))
        clips.append(follows.take_clips())
        later += waits.process(scene(20 + 10 * step), now=at(step * 0.5))
    # Out in the frame in which the rule concluded (0.5 s), with no clip; the clip at 1.5 s.
    assert [len(found) for found in reported] == [0, 1, 0, 0, 0, 0]
    assert [len(found) for found in clips] == [0, 0, 0, 1, 0, 0]
    (incident,), (clip,), (whole,) = reported[1], clips[3], later
    assert incident.detected_at == at(0.5) and incident.ended_at == at(0.5) and incident.ongoing
    assert (
        incident.clip_mp4 is None and not incident.clip_pending and incident.clip_frame_count == 0
    )
    assert incident.metadata()["clip_sha256"] is None
    assert incident.id == whole.id and incident.snapshot_at <= incident.detected_at
    assert clip.incident_id == incident.id and clip.camera_id == "cam" and clip.mp4 is None
    with pytest.raises(ValueError, match="with_video"):
        clip.report()
    ready = clip.with_video()
    assert ready.mp4 == whole.clip_mp4 and ready.sha256 == whole.clip_sha256
    assert (ready.started_at, ready.frame_count) == (whole.clip_started_at, whole.clip_frame_count)
    assert (ready.ended_at, ready.ongoing) == (whole.ended_at, whole.ongoing)
    report = ready.report()
    assert report.duration_s == pytest.approx(1.5) and report.content_type == "video/mp4"
    assert follows.stats.incidents == 1 and follows.take_clips() == []


def test_with_clip_follows_flush_completes_the_clips_of_incidents_already_out() -> None:
    pipe = pipeline(
        ScriptedDetector(),
        evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0, clip_follows=True),
    )
    assert pipe.process(scene(20), now=at(0)) == []
    (incident,) = pipe.process(scene(30), now=at(0.5))
    assert pipe.pending == 1 and pipe.flush() == [] and pipe.pending == 0
    (clip,) = pipe.take_clips()
    assert clip.incident_id == incident.id and clip.frame_count == 2


def test_a_stay_past_the_cooldown_is_a_second_incident_with_its_own_id_and_clip() -> None:
    """A person who stays in the zone past the rule's cooldown is reported again with the same
    start: the second conclusion is an incident of its own (its own id, its own clip), not a copy
    of the first for the API to fold away as already reported."""
    rule = ZoneIntrusion(EVERYWHERE, {"person"}, min_frames=2, cooldown_s=2, anchor="center")
    pipe = CameraPipeline(
        "cam", ScriptedDetector(), [EVERYWHERE], [rule], classes=["person"], confidence=0.4,
        evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0, clip_follows=True),
    )  # fmt: skip
    reported, clips = [], []
    for step in range(12):  # 5.5 s in the zone, standing still
        reported += pipe.process(scene(100), now=at(step * 0.5))
        clips += pipe.take_clips()
    clips += [*pipe.flush(), *pipe.take_clips()]
    assert [i.detected_at for i in reported] == [at(0.5), at(2.5), at(4.5)]
    assert {i.started_at for i in reported} == {at(0)}
    assert len({i.id for i in reported}) == 3
    assert sorted(c.incident_id for c in clips) == sorted(i.id for i in reported)


def test_with_clip_follows_and_no_clip_nothing_follows() -> None:
    pipe = pipeline(
        ScriptedDetector(),
        evidence=EvidenceSettings(pre_roll_s=1.0, post_roll_s=1.0, clip=False, clip_follows=True),
    )
    incidents = []
    for step in range(6):
        incidents += pipe.process(scene(20 + 10 * step), now=at(step * 0.5))
    assert len(incidents) == 1 and pipe.pending == 0 and pipe.take_clips() == []


def test_a_class_the_model_does_not_know_is_named_at_set_up() -> None:
    with pytest.raises(ValueError, match=r"gate: model scripted has no class 'bicycle'"):
        CameraPipeline("gate", ScriptedDetector(), [EVERYWHERE], [], classes=["person", "bicycle"])
    pipeline = CameraPipeline(
        "gate", ScriptedDetector(), [EVERYWHERE], [], classes=["car", "person"]
    )
    assert pipeline.class_ids == [0, 1]


def test_burned_in_time_is_the_cameras_local_time_with_its_offset() -> None:
    assert burned_in_time(at(0), ZoneInfo("Asia/Shanghai")) == "2026-11-28 06:00:00 UTC+08:00"
    assert burned_in_time(at(0)) == "2026-11-27 22:00:00 UTC+00:00"
    assert burned_in_time(at(0), ZoneInfo("America/St_Johns")) == "2026-11-27 18:30:00 UTC-03:30"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_the_snapshot_caption_shows_the_time_in_the_cameras_zone(zone: str) -> None:
    pipe = pipeline(ScriptedDetector(), timezone=ZoneInfo(zone))
    incidents = []
    frames = {}
    for step in range(4):
        frames[at(step * 0.5)] = image = scene(20 + 10 * step)
        incidents += pipe.process(image, now=at(step * 0.5))
    (incident,) = incidents
    picture = cv2.imdecode(np.frombuffer(incident.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)

    def caption_band(stamp: str) -> np.ndarray:
        caption = f"cam  {stamp}  {incident.summary}"
        drawn = annotate(frames[incident.snapshot_at], sv.Detections.empty(), [EVERYWHERE],
                         caption=caption)  # fmt: skip
        return drawn[-24:].astype(np.float32)

    shown = picture[-24:].astype(np.float32)
    local = caption_band(burned_in_time(incident.snapshot_at, ZoneInfo(zone)))
    utc = caption_band(burned_in_time(incident.snapshot_at))
    assert np.abs(shown - local).mean() < 4  # JPEG's loss and the zone's edge only
    assert np.abs(shown - utc).mean() > np.abs(shown - local).mean() + 1


@pytest.mark.parametrize("follows", [False, True])
def test_a_clip_never_spans_a_gap_in_the_stream(follows: bool) -> None:
    """The stream dies just after the rule concluded and comes back 80 s later: the clip holds
    the frames before the gap only, and the incident is complete with them, found by the
    first frame after it (the worker ends it sooner, see tests/gridwatch/test_outage_evidence)."""
    pipe = pipeline(
        ScriptedDetector(),
        evidence=EvidenceSettings(
            pre_roll_s=3.0, post_roll_s=3.0, clip_follows=follows, max_gap_s=5.0
        ),
    )
    out = pipe.process(scene(20), now=at(0)) + pipe.process(scene(30), now=at(0.5))
    assert pipe.pending == 1
    # The stream is gone for 80 s; the next frames come from after the restart.
    after = pipe.process(scene(40), now=at(80.5)) + pipe.process(scene(50), now=at(81))
    assert pipe.pending == 0
    if follows:
        (incident,) = out
        (clip,) = pipe.take_clips()
        assert clip.incident_id == incident.id
        assert (clip.started_at, clip.frame_count) == (at(0), 2)
        assert clip.duration_s == pytest.approx(0.5)
    else:
        (incident,) = after  # completed by the first frame after the gap, with what it had
        assert (incident.clip_started_at, incident.clip_frame_count) == (at(0), 2)
        assert incident.clip_duration_s == pytest.approx(0.5)
        assert incident.ended_at == at(0.5)


def test_the_pre_roll_of_a_clip_starts_after_a_gap() -> None:
    pipe = pipeline(ScriptedDetector(), evidence=EvidenceSettings(pre_roll_s=10.0, post_roll_s=1.0))
    pipe.process(scene(None), now=at(0))
    pipe.process(scene(None), now=at(1))
    # Gone for a minute; a person shows up right after the restart.
    incidents = []
    for step in range(6):
        incidents += pipe.process(scene(20 + 10 * step), now=at(61 + step * 0.5))
    (incident,) = incidents
    assert incident.clip_started_at == at(61)  # nothing from before the gap


def is_red(pixels: np.ndarray) -> np.ndarray:
    """Which BGR pixels are the offending boxes' red."""
    pixels = pixels.astype(int)
    return (pixels[..., 2] > 150) & (pixels[..., 1] < 110) & (pixels[..., 0] < 110)


@pytest.mark.parametrize("offending_first", [True, False])
def test_the_offending_box_is_drawn_over_its_neighbours(offending_first: bool) -> None:
    """Two people side by side, boxes overlapping: the neighbour's box and label never cover
    the offending one's outline, in whatever order the tracker lists them."""
    offending = ([100, 100, 130, 180], 7)
    neighbour = ([112, 96, 150, 176], 8)  # its label lies over the offending box's top edge
    rows = [offending, neighbour] if offending_first else [neighbour, offending]
    detections = sv.Detections(
        xyxy=np.array([box for box, _ in rows], dtype=np.float32),
        confidence=np.array([0.9, 0.8], dtype=np.float32),
        class_id=np.array([0, 0]),
        tracker_id=np.array([track_id for _, track_id in rows]),
        data={"class_name": np.array(["person", "person"])},
    )
    image = np.full((H, W, 3), 128, dtype=np.uint8)

    drawn = annotate(image, detections, [], highlight_track=7)

    x1, y1, x2, y2 = offending[0]
    # Every column of the top edge and every row of the sides shows red.
    assert is_red(drawn[y1 - 2 : y1 + 3, x1 : x2 + 1]).any(axis=0).all()
    assert is_red(drawn[y1 : y2 + 1, x1 - 1 : x1 + 2]).any(axis=1).all()
    assert is_red(drawn[y1 : y2 + 1, x2 - 1 : x2 + 2]).any(axis=1).all()
    assert is_red(drawn[y2 - 2 : y2 + 3, x1 : x2 + 1]).any(axis=0).all()
    # The neighbour is drawn too, in green, where the offending box does not cover it.
    beside = drawn[175:178, 135:150].astype(int)
    assert not is_red(beside).any()
    assert ((beside[..., 1] > 150) & (beside[..., 2] < 110)).any(axis=0).all()


def test_each_stage_counts_the_cpu_it_spends_on_the_camera() -> None:
    detector = ScriptedDetector()
    pipe = pipeline(detector, motion_gate=MotionGate(min_changed=0.002, full_check_s=60))
    started = time.thread_time()
    incidents = []
    for step in range(12):  # a person walks in and raises an incident with its clip
        incidents += pipe.process(scene(20 + 10 * step), now=at(step * 0.5))
    spent = time.thread_time() - started
    cpu = pipe.stats.cpu_s
    assert incidents and set(cpu) == {"gate", "inference", "tracking", "evidence"}
    assert all(seconds > 0 for seconds in cpu.values()), cpu
    # Each stage counted once: together no more than the thread spent.
    assert sum(cpu.values()) <= spent


def test_a_clip_shows_the_offending_object_in_red_from_the_frame_its_rule_concluded() -> None:
    """A clip's frames are drawn once for every clip that shows them: an object turns red in
    the frame in which an incident's rule concluded on it, and stays so while the rule holds."""
    pipe = pipeline(ScriptedDetector())
    incidents = []
    for step in range(4):  # fires on the 2nd frame (0.5 s), the clip complete at 1.5 s
        incidents += pipe.process(scene(20 + 10 * step), now=at(step * 0.5))
    (incident,) = incidents
    assert incident.detected_at == at(0.5) and incident.clip_mp4 is not None
    with av.open(io.BytesIO(incident.clip_mp4)) as container:
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    red = [int(is_red(frame).sum()) for frame in frames]
    # (A few pixels of the others, blurred by 4:2:0 chroma, pass for red.)
    assert len(red) == 4 and red[0] < 10 and all(count > 200 for count in red[1:]), red


def test_cameras_given_one_set_of_encoders_share_it_and_their_clips_play() -> None:
    encoders = KeyFrameEncoders()
    pipes = [pipeline(ScriptedDetector(), key_frame_encoders=encoders) for _ in range(2)]
    incidents = [
        incident
        for pipe in pipes
        for step in range(4)
        for incident in pipe.process(scene(20 + 10 * step), now=at(step * 0.5))
    ]
    assert len(incidents) == 2 and len(encoders._by_size) == 1  # one encoder for both
    for incident in incidents:
        with av.open(io.BytesIO(incident.clip_mp4 or b"")) as container:
            assert sum(1 for _ in container.decode(video=0)) == incident.clip_frame_count == 4
