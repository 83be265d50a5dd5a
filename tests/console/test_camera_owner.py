"""The camera owner's console: their own cameras only, a connection test with the live snapshot,
and zones drawn on it.

Against the real API and a real RTSP camera: the connection test connects, and what the owner
draws is what the API stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console
from tests.ingest.peers import RtspServer

pytestmark = pytest.mark.browser

CAMERA = "school-no1-gate"


def click_at(page: Any, selector: str, x: float, y: float) -> None:
    """Click a point of an element given as fractions of its width and height."""
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_camera_owner_sees_only_their_cameras(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    owner = open_console("school_owner")
    owner.login("school_owner")
    page = owner.page
    assert owner.menu() == ["my-cameras", "my-events", "gb28181"]
    page.wait_for_selector(".cameras-table tbody tr")
    rows = page.eval_on_selector_all(
        ".cameras-table tbody tr", "rows => rows.map(r => r.dataset.cameraId)"
    )
    assert rows == [CAMERA]
    owner.screenshot("camera-owner-cameras-desktop")


def test_camera_owner_tests_a_connection_and_saves_a_zone(
    open_console: Callable[..., Console], console_server: LiveServer, rtsp_server: RtspServer
) -> None:
    owner = open_console("school_owner")
    owner.login("school_owner")
    page = owner.page
    page.click(f'.cameras-table tr[data-camera-id="{CAMERA}"] a')
    page.wait_for_selector("form.camera-editor .zone-editor")

    # The camera moves to a real RTSP stream; the connection test really connects.
    address = rtsp_server.url("cam")
    page.fill("input[name=url]", address)
    page.click("button.test-connection")
    page.wait_for_selector(".test-result .notice.ok", timeout=20_000)
    assert page.inner_text(".test-facts [data-fact=resolution]") == "768×576"
    assert page.inner_text(".test-facts [data-fact=codec]") == "h264"
    page.wait_for_function("() => document.querySelector('.stage-image')?.naturalWidth === 768")

    # A zone: four corners, closed with Finish, then named.
    page.click("button.add-zone")
    stage = "[data-testid=zone-canvas]"
    corners = [(0.1, 0.35), (0.6, 0.35), (0.9, 0.7), (0.1, 0.7)]
    for x, y in corners:
        click_at(page, stage, x, y)
    page.click("button.finish")
    name = page.locator(".zone-list input.shape-name").last
    name.fill("gate_night")
    name.press("Enter")  # takes the name; does not submit the whole form

    # A privacy mask: three corners, closed by clicking the first one again.
    page.click("button.add-mask")
    for x, y in [(0.7, 0.05), (0.95, 0.05), (0.95, 0.3)]:
        click_at(page, stage, x, y)
    click_at(page, stage, 0.7, 0.05)
    assert page.locator(".mask-list input.shape-name").input_value() == "mask_1"

    # The old rule goes; a rule on the new zone, at night, comes.
    for _ in range(page.locator("fieldset.rule").count()):
        page.locator("fieldset.rule button.danger").first.click()
    page.click("button.add-rule")
    rule = page.locator("fieldset.rule").first
    rule.locator("select[name=zone]").select_option("gate_night")
    rule.locator("select[name=schedule]").select_option("on")
    owner.screenshot("camera-owner-editor-desktop", full_page=True)

    page.click("button.save-camera")
    page.wait_for_url("**/console/#/my-cameras")

    headers = console_server.admin_headers()
    camera = httpx.get(f"{console_server.url}/api/v1/cameras/{CAMERA}", headers=headers).json()
    assert camera["source"] == address
    zones = {zone["name"]: zone for zone in camera["config"]["zones"]}
    polygon = zones["gate_night"]["polygon"]
    assert len(polygon) == 4
    for (x, y), (expected_x, expected_y) in zip(polygon, corners, strict=True):
        assert abs(x - expected_x) < 0.01 and abs(y - expected_y) < 0.01
    [mask] = camera["config"]["privacy_masks"]
    assert mask["name"] == "mask_1" and len(mask["polygon"]) == 3
    [saved_rule] = camera["config"]["rules"]
    assert saved_rule["kind"] == "intrusion" and saved_rule["zone"] == "gate_night"
    assert saved_rule["schedule"]["windows"] == ["22:00-06:00"]
    assert len(saved_rule["schedule"]["days"]) == 7
