"""The camera editor's rules, drawn from the API's camera schema: every shipped camera file
round-trips through the editor unchanged in meaning, editing one rule changes only that rule, and
every rule kind the schema has can be added from the picker.

Against the real API in Chromium: what is compared is what the API stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.camera import CameraConfig
from contract.loading import camera_files, load_camera_file
from tests.conftest import REPO, LiveServer
from tests.console.conftest import Console

pytestmark = pytest.mark.browser

CAMERA_FILES = camera_files([REPO / "camera_configs"])
SCHOOL = "school-no1-gate"


def meaning(config: dict[str, Any]) -> dict[str, Any]:
    """A camera configuration with every default filled in, as the worker would run it."""
    return CameraConfig.model_validate(config).model_dump(mode="json", exclude={"source"})


def file_meaning(path: Path) -> dict[str, Any]:
    return load_camera_file(path).model_dump(mode="json", exclude={"source"})


def stored(server: LiveServer, camera_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/cameras/{camera_id}", headers=server.admin_headers())
    assert response.status_code == 200, response.text
    camera = response.json()
    # The detail gives the owner beside the configuration, not inside it.
    owner = {key: camera["organisation"][key] for key in ("id", "name", "kind")}
    return meaning({**camera["config"], "organisation": owner})


def schema_kinds(server: LiveServer) -> list[str]:
    schema = httpx.get(
        f"{server.url}/api/v1/cameras.schema.json", headers=server.admin_headers()
    ).json()
    variants = schema["properties"]["rules"]["items"]["oneOf"]
    names = [variant["$ref"].rsplit("/", 1)[1] for variant in variants]
    return [schema["$defs"][name]["properties"]["kind"]["const"] for name in names]


def open_editor(admin: Console, camera_id: str, rule_count: int) -> Any:
    admin.open(f"#/my-cameras/{camera_id}")
    page = admin.page
    page.wait_for_selector("form.camera-editor .zone-editor")
    page.wait_for_function(
        "n => document.querySelectorAll('fieldset.rule').length === n", arg=rule_count
    )
    return page


def save(page: Any) -> None:
    page.click("button.save-camera")
    page.wait_for_url("**/console/#/my-cameras")


@pytest.fixture
def admin(open_console: Callable[..., Console]) -> Console:
    tab = open_console("admin")
    tab.login("admin")
    return tab


def test_the_schema_lists_every_rule_kind(console_server: LiveServer) -> None:
    assert schema_kinds(console_server) == [
        "intrusion", "loitering", "crowd", "line_crossing", "illegal_parking", "fall", "tamper",
    ]  # fmt: skip


@pytest.mark.parametrize("path", CAMERA_FILES, ids=[path.stem for path in CAMERA_FILES])
def test_a_camera_saved_without_changes_keeps_its_configuration(
    admin: Console, console_server: LiveServer, path: Path
) -> None:
    expected = file_meaning(path)
    camera_id = expected["id"]
    assert stored(console_server, camera_id) == expected
    page = open_editor(admin, camera_id, len(expected["rules"]))
    kinds = page.eval_on_selector_all("fieldset.rule", "rules => rules.map(r => r.dataset.kind)")
    assert kinds == [rule["kind"] for rule in expected["rules"]]
    if camera_id == SCHOOL:
        line_rule = page.locator('fieldset.rule[data-kind="line_crossing"]')
        assert line_rule.locator("select[name=line]").input_value() == "gate_line"
        assert line_rule.locator("select[name=direction]").input_value() == "in"
        line_rule.scroll_into_view_if_needed()
        admin.screenshot("camera-editor-line-crossing")
    save(page)
    assert stored(console_server, camera_id) == expected


@pytest.mark.parametrize("path", CAMERA_FILES, ids=[path.stem for path in CAMERA_FILES])
def test_editing_one_rule_changes_only_that_rule(
    admin: Console, console_server: LiveServer, path: Path
) -> None:
    before = stored(console_server, file_meaning(path)["id"])
    # The first rule is edited; every other rule goes back through its form.
    page = open_editor(admin, before["id"], len(before["rules"]))
    cooldown = page.locator("fieldset.rule").first.locator("input[name=cooldown_s]")
    cooldown.fill("1234")
    cooldown.dispatch_event("change")
    save(page)

    after = stored(console_server, before["id"])
    assert after["rules"][0]["cooldown_s"] == 1234
    first_before = before["rules"][0]
    assert {**after["rules"][0], "cooldown_s": first_before["cooldown_s"]} == first_before
    assert after["rules"][1:] == before["rules"][1:]
    assert {**after, "rules": None} == {**before, "rules": None}


def add_rules(page: Any, kinds: list[str]) -> None:
    picker = page.locator("select.rule-kind-picker")
    for kind in kinds:
        picker.select_option(kind)
        page.click("button.add-rule")


def test_every_rule_kind_can_be_added_from_the_picker(
    admin: Console, console_server: LiveServer
) -> None:
    kinds = schema_kinds(console_server)
    before = stored(console_server, SCHOOL)
    page = open_editor(admin, SCHOOL, len(before["rules"]))
    options = "select.rule-kind-picker option"
    assert page.eval_on_selector_all(options, "os => os.map(o => o.value)") == kinds
    labels = page.eval_on_selector_all(options, "os => os.map(o => o.textContent)")
    assert labels[kinds.index("line_crossing")] == "越线计数"
    add_rules(page, kinds)
    added = page.locator("fieldset.rule").nth(len(before["rules"]) + kinds.index("line_crossing"))
    assert added.locator("select[name=line]").input_value() == "gate_line"

    # A fall rule watches the fall model's classes, which this camera's model does not have:
    # the API says so, and nothing is stored.
    page.click("button.save-camera")
    page.wait_for_function(
        "() => document.querySelector('.save-bar .form-error').textContent.trim().length > 0"
    )
    shown = page.locator(".save-bar .form-error").inner_text()
    # The refused field is named, and why, in words (not a generic "invalid value").
    assert "规则 › #" in shown and "目标类别" in shown, shown
    assert "不是检测模型" in shown and "取值无效" not in shown, shown
    assert stored(console_server, SCHOOL) == before
    page.locator('fieldset.rule[data-kind="fall"] button.danger').click()
    save(page)

    after = stored(console_server, SCHOOL)
    assert after["rules"][: len(before["rules"])] == before["rules"]
    new_rules = after["rules"][len(before["rules"]) :]
    assert [rule["kind"] for rule in new_rules] == [kind for kind in kinds if kind != "fall"]
    for rule in new_rules:
        if "zone" in rule:
            assert rule["zone"] == "gate_path"
    assert next(r for r in new_rules if r["kind"] == "line_crossing")["line"] == "gate_line"


def test_a_fall_rule_is_added_on_a_camera_with_the_fall_model(
    admin: Console, console_server: LiveServer
) -> None:
    hospital = stored(console_server, "hospital-east-entrance")
    registration = {
        "id": "ward-corridor",
        "name": "Ward corridor",
        "organisation_id": hospital["organisation"]["id"],
        "source": "rtsp://192.0.2.10/ward",
        "location": hospital["location"],
        "detect": {"model": "fall-yolov8"},
        "zones": [{"name": "corridor", "polygon": [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]}],
    }
    response = httpx.post(
        f"{console_server.url}/api/v1/cameras",
        json=registration,
        headers=console_server.admin_headers(),
    )
    assert response.status_code == 201, response.text
    page = open_editor(admin, "ward-corridor", 0)
    add_rules(page, ["fall"])
    rule = page.locator('fieldset.rule[data-kind="fall"]')
    assert rule.locator("select[name=zone]").input_value() == "corridor"
    assert rule.locator("[data-field=classes] input[value=Fall]").is_checked()
    save(page)
    [fall] = stored(console_server, "ward-corridor")["rules"]
    assert fall["kind"] == "fall" and fall["zone"] == "corridor" and fall["classes"] == ["Fall"]


def test_the_rule_forms_follow_the_language_switch(
    admin: Console, console_server: LiveServer
) -> None:
    rules = stored(console_server, SCHOOL)["rules"]
    page = open_editor(admin, SCHOOL, len(rules))
    legend = page.locator('fieldset.rule[data-kind="line_crossing"] legend').first
    assert legend.inner_text().startswith("越线计数")
    page.click(".lang-switch button[data-lang=en]")
    page.wait_for_function(
        "() => document.querySelector('fieldset.rule[data-kind=line_crossing] legend')"
        "?.textContent.startsWith('Line crossing')"
    )
    field = page.locator('fieldset.rule[data-kind="line_crossing"] [data-field=direction]').first
    assert field.locator(".rule-label").inner_text() == "Direction"
    page.click(".lang-switch button[data-lang=zh-CN]")
    page.wait_for_function(
        "() => document.querySelector('fieldset.rule[data-kind=line_crossing] legend')"
        "?.textContent.startsWith('越线计数')"
    )
