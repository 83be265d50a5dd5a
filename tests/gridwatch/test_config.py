"""Camera files: the shipped ones load; broken ones fail naming file, field and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from contract.addresses import mask_credentials
from contract.loading import load_camera_file, load_cameras
from contract.problems import ConfigError
from gridwatch.cli import app

REPO = Path(__file__).resolve().parents[2]

VALID = """\
id: cam-1
name: Test camera
organisation: {id: org-1, name: Org, kind: education}
source: rtsp://user:secret@127.0.0.1:8554/main
location: {lat: 30.25, lon: 120.12}
zones:
  - name: yard
    polygon: [[0, 0], [1, 0], [1, 1]]
rules:
  - kind: intrusion
    zone: yard
"""


def write(tmp_path: Path, text: str, name: str = "camera.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_camera_files_are_valid_one_per_owner_kind() -> None:
    cameras = load_cameras([REPO / "camera_configs"])
    kinds = {camera.organisation.kind.value for camera in cameras}
    assert {"education", "health", "urban_management", "public"} <= kinds
    for camera in cameras:
        assert camera.source.startswith("file://")
        assert camera.zones and camera.rules


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("id: cam-1", "id: Cam 1!", "id", "String should match pattern"),
        ("kind: education", "kind: school", "organisation.kind", "Input should be 'education'"),
        ("lat: 30.25", "lat: 95", "location.lat", "less than or equal to 90"),
        (
            "source: rtsp://user:secret@127.0.0.1:8554/main",
            "source: ftp://x/y",
            "source",
            "scheme 'ftp'",
        ),
        ("[[0, 0], [1, 0], [1, 1]]", "[[0, 0], [1, 0]]", "zones.0.polygon", "at least 3 items"),
        (
            "[[0, 0], [1, 0], [1, 1]]",
            "[[0, 0], [1.5, 0], [1, 1]]",
            "zones.0.polygon.1.0",
            "less than or equal to 1",
        ),
        ("    zone: yard", "    zone: gate", "rules.0.zone", "unknown zone 'gate' (zones: yard)"),
        (
            "    zone: yard",
            "    zone: yard\n    classes: [persn]",
            "rules.0.classes",
            "'persn' is not a class",
        ),
        (
            "    zone: yard",
            "    zone: yard\n    min_frames: 0",
            "rules.0.min_frames",
            "greater than or equal to 1",
        ),
        ("kind: intrusion", "kind: teleport", "rules.0", "does not match any of the expected tags"),
        ("name: Test camera", "name: Test camera\nfps: 5", "fps", "unknown field"),
        ("location: {lat: 30.25, lon: 120.12}\n", "", "location", "Field required"),
    ],
)
def test_broken_camera_file_names_file_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))

    with pytest.raises(ConfigError) as raised:
        load_camera_file(path)

    messages = [str(problem) for problem in raised.value.problems]
    assert any(
        message.startswith(f"{path}: {field}: ") and reason in message for message in messages
    ), messages


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id: [unclosed", "line 1, column"),
        ("- just\n- a list\n", "expected a mapping of fields, got list"),
        ("", "expected a mapping of fields, got empty"),
    ],
)
def test_unreadable_yaml_is_reported_with_its_place(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_camera_file(path)
    assert str(path) in str(raised.value)
    assert fragment in str(raised.value)


def test_every_problem_of_every_file_is_reported_and_duplicate_ids_named(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    write(
        tmp_path,
        VALID.replace("lat: 30.25", "lat: 91").replace("zone: yard", "zone: nowhere"),
        "c.yaml",
    )

    with pytest.raises(ConfigError) as raised:
        load_cameras([tmp_path])

    text = str(raised.value)
    assert (
        f"{tmp_path / 'b.yaml'}: id: camera id 'cam-1' is already used in {tmp_path / 'a.yaml'}"
        in text
    )
    assert f"{tmp_path / 'c.yaml'}: location.lat:" in text


def test_check_config_exits_1_and_lists_problems(tmp_path: Path) -> None:
    write(tmp_path, VALID.replace("zone: yard", "zone: gate"), "bad.yaml")
    result = CliRunner().invoke(app, ["check-config", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}: rules.0.zone: unknown zone 'gate'" in result.output
    assert "1 problem(s) found" in result.output


def test_check_config_passes_the_shipped_files_without_showing_credentials(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(REPO / "camera_configs")])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok  ") == 4

    write(tmp_path, VALID)
    result = CliRunner().invoke(app, ["check-config", str(tmp_path)])
    assert result.exit_code == 0
    assert "secret" not in result.output
    assert "rtsp://***@127.0.0.1:8554/main" in result.output


def test_environment_references_in_the_source_are_expanded(tmp_path: Path) -> None:
    camera = load_camera_file(
        write(tmp_path, VALID.replace("user:secret", "${CAM_USER}:${CAM_PASS}"))
    )
    assert (
        camera.resolved_source({"CAM_USER": "u", "CAM_PASS": "p"})
        == "rtsp://u:p@127.0.0.1:8554/main"
    )
    with pytest.raises(ConfigError, match="environment variable CAM_PASS is not set"):
        camera.resolved_source({"CAM_USER": "u"})


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:pa55@10.1.2.3:554/Streaming/101", "rtsp://***@10.1.2.3:554/Streaming/101"),
        ("http://cam.local/snapshot.jpg", "http://cam.local/snapshot.jpg"),
        ("onvif://admin@127.0.0.1:8080", "onvif://***@127.0.0.1:8080"),
    ],
)
def test_credentials_are_masked(url: str, masked: str) -> None:
    assert mask_credentials(url) == masked


STREAM = "stream: {transport: udp, sub_source: 'rtsp://${CAM_USER}:pw@127.0.0.1:8554/sub'}\n"


def test_stream_settings_choose_transport_and_the_sub_stream(tmp_path: Path) -> None:
    camera = load_camera_file(write(tmp_path, VALID + STREAM))
    assert camera.stream.transport == "udp"
    assert camera.detect_source({"CAM_USER": "u"}) == "rtsp://u:pw@127.0.0.1:8554/sub"
    plain = load_camera_file(write(tmp_path, VALID, "plain.yaml"))
    assert plain.stream.transport == "tcp"
    assert plain.stream.key_frames_when_still  # a still scene is decoded key frames only
    assert plain.detect_source({}) == "rtsp://user:secret@127.0.0.1:8554/main"


@pytest.mark.parametrize(
    ("stream", "field", "reason"),
    [
        ("stream: {transport: quic}", "stream.transport", "Input should be 'tcp' or 'udp'"),
        ("stream: {tranport: udp}", "stream.tranport", "unknown field"),
        ("stream: {sub_source: 'ftp://x/y'}", "stream.sub_source", "not a live stream"),
        ("stream: {read_timeout_s: 0}", "stream.read_timeout_s", "greater than 0"),
        (
            "stream: {key_frames_when_still: sometimes}",
            "stream.key_frames_when_still",
            "Input should be a valid boolean",
        ),
    ],
)
def test_broken_stream_settings_name_the_field(
    tmp_path: Path, stream: str, field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_camera_file(write(tmp_path, VALID + stream + "\n"))
    problem = caught.value.problems[0]
    assert problem.field == field and reason in problem.reason


EVERY_RULE = """\
id: cam-2
name: Every rule
organisation: {id: org-1, name: Org, kind: public}
source: file:///tmp/clip.avi
location: {lat: 30.25, lon: 120.12}
timezone: Asia/Shanghai
detect: {model: yolov8n, backend: pytorch, imgsz: 480, confidence: 0.35, classes: [dog]}
motion: {enabled: true, min_changed: 0.003, full_check_s: 15}
privacy_masks:
  - name: neighbour-window
    polygon: [[0.9, 0], [1, 0], [1, 0.2], [0.9, 0.2]]
