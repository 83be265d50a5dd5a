""" "Do not raise this again" from the browser: an operator rejects a camera's alert on its event
page with a suppression, the same false alarm then raises nothing, and evaluation shows it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import LiveServer
from tests.console.conftest import Console, api_as, post_incident

pytestmark = pytest.mark.browser


def test_operator_rejects_with_do_not_raise_this_again_from_the_event_page(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    now = datetime.now(UTC)
    event = post_incident(console_server, detected_at=now, object_class="person")
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page

    operator.open(f"#/events/{event['id']}")
    page.locator(".actions-panel button[data-action=reject]").click()
    form = page.locator("dialog.action-dialog[data-action=reject] form.action-form")
    form.wait_for()
    choice = form.locator("fieldset.suppress-choice")
    assert choice.inner_text().startswith("不再提示此类告警")
    assert form.locator(".suppress-details").is_hidden()
    choice.locator("input[name=suppress]").check()
    assert form.locator(".suppress-details").is_visible()
    form.locator("select[name=suppress_days]").select_option("7")
    form.locator("textarea[name=note]").fill("围栏上的人像海报")
    operator.screenshot("operator-reject-do-not-raise-again")
    form.locator("button[data-action=reject]").click()

    made = page.locator(".timeline .step-reject .step-suppression")
    made.wait_for()
    suppression_id = made.get_attribute("data-suppression-id")
    assert made.inner_text() == f"已创建屏蔽规则 #{suppression_id}"
    with api_as(console_server, "admin") as admin:
        suppression = admin.get(f"/api/v1/suppressions/{suppression_id}").json()
        assert suppression["grid_event_id"] == event["id"]
        assert suppression["object_class"] == "person" and suppression["active"] is True
        expires = datetime.fromisoformat(suppression["expires_at"])
        assert timedelta(days=6) < expires - now < timedelta(days=8)

        # The same false alarm a minute later: stored and counted, no event, no alert.
        again = post_incident(console_server, detected_at=now + timedelta(minutes=1))
        assert again["suppressed"] is True and again["suppression_id"] == int(suppression_id)
        assert admin.get(f"/api/v1/suppressions/{suppression_id}").json()["suppressed_count"] == 1

    operator.open("#/evaluation")
    row = page.locator(".sources-table tbody tr[data-camera-id=school-no1-gate]").first
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[1:6] == ["区域入侵", "gate_path", "人", "1", "1"]  # the object in Chinese
    assert row.locator("svg.mask-picture polygon").count() == 1
    # The operator sees what is held back, and may not remove it.
    listed = page.locator(f'.suppressions-table tr[data-suppression-id="{suppression_id}"]')
    listed.wait_for()
    cells = listed.locator("td").all_inner_texts()
    assert cells[:4] == ["No.1 Primary School, main gate path", "区域入侵", "gate_path", "人"]
    assert listed.locator("button.remove-suppression").count() == 0
    operator.screenshot("operator-evaluation-false-alarm-sources")

    # The camera's owner lists it beside their cameras and removes it: the camera raises that
    # alert again.
    owner = open_console("school_owner")
    owner.login("school_owner")
    mine = owner.page.locator(f'.suppressions-table tr[data-suppression-id="{suppression_id}"]')
    mine.wait_for()
    assert mine.locator("td").nth(6).inner_text() == "1"  # held back
    owner.page.once("dialog", lambda dialog: dialog.accept())
    mine.locator("button.remove-suppression").click()
    owner.page.locator(".suppressions .notice").wait_for()
    with api_as(console_server, "admin") as admin:
        assert admin.get(f"/api/v1/suppressions/{suppression_id}").status_code == 404
    back = post_incident(console_server, detected_at=now + timedelta(minutes=2))
    assert "suppressed" not in back and back["id"] != event["id"]
    owner.screenshot("owner-suppressions")
