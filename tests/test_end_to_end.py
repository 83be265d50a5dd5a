"""End to end on the real clip and the real model: worker process -> HTTP -> API -> grid events."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml

from detectors.zones import Zone
from gridwatch.cli import DEMO_PASSWORD_DEFAULT
from tests.conftest import REPO, WORKER_TOKEN, LiveServer, free_port

pytestmark = pytest.mark.slow

GATE = [
    [0.0, 0.30],
    [0.55, 0.30],
    [0.75, 0.38],
    [1.0, 0.60],
    [1.0, 0.85],
    [0.60, 0.70],
    [0.30, 0.50],
    [0.0, 0.45],
]


def camera_file(folder: Path, clip: Path) -> Path:
    folder.mkdir()
    document = {
        "id": "school-e2e",
        "name": "School gate (recorded)",
        "organisation": {"id": "school-e2e-org", "name": "Test School", "kind": "education"},
        "source": f"file://{clip}",
        "location": {"lat": 30.2550, "lon": 120.1200},
        "detect": {"fps": 2, "confidence": 0.4},
        "playback": {"loop": False, "realtime": False},
        "zones": [{"name": "gate_path", "polygon": GATE}],
        # Grouping off (window 0): each incident is its own event, checked one by one below.
        "rules": [{"kind": "intrusion", "zone": "gate_path", "classes": ["person"],
                   "min_frames": 3, "cooldown_s": 600, "anchor": "center",
                   "grouping": {"window_s": 0}}],
    }  # fmt: skip
    path = folder / "school-e2e.yaml"
    path.write_text(yaml.safe_dump(document))
    return folder


def worker_environment(api_url: str, tmp_path: Path, model_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDWATCH_API_URL": api_url,
        "GRIDWATCH_WORKER_TOKEN": WORKER_TOKEN,
        "GRIDWATCH_WORKER_NAME": "e2e-worker",
        "GRIDWATCH_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
        "GRIDWATCH_MODEL_PATH": str(model_path),
    }


def test_worker_turns_people_in_the_zone_into_grid_events(
    settings_factory,
    tmp_path: Path,
    demo_clip: Path,
    model_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    cameras = camera_file(tmp_path / "cameras", demo_clip)
    server = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'e2e.db'}", camera_configs=cameras)
    ).start()
    try:
        command = ["worker", "--cameras", str(cameras), "--once", "--fast"]
        worker = subprocess.run(
            [sys.executable, "-m", "gridwatch", *command],
            env=worker_environment(server.url, tmp_path, model_path),
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-3000:]
        admin = server.admin_headers()
        page = httpx.get(f"{server.url}/api/v1/events", params={"limit": 500}, headers=admin).json()
    finally:
        server.stop()

    events = page["items"]
    assert page["total"] == len(events) >= 5, worker.stderr[-3000:]
    zone = Zone("gate_path", tuple(tuple(point) for point in GATE))  # type: ignore[arg-type]
    for event in events:
        incident = event["incident"]
        assert event["source"] == "video" and event["status"] == "reported"
        assert event["camera_id"] == "school-e2e"
        assert event["grid_id"] == "D01-T01-C01-G01"
        assert incident["object_class"] == "person"
        assert incident["reported_by"] == "worker:e2e-worker"
        x1, y1, x2, y2 = incident["box_xyxy"]
        centre = np.array(
            [[(x1 + x2) / 2 / incident["frame_width"], (y1 + y2) / 2 / incident["frame_height"]]]
        )
        assert zone.contains_points(centre).tolist() == [True], incident
    # No track fires twice within its cooldown (the whole clip is shorter than it).
    per_track = Counter(
        (e["camera_id"], e["incident"]["zone"], e["incident"]["track_id"]) for e in events
    )
    assert max(per_track.values()) == 1
    # Every event's snapshot is served, decodes as a JPEG of the frame and matches its digest.
    server.start()
    try:
        for event in events:
            response = httpx.get(event["snapshot_url"], headers=admin)
            assert response.status_code == 200
            assert (
                hashlib.sha256(response.content).hexdigest() == event["incident"]["snapshot_sha256"]
            )
            picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
            assert picture is not None and picture.shape == (576, 768, 3)
    finally:
        server.stop()
    assert "inference median" in worker.stderr


def test_the_demo_command_shows_events_within_a_minute(tmp_path: Path) -> None:
    """`gridwatch run` as a new user starts it: API + worker, the shipped camera files, SQLite."""
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "GRIDWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "GRIDWATCH_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
    }
    for name in ("GRIDWATCH_WORKER_TOKEN", "GRIDWATCH_API_URL"):
        environment.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "demo.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "gridwatch", "run", "--port", str(port)],
            cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    events: list[dict] = []
    headers: dict[str, str] = {}
    try:
        while time.monotonic() - started < 60 and demo.poll() is None:
            try:
                if not headers:
                    httpx.get(f"{base}/healthz", timeout=2).raise_for_status()
                    # The demo creates its accounts just after the API answers; failed logins
                    # are rate-limited, so try once a second.
                    login = {"username": "operator", "password": DEMO_PASSWORD_DEFAULT}
                    token = httpx.post(f"{base}/api/v1/auth/token", data=login, timeout=2)
                    if token.status_code != 200:
                        time.sleep(1.0)
                        continue
                    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                page = httpx.get(f"{base}/api/v1/events", headers=headers, timeout=2)
                events = page.json()["items"]
            except (httpx.HTTPError, KeyError):
                events = []
            if events:
                break
            time.sleep(0.5)
        assert events, (
            f"no grid event within 60 s of starting the demo:\n{log_path.read_text()[-3000:]}"
        )
        picture = httpx.get(events[0]["snapshot_url"], headers=headers, timeout=5)
        assert picture.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR) is not None
        cameras = httpx.get(f"{base}/api/v1/cameras", headers=headers).json()
        assert len(cameras) == 4
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, log_path.read_text()[-3000:]
