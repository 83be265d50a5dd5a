"""The console speaks its reader's language, Chinese by default, in what it shows of the API's
errors (validation errors, every router's refusals, unknown routes) and of what the system wrote
(the timeline's lines, object names): in Chromium against the live API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import LiveServer
from tests.console.conftest import WORKER, Console, api_as, post_incident

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")
# An English word: what a Chinese message must not contain once its parameters (ids, codes,
# addresses a person typed) are taken out.
ENGLISH_WORD = re.compile(r"\b[A-Za-z]{3,}\b")

# Failing requests of every kind the console can meet, and the parameters their words carry.
FAILING = [
    {"path": "/api/v1/events/987654"},  # a router's CodedProblem (not found)
    {"path": "/api/v1/events", "query": {"limit": "many"}},  # FastAPI's 422, a query
    {"path": "/api/v1/events", "method": "POST", "json": {"title": "x" * 400}},  # 422, a body
    {"path": "/api/v1/cameras/no-such-camera"},  # another router's
    {"path": "/api/v1/users"},  # a role's refusal
    {"path": "/api/v1/no-such-route"},  # Starlette's own 404
    {"path": "/api/v1/auth/password", "method": "POST", "json": {"current_password": "nope",
                                                                  "new_password": "short"}},
]  # fmt: skip
WORD_ERRORS = """async (requests) => {
  const { api } = await import("/console/static/js/api.js");
  const words = [];
  for (const { path, ...options } of requests) {
    try {
      await api(path, options);
      words.push(null);
    } catch (err) {
      words.push(err.message);
    }
  }
  return words;
}"""


def english_words(text: str) -> list[str]:
    """The English words of `text`, ids and codes (anything with a digit in it) aside."""
    return ENGLISH_WORD.findall(re.sub(r"[\w-]*\d[\w-]*", " ", text))


def test_every_kind_of_api_error_is_worded_in_the_readers_language(
    open_console: Callable[..., Console],
) -> None:
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    chinese = page.evaluate(WORD_ERRORS, FAILING)
    for request, words in zip(FAILING, chinese, strict=True):
        assert words and CJK.search(words), (request, words)
        assert not english_words(words.replace("no-such-camera", "")), (request, words)
    assert "事件概述：最多 300 个字符" in chinese[2]
    assert "每页条数：须为整数" in chinese[1]
    assert "新密码：至少 10 个字符" in chinese[6]

    page.click(".lang-switch button[data-lang=en]")
    page.wait_for_selector("header.topbar")
    english = page.evaluate(WORD_ERRORS, FAILING)
    for request, words in zip(FAILING, english, strict=True):
        assert words and not CJK.search(words), (request, words)
    assert "summary: at most 300 characters" in english[2]


def test_a_validation_error_in_a_dialog_and_the_timeline_are_chinese(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC))
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    operator.open(f"#/events/{event['id']}")
    page.wait_for_selector(".event-page .timeline")
    # What the system wrote: the report line and the object, in Chinese.
    report = page.locator(".timeline .step-report .step-note").inner_text()
    assert report.startswith("摄像头「") and "区域识别上报" in report, report
    assert "人" in page.locator(".event-page").inner_text()
    for note in page.locator(".timeline .step-note[data-worded]").all_inner_texts():
        # Names quoted 「」 are the district's data (camera and zone), not words of the console.
        assert not english_words(re.sub(r"「[^」]*」", "", note)), note

    # A note longer than the API takes (the textarea's own limit set aside): the API's 422
    # comes back in words, naming the field.
    page.locator(".actions-panel button[data-action=reject]").click()
    dialog = page.locator("dialog.action-dialog[data-action=reject]")
    note = dialog.locator("textarea[name=note]")
    note.evaluate("area => { area.removeAttribute('maxlength'); area.value = '误'.repeat(5001) }")
    dialog.locator("button[data-action=reject]").click()
    error = dialog.locator(".form-error")
    error.wait_for()
    page.wait_for_function("(el) => el.textContent.length > 0", arg=error.element_handle())
    assert error.inner_text() == "提交的内容有误：说明：最多 5000 个字符", error.inner_text()
    operator.screenshot("operator-validation-error-zh-desktop")


def test_a_camera_files_own_check_and_a_video_loss_are_worded_in_chinese(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    admin = open_console("admin")
    admin.login("admin")
    page = admin.page
    rule = {"kind": "intrusion", "zone": "nowhere", "classes": ["person"]}
    patch = {
        "path": "/api/v1/cameras/school-no1-gate",
        "method": "PATCH",
        "json": {"rules": [rule]},
    }
    (words,) = page.evaluate(WORD_ERRORS, [patch])
    assert words == "提交的内容有误：规则 › #1 › 区域：区域「nowhere」不存在（已有区域：gate_path）"

    # A camera dark for five minutes: its video-loss event says why in Chinese, from the code.
    lost = datetime.now(UTC) - timedelta(minutes=5)
    report = {
        "status": "offline",
        "offline_since": lost.isoformat(),
        "reason": "unreachable",
        "error": "connection refused by 10.0.0.7:554 (nothing listens on that port)",
    }
    health = f"{console_server.url}/api/v1/cameras/school-no1-gate/health"
    assert httpx.put(health, json=report, headers=WORKER).status_code == 204
    with api_as(console_server, "admin") as api:
        events = api.get("/api/v1/events", params={"category": "device_fault"}).json()["items"]
    (event,) = [item for item in events if item["camera_id"] == "school-no1-gate"]
    admin.open(f"#/events/{event['id']}")
    page.wait_for_selector(".event-page .timeline")
    assert page.locator(".event-title").inner_text().startswith("视频中断 — ")
    step = page.locator(".timeline .step-report .step-note").inner_text()
    assert step == "摄像头视频中断：无法连接摄像头（主机不可达、端口未开放或无应答）", step
    assert "无法连接摄像头" in page.locator(".event-page").inner_text()
    admin.screenshot("admin-video-loss-event-zh-desktop")
    httpx.put(health, json={"status": "online"}, headers=WORKER)
