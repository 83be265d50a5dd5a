"""The evidence access log in a real browser: an administrator reads who looked at what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console, api_as, post_incident

pytestmark = pytest.mark.browser


def test_an_admin_reads_the_evidence_access_log(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(console_server, detected_at=datetime.now(UTC))
    with api_as(console_server, "west_operator") as operator:
        snapshot = operator.get(f"/api/v1/incidents/{event['incident']['id']}/snapshot.jpg")
        assert snapshot.status_code == 200

    admin = open_console("admin")
    admin.login("admin")
    assert admin.menu()[-1] == "access-log"
    admin.page.click('nav.menu a[data-menu="access-log"]')
    row = admin.page.locator(
        '.access-table tbody tr[data-kind="snapshot"]', has_text="user:west_operator"
    )
    row.first.wait_for()
    text = row.first.inner_text()
    assert "抓拍" in text and "查看" in text and "127.0.0.1" in text
    assert f"#{event['id']}" in text
    admin.screenshot("access-log")
    # Filtering by kind asks the API again: no clip was viewed.
    admin.page.select_option("select[name=object_kind]", "clip")
    admin.page.wait_for_selector(".access-body .notice")

    # An operator has no such page.
    other = open_console("west_operator")
    other.login("west_operator")
    assert "access-log" not in other.menu()
