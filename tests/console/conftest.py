"""Browser fixtures for the web console: the real API on loopback, Debian's Chromium driven by
Playwright, a page per account, and screenshots kept under test-artifacts/console/."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest

from api.settings import Settings
from tests.conftest import (
    PASSWORD,
    REPO,
    TEST_HTTP_TIMEOUT,
    WORKER_TOKEN,
    LiveServer,
    seed_accounts,
)
from tests.factories import incident_form, incident_metadata
from tests.ingest.conftest import h264_clip, rtsp_server  # noqa: F401 - the real RTSP camera

CHROMIUM = Path(os.environ.get("GRIDWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "console"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CLIENT_ERROR_LOG = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d"
)
WORKER = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"}


def console_settings(root: Path, **overrides: Any) -> Settings:
    """The console's API over SQLite in `root`, with the shipped cameras, grids and policy."""
    return Settings(
        database_url=f"sqlite:///{root / 'console.db'}",
        evidence_dir=root / "evidence",
        worker_token=WORKER_TOKEN,  # type: ignore[arg-type]
        camera_configs=REPO / "camera_configs",
        grids_file=REPO / "camera_configs" / "grids.geojson",
        district_file=REPO / "camera_configs" / "district" / "policy.yaml",
        secret_key="test-secret-key-0123456789abcdef",  # type: ignore[arg-type]
        escalation_interval_s=0,
        **overrides,
    )


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API (serving the console) on a loopback port over SQLite, with every seeded account."""
    settings = console_settings(
        tmp_path_factory.mktemp("console"), camera_test_allowed_networks=["127.0.0.0/8"]
    )
    server = LiveServer(settings).start()
    seed_accounts(server.app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian (scripts/system-deps.sh installs it); never a download."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user-data dir), removed on close.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class Console:
    """One person's browser tab on the console."""

    def __init__(self, page: Any, server: LiveServer, name: str):
        self.page = page
        self.server = server
        self.name = name
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console_message)
        page.on("request", self._request)

    def _console_message(self, message: Any) -> None:
        # The API answering 4xx (not found, not allowed, invalid) is a page's normal flow, which
        # the browser logs; anything else logged as an error is a fault.
        if message.type != "error" or CLIENT_ERROR_LOG.search(message.text):
            return
        self.problems.append(f"console error: {message.text}")

    def _request(self, request: Any) -> None:
        # Everything the console needs comes from its own server: no CDN, no tile server.
        if urlsplit(request.url).scheme in (
            "http",
            "https",
            "ws",
            "wss",
        ) and not request.url.startswith(
            (self.server.url, self.server.url.replace("http", "ws", 1))
        ):
            self.problems.append(f"request to another origin: {request.url}")

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.server.url}/console/{fragment}")

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.open()
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("form.login-form button[type=submit]")
        self.page.wait_for_selector("header.topbar")
        self.page.wait_for_selector(".live-indicator.live-live")

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        if full_page:
            # Taken from the top, so the sticky menu bar sits where a person sees it.
            self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def menu(self) -> list[str]:
        return list(
            self.page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.dataset.menu)")
        )


@pytest.fixture
def open_console(browser: Any, console_server: LiveServer) -> Iterator[Callable[..., Console]]:
    """Open a console tab: open_console("name", viewport=PHONE); fails the test on any JS error."""
    contexts: list[Any] = []
    tabs: list[Console] = []

    def make(name: str, viewport: dict[str, int] = DESKTOP) -> Console:
        phone = viewport["width"] < 600
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=1,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        context.set_default_timeout(30_000)  # a loaded 2-core machine
        contexts.append(context)
        tab = Console(context.new_page(), console_server, name)
        tabs.append(tab)
        return tab

    yield make
    problems = [f"{tab.name}: {problem}" for tab in tabs for problem in tab.problems]
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def scene_jpeg(width: int = 640, height: int = 360, caption: str = "school-no1-gate") -> bytes:
    """A street-like picture with a zone and a boxed person, as an annotated snapshot looks."""
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky, ground = np.array([200, 170, 140], np.float32), np.array([90, 110, 100], np.float32)
    image = (sky * (1 - rows) + ground * rows).repeat(width, axis=1).astype(np.uint8)
    scale = width / 640
    zone = (np.array([[0, 0.55], [0.55, 0.5], [1, 0.7], [1, 1], [0, 1]]) * [width, height]).astype(
        np.int32
    )
    cv2.polylines(
        image, [zone], isClosed=True, color=(0, 215, 255), thickness=max(1, int(2 * scale))
    )
    x, y = int(0.42 * width), int(0.48 * height)
    cv2.rectangle(image, (x, y), (x + int(40 * scale), y + int(100 * scale)), (0, 0, 220), 2)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, "person 0.81 #7", (x, y - 6), font, 0.45 * scale, (0, 0, 220), 1)
    cv2.putText(image, caption, (10, 22), font, 0.6 * scale, (255, 255, 255), 1)
    ok, buffer = cv2.imencode(".jpg", image)
    assert ok
    return bytes(buffer.tobytes())


def post_incident(server: LiveServer, **overrides: Any) -> dict[str, Any]:
    """Report an incident to the live server as a detection worker does; returns its event."""
    snapshot = scene_jpeg(caption=str(overrides.get("camera_id", "school-no1-gate")))
    response = httpx.post(
        f"{server.url}/api/v1/incidents",
        headers=WORKER,
        **incident_form(incident_metadata(snapshot, **overrides), snapshot),
        # A loaded machine answers a first incident (evidence written, fan-out) in seconds.
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def api_as(server: LiveServer, username: str) -> httpx.Client:
    """An HTTP client logged in as a seeded account."""
    token = httpx.post(
        f"{server.url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=TEST_HTTP_TIMEOUT
    )


def dispatch_to_education(server: LiveServer, *event_ids: int) -> None:
    """As the district's operator, confirm each event and dispatch it to the education bureau
    (whose handler is the seeded `education_handler`)."""
    with api_as(server, "district_operator") as operator:
        for event_id in event_ids:
            for action in ("confirm", "dispatch"):
                response = operator.post(
                    f"/api/v1/events/{event_id}/actions/{action}",
                    data={"department_id": "education-bureau"},
                )
                assert response.status_code == 200, response.text
