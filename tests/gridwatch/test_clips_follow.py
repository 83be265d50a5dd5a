"""The real worker on the demo clip, with the real model and API: each incident reaches the API
as soon as its rule concludes, and its clip follows and is attached to it."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml

from contract.rules import GroupingConfig
from detectors.incident import Incident, IncidentClip
from gridwatch.outbox import IncidentSender, Outbox
from gridwatch.worker.assemble import CameraAssembly, DetectorPool
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.gridwatch.test_detection_threads import recorded_camera

pytestmark = pytest.mark.slow


class RecordingOutbox(Outbox):
    """The real outbox, noting when each incident and each clip was put in it."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.kept: dict[str, float] = {}
        self.clips_kept: dict[str, float] = {}

    def put(self, incident: Incident) -> bool:
        self.kept[incident.id] = time.monotonic()
        return super().put(incident)

    def put_clip(self, clip: IncidentClip) -> bool:
        self.clips_kept[clip.incident_id] = time.monotonic()
        return super().put_clip(clip)


def test_each_incident_reaches_the_api_before_its_clip_and_the_clip_follows(
    settings_factory, demo_clip: Path, model_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    camera = recorded_camera("school-clip", demo_clip, fps=1, rules=True)
    # Each incident its own event (no grouping), so that every incident's clip is followed.
    no_grouping = GroupingConfig(window_s=0)
    camera = camera.model_copy(
        update={
            "rules": [rule.model_copy(update={"grouping": no_grouping}) for rule in camera.rules]
        }
    )
    folder = tmp_path / "cameras"
    folder.mkdir()
    (folder / "school-clip.yaml").write_text(yaml.safe_dump(camera.model_dump(mode="json")))
    server = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'api.db'}", camera_configs=folder)
    ).start()
    outbox = RecordingOutbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, server.url, WORKER_TOKEN, worker_name="edge-1")
    worker = Worker(
        [camera], CameraAssembly(DetectorPool(model_path.parent), detect_threads=1), outbox, sender
    )
    try:
        # Cut short: the clips still being recorded then are kept with the frames there are.
        worker.run(max_seconds=60, drain_s=30)
        assert outbox.pending() == 0
        admin = server.admin_headers()
        page = httpx.get(f"{server.url}/api/v1/events", params={"limit": 500}, headers=admin)
        events = page.json()["items"]
        details = [
            httpx.get(f"{server.url}/api/v1/events/{event['id']}", headers=admin).json()
            for event in events
        ]
        clips = {
            detail["incident"]["id"]: httpx.get(detail["incident"]["clip_url"], headers=admin)
            for detail in details
            if detail["incident"]["clip_url"]
        }
    finally:
        worker.close()
        server.stop()

    assert len(details) >= 2
    assert set(outbox.kept) == {detail["incident"]["id"] for detail in details}
    for detail in details:
        incident = detail["incident"]
        # Out before its post-roll was even recorded; the clip came after, to the same incident.
        assert outbox.kept[incident["id"]] < outbox.clips_kept[incident["id"]]
        steps = {step["action"]: datetime.fromisoformat(step["at"]) for step in detail["history"]}
        assert [step["action"] for step in detail["history"]] == ["report", "attach_clip"]
        assert steps["report"] <= steps["attach_clip"]
        video = clips[incident["id"]].content
        assert video[4:8] == b"ftyp"
        assert hashlib.sha256(video).hexdigest() == incident["clip_sha256"]
        assert incident["details"]["clip_frame_count"] >= 2