evidence: {pre_roll_s: 2, post_roll_s: 4}
zones:
  - name: yard
    polygon: [[0, 0], [1, 0], [1, 1]]
lines:
  - name: gate
    points: [[0, 0.5], [1, 0.5]]
rules:
  - kind: intrusion
    zone: yard
    schedule: {days: [mon, tue, wed, thu, fri], windows: ["22:00-06:00"]}
  - {kind: loitering, zone: yard, dwell_s: 90}
  - {kind: crowd, zone: yard, min_people: 12, hold_s: 20}
  - {kind: line_crossing, line: gate, direction: in}
  - {kind: illegal_parking, zone: yard, max_stay_s: 300, read_plate: false}
  - {kind: tamper, hold_s: 8}
"""


def test_every_rule_kind_loads_with_its_category_and_builds(tmp_path: Path) -> None:
    from contract.coco import COCO_CLASS_NAMES
    from detectors.rules import LineCrossing, Tamper
    from gridwatch.worker.assemble import build_pipeline

    camera = load_camera_file(write(tmp_path, EVERY_RULE))
    categories = {rule.kind: rule.category.value for rule in camera.rules}
    assert categories == {
        "intrusion": "public_safety", "loitering": "public_safety", "crowd": "public_safety",
        "line_crossing": "public_safety", "illegal_parking": "urban_management",
        "tamper": "device_fault",
    }  # fmt: skip

    class Detector:
        name, version, backend = "yolov8n", "f59b3d833e2f", "pytorch"
        class_names: ClassVar[dict[int, str]] = dict(enumerate(COCO_CLASS_NAMES))

    pipeline = build_pipeline(camera, Detector())  # type: ignore[arg-type]
    assert [rule.kind for rule in pipeline.rules] == [
        "intrusion", "loitering", "crowd", "line_crossing", "illegal_parking",
    ]  # fmt: skip
    assert isinstance(pipeline.frame_rules[0], Tamper)
    line_rule = pipeline.rules[3]
    assert isinstance(line_rule, LineCrossing) and line_rule.direction == "in"
    schedule = pipeline.rules[0].schedule  # type: ignore[attr-defined]
    assert schedule.timezone == "Asia/Shanghai" and schedule.days == frozenset(range(5))
    assert pipeline.motion_gate is not None and pipeline.motion_gate.full_check_s == 15
    assert pipeline.privacy_mask and pipeline.evidence.post_roll_s == 4
    assert pipeline.class_ids is not None and 16 in pipeline.class_ids  # dog, from detect


def test_a_fall_rule_needs_the_fall_model(tmp_path: Path) -> None:
    fall = VALID.replace("kind: intrusion", "kind: fall")
    with pytest.raises(ConfigError) as raised:
        load_camera_file(write(tmp_path, fall))
    assert "rules.0.classes: 'Fall' is not a class the detector knows (model yolov8n)" in str(
        raised.value
    )
    camera = load_camera_file(write(tmp_path, fall + "detect: {model: fall-yolov8}\n"))
    assert camera.rules[0].category.value == "health_emergency"


@pytest.mark.parametrize(
    ("addition", "field", "reason"),
    [
        ('    schedule: {windows: ["25:00-06:00"]}', "rules.0.schedule.windows",
         "is not HH:MM-HH:MM"),
        ("    schedule: {days: [someday]}", "rules.0.schedule.days.0", "Input should be"),
        ("  - {kind: line_crossing, line: exit}", "rules.1.line", "unknown line 'exit'"),
        ("  - {kind: crowd, zone: yard, min_people: 0}", "rules.1.min_people",
         "greater than or equal to 1"),
        ("  - {kind: tamper, hold_s: 5, zone: yard}", "rules.1.zone", "unknown field"),
        ("timezone: Mars/Olympus", "timezone", "unknown time zone"),
        ("detect: {model: yolov99}", "detect.model", "unknown model 'yolov99'"),
        ("detect: {classes: [unicorn]}", "detect.classes", "'unicorn' is not a class"),
    ],
)  # fmt: skip
def test_new_settings_fail_naming_file_field_and_reason(
    tmp_path: Path, addition: str, field: str, reason: str
) -> None:
    path = write(tmp_path, VALID + addition + "\n")
    with pytest.raises(ConfigError) as raised:
        load_camera_file(path)
    messages = [str(problem) for problem in raised.value.problems]
    assert any(
        message.startswith(f"{path}: {field}: ") and reason in message for message in messages
    ), messages
