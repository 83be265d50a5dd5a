"""The worker's outbox keeps incidents and the clips that follow them across restarts, and
delivers each exactly once, an incident before its clip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from detectors.evidence import encode_mp4, sha256_hex
from detectors.incident import Incident, IncidentClip
from gridwatch.outbox import IncidentSender, Outbox
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.factories import jpeg

T0 = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def make_incident(
    camera_id: str = "school-no1-gate", index: int = 0, zone: str = "gate_path"
) -> Incident:
    snapshot = jpeg(shade=(index * 37) % 255)
    return Incident(
        id=str(uuid.uuid4()), camera_id=camera_id, rule="intrusion", zone=zone,
        category="public_safety", severity="high", summary="person in zone gate_path",
        started_at=T0 + timedelta(seconds=index), detected_at=T0 + timedelta(seconds=index + 1),
        track_id=index, object_class="person", confidence=0.8, box_xyxy=(1, 2, 30, 80),
        frame_width=768, frame_height=576, model_name="yolov8n", model_version="f59b3d833e2f",
        rule_parameters={}, snapshot_jpeg=snapshot, snapshot_sha256=sha256_hex(snapshot),
    )  # fmt: skip


def events_total(server: LiveServer) -> int:
    response = httpx.get(f"{server.url}/api/v1/events", headers=server.admin_headers())
    return int(response.json()["total"])


def test_kept_incidents_survive_a_restart_and_are_kept_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    incident = make_incident()
    assert outbox.put(incident) is True
    assert outbox.put(incident) is False
    outbox.close()

    reopened = Outbox(path)
    assert reopened.pending() == 1
    (item,) = reopened.due()
    assert item.id == incident.id and item.snapshot == incident.snapshot_jpeg
    reopened.close()


# Keeps incidents in the outbox at argv[1], printing each id once `put` has returned, then
# waits to be killed. The sync thread waits 60 s: nothing it does can have saved them.
KEEP_AND_WAIT = """
import sys, time
from pathlib import Path
from gridwatch.outbox import Outbox
from tests.gridwatch.test_outbox import make_incident
outbox = Outbox(Path(sys.argv[1]), sync_s=60)
for index in range(int(sys.argv[2])):
    incident = make_incident(index=index)
    assert outbox.put(incident)
    print(incident.id, flush=True)
