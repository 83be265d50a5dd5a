"""Shapes the worker cannot use are refused where a camera is loaded (its file, check-config,
the API's registration), naming file, field and reason; a worker left watching no camera exits
non-zero and says why."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridwatch.cli import app
from tests.conftest import Accounts

CAMERA = """\
id: cam-1
name: Test camera
organisation: {id: org-1, name: Org, kind: education}
source: rtsp://127.0.0.1:8554/main
location: {lat: 30.25, lon: 120.12}
zones:
  - name: yard
    polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
lines:
  - name: gate
    points: [[0.0, 0.5], [1.0, 0.5]]
privacy_masks:
  - name: window
    polygon: [[0.8, 0.0], [1.0, 0.0], [1.0, 0.3]]
rules:
  - kind: intrusion
    zone: yard
  - kind: line_crossing
    line: gate
"""

BOW_TIE = "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]"

UNUSABLE = [
    pytest.param(
        "[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]", BOW_TIE,
        "zones.0.polygon", "edges cross at (0.5, 0.5)", id="bow-tie zone",
    ),
    pytest.param(
        "[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]", "[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]",
        "zones.0.polygon", "no area", id="zone on one line",
    ),
    pytest.param(
        "[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]", "[[0.3, 0.3], [0.3, 0.3], [0.3, 0.3]]",
        "zones.0.polygon", "no area", id="zone of one point",
    ),
    pytest.param(
        "[[0.0, 0.5], [1.0, 0.5]]", "[[0.4, 0.5], [0.4, 0.5]]",
        "lines.0.points", "the line has no length", id="zero-length line",
    ),
    pytest.param(
        "[[0.8, 0.0], [1.0, 0.0], [1.0, 0.3]]", "[[0.8, 0.0], [1.0, 0.3], [1.0, 0.0], [0.8, 0.3]]",
        "privacy_masks.0.polygon", "edges cross", id="bow-tie privacy mask",
    ),
    pytest.param(
        "[[0.8, 0.0], [1.0, 0.0], [1.0, 0.3]]", "[[0.8, 0.0], [0.9, 0.0], [1.0, 0.0]]",
        "privacy_masks.0.polygon", "no area", id="flat privacy mask",
    ),
]  # fmt: skip


def test_the_camera_as_drawn_passes(tmp_path: Path) -> None:
    path = tmp_path / "camera.yaml"
    path.write_text(CAMERA)
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("old", "new", "field", "reason"), UNUSABLE)
def test_check_config_refuses_shapes_the_worker_cannot_use(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    assert old in CAMERA
    path = tmp_path / "camera.yaml"
    path.write_text(CAMERA.replace(old, new, 1))

    result = CliRunner().invoke(app, ["check-config", str(path)])

    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith(f"{path}: "))
    assert line.startswith(f"{path}: {field}: "), result.output
    assert reason in line, result.output


REGISTRATION = {
    "id": "school-north-gate",
    "name": "North gate",
    "source": "rtsp://127.0.0.1:8554/north",
    "location": {"lat": 30.256, "lon": 120.121},
    "zones": [{"name": "gate", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}],
    "lines": [{"name": "door", "points": [[0.0, 0.5], [1.0, 0.5]]}],
    "rules": [{"kind": "intrusion", "zone": "gate", "classes": ["person"]}],
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zones": [{"name": "gate", "polygon": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}]},
         "zones.0.polygon: the polygon's edges cross"),
        ({"lines": [{"name": "door", "points": [[0.2, 0.2], [0.2, 0.2]]}]},
         "lines.0.points: the line has no length"),
        ({"privacy_masks": [{"name": "w", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]},
         "privacy_masks.0.polygon: the polygon has no area"),
    ],
)  # fmt: skip
def test_the_api_refuses_the_same_shapes_on_registration(
    api_client: TestClient, accounts: Accounts, changes: dict, message: str
) -> None:
    response = api_client.post(
        "/api/v1/cameras",
        json={**REGISTRATION, **changes},
        headers=accounts.headers("school_owner"),
    )
    assert response.status_code == 422
    assert message in response.json()["detail"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_worker_left_watching_no_camera_exits_1_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_clip: Path
) -> None:
    # A camera whose file is valid but whose detection cannot be set up: it names a custom
    # model, and the API that would hand it out is not there.
    path = tmp_path / "camera.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        id: cam-1
        name: Test camera
        organisation: {{id: org-1, name: Org, kind: education}}
        source: file://{demo_clip}
        location: {{lat: 30.25, lon: 120.12}}
        custom_models: [{{model: helmets}}]
        """)
    )
    monkeypatch.setenv("GRIDWATCH_API_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("GRIDWATCH_OUTBOX_PATH", str(tmp_path / "outbox.db"))

    result = CliRunner().invoke(
        app, ["worker", "--cameras", str(path), "--once", "--max-seconds", "30"]
    )

    assert result.exit_code == 1, result.output
    assert "no camera is watched (cam-1: detection could not be set up:" in result.output
