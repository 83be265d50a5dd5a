"""The worker's outbox keeps incidents across restarts and delivers each exactly once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from detectors.evidence import encode_mp4, sha256_hex
from detectors.incident import Incident
from gridwatch.outbox import IncidentSender, Outbox
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.factories import jpeg

T0 = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


def make_incident(camera_id: str = "school-no1-gate", index: int = 0) -> Incident:
    snapshot = jpeg(shade=(index * 37) % 255)
    return Incident(
        id=str(uuid.uuid4()), camera_id=camera_id, rule="intrusion", zone="gate_path",
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
        assert events_total(server) == 5
        page = httpx.get(
            f"{server.url}/api/v1/events", params={"limit": 10}, headers=server.admin_headers()
        ).json()
        assert {item["incident"]["id"] for item in page["items"]} == {i.id for i in incidents}
        assert {item["incident"]["reported_by"] for item in page["items"]} == {"worker:edge-1"}
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
