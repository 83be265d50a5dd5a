"""The operator's console in a real browser: alerts arrive live, are dismissed or dispatched, and
the map, figures and camera health show the district."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console, api_as, post_incident

pytestmark = pytest.mark.browser


def test_operator_sees_a_new_alert_live_and_dismisses_it_as_a_false_alarm(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    assert operator.menu() == ["wall", "map", "stats", "evaluation", "cameras"]
    page.wait_for_selector(".wall .notice, .wall .event-card")
    page.evaluate("window.__sameDocument = true")

    event = post_incident(console_server, detected_at=datetime.now(UTC))

    # It arrives over the WebSocket: same document, no reload.
    card = page.locator(f'.event-card[data-event-id="{event["id"]}"]')
    card.wait_for()
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".event-card").first.get_attribute("data-event-id") == str(event["id"])
    snapshot = card.locator("img.snapshot")
    page.wait_for_function("img => img.naturalWidth === 640", arg=snapshot.element_handle())
    assert snapshot.get_attribute("src", timeout=1000).startswith("blob:")  # type: ignore[union-attr]
    assert card.locator(".camera").inner_text() == "No.1 Primary School, main gate path"
    assert "grid 1" in card.locator(".grid").inner_text()
    assert card.locator(".badge-category").inner_text() == "公共安全"
    assert card.locator(".badge-severity").inner_text() == "高"
    assert card.locator(".age").inner_text()
    operator.screenshot("operator-wall-desktop")

    card.locator("button[data-action=reject]").click()
    dialog = page.locator("dialog.action-dialog")
    dialog.locator("button[data-action=reject]").click()
    assert dialog.locator(".form-error").inner_text() == "请填写原因。"
    dialog.locator("textarea[name=note]").fill("行人正常通行，不是入侵")
    dialog.locator("button[data-action=reject]").click()
    card.wait_for(state="detached")  # the wall shows open events; a false alarm leaves it

    with api_as(console_server, "district_operator") as client:
        detail = client.get(f"/api/v1/events/{event['id']}").json()
    assert detail["status"] == "false_alarm"
    last = detail["history"][-1]
    assert (last["actor"], last["action"], last["note"]) == (
        "user:district_operator",
        "reject",
        "行人正常通行，不是入侵",
    )

    operator.open(f"#/events/{event['id']}")
    step = page.locator(".timeline .step-reject")
    step.wait_for()
    assert "district_operator" in step.inner_text()
    assert "行人正常通行" in step.inner_text()
    assert page.locator(".event-head .badge-status").inner_text() == "误报"
    operator.screenshot("operator-event-desktop")


def test_operator_dispatches_from_the_event_page_and_reads_map_figures_and_health(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(
        console_server,
        camera_id="urban-works-west",
        category="urban_management",
        severity="medium",
        summary="vehicle parked in zone",
        detected_at=datetime.now(UTC),
    )
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page

    operator.open(f"#/events/{event['id']}")
    panel = page.locator(".actions-panel")
    panel.locator("select[name=department_id] option[value=urban-management-bureau]").wait_for(
        state="attached"
    )
    panel.locator("select[name=department_id]").select_option("urban-management-bureau")
    panel.locator("textarea[name=note]").fill("请城管到场处理")
    panel.locator("button[data-action=dispatch]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="dispatched"]')
    page.wait_for_selector(".timeline .step-dispatch")
    actions = page.eval_on_selector_all(
        ".timeline .step", "steps => steps.map(s => s.dataset.action)"
    )
    assert actions == ["report", "confirm", "dispatch"]
    assert "District Urban Management Bureau" in page.locator(".step-dispatch").inner_text()

    operator.open("#/map")
    page.wait_for_selector(".leaflet-overlay-pane path")
    page.wait_for_selector(".camera-marker")
    assert page.locator(".camera-marker").count() == 4
    assert page.locator("path.event-marker.status-dispatched").count() >= 1
    assert page.locator(".leaflet-tile").count() == 0  # no tile server by default
    operator.screenshot("operator-map-desktop")

    operator.open("#/stats")
    page.wait_for_selector(".kpis .ring")
    assert page.locator(".chart svg.bars").count() >= 3
    operator.screenshot("operator-stats-desktop")

    operator.open("#/evaluation")
    page.wait_for_selector(".evaluation-table tbody tr")
    assert "按期处置率" in page.locator(".evaluation-table thead").inner_text()
    assert page.locator(".evaluation-table tfoot th").inner_text() == "合计"
    with page.expect_download() as download:
        page.click("button.csv-download")
    assert download.value.suggested_filename == "evaluation-by-department.csv"
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("key,name,reported")
    operator.screenshot("operator-evaluation-desktop")

    operator.open("#/cameras")
    page.wait_for_selector(".cameras-table tbody tr")
    assert page.locator(".cameras-table tbody tr").count() == 4
    operator.screenshot("operator-cameras-desktop")

    page.click(".lang-switch button[data-lang=en]")
    page.wait_for_selector("nav.menu a[data-menu=wall]:text('Alert wall')")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click(".lang-switch button[data-lang=zh-CN]")
    page.wait_for_selector("nav.menu a[data-menu=wall]:text('告警墙')")


def webm_clip(frames: int = 12) -> bytes:
    """A short VP8 clip, the kind of evidence clip a browser plays natively."""
    path = Path(tempfile.mkdtemp()) / "clip.webm"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"VP80"), 6, (320, 180))
    for index in range(frames):
        writer.write(np.full((180, 320, 3), 40 + index * 15, np.uint8))
    writer.release()
    return path.read_bytes()


def test_an_events_clip_plays_in_the_page_when_it_has_one(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    """The API does not give clips yet; the page plays one as soon as an event names it."""
    event = post_incident(console_server, detected_at=datetime.now(UTC))
    clip_path = f"/api/v1/incidents/{event['incident']['id']}/clip.webm"
    clip = webm_clip()
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    asked_with_token: list[bool] = []

    def with_clip(route: Any) -> None:
        detail = route.fetch().json()
        route.fulfill(json={**detail, "clip_url": f"{console_server.url}{clip_path}"})

    def serve_clip(route: Any) -> None:
        asked_with_token.append(
            route.request.headers.get("authorization", "").startswith("Bearer ")
        )
        route.fulfill(body=clip, content_type="video/webm")

    page.route(f"**/api/v1/events/{event['id']}", with_clip)
    page.route(f"**{clip_path}", serve_clip)
    operator.open(f"#/events/{event['id']}")
    video = page.locator("video.evidence-clip")
    video.wait_for()
    page.wait_for_function(
        "video => video.src.startsWith('blob:') && video.readyState >= 1 && video.duration > 1",
        arg=video.element_handle(),
    )
    assert asked_with_token == [True]
