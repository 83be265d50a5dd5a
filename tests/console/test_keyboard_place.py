"""A redraw keeps the keyboard's place: when a live update or a reload after the live feed's
gap redraws the card (or page) someone is tabbing through, the focus stays on the same control
of the same event instead of falling back to the page, where the next Tab would start over. In
Chromium against the live API, the live feed cut by routing its WebSocket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console, api_as, dispatch_to_education, post_incident

pytestmark = pytest.mark.browser

LIVE = "**/api/v1/live/ws"


class LiveFeedCutter:
    """Routes the console's live WebSocket through the test, so that it can be cut."""

    def __init__(self, page: Any):
        self.sockets: list[Any] = []
        page.route_web_socket(LIVE, self._route)

    def _route(self, socket: Any) -> None:
        socket.connect_to_server()
        self.sockets.append(socket)

    def cut(self) -> None:
        """Close the page's live socket as a dropped network would; the console reconnects."""
        self.sockets[-1].close(code=4000, reason="cut by the test")


def mark_old(page: Any, selector: str) -> None:
    """Tag the element now shown, so that the test can tell when it has been redrawn."""
    page.locator(selector).evaluate("el => { el.dataset.testOld = 'yes'; }")


def wait_redrawn(page: Any, selector: str) -> None:
    page.wait_for_function(
        "s => { const el = document.querySelector(s); return el && !el.dataset.testOld; }",
        arg=selector,
    )


def focused(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
              const el = document.activeElement;
              const item = el.closest('[data-event-id]');
              return {tag: el.tagName, action: el.dataset.action || null,
                      eventId: item ? item.dataset.eventId : null};
            }"""
        )
    )


@contextmanager
def reload_after_gap(page: Any, cutter: LiveFeedCutter) -> Iterator[None]:
    """Cut the live feed and wait until the page has read the event list again and drawn it."""
    with page.expect_response(lambda r: "/api/v1/events?" in r.url and r.status == 200):
        cutter.cut()
    yield
    page.wait_for_selector(".live-indicator.live-live")


def focus_a_cards_dispatch(page: Any, server: LiveServer, zone: str) -> tuple[dict[str, Any], str]:
    """A new alert on the wall, the keyboard on its card's dispatch button, and the card tagged
    as drawn before; returns the event and the card's selector."""
    event = post_incident(server, detected_at=datetime.now(UTC), zone=zone)
    card = f'.event-card[data-event-id="{event["id"]}"]'
    page.locator(card).wait_for()
    page.locator(f"{card} button[data-action=dispatch]").focus()
    mark_old(page, card)
    return event, card


@pytest.fixture
def operator_on_wall(
    open_console: Callable[..., Console],
) -> Iterator[tuple[Console, LiveFeedCutter]]:
    operator = open_console("district_operator")
    cutter = LiveFeedCutter(operator.page)
    operator.login("district_operator")
    yield operator, cutter


def test_the_wall_keeps_the_keyboard_on_a_card_when_it_reloads_after_the_live_feeds_gap(
    operator_on_wall: tuple[Console, LiveFeedCutter], console_server: LiveServer
) -> None:
    operator, cutter = operator_on_wall
    page = operator.page
    event, card = focus_a_cards_dispatch(page, console_server, "keyboard-gap")

    with reload_after_gap(page, cutter):
        wait_redrawn(page, card)
    assert focused(page) == {"tag": "BUTTON", "action": "dispatch", "eventId": str(event["id"])}
    page.keyboard.press("Enter")  # the keyboard goes on from where it was
    page.locator("dialog.action-dialog[data-action=dispatch]").wait_for()
    assert not operator.problems


def test_the_wall_keeps_the_keyboard_on_a_card_that_a_live_update_redraws(
    operator_on_wall: tuple[Console, LiveFeedCutter], console_server: LiveServer
) -> None:
    operator, _ = operator_on_wall
    page = operator.page
    event, card = focus_a_cards_dispatch(page, console_server, "keyboard-update")

    # The same situation seen again joins the event: the card is redrawn with its count.
    again = post_incident(console_server, detected_at=datetime.now(UTC), zone="keyboard-update")
    assert again["id"] == event["id"]
    wait_redrawn(page, card)
    assert focused(page) == {"tag": "BUTTON", "action": "dispatch", "eventId": str(event["id"])}
    assert not operator.problems


def test_the_event_page_keeps_the_keyboard_on_its_action_when_someone_else_acts(
    operator_on_wall: tuple[Console, LiveFeedCutter], console_server: LiveServer
) -> None:
    operator, _ = operator_on_wall
    page = operator.page
    event = post_incident(console_server, detected_at=datetime.now(UTC), zone="keyboard-page")
    operator.open(f"#/events/{event['id']}")
    button = page.locator(".actions-panel button[data-action=dispatch]")
    button.focus()
    mark_old(page, ".event-page .event-head")

    with api_as(console_server, "district_operator") as colleague:
        response = colleague.post(f"/api/v1/events/{event['id']}/actions/acknowledge")
        assert response.status_code == 200, response.text
    page.locator(".event-page .badge-acknowledged").wait_for()
    wait_redrawn(page, ".event-page .event-head")
    assert focused(page)["action"] == "dispatch"
    assert not operator.problems


def test_a_work_list_keeps_the_keyboard_on_a_card_when_it_reloads_after_the_live_feeds_gap(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC), zone="keyboard-list")
    dispatch_to_education(console_server, event["id"])
    handler = open_console("education_handler")
    cutter = LiveFeedCutter(handler.page)
    handler.login("education_handler")
    page = handler.page
    card = f'.event-card[data-event-id="{event["id"]}"]'
    page.locator(card).first.wait_for()
    page.locator(f"{card} h3.title a").first.focus()
    page.locator(card).first.evaluate("el => { el.dataset.testOld = 'yes'; }")

    with reload_after_gap(page, cutter):
        wait_redrawn(page, card)
    assert focused(page) == {"tag": "A", "action": None, "eventId": str(event["id"])}
    assert not handler.problems