time.sleep(120)
"""


def test_what_put_kept_survives_a_sigkill_of_the_worker_at_once(tmp_path: Path) -> None:
    """`put` returns without waiting for the disk, and what it kept is safe from that moment
    from a crash of the worker: the process is SIGKILLed right after the last put returned,
    before the outbox's sync thread has flushed or checkpointed anything."""
    path = tmp_path / "outbox.sqlite"
    worker = subprocess.Popen(
        [sys.executable, "-c", KEEP_AND_WAIT, str(path), "12"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert worker.stdout is not None
    kept = [worker.stdout.readline().strip() for _ in range(12)]
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL
    assert all(kept)

    reopened = Outbox(path)
    assert reopened.pending_incidents() == 12
    assert {item.id for item in reopened.due(limit=50)} == set(kept)
    reopened.close()


def test_what_was_kept_is_flushed_to_the_disk_within_sync_s(tmp_path: Path) -> None:
    """The disk's flush, which only a loss of power needs, follows on the outbox's own thread:
    not yet when `put` returns, within `sync_s` after; `close` flushes what is left."""
    slow = Outbox(tmp_path / "slow.sqlite", sync_s=60)
    assert slow.put(make_incident(index=1))
    assert not slow.wait_synced(timeout=0.2)  # put did not wait for it
    slow.close()  # flushes before closing
    assert slow.wait_synced(timeout=0)

    outbox = Outbox(tmp_path / "outbox.sqlite", sync_s=0.05)
    for index in range(5):
        assert outbox.put(make_incident(index=index))
    started = time.monotonic()
    assert outbox.wait_synced(timeout=5)
    assert time.monotonic() - started < 1.0
    outbox.close()

    with pytest.raises(ValueError, match="sync_s"):
        Outbox(tmp_path / "other.sqlite", sync_s=-1)


def test_incidents_wait_while_the_api_is_down_and_arrive_once_after(
    settings_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'api.db'}"))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, server.url, WORKER_TOKEN, worker_name="edge-1", timeout=2)
    incidents = [make_incident(index=i) for i in range(5)]
    for incident in incidents:
        outbox.put(incident)

    # The API is not running: nothing is delivered, nothing is lost.
    assert sender.deliver_due() == 0
    assert sender.consecutive_failures == 1
    assert outbox.pending() == 5

    server.start()
    try:
        # One incident reached the API before, but its answer was lost: it is sent again.
        first = incidents[0]
        (kept,) = [item for item in outbox.due() if item.id == first.id]
        httpx.post(
            f"{server.url}/api/v1/incidents",
            headers={"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"},
            data={"metadata": kept.metadata},
            files={"snapshot": ("s.jpg", first.snapshot_jpeg, "image/jpeg")},
        ).raise_for_status()
        assert sender.drain(deadline_s=20) is True
        assert outbox.pending() == 0
        assert sender.consecutive_failures == 0
        # One person after another in the same zone: one situation, each incident in it once.
        page = httpx.get(
            f"{server.url}/api/v1/events", params={"limit": 10}, headers=server.admin_headers()
        ).json()
        (event,) = page["items"]
        assert event["occurrence_count"] == 5
        assert event["incident"]["reported_by"] == "worker:edge-1"
        occurrences = httpx.get(
            f"{server.url}/api/v1/events/{event['id']}/occurrences",
            params={"limit": 10},
            headers=server.admin_headers(),
        ).json()
        assert sorted(item["incident_id"] for item in occurrences["items"]) == sorted(
            i.id for i in incidents
        )
    finally:
        server.stop()
        sender.close()
        outbox.close()


def test_a_refused_incident_stays_kept_and_does_not_block_the_others(
    live_api: LiveServer, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, live_api.url, WORKER_TOKEN)
    outbox.put(make_incident(camera_id="camera-nobody-registered", index=0))
    outbox.put(make_incident(index=1))

    sender.deliver_due()

    assert events_total(live_api) == 1
    assert outbox.pending() == 1
    assert outbox.due() == []  # backed off, not dropped
    assert (outbox.next_due_in() or 0) > 1
    sender.close()
    outbox.close()


def test_a_wrong_token_keeps_everything_and_backs_off(live_api: LiveServer, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, live_api.url, "not-the-token")
    outbox.put(make_incident())
    assert sender.deliver_due() == 0
    assert outbox.pending() == 1
    assert sender.backoff() > 0
    sender.close()
    outbox.close()


def test_the_clip_is_kept_and_an_outbox_from_before_clips_still_opens(tmp_path: Path) -> None:
    import sqlite3
    from dataclasses import replace

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, metadata TEXT NOT"
        " NULL, snapshot BLOB NOT NULL, created_at REAL NOT NULL, attempts INTEGER NOT NULL"
        " DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT)"
    )
    old.execute("INSERT INTO outbox VALUES ('old-1', 'cam', '{}', x'ffd8ff', 0, 0, 0, NULL)")
    old.commit()
    old.close()

    outbox = Outbox(path)
    incident = replace(make_incident(), clip_mp4=b"\x00\x00\x00\x18ftypmp42", clip_sha256="0" * 64)
    outbox.put(incident)
    items = {item.id: item for item in outbox.due()}
    assert items["old-1"].clip is None
    assert items[incident.id].clip == incident.clip_mp4
    outbox.close()


def test_the_whole_incident_and_its_clip_reach_the_api(
    live_api: LiveServer, tmp_path: Path
) -> None:
    frames = [np.full((96, 128, 3), shade, dtype=np.uint8) for shade in range(0, 250, 25)]
    stamps = [T0 + timedelta(seconds=i / 2) for i in range(len(frames))]
    clip = encode_mp4(frames, stamps)
    incident = replace(
        make_incident(), track_ids=(3, 4), clip_mp4=clip, clip_sha256=sha256_hex(clip),
        clip_started_at=T0, clip_duration_s=5.0, clip_frame_count=len(frames),
    )  # fmt: skip
    assert {"ended_at", "track_ids", "details", "clip_sha256"} <= set(incident.metadata())
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.put(incident)
    sender = IncidentSender(outbox, live_api.url, WORKER_TOKEN)
    assert sender.deliver_due() == 1
    page = httpx.get(f"{live_api.url}/api/v1/events", headers=live_api.admin_headers()).json()
    stored = page["items"][0]["incident"]
    assert stored["track_ids"] == list(incident.track_ids)
    served = httpx.get(stored["clip_url"], headers=live_api.admin_headers())
    assert served.headers["content-type"] == "video/mp4" and served.content == clip
    # Browsers seek in a video with range requests.
    part = httpx.get(
        stored["clip_url"], headers={**live_api.admin_headers(), "Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and part.content == clip[:100]
    sender.close()
    outbox.close()


class Clock:
    """A wall clock the test moves by hand (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def follows(incident: Incident, shade: int = 0) -> IncidentClip:
    """The encoded clip that follows `incident`."""
    frames = [np.full((96, 128, 3), (shade + 40 * i) % 255, dtype=np.uint8) for i in range(6)]
    stamps = [incident.detected_at + timedelta(seconds=i / 2 - 1) for i in range(len(frames))]
    return IncidentClip(
        incident_id=incident.id, camera_id=incident.camera_id, started_at=stamps[0],
        duration_s=2.5, frame_count=len(frames), ended_at=stamps[-1], ongoing=False,
        encoder=lambda: encode_mp4(frames, stamps),
    ).with_video()  # fmt: skip


def attached(server: LiveServer, incident: Incident) -> tuple[str | None, list[str]]:
    """The clip's SHA-256 that the API holds for `incident`, and its event's history steps."""
    page = httpx.get(
        f"{server.url}/api/v1/events", params={"limit": 100}, headers=server.admin_headers()
    ).json()
    (event,) = [item for item in page["items"] if item["incident"]["id"] == incident.id]
    detail = httpx.get(
        f"{server.url}/api/v1/events/{event['id']}", headers=server.admin_headers()
    ).json()
    return detail["incident"]["clip_sha256"], [step["action"] for step in detail["history"]]


def test_a_clip_waits_behind_its_incident_and_both_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    incident = make_incident()
    clip = follows(incident)
    assert outbox.put(incident) is True
    assert outbox.put_clip(clip) is True and outbox.put_clip(clip) is False
    with pytest.raises(ValueError, match="with_video"):
        outbox.put_clip(replace(clip, mp4=None, sha256=None, encoder=lambda: b""))
    assert outbox.due_clips() == []  # its incident goes first
    outbox.close()

    reopened = Outbox(path)
    assert (reopened.pending(), reopened.pending_incidents(), reopened.pending_clips()) == (2, 1, 1)
    reopened.delivered(incident.id)
    (item,) = reopened.due_clips()
    assert item.incident_id == incident.id and item.clip == clip.mp4
    assert json.loads(item.metadata)["sha256"] == clip.sha256
    reopened.clip_delivered(incident.id)
    assert reopened.pending() == 0 and reopened.next_due_in() is None
    reopened.close()


def test_incidents_and_their_clips_wait_while_the_api_is_down_and_arrive_once_after(
    settings_factory, database_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server = LiveServer(settings_factory(database_url))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, server.url, WORKER_TOKEN, worker_name="edge-1", timeout=2)
    # Three zones: three situations, each its own event with its own clip.
    incidents = [make_incident(index=i, zone=f"zone-{i}") for i in range(3)]
    clips = [follows(incident, shade=i) for i, incident in enumerate(incidents)]
    for incident, clip in zip(incidents, clips, strict=True):
        outbox.put(incident)
        outbox.put_clip(clip)

    # The API is not running: nothing is delivered, nothing is lost.
    assert sender.deliver_due() == 0
    assert outbox.pending() == 6

    server.start()
    try:
        # The first incident and its clip reached the API before, but the answers were lost.
        first, first_clip = incidents[0], clips[0]
        (kept,) = [item for item in outbox.due() if item.id == first.id]
        headers = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"}
        httpx.post(
            f"{server.url}/api/v1/incidents", headers=headers, data={"metadata": kept.metadata},
            files={"snapshot": ("s.jpg", first.snapshot_jpeg, "image/jpeg")},
        ).raise_for_status()  # fmt: skip
        httpx.put(
            f"{server.url}/api/v1/incidents/{first.id}/clip", headers=headers,
            data={"metadata": first_clip.report().model_dump_json()},
            files={"clip": ("c.mp4", first_clip.mp4 or b"", "video/mp4")},
        ).raise_for_status()  # fmt: skip
        assert sender.drain(deadline_s=20) is True
        assert outbox.pending() == 0 and sender.consecutive_failures == 0
        assert events_total(server) == 3
        for incident, clip in zip(incidents, clips, strict=True):
            assert attached(server, incident) == (clip.sha256, ["report", "attach_clip"])
    finally:
        server.stop()
        sender.close()
        outbox.close()


def test_a_clip_the_api_cannot_place_yet_is_sent_again_later(
    live_api: LiveServer, tmp_path: Path
) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path / "outbox.sqlite", clock=clock)
    sender = IncidentSender(outbox, live_api.url, WORKER_TOKEN, worker_name="edge-1")
    incident = make_incident()
    clip = follows(incident)
    # Its incident is still on its way (sent by another outbox, or refused for now): 404.
    outbox.put_clip(clip)
    assert sender.deliver_due() == 0
    assert outbox.pending_clips() == 1 and outbox.due_clips() == []
    assert sender.consecutive_failures == 0  # the API is up: nothing else waits for this
    waited = outbox.next_due_in()
    assert waited is not None and 0 < waited <= 1.5

    # The incident arrives; the clip, due again, follows it in the same pass.
    outbox.put(incident)
    clock.now += waited
    assert sender.deliver_due() == 2
    assert outbox.pending() == 0
    assert attached(live_api, incident) == (clip.sha256, ["report", "attach_clip"])

    # Another clip for an incident that has one never passes: it is dropped, not retried.
    outbox.put_clip(follows(incident, shade=120))
    assert sender.deliver_due() == 0
    assert outbox.pending() == 0
    assert attached(live_api, incident) == (clip.sha256, ["report", "attach_clip"])
    sender.close()
    outbox.close()
