"""The department handler's console: their department's queue, and taking an event on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console, dispatch_to_education, post_incident

pytestmark = pytest.mark.browser


def test_handler_takes_on_an_event_dispatched_to_their_department(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC))
    dispatch_to_education(console_server, event["id"])

    handler = open_console("education_handler")
    handler.login("education_handler")
    page = handler.page
    assert handler.menu() == ["queue"]
    card = page.locator(f'.event-card[data-event-id="{event["id"]}"]')
    card.wait_for()
    card.locator("h3 a").click()
    page.locator(".actions-panel button[data-action=accept]").click()
    panel = page.locator("dialog.action-dialog[data-action=accept]")
    panel.locator("textarea[name=note]").fill("教育局已受理，联系学校保卫处")
    panel.locator("button[data-action=accept]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="handling"]')
    assert page.locator(".actions-panel button[data-action=resolve]").is_visible()
    handler.screenshot("handler-event-desktop")
