"""The lists people work from, in Chromium against the live API: the grid worker's phone list
(tabs, every task reachable page by page, the task assigned to them standing out, held still
under the thumb and never fetched again per live message), the handler's send back (退回),
reassign (改派) and done list (已办), and the camera owner's view of their cameras (why one is
off the air; zones drawn on the freshest picture, its age shown)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from contract.live_view import CAPTURED_AT_HEADER
from tests.conftest import LiveServer
from tests.console.conftest import (
    PHONE,
    WORKER,
    Console,
    api_as,
    dispatch_to_education,
    post_incident,
    scene_jpeg,
)

pytestmark = pytest.mark.browser

SCHOOL = {"lat": 30.2550, "lon": 120.1200}  # inside the school worker's cell


def hotline_case(client: httpx.Client, n: int, **overrides: Any) -> dict[str, Any]:
    """A 12345 hotline case at the school, as the command center enters it."""
    body = {
        "source": "hotline_12345",
        "category": "urban_management",
        "title": f"12345 来电：校门口垃圾堆放 #{n}",
        "location": {"lat": SCHOOL["lat"] + n * 1e-5, "lon": SCHOOL["lon"]},
        "address": f"学校东门 {n} 号",
        **overrides,
    }
    response = client.post("/api/v1/events", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def list_requests(log: list[str]) -> list[str]:
    """The requests for an event list (/api/v1/events?...) in a log of request URLs."""
    return [url for url in log if urlsplit(url).path == "/api/v1/events"]


def test_the_phone_list_holds_still_and_is_not_fetched_again_per_message(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = api_as(console_server, "district_operator")
    cases = [hotline_case(operator, n) for n in range(45)]
    worker = open_console("school_worker", viewport=PHONE)
    requests: list[str] = []
    worker.page.on("request", lambda request: requests.append(request.url))
    worker.login("school_worker")
    page = worker.page
    assert worker.menu() == ["tasks", "report"]
    page.wait_for_selector(".list-tasks .event-card")
    tabs = page.locator(".list-tabs button")
    tabs.nth(2).wait_for()
    assert tabs.all_inner_texts()[0].startswith("待核实")
    assert [text[:3] for text in tabs.all_inner_texts()] == ["待核实", "待核查", "待处置"]
    assert page.locator(".list-tabs button[data-tab=verify] .tab-count").inner_text() == "45"

    # Every task is reachable: page after page, not a cap.
    cards = page.locator(".list-tasks .event-card")
    assert cards.count() == 30
    page.click(".load-more")
    page.wait_for_function(
        "() => document.querySelectorAll('.list-tasks .event-card').length === 45"
    )
    assert page.locator(".load-more").is_hidden()
    shown = {int(card.get_attribute("data-event-id") or 0) for card in cards.all()}
    assert shown == {case["id"] for case in cases}

    # The reader holds a card in the middle of the list.
    held = cards.nth(12)
    held.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -200)")
    page.wait_for_timeout(300)
    before = held.bounding_box()
    assert before is not None and 0 < before["y"] < PHONE["height"]
    held_id = int(held.get_attribute("data-event-id") or 0)
    visible_above = int(cards.nth(11).get_attribute("data-event-id") or 0)
    requests.clear()

    # Meanwhile: five new cases, one taken off the tab (confirmed), one assigned to this worker.
    news = [hotline_case(operator, 100 + n) for n in range(5)]
    gone = operator.post(f"/api/v1/events/{visible_above}/actions/confirm", data={"note": "属实"})
    assert gone.status_code == 200, gone.text
    worker_id = int(api_as(console_server, "school_worker").get("/api/v1/auth/me").json()["id"])
    assigned = operator.post(
        f"/api/v1/events/{held_id}/actions/verify", data={"assignee_id": str(worker_id)}
    )
    assert assigned.status_code == 200, assigned.text

    banner = page.locator(".new-items")
    page.wait_for_function(
        "() => document.querySelector('.new-items')?.textContent.startsWith('新到 5 条')"
    )
    page.locator(f'.event-card.is-left[data-event-id="{visible_above}"]').wait_for()
    page.locator(f'.event-card.assigned-to-me[data-event-id="{held_id}"]').wait_for()
    page.wait_for_timeout(500)
    after = page.locator(f'.event-card[data-event-id="{held_id}"]').bounding_box()
    assert after is not None
    assert abs(after["y"] - before["y"]) <= 2, (before, after)
    assert cards.count() == 45  # nothing inserted or removed under the thumb
    assert list_requests(requests) == [], "the list was fetched again for a live message"
    assert page.locator(".list-tabs button[data-tab=verify] .tab-count").inner_text() == "49"
    assert page.locator(".list-tabs button[data-tab=handle] .tab-count").inner_text() == "1"
    worker.screenshot("grid-worker-tasks-held-phone")

    # On request, the news is shown: the new cases in, the confirmed one out, and the task
    # assigned to this worker on top, saying who asked.
    banner.click()
    page.wait_for_function(
        "id => !document.querySelector(`.list-tasks .event-card[data-event-id='${id}']`)",
        arg=visible_above,
    )
    assert banner.is_hidden()
    top = page.locator(".assigned-section .event-card.assigned-to-me")
    assert top.get_attribute("data-event-id") == str(held_id)
    assert "district_operator 指派" in top.locator(".assignment").inner_text()
    assert top.bounding_box()["y"] < cards.first.bounding_box()["y"]  # type: ignore[index]
    worker.screenshot("grid-worker-tasks-phone-assigned")
    page.click(".load-more")
    page.wait_for_function(
        "() => document.querySelector('.load-more').hidden"
        " && document.querySelectorAll('.list-tasks .event-card').length === 48"
    )
    every = {int(card.get_attribute("data-event-id") or 0) for card in cards.all()}
    expected = {case["id"] for case in cases + news} - {visible_above, held_id}
    assert every == expected

    # The other tabs.
    page.click(".list-tabs button[data-tab=handle]")
    page.locator(f'.list-tasks .event-card[data-event-id="{visible_above}"]').wait_for()
    worker.screenshot("grid-worker-tasks-handle-phone")


def test_a_handler_reassigns_and_sends_back_and_finds_both_in_the_done_list(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = api_as(console_server, "district_operator")
    wrong, back = (hotline_case(operator, 200 + n, category="public_safety") for n in range(2))
    dispatch_to_education(console_server, wrong["id"], back["id"])

    handler = open_console("education_handler")
    handler.login("education_handler")
    page = handler.page
    page.locator(".list-tabs button").nth(1).wait_for()  # drawn after the log-in, not with it
    assert [text[:2] for text in page.locator(".list-tabs button").all_inner_texts()] == [
        "待办",
        "已办",
    ]
    page.locator(f'.list-queue .event-card[data-event-id="{wrong["id"]}"]').wait_for()
    handler.screenshot("handler-queue-desktop")

    # What the API refuses is worded in the reader's language, from the error's code.
    refused = page.evaluate(
        """async (id) => {
            const { api } = await import("./static/js/api.js");
            try {
                const form = new FormData();
                await api(`/api/v1/events/${id}/actions/resolve`, { method: "POST", form });
            } catch (err) { return [err.status, err.code, err.detail]; }
        }""",
        wrong["id"],
    )
    assert refused == [
        409,
        "action_state",
        "事件当前为「已派遣」，不能执行「处置完毕」（可能已被他人处理，请刷新）。",
    ]

    page.locator(f'.event-card[data-event-id="{wrong["id"]}"] h3 a').click()
    buttons = page.locator(".actions-panel")
    buttons.locator("button[data-action=reassign]").wait_for()
    assert buttons.locator("button[data-action=send_back]").inner_text() == "退回"
    buttons.locator("button[data-action=reassign]").click()
    panel = page.locator("dialog.action-dialog[data-action=reassign]")
    panel.locator("textarea[name=note]").fill("垃圾堆放属城管职责")
    panel.locator("button[data-action=reassign]").click()
    assert panel.locator(".form-error").inner_text() == "请选择改派到的部门"
    panel.locator("select[name=department_id]").select_option("urban-management-bureau")
    handler.screenshot("handler-reassign-desktop")
    panel.locator("button[data-action=reassign]").click()
    page.wait_for_selector(".timeline .step-reassign")

    handler.open("#/queue")
    page.locator(f'.event-card[data-event-id="{back["id"]}"] h3 a').click()
    buttons.locator("button[data-action=send_back]").click()
    panel = page.locator("dialog.action-dialog[data-action=send_back]")
    panel.locator("textarea[name=note]").fill("非本部门事项，请指挥中心重新派遣")
    panel.locator("button[data-action=send_back]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="confirmed"]')

    handler.open("#/queue")
    page.wait_for_selector(".list-queue")
    page.click(".list-tabs button[data-tab=done]")
    for case in (wrong, back):
        page.locator(f'.list-queue .event-card[data-event-id="{case["id"]}"]').wait_for()
    assert page.locator(".list-queue .event-card").count() == 2
    handler.screenshot("handler-done-desktop")
    # The queue holds the department's own only: what it passed on is not its to do.
    page.click(".list-tabs button[data-tab=todo]")
    page.wait_for_selector(".list-queue[data-tab=todo] .notice:text('本部门暂无待处置事件。')")
    assert page.locator(".list-queue .event-card").count() == 0
    assert page.locator(".list-tabs button[data-tab=todo] .tab-count").inner_text() == "0"

    with api_as(console_server, "urban_handler") as urban:
        moved = urban.get(f"/api/v1/events/{wrong['id']}").json()
    assert (moved["status"], moved["department_id"]) == ("dispatched", "urban-management-bureau")
    assert moved["history"][-1]["note"] == "垃圾堆放属城管职责"


def test_the_camera_owner_sees_why_a_camera_is_off_the_air(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    owner = open_console("school_owner")
    owner.login("school_owner")
    page = owner.page
    row = page.locator('.cameras-table tr[data-camera-id="school-no1-gate"]')
    row.wait_for()
    # Nobody runs it: off the air, and why, not "unknown".
    assert row.get_attribute("data-health") == "offline"
    assert row.locator(".badge-camera").inner_text() == "离线"
    assert row.locator(".status-reason").get_attribute("data-reason") == "unwatched"
    assert "无人值守" in row.locator(".status-reason").inner_text()
    assert "未知" not in page.locator(".owner-cameras").inner_text()
    owner.screenshot("camera-owner-health-unwatched-desktop")

    def leases(capacity: int, release: bool = False) -> None:
        response = httpx.post(
            f"{console_server.url}/api/v1/worker/leases",
            json={"capacity": capacity, "release": release},
            headers=WORKER,
        )
        assert response.status_code == 200, response.text

    leases(4)  # a worker takes every camera, and has not reported yet
    try:
        owner.open("#/my-cameras")
        page.reload()
        reason = page.locator('tr[data-camera-id="school-no1-gate"] .status-reason')
        reason.wait_for()
        assert reason.get_attribute("data-reason") == "awaiting_report"
        assert "edge-1" in reason.inner_text()

        # The worker reports the camera refusing its password: the reason in the reader's
        # words, the worker's own text only as the detail.
        health = f"{console_server.url}/api/v1/cameras/school-no1-gate/health"
        refused = {
            "status": "offline",
            "reason": "auth_failed",
            "error": "user name or password rejected (RTSP 401)",
        }
        assert httpx.put(health, json=refused, headers=WORKER).status_code == 204
        page.reload()
        reason = page.locator('tr[data-camera-id="school-no1-gate"] .status-reason')
        reason.wait_for()
        assert reason.get_attribute("data-reason") == "auth_failed"
        assert reason.locator(".reason-words").inner_text() == "摄像头拒绝了用户名或密码"
        detail = reason.locator(".reason-detail").inner_text()
        assert detail == "详情：user name or password rejected (RTSP 401)"
        owner.screenshot("camera-owner-health-auth-failed-desktop")
    finally:
        httpx.put(
            f"{console_server.url}/api/v1/cameras/school-no1-gate/health",
            json={"status": "online"},
            headers=WORKER,
        )
        leases(0, release=True)


def test_zones_are_drawn_on_the_freshest_picture_and_its_age_is_shown(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    post_incident(console_server, detected_at=datetime.now(UTC) - timedelta(hours=2))
    owner = open_console("school_owner")
    owner.login("school_owner")
    page = owner.page
    owner.open("#/my-cameras/school-no1-gate")
    age = page.locator("[data-testid=picture-age]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=picture-age]')?.dataset.takenAt"
    )
    # No worker watches it: the newest event's picture, said to be two hours old.
    assert "is-old" in (age.get_attribute("class") or "")
    assert age.inner_text().startswith("画面拍摄于 2小时前")
    assert "可能已过时" in age.inner_text()
    owner.screenshot("camera-owner-zones-old-picture-desktop")

    # A worker watches it and sends its picture: zones go on the live one.
    camera = f"{console_server.url}/api/v1/cameras/school-no1-gate"
    assert httpx.put(f"{camera}/health", json={"status": "online"}, headers=WORKER).is_success
    with api_as(console_server, "school_owner") as client:
        assert client.post("/api/v1/cameras/school-no1-gate/live-view").is_success
    sent = httpx.put(
        f"{camera}/live.jpg",
        content=scene_jpeg(caption="live now"),
        headers={
            **WORKER,
            "Content-Type": "image/jpeg",
            CAPTURED_AT_HEADER: datetime.now(UTC).isoformat(),
        },
    )
    assert sent.is_success, sent.text
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=picture-age]')"
        "?.textContent.includes('实时画面')"
    )
    assert "is-old" not in (age.get_attribute("class") or "")
    owner.screenshot("camera-owner-zones-live-picture-desktop")
