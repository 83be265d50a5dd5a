"""Titles and descriptions the system writes are in the reader's language, Chinese by default."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.titles import reader_language
from tests.api.helpers import report_incident
from tests.conftest import Accounts


def test_an_incidents_title_names_the_event_camera_and_zone_in_the_readers_language(
    api_client: TestClient, accounts: Accounts
) -> None:
    created = report_incident(api_client, object_class="person", confidence=0.87, track_id=12)
    camera, zone = created["camera_name"], created["incident"]["zone"]
    name_zh, name_en = created["event_name_zh"], created["event_name_en"]
    assert name_zh and name_en
    # Chinese by default, also what is stored.
    assert created["title"] == f"{name_zh} — {camera} · {zone}"
    assert created["description"] == (
        f"摄像头「{camera}」的「{zone}」区域：{name_zh}，检测到人员（置信度 87%，目标 #12）。"
    )
    path = f"/api/v1/events/{created['id']}"
    operator = accounts.headers("west_operator")
    english = api_client.get(path, headers={**operator, "Accept-Language": "en-US,en;q=0.9"})
    assert english.json()["title"] == f"{name_en} — {camera}, zone {zone}"
    assert english.json()["description"] == (
        f"{name_en} in zone {zone} of camera {camera}: person detected (confidence 87%, track #12)."
    )
    listed = api_client.get(
        "/api/v1/events", headers={**operator, "Accept-Language": "zh-CN,en;q=0.5"}
    )
    assert listed.json()["items"][0]["title"] == created["title"]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("en-GB,zh;q=0.5", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("fr-FR,en;q=0.7", "en"),
        ("de", "zh"),
        ("en;q=0,zh;q=0.1", "zh"),
        ("en;q=oops", "zh"),
    ],
)
def test_the_readers_language_comes_from_accept_language(header: str | None, language: str) -> None:
    assert reader_language(header) == language
