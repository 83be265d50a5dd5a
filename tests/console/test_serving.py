"""The console's files as the API serves them, its labels in both languages, and the departments
list it dispatches to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routers.console import CONSOLE_DIR, get_console_settings
from api.settings import Settings
from tests.conftest import Accounts, seed_accounts


@pytest.fixture
def client(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_factory(f"sqlite:///{tmp_path / 'db.sqlite'}"))) as client:
        yield client


def test_the_root_opens_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/console/")


def test_the_console_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "img-src 'self' blob: data:;" in policy  # no tile server unless configured
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="static/js/main.js">' in response.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("static/js/main.js", "text/javascript"),
        ("static/css/console.css", "text/css"),
        ("static/vendor/leaflet/leaflet.js", "text/javascript"),
        ("static/vendor/leaflet/leaflet.css", "text/css"),
        ("static/vendor/leaflet/images/marker-icon.png", "image/png"),
    ],
)
def test_assets_are_served_from_the_repository(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.get(f"/console/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    again = client.get(f"/console/{path}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_a_tile_server_is_off_by_default_and_allowed_when_configured(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/console/config.json").json()["tile_url"] == ""
    monkeypatch.setenv("GRIDWATCH_CONSOLE_TILE_URL", "https://tiles.example.gov.cn/{z}/{x}/{y}.png")
    get_console_settings.cache_clear()
    try:
        config = client.get("/console/config.json").json()
        policy = client.get("/console/").headers["content-security-policy"]
    finally:
        get_console_settings.cache_clear()
    assert config["tile_url"] == "https://tiles.example.gov.cn/{z}/{x}/{y}.png"
    assert "img-src 'self' blob: data: https://tiles.example.gov.cn;" in policy


def _dictionary(source: str, name: str) -> set[str]:
    block = re.search(rf"^const {name} = \{{(.*?)^\}};", source, re.S | re.M)
    assert block, f"dictionary {name} not found"
    return set(re.findall(r'^\s*"([\w.]+)":', block.group(1), re.M))


def test_every_label_the_pages_use_exists_in_chinese_and_english() -> None:
    source = (CONSOLE_DIR / "js" / "i18n.js").read_text(encoding="utf-8")
    chinese, english = _dictionary(source, "zh"), _dictionary(source, "en")
    assert chinese == english, f"only in one language: {sorted(chinese ^ english)}"
    used: set[str] = set()
    for script in (CONSOLE_DIR / "js").rglob("*.js"):
        text = script.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([\w.]+)"', text))
        used |= {f"menu.{key}" for key in re.findall(r'"menu\.(\w+)"', text)}
        used |= set(re.findall(r'(?:title|empty): "([\w.]+)"', text))
    # The API's error codes and validation words live in messages.js (tests/api/test_problem_codes).
    messages = (CONSOLE_DIR / "js" / "messages.js").read_text(encoding="utf-8")
    zh_messages = messages.split("\nexport const enMessages = {", 1)[0]
    chinese |= set(re.findall(r'^\s*"([a-z_]+\.[a-z0-9_.]+)":', zh_messages, re.MULTILINE))
    assert used - chinese == set()


def test_departments_are_listed_for_dispatching(client: TestClient) -> None:
    seed_accounts(client.app, names=("district_operator",))
    headers = Accounts(client).headers("district_operator")
    departments = client.get("/api/v1/departments", headers=headers).json()
    assert {"id": "education-bureau", "name": "District Education Bureau", "grid_id": "D01"} in (
        departments
    )
    assert client.get("/api/v1/departments").status_code == 401
