"""Evidence across an outage: a real RTSP camera dies just after a rule concluded. The incident
was out at once; its clip is completed within seconds with the frames from before the loss, not
held until the camera returns, and never spans the gap."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract.camera import CameraConfig
from gridwatch.outbox import Outbox
from gridwatch.worker.assemble import CameraAssembly
from gridwatch.worker.runner import Worker
from tests.gridwatch.test_split_brain import BlinkingPerson
from tests.ingest.peers import RtspServer

# Times how soon a clip follows a dying stream: runs in the suite's serial part.
pytestmark = pytest.mark.timing


def clips_kept(path: Path) -> list[dict[str, object]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT metadata FROM clip_outbox ORDER BY created_at").fetchall()
    return [json.loads(metadata) for (metadata,) in rows]


def test_an_incident_concluded_just_before_the_loss_has_its_clip_at_once_and_no_gap(
    h264_clip: Path, tmp_path: Path
) -> None:
    rtsp = RtspServer(h264_clip, mounts=("cam",), log_path=tmp_path / "rtsp.log").start()
    config = CameraConfig.model_validate(
        {
            "id": "gate-rtsp",
            "name": "Gate",
            "organisation": {"id": "test-org", "name": "Test", "kind": "public"},
            "source": rtsp.url("cam"),
            "location": {"lat": 30.25, "lon": 120.12},
            "detect": {"fps": 2},
            # Silent 2 s, the stream is lost (and a clip may span no longer gap).
            "stream": {"read_timeout_s": 2.0, "max_backoff_s": 1.0},
            "evidence": {"pre_roll_s": 3, "post_roll_s": 3},
            "zones": [{"name": "yard", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
            "rules": [
                {
                    "kind": "intrusion",
                    "zone": "yard",
                    "classes": ["person"],
                    "min_frames": 1,
                    "cooldown_s": 0,
                    "skip_stationary": False,
                }
            ],
        }
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    worker = Worker([config], CameraAssembly(BlinkingPerson()), outbox, sender=None)
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 40

        def recording() -> bool:
            watched = worker.watched.get("gate-rtsp")
            return watched is not None and watched.pipeline.pending > 0

        # An incident whose post-roll is being recorded: kill the camera right then.
        while not recording() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recording()
        rtsp.kill()
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        incidents = outbox.pending_incidents()
        assert incidents >= 1  # out at once, with its snapshot

        # Its clip comes without the camera coming back: within the loss timeout and a round.
        while worker.watched["gate-rtsp"].pipeline.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        completed_after = time.monotonic() - killed_at
        assert worker.watched["gate-rtsp"].pipeline.pending == 0
        assert completed_after < 8, completed_after
        time.sleep(1.0)  # the clip is encoded on its own thread
        clips = clips_kept(outbox.path)
        assert clips, "no clip kept"
        last = clips[-1]
        started = datetime.fromisoformat(str(last["started_at"]))
        ends = started + timedelta(seconds=float(str(last["duration_s"])))
        # Nothing from after the loss: the clip ends with the last frames the camera had sent
        # (some may still be read just after it died).
        assert ends <= killed_wall + timedelta(seconds=1), (ends, killed_wall)
        assert float(str(last["duration_s"])) < 3 + 3 + 0.5
    finally:
        worker.stop.set()
        thread.join(timeout=20)
        outbox.close()
        rtsp.stop()
