"""Sessions at work, in Chromium against the live API with access tokens that last eight seconds:
the console renews them without a word; when one runs out anyway (renewal refused here) the
person logs in again over the page, and nothing they typed is lost (a dispatch note, a report
with its photo, kept as a draft through a reload); a session that ended says so on the login page
and returns them where they were; no token ever shows in an address, the browser console or the
server's log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer, seed_accounts
from tests.console.conftest import PHONE, Console, api_as, console_settings, scene_jpeg
from tests.console.test_work_lists import hotline_case

pytestmark = pytest.mark.browser

LIFETIME_S = 8.0


class ServerLog(logging.Handler):
    """Every line the server process logs (uvicorn's access log included), as written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


SERVER_LOG = ServerLog()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The console's API over SQLite, with access tokens that last eight seconds, its access
    log on and every log line kept in SERVER_LOG."""
    settings = console_settings(
        tmp_path_factory.mktemp("short-sessions"), access_token_minutes=LIFETIME_S / 60
    )
    server = LiveServer(settings).start()
    # uvicorn's request lines: HTTP on uvicorn.access, WebSocket handshakes on uvicorn.error.
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(SERVER_LOG)
    logging.getLogger().addHandler(SERVER_LOG)
    seed_accounts(server.app)
    yield server
    server.stop()
    logging.getLogger().removeHandler(SERVER_LOG)
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(SERVER_LOG)
        logger.setLevel(level)


class TokenWatch:
    """Every access token the page was given, and everything it put in an address or logged."""

    def __init__(self, page: Any):
        self.tokens: list[str] = []
        self.addresses: list[str] = []
        self.console: list[str] = []
        page.on("request", lambda request: self.addresses.append(request.url))
        page.on("websocket", lambda socket: self.addresses.append(socket.url))
        page.on("console", lambda message: self.console.append(message.text))
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.url.endswith(("/api/v1/auth/token", "/api/v1/auth/refresh")) and response.ok:
            self.tokens.append(json.loads(response.body())["access_token"])

    def assert_never_shown(self) -> None:
        """No token in an address the page asked for, its console or the server's log."""
        assert self.tokens
        assert any("/api/v1/auth/token" in line for line in SERVER_LOG.lines), "no access log"
        for token in self.tokens:
            for text in self.addresses + self.console + SERVER_LOG.lines:
                assert token not in text, f"an access token shows in {text[:80]}..."


def refuse_renewal(page: Any) -> None:
    """Renewal answers as for a token that already ran out (a phone asleep past its expiry)."""
    page.route(
        "**/api/v1/auth/refresh",
        lambda route: route.fulfill(
            status=401, content_type="application/json", body='{"detail": "expired"}'
        ),
    )


def relogin(page: Any, username: str | None = None) -> None:
    dialog = page.locator("dialog.relogin-dialog")
    dialog.wait_for(timeout=(LIFETIME_S + 10) * 1000)
    if username is not None:
        dialog.locator("input[name=username]").fill(username)
    dialog.locator("input[name=password]").fill(PASSWORD)
    dialog.locator("button[type=submit]").click()
    dialog.wait_for(state="detached")


def on_a_case_page(
    open_console: Callable[..., Console],
    server: LiveServer,
    number: int,
    before_login: Callable[[Any], object] | None = None,
) -> tuple[dict[str, Any], Console, TokenWatch]:
    """A hotline case (`number`) and the district operator logged in on its page, the tab's
    tokens watched; `before_login(page)` runs before the login (a route to set up first).
    Returns the case, the operator's console and the watch."""
    case = hotline_case(api_as(server, "district_operator"), number)
    operator = open_console("district_operator")
    watch = TokenWatch(operator.page)
    if before_login is not None:
        before_login(operator.page)
    operator.login("district_operator")
    operator.open(f"#/events/{case['id']}")
    operator.page.wait_for_selector(".event-page")
    return case, operator, watch


def start_a_dispatch(
    open_console: Callable[..., Console], server: LiveServer, number: int, note: str
) -> tuple[dict[str, Any], Console, TokenWatch, Any]:
    """A confirmed hotline case (`number`) and the operator's dispatch dialog open over its page,
    with `note` typed and the urban-management bureau chosen; returns the case, the operator's
    console, the watch on its tokens and the dialog."""
    operator_api = api_as(server, "district_operator")
    case = hotline_case(operator_api, number)
    assert operator_api.post(f"/api/v1/events/{case['id']}/actions/confirm").status_code == 200
    operator = open_console("district_operator")
    watch = TokenWatch(operator.page)
    operator.login("district_operator")
    operator.open(f"#/events/{case['id']}")
    operator.page.locator(".actions-panel button[data-action=dispatch]").click()
    panel = operator.page.locator("dialog.action-dialog[data-action=dispatch]")
    panel.locator("textarea[name=note]").fill(note)
    panel.locator("select[name=department_id]").select_option("urban-management-bureau")
    return case, operator, watch, panel


def test_a_dispatch_note_outlives_the_token(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    case, operator, watch, panel = start_a_dispatch(
        open_console, console_server, 1, "城管执法队，请尽快到场"
    )
    page = operator.page

    # Renewed without a word: past two lifetimes, still live, no login asked for.
    page.wait_for_timeout(LIFETIME_S * 2.2 * 1000)
    assert page.locator("dialog.relogin-dialog").count() == 0
    assert page.locator(".live-indicator.live-live").count() == 1
    assert len(watch.tokens) >= 3

    # Renewal refused: the token runs out, the page says it is not live and asks for the
    # password over the page, where the note still is.
    refuse_renewal(page)
    page.locator("dialog.relogin-dialog").wait_for(timeout=(LIFETIME_S + 10) * 1000)
    assert page.locator(".live-indicator.live-live").count() == 0
    assert page.locator("dialog.relogin-dialog input[name=username]").input_value() == (
        "district_operator"
    )
    operator.screenshot("session-expired-relogin-desktop")
    page.unroute("**/api/v1/auth/refresh")
    relogin(page)
    page.wait_for_selector(".live-indicator.live-live")
    assert panel.locator("textarea[name=note]").input_value() == "城管执法队，请尽快到场"
    panel.locator("button[data-action=dispatch]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="dispatched"]')
    detail = api_as(console_server, "district_operator").get(f"/api/v1/events/{case['id']}")
    step = detail.json()["history"][-1]
    assert (step["action"], step["note"]) == ("dispatch", "城管执法队，请尽快到场")
    assert detail.json()["department_id"] == "urban-management-bureau"
    watch.assert_never_shown()


def test_an_open_dispatch_dialog_and_its_note_outlive_a_reload_and_a_lapsed_login(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    case, operator, watch, panel = start_a_dispatch(
        open_console, console_server, 3, "占道经营，请城管到场"
    )
    page = operator.page
    page.wait_for_timeout(300)  # the draft is written as the person types

    # A reload opens the dialog again, over the same event, with what was typed.
    page.reload()
    panel.wait_for()
    panel.locator(".draft-restored").wait_for()
    assert panel.locator("textarea[name=note]").input_value() == "占道经营，请城管到场"
    page.wait_for_function(
        "() => document.querySelector('dialog.action-dialog select[name=department_id]')"
        ".value === 'urban-management-bureau'"
    )

    # The login runs out and the page is reloaded over the login dialog: after logging in
    # again the dialog is back where it was.
    refuse_renewal(page)
    page.locator("dialog.relogin-dialog").wait_for(timeout=(LIFETIME_S + 10) * 1000)
    page.unroute("**/api/v1/auth/refresh")
    page.reload()
    relogin(page, "district_operator")
    panel.wait_for()
    assert page.evaluate("location.hash") == f"#/events/{case['id']}"
    assert panel.locator("textarea[name=note]").input_value() == "占道经营，请城管到场"
    operator.screenshot("operator-dispatch-dialog-restored-desktop")
    panel.locator("button[data-action=dispatch]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="dispatched"]')
    detail = api_as(console_server, "district_operator").get(f"/api/v1/events/{case['id']}")
    step = detail.json()["history"][-1]
    assert (step["action"], step["note"]) == ("dispatch", "占道经营，请城管到场")
    assert detail.json()["department_id"] == "urban-management-bureau"

    # Sent: neither the dialog nor its draft comes back.
    page.reload()
    page.wait_for_selector('.event-head .badge-status[data-status="dispatched"]')
    page.wait_for_timeout(500)
    assert page.locator("dialog.action-dialog").count() == 0
    watch.assert_never_shown()


def test_a_report_and_its_photo_outlive_the_token_and_a_reload(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    worker = open_console("school_worker", viewport=PHONE)
    watch = TokenWatch(worker.page)
    worker.login("school_worker")
    page = worker.page
    page.click("nav.menu a[data-menu=report]")
    page.wait_for_selector(".report-map .leaflet-overlay-pane path")
    page.fill("input[name=title]", "井盖缺失，有行人绊倒风险")
    page.fill("textarea[name=description]", "校门东侧人行道")
    box = page.locator(".report-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    photo = scene_jpeg(480, 640, caption="manhole")
    page.set_input_files(
        "form.report-form input[type=file]",
        files=[{"name": "manhole.jpg", "mimeType": "image/jpeg", "buffer": photo}],
    )
    page.locator(".photo-previews img").wait_for()
    lat = page.input_value("input[name=lat]")

    # The token runs out while the phone is in a pocket, and the page is reloaded.
    refuse_renewal(page)
    page.locator("dialog.relogin-dialog").wait_for(timeout=(LIFETIME_S + 10) * 1000)
    page.unroute("**/api/v1/auth/refresh")
    page.reload()
    relogin(page, "school_worker")
    page.wait_for_selector(".draft-restored:not([hidden])")
    assert page.evaluate("location.hash") == "#/report"
    assert page.input_value("input[name=title]") == "井盖缺失，有行人绊倒风险"
    assert page.input_value("textarea[name=description]") == "校门东侧人行道"
    assert page.input_value("input[name=lat]") == lat
    page.wait_for_function(
        "() => document.querySelector('form.report-form input[type=file]').files.length === 1"
    )
    page.locator(".photo-previews img").wait_for()
    worker.screenshot("grid-worker-report-draft-restored-phone", full_page=True)
    page.click("form.report-form button[type=submit]")
    page.wait_for_selector(".event-page .timeline .step-comment .photos img")
    event_id = int(page.locator(".event-page").get_attribute("data-event-id") or 0)
    detail = api_as(console_server, "school_worker").get(f"/api/v1/events/{event_id}").json()
    assert detail["title"] == "井盖缺失，有行人绊倒风险"
    [attachment] = detail["attachments"]
    picture = api_as(console_server, "school_worker").get(attachment["url"])
    assert picture.content == photo
    # Sent: the draft is gone.
    page.click("nav.menu a[data-menu=report]")
    page.wait_for_selector("form.report-form")
    page.wait_for_timeout(500)
    assert page.input_value("input[name=title]") == ""
    assert page.locator(".draft-restored").is_hidden()
    watch.assert_never_shown()


def test_a_session_that_ended_says_so_and_returns_where_it_was(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    case, operator, watch = on_a_case_page(open_console, console_server, 2)
    page = operator.page
    refuse_renewal(page)
    dialog = page.locator("dialog.relogin-dialog")
    dialog.wait_for(timeout=(LIFETIME_S + 10) * 1000)
    dialog.locator("button.logout").click()
    notice = page.locator(".login-page .session-notice")
    assert notice.inner_text() == "登录已过期，请重新登录。"
    operator.screenshot("session-expired-login-desktop")
    page.unroute("**/api/v1/auth/refresh")
    page.fill("input[name=username]", "district_operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login-form button[type=submit]")
    page.wait_for_selector(f'.event-page[data-event-id="{case["id"]}"]')
    assert page.evaluate("location.hash") == f"#/events/{case['id']}"

    page.click("header button.logout")
    assert page.locator(".login-page .session-notice").inner_text() == "您已退出登录。"
    watch.assert_never_shown()


def test_a_renewal_lost_to_the_network_is_tried_again_before_the_token_runs_out(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    lost: list[str] = []

    def lose_the_first(route: Any) -> None:
        if not lost:
            lost.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    case, operator, watch = on_a_case_page(
        open_console,
        console_server,
        4,
        before_login=lambda page: page.route("**/api/v1/auth/refresh", lose_the_first),
    )
    page = operator.page
    # The first renewal (half the token's life in) is lost; the next comes within half of what
    # was left, not ten seconds later when the token has long run out.
    page.wait_for_timeout(LIFETIME_S * 1.5 * 1000)
    assert lost, "no renewal was sent"
    assert page.locator("dialog.relogin-dialog").count() == 0
    assert len(watch.tokens) >= 2  # the login's, and a renewal's
    operator.open(f"#/events/{case['id']}")
    page.wait_for_selector(".event-page")
    assert page.locator("dialog.relogin-dialog").count() == 0
    watch.assert_never_shown()
    # The browser logs the lost request; nothing else went wrong.
    assert [p for p in operator.problems if "ERR_CONNECTION_RESET" in p] == [
        "console error: Failed to load resource: net::ERR_CONNECTION_RESET"
    ]
    operator.problems.remove("console error: Failed to load resource: net::ERR_CONNECTION_RESET")
