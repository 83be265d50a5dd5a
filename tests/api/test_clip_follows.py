"""An incident reported without its clip, and the clip attached to it later (PUT
/api/v1/incidents/{id}/clip): once, to the same incident, announced as an event update."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.evidence import stored_files
from detectors.evidence import encode_mp4, sha256_hex
from tests.api.helpers import WORKER
from tests.api.test_live_alerts import LiveWall, wall  # noqa: F401  (the fixture)
from tests.conftest import Accounts
from tests.factories import incident_form, incident_metadata, jpeg

T0 = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def mp4(shade: int = 0, frames: int = 5) -> bytes:
    images = [np.full((96, 128, 3), (shade + 40 * i) % 255, dtype=np.uint8) for i in range(frames)]
    return encode_mp4(images, [T0 + timedelta(seconds=i / 2) for i in range(frames)])


def clip_report(clip: bytes, **overrides: Any) -> dict[str, Any]:
    report = {
        "sha256": sha256_hex(clip),
        "started_at": (T0 - timedelta(seconds=3)).isoformat(),
        "duration_s": 6.0,
        "frame_count": 12,
        "ended_at": (T0 + timedelta(seconds=2)).isoformat(),
        "ongoing": False,
    }
    report.update(overrides)
    return report


def put_clip(
    client: TestClient | httpx.Client,
    incident_id: str,
    clip: bytes,
    headers: dict[str, str] = WORKER,
    **overrides: Any,
) -> httpx.Response:
    return client.put(  # type: ignore[no-any-return]
        f"/api/v1/incidents/{incident_id}/clip",
        headers=headers,
        data={"metadata": json.dumps(clip_report(clip, **overrides))},
        files={"clip": ("clip.mp4", clip, "video/mp4")},
    )


def report_without_clip(client: TestClient, shade: int = 60) -> dict[str, Any]:
    snapshot = jpeg(shade=shade)
    metadata = incident_metadata(snapshot, detected_at=T0, ongoing=True)
    response = client.post("/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot))
    assert response.status_code == 201, response.text
    event = dict(response.json())
    assert event["incident"]["clip_url"] is None
    return event


def test_the_clip_follows_its_incident_and_is_attached_once(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_without_clip(api_client)
    incident_id = event["incident"]["id"]
    clip = mp4()

    assert put_clip(api_client, incident_id, clip).status_code == 204
    shown = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers("admin"))
    incident = shown.json()["incident"]
    assert incident["clip_sha256"] == sha256_hex(clip) and incident["clip_duration_s"] == 6.0
    assert incident["ended_at"].startswith("2026-11-27T22:30:02")
    assert incident["details"]["clip_frame_count"] == 12 and incident["details"]["ongoing"] is False
    served = api_client.get(incident["clip_url"], headers=accounts.headers("admin"))
    assert served.status_code == 200 and served.content == clip
    steps = [step["action"] for step in shown.json()["history"]]
    assert steps == ["report", "attach_clip"]

    # The same clip again (a delivery whose answer was lost) changes nothing.
    assert put_clip(api_client, incident_id, clip).status_code == 204
    again = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers("admin"))
    assert [step["action"] for step in again.json()["history"]] == steps

    # Another clip for the same incident is refused; the first one stands.
    other = mp4(shade=100)
    conflict = put_clip(api_client, incident_id, other)
    assert conflict.status_code == 409, conflict.text
    assert api_client.get(incident["clip_url"], headers=accounts.headers("admin")).content == clip

    # Every file on disk is named by a row, with its digest.
    with api_client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        kinds = sorted(file.kind for file in stored_files(session))
    assert kinds == ["clip", "snapshot"]


def test_a_clip_for_an_incident_not_yet_reported_is_not_found(api_client: TestClient) -> None:
    missing = put_clip(api_client, "0b7e8f5c-2d1a-4c3b-9e8f-7a6b5c4d3e2f", mp4())
    assert missing.status_code == 404, missing.text


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"sha256": "0" * 64}, 422, "SHA-256 does not match metadata.sha256"),
        ({"frame_count": 0}, 422, "metadata.frame_count"),
        ({"content_type": "video/webm"}, 422, "metadata.content_type"),
        ({"clip": b"\x00\x00\x00\x18moov" + bytes(40)}, 422, "not an MP4 video"),
        ({"headers": {}}, 401, ""),
    ],
)
def test_a_clip_that_is_not_what_it_says_is_refused(
    api_client: TestClient, change: dict[str, Any], status: int, reason: str
) -> None:
    incident_id = report_without_clip(api_client)["incident"]["id"]
    change = dict(change)  # shared by the database kinds' runs
    clip = change.pop("clip", mp4())
    headers = change.pop("headers", WORKER)
    refused = put_clip(api_client, incident_id, clip, headers, **change)
    assert refused.status_code == status, refused.text
    assert reason in refused.json()["detail"]


def test_a_clip_larger_than_the_limit_is_refused(settings_factory, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    clip = mp4()
    with TestClient(
        create_app(settings_factory(database_url, max_clip_bytes=len(clip) - 1))
    ) as client:
        incident_id = report_without_clip(client)["incident"]["id"]
        assert put_clip(client, incident_id, clip).status_code == 413


def test_attaching_the_clip_is_announced_once_as_an_event_update(wall: LiveWall) -> None:  # noqa: F811
    event = report_without_clip(wall.client)
    wall.expect({event["id"]: "event.created"})
    clip = mp4()
    assert put_clip(wall.client, event["incident"]["id"], clip).status_code == 204
    received = wall.received()
    (message,) = received["district_operator"]
    assert (message["type"], message["event_id"]) == ("event.updated", event["id"])
    assert message["event"]["incident"]["clip_url"].endswith("/clip.mp4")
    assert put_clip(wall.client, event["incident"]["id"], clip).status_code == 204
    wall.expect_nothing()
