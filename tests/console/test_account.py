"""A person changes their own password in the console's account menu (issue 13, kind 13): the
tab that changed it stays signed in and live, every other session of the account ends, the
open live alerts of another tab included."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.console.conftest import Console

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a fresh password 7"


@pytest.fixture(scope="module")
def console_server(console_server: LiveServer) -> Iterator[LiveServer]:
    """The console's server (its database and accounts), live sockets re-checked every second."""
    console_server.stop()
    settings = console_server.settings.model_copy(update={"live_recheck_s": 1.0})
    server = LiveServer(settings, port=console_server.port).start()
    yield server
    server.stop()


def test_a_password_changed_in_the_console_ends_every_other_session(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    elsewhere = open_console("school_owner elsewhere")
    elsewhere.login("school_owner")
    here = open_console("school_owner")
    here.login("school_owner")
    page = here.page
    old_token = page.evaluate("sessionStorage.getItem('gridwatch.token')")

    page.click(".account-menu summary")
    form = page.locator(".account-form")
    form.locator("input[name=current]").fill("not the password")
    form.locator("input[name=next]").fill(NEW_PASSWORD)
    form.locator("input[name=again]").fill(NEW_PASSWORD + "!")
    form.locator("button[type=submit]").click()
    assert page.locator(".account-message.error").inner_text() == "两次输入的新密码不一致"

    form.locator("input[name=again]").fill(NEW_PASSWORD)
    form.locator("button[type=submit]").click()
    page.locator(".account-message.error").filter(has_text="当前密码不正确").wait_for()

    form.locator("input[name=current]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.locator(".account-message:not(.error)").filter(has_text="密码已修改").wait_for()
    here.screenshot("account-password-changed")

    # The other tab's live socket is closed by the server, and it is asked to log in again
    # (over the page it was on, which keeps what was typed).
    elsewhere.page.wait_for_selector("form.login-form", timeout=30_000)
    # This tab stays in, live, past several re-checks, on its new token.
    page.wait_for_timeout(3_000)
    assert page.locator("header.topbar").is_visible()
    page.wait_for_selector(".live-indicator.live-live")
    new_token = page.evaluate("sessionStorage.getItem('gridwatch.token')")
    assert new_token != old_token
    me = f"{console_server.url}/api/v1/auth/me"
    assert httpx.get(me, headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert httpx.get(me, headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
    login = {"username": "school_owner", "password": NEW_PASSWORD}
    assert httpx.post(f"{console_server.url}/api/v1/auth/token", data=login).status_code == 200
