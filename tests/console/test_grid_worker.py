"""The grid worker's console on a phone-sized screen: tasks in their own cells, confirming with a
photo, reporting with a tap on the map, and nothing from other grids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import PHONE, Console, api_as, post_incident, scene_jpeg

pytestmark = pytest.mark.browser


def test_grid_worker_confirms_an_event_with_a_photo_from_the_phone(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC))  # the school's cell
    worker = open_console("school_worker", viewport=PHONE)
    worker.login("school_worker")
    page = worker.page
    assert worker.menu() == ["tasks", "report"]

    card = page.locator(f'.event-card[data-event-id="{event["id"]}"]')
    card.wait_for()
    assert card.locator(".deadline").inner_text().startswith("剩余")
    worker.screenshot("grid-worker-tasks-phone")

    card.locator("h3 a").click()
    page.locator(".actions-panel button[data-action=confirm]").wait_for()
    page.wait_for_function("() => document.querySelector('img.snapshot-large')?.naturalWidth > 0")
    page.locator(".actions-panel button[data-action=confirm]").click()
    panel = page.locator("dialog.action-dialog[data-action=confirm]")
    photo_input = panel.locator("input[type=file]")
    assert photo_input.get_attribute("capture") == "environment"
    panel.locator("textarea[name=note]").fill("到场核实：有人翻越校门，已劝离")
    photo_input.set_input_files(
        files=[{"name": "site.jpg", "mimeType": "image/jpeg", "buffer": scene_jpeg(480, 640)}]
    )
    panel.locator(".photo-previews img").wait_for()
    worker.screenshot("grid-worker-event-phone")
    panel.locator("button[data-action=confirm]").click()

    page.wait_for_selector('.event-head .badge-status[data-status="confirmed"]')
    step = page.locator(".timeline .step-confirm")
    page.wait_for_function(
        "step => step.querySelector('.photos img')?.naturalWidth === 480",
        arg=step.element_handle(),
    )
    assert "到场核实" in step.inner_text()
    worker.screenshot("grid-worker-confirmed-phone", full_page=True)

    with api_as(console_server, "school_worker") as client:
        detail = client.get(f"/api/v1/events/{event['id']}").json()
    confirm = detail["history"][-1]
    assert (detail["status"], confirm["action"], confirm["actor"]) == (
        "confirmed",
        "confirm",
        "user:school_worker",
    )
    [photo] = detail["attachments"]
    assert (photo["history_id"], photo["content_type"]) == (confirm["id"], "image/jpeg")


def test_grid_worker_cannot_open_an_event_of_another_grid(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    elsewhere = post_incident(
        console_server,
        camera_id="urban-works-west",  # the east street's cell
        category="urban_management",
        summary="vehicle parked in zone",
        detected_at=datetime.now(UTC),
    )
    worker = open_console("school_worker", viewport=PHONE)
    worker.login("school_worker")
    page = worker.page
    page.wait_for_selector(".list-tasks")
    assert page.locator(f'.event-card[data-event-id="{elsewhere["id"]}"]').count() == 0

    worker.open(f"#/events/{elsewhere['id']}")
    page.wait_for_selector(f'.not-found[data-not-found="{elsewhere["id"]}"]')
    assert page.locator(".not-found h1").inner_text() == "未找到该事件"
    body = page.locator("body").inner_text()
    assert "vehicle parked" not in body
    assert "Urban Management Bureau, west road works" not in body
    assert page.locator("img.snapshot-large").count() == 0
    worker.screenshot("grid-worker-not-found-phone")


def test_grid_worker_reports_an_event_with_a_tap_on_the_map_and_a_photo(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    worker = open_console("school_worker", viewport=PHONE)
    worker.login("school_worker")
    page = worker.page
    page.click("nav.menu a[data-menu=report]")
    page.wait_for_selector(".report-map .leaflet-overlay-pane path")

    page.select_option("select[name=category]", "urban_management")
    page.fill("input[name=title]", "人行道上堆放建筑垃圾")
    page.fill("input[name=address]", "校门东侧 20 米")
    # The map opens on the worker's own cell: its middle is inside it.
    box = page.locator(".report-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.input_value("input[name=lat]")
    page.set_input_files(
        "form.report-form input[type=file]",
        files=[{"name": "waste.jpg", "mimeType": "image/jpeg", "buffer": scene_jpeg(640, 480)}],
    )
    worker.screenshot("grid-worker-report-phone", full_page=True)
    page.click("form.report-form button[type=submit]")

    page.wait_for_selector(".event-page .timeline .step-comment .photos img")
    event_id = int(page.locator(".event-page").get_attribute("data-event-id") or 0)
    with api_as(console_server, "school_worker") as client:
        detail = client.get(f"/api/v1/events/{event_id}").json()
    assert (detail["source"], detail["grid_id"], detail["title"]) == (
        "grid_worker",
        "D01-T01-C01-G01",
        "人行道上堆放建筑垃圾",
    )
    assert len(detail["attachments"]) == 1
