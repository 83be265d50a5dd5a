"""One situation, one item in the browser: repeats raise the count on the wall card, and the
event page lists every occurrence with its picture."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import PHONE, Console, post_incident

pytestmark = pytest.mark.browser


def test_repeats_of_a_situation_count_on_one_wall_card(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    page.wait_for_selector(".wall .notice, .wall .event-card")
    now = datetime.now(UTC)

    first = post_incident(console_server, detected_at=now, track_id=3)
    card = page.locator(f'.event-card[data-event-id="{first["id"]}"]')
    card.wait_for()
    assert card.locator(".situation .occurrences").inner_text() == "共 1 次"
    assert card.locator(".situation .badge-ended").inner_text() == "已结束"

    # The same camera, rule and zone a minute later, still going on: the card counts it.
    second = post_incident(
        console_server, detected_at=now + timedelta(minutes=1), track_id=4, ongoing=True
    )
    assert second["id"] == first["id"]
    page.wait_for_function(
        "id => document.querySelector(`.event-card[data-event-id='${id}'] .occurrences`)"
        "?.textContent === '共 2 次'",
        arg=str(first["id"]),
    )
    assert page.locator(".event-card").count() == 1
    assert card.locator(".situation .badge-ongoing").inner_text() == "进行中"
    operator.screenshot("operator-wall-situation")

    operator.open(f"#/events/{first['id']}")
    items = page.locator(".occurrences .occurrence")
    items.first.wait_for()
    assert items.count() == 2
    assert "#4" in items.first.inner_text()  # newest first
    thumb = items.first.locator("img.thumb")
    page.wait_for_function("img => img.naturalWidth > 0", arg=thumb.element_handle())
    assert page.locator(".event-head .situation .badge-ongoing").inner_text() == "进行中"
    # What the system wrote is said in the reader's language.
    assert page.locator(".facts.incident").inner_text().count("人 · ") == 1
    report_step = page.locator(".timeline .step-report .step-note").inner_text()
    assert report_step == "摄像头「No.1 Primary School, main gate path」在「gate_path」区域识别上报"
    repeat = page.locator(".timeline .step-occurrence")
    assert repeat.locator(".step-action").inner_text() == "再次发生"
    assert repeat.locator(".step-note").inner_text().startswith("已再次发生 2 次")

    # The figures count the item once and both of its occurrences apart.
    operator.open("#/stats")
    page.wait_for_selector(".kpis .ring")

    def figure(name: str) -> str:
        kpi = page.locator(".kpi", has=page.get_by_text(name, exact=True))
        return str(kpi.locator(".kpi-value").inner_text())

    assert (figure("事件总数"), figure("发生次数")) == ("1", "2")
    operator.open("#/evaluation")
    page.wait_for_selector(".evaluation-table tbody tr")
    heads = page.locator(".evaluation-table thead th").all_inner_texts()
    totals = page.locator(".evaluation-table tfoot").locator("th, td").all_inner_texts()
    total = dict(zip(heads, totals, strict=True))
    assert (total["上报数"], total["发生次数"]) == ("1", "2")

    # The grid worker's phone list explains the routing by the departments' names.
    worker = open_console("school_worker", viewport=PHONE)
    worker.login("school_worker")
    note = worker.page.locator(f'.event-card[data-event-id="{first["id"]}"] .routing-note')
    note.wait_for()
    assert "education-bureau" not in note.inner_text()


def test_ongoing_ends_on_the_wall_by_its_own_clock(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    page.wait_for_selector(".wall .notice, .wall .event-card")
    # Last seen going on 100 s ago: ongoing for the 20 s left of its quiet period, then not,
    # with no message arriving in between.
    seen = datetime.now(UTC) - timedelta(seconds=100)
    event = post_incident(console_server, detected_at=seen, zone="east_yard", ongoing=True)
    assert event["ongoing"] is True
    card = page.locator(f'.event-card[data-event-id="{event["id"]}"]')
    card.wait_for()
    assert card.locator(".situation .badge-ongoing").inner_text() == "进行中"
    card.locator(".situation .badge-ended").wait_for(timeout=60_000)
    assert card.locator(".situation .badge-ended").inner_text() == "已结束"
    assert card.locator(".situation.is-ongoing").count() == 0
