"""Work done by hand where people work: on a 390x844 phone the grid worker and the handler act
in a dialog that fits the screen, its button within reach; at a desk the keyboard reaches the
first alert's dispatch button in a handful of keys. In Chromium against the live API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import (
    PHONE,
    Console,
    api_as,
    dispatch_to_education,
    post_incident,
    scene_jpeg,
)

pytestmark = pytest.mark.browser


def assert_fits_the_phone(page: Any, dialog: Any, button: Any) -> None:
    """The dialog covers the screen without a sideways scroll, and its button is on screen."""
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, box
    overflow = dialog.evaluate("d => d.scrollWidth - d.clientWidth")
    assert overflow <= 0, f"the dialog scrolls sideways by {overflow}px"
    target = button.bounding_box()
    assert target is not None
    assert target["y"] >= 0 and target["y"] + target["height"] <= PHONE["height"], target
    assert target["height"] >= 44, "a thumb-sized button"


def test_a_grid_worker_verifies_on_a_phone_in_a_dialog_that_fits(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC), zone="phone-verify")
    worker = open_console("school_worker", viewport=PHONE)
    worker.login("school_worker")
    page = worker.page
    worker.open(f"#/events/{event['id']}")
    page.locator(".actions-panel button[data-action=confirm]").click()
    dialog = page.locator("dialog.action-dialog[data-action=confirm]")
    dialog.locator("textarea[name=note]").fill("到场核实：确有人员翻越")
    dialog.locator("input[type=file]").set_input_files(
        files=[{"name": "site.jpg", "mimeType": "image/jpeg", "buffer": scene_jpeg(480, 640)}]
    )
    dialog.locator(".photo-previews img").wait_for()
    send = dialog.locator("button[data-action=confirm]")
    assert_fits_the_phone(page, dialog, send)
    worker.screenshot("grid-worker-verify-dialog-phone")
    send.click()
    page.wait_for_selector('.event-head .badge-status[data-status="confirmed"]')
    detail = api_as(console_server, "school_worker").get(f"/api/v1/events/{event['id']}").json()
    assert detail["history"][-1]["note"] == "到场核实：确有人员翻越"
    assert len(detail["attachments"]) == 1


def test_a_handler_sends_back_and_reports_done_on_a_phone(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    events = [
        post_incident(console_server, detected_at=datetime.now(UTC), zone=f"phone-handler-{n}")
        for n in range(2)
    ]
    dispatch_to_education(console_server, *(event["id"] for event in events))
    back, done = events
    handler = open_console("education_handler", viewport=PHONE)
    handler.login("education_handler")
    page = handler.page

    handler.open(f"#/events/{back['id']}")
    page.locator(".actions-panel button[data-action=send_back]").click()
    dialog = page.locator("dialog.action-dialog[data-action=send_back]")
    dialog.locator("textarea[name=note]").fill("非本部门事项")
    send = dialog.locator("button[data-action=send_back]")
    assert_fits_the_phone(page, dialog, send)
    handler.screenshot("handler-send-back-dialog-phone")
    send.click()
    page.wait_for_selector('.event-head .badge-status[data-status="confirmed"]')

    handler.open(f"#/events/{done['id']}")
    page.locator(".actions-panel button[data-action=accept]").click()
    page.locator("dialog.action-dialog[data-action=accept] button[data-action=accept]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="handling"]')
    page.locator(".actions-panel button[data-action=resolve]").click()
    dialog = page.locator("dialog.action-dialog[data-action=resolve]")
    dialog.locator("textarea[name=note]").fill("已加装护栏")
    dialog.locator("input[type=file]").set_input_files(
        files=[{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": scene_jpeg(480, 640)}]
    )
    dialog.locator(".photo-previews img").wait_for()
    send = dialog.locator("button[data-action=resolve]")
    assert_fits_the_phone(page, dialog, send)
    handler.screenshot("handler-done-dialog-phone")
    send.click()
    page.wait_for_selector('.event-head .badge-status[data-status="resolved"]')


def test_the_keyboard_reaches_the_first_alerts_dispatch_in_a_handful_of_keys(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC), zone="keyboard")
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    first = page.locator(".event-card").first
    page.locator(f'.event-card[data-event-id="{event["id"]}"]').wait_for()
    assert first.get_attribute("data-event-id") == str(event["id"])
    page.reload()  # the keyboard starts from the top of a page just opened
    first.wait_for()

    # Tab to the skip link, Enter, then Tab through the card to its dispatch button.
    keys = ["Tab", "Enter"]
    for key in keys:
        page.keyboard.press(key)
    assert page.evaluate("document.activeElement.dataset.eventId") == str(event["id"])
    while page.evaluate("document.activeElement.dataset.action") != "dispatch":
        page.keyboard.press("Tab")
        keys.append("Tab")
        assert len(keys) <= 8, f"not reached in {len(keys)} keys"
    assert page.evaluate("document.activeElement.closest('.event-card').dataset.eventId") == str(
        event["id"]
    )
    page.keyboard.press("Enter")
    page.locator("dialog.action-dialog[data-action=dispatch]").wait_for()
    page.keyboard.press("Escape")
    page.locator("dialog.action-dialog").wait_for(state="detached")

    # Or by its shortcut: skip link, then d (the card's main action).
    page.reload()
    first.wait_for()
    for key in ("Tab", "Enter", "d"):
        page.keyboard.press(key)
    page.locator("dialog.action-dialog[data-action=dispatch]").wait_for()
