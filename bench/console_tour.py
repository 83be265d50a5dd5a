"""What an operator sees in the first minutes of `make run`: the console's pages as each demo
account finds them, saved as screenshots, with the counts behind them.

What runs: `python -m gridwatch run` (the API and one worker, as `make run` starts them) on a
fresh SQLite database, evidence folder and outbox in a temporary folder, with the shipped
cameras (camera_configs/, rules unchanged) on the demo clip in real time. After `--minutes`
(default 10) the demo accounts log in to the console in Debian's Chromium (as tests/console/
drive it, zh-CN, Asia/Shanghai) and these are saved under `--out` (test-artifacts/console/):

- tour-wall.png: the operator's alert wall (1440 x 900)
- tour-event.png: the page of the wall's busiest item (most occurrences)
- tour-map.png: the operator's map
- tour-gridworker-phone.png: the grid worker's task list on a phone (390 x 844)
- tour-handler.png: the education bureau's queue

Printed: the machine and its load, then the items the API holds (open and in all), their
occurrences (the incidents behind them), items per camera-hour, per camera, and each page's
count of cards or rows.

Usage: python bench/console_tour.py [--minutes 10] [--out test-artifacts/console]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
# First: bench/api.py must not stand in for the api package.
sys.path.insert(0, str(REPO))

from api.district import OPEN_STATES  # noqa: E402
from bench.harness import free_port, log_tail, wait_until  # noqa: E402
from contract.loading import load_cameras  # noqa: E402
from gridwatch.cli import DEMO_PASSWORD_DEFAULT  # noqa: E402
from gridwatch.machine import describe  # noqa: E402

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
DEMO_CAMERAS = REPO / "camera_configs"


@dataclass
class Counts:
    """What the API holds after the run, as the admin sees it."""

    items: int
    open_items: int
    occurrences: int
    by_status: dict[str, int]
    per_camera: dict[str, tuple[int, int]]  # camera -> (items, occurrences)
    busiest: int | None  # the item with the most occurrences


@dataclass
class Tour:
    """The screenshots taken and what each page showed."""

    screenshots: list[Path] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)


class Demo:
    """`python -m gridwatch run` in its own process, on a fresh database in `folder`."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "run.log"
        self.environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "YOLO_OFFLINE": "1",
            "GRIDWATCH_DATABASE_URL": f"sqlite:///{folder / 'gridwatch.db'}",
            "GRIDWATCH_EVIDENCE_DIR": str(folder / "evidence"),
            "GRIDWATCH_OUTBOX_PATH": str(folder / "worker-outbox.sqlite"),
            "GRIDWATCH_DEMO_PASSWORD": DEMO_PASSWORD_DEFAULT,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 1200) -> Demo:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gridwatch", "run", "--port", str(self.port)],
                cwd=REPO, env=self.environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if not wait_until(self.ready, timeout_s, 0.5):
            self.stop()
            raise RuntimeError(f"`gridwatch run` did not start:\n{log_tail(self.log_path)}")
        return self

    def ready(self) -> bool:
        """The API answers and the demo accounts exist (`gridwatch run` seeds them next)."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"`gridwatch run` exited:\n{log_tail(self.log_path)}")
        try:
            return self.token("admin") is not None
        except httpx.HTTPError:
            return False

    def token(self, username: str) -> str | None:
        response = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": username, "password": DEMO_PASSWORD_DEFAULT},
            timeout=30,
        )
        return str(response.json()["access_token"]) if response.status_code == 200 else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None


def count(demo: Demo) -> Counts:
    """Every grid event and its occurrences, as the admin lists them."""
    token = demo.token("admin")
    client = httpx.Client(
        base_url=demo.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    events: list[dict[str, Any]] = []
    with client:
        while True:
            page = client.get("/api/v1/events", params={"limit": 500, "offset": len(events)})
            page.raise_for_status()
            body = page.json()
            events += body["items"]
            if len(events) >= body["total"] or not body["items"]:
                break
    per_camera: dict[str, tuple[int, int]] = {}
    for event in events:
        camera_id = event.get("camera_id") or "(no camera)"
        items, occurrences = per_camera.get(camera_id, (0, 0))
        per_camera[camera_id] = (items + 1, occurrences + int(event["occurrence_count"]))
    open_events = [event for event in events if event["status"] in OPEN_STATES]
    busiest = max(open_events or events, key=lambda e: e["occurrence_count"], default=None)
    return Counts(
        items=len(events),
        open_items=len(open_events),
        occurrences=sum(int(event["occurrence_count"]) for event in events),
        by_status=dict(Counter(event["status"] for event in events)),
        per_camera=dict(sorted(per_camera.items())),
        busiest=None if busiest is None else int(busiest["id"]),
    )


def tour(url: str, counts: Counts, out: Path) -> Tour:
    """Each demo account's pages in Chromium, saved under `out`."""
    from playwright.sync_api import sync_playwright

    from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS

    out.mkdir(parents=True, exist_ok=True)
    seen = Tour()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )

        def login(username: str, viewport: dict[str, int]) -> Any:
            phone = viewport["width"] < 600
            context = browser.new_context(
                viewport=viewport, device_scale_factor=1, is_mobile=phone, has_touch=phone,
                locale="zh-CN", timezone_id="Asia/Shanghai",
            )  # fmt: skip
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(f"{url}/console/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", DEMO_PASSWORD_DEFAULT)
            page.click("form.login-form button[type=submit]")
            page.wait_for_selector("header.topbar")
            page.wait_for_selector(".live-indicator.live-live")
            return page

        def save(page: Any, name: str) -> None:
            page.wait_for_load_state("networkidle")
            # Lists and evidence load after the page: wait until nothing says it is loading and
            # every picture has been fetched (or marked missing); then what is empty is empty.
            page.wait_for_function(
                """() => !document.querySelector("img.evidence.loading")
                  && Array.from(document.images).every(image => image.complete)
                  && !Array.from(document.querySelectorAll(".notice"))
                       .some(notice => notice.textContent.includes("加载中"))""",
                timeout=120_000,
            )
            path = out / f"{name}.png"
            page.screenshot(path=str(path))
            seen.screenshots.append(path)

        def shown(page: Any, selector: str) -> int:
            return int(page.eval_on_selector_all(selector, "nodes => nodes.length"))

        try:
            operator = login("operator", DESKTOP)
            operator.wait_for_selector(".wall")
            if counts.items:
                operator.wait_for_selector(".wall .event-card")
            save(operator, "tour-wall")
            seen.shown["wall"] = f"{shown(operator, '.wall .event-card')} cards"
            if counts.busiest is not None:
                operator.goto(f"{url}/console/#/events/{counts.busiest}")
                operator.wait_for_selector(".event-page .event-title")
                save(operator, "tour-event")
                seen.shown["event"] = f"item {counts.busiest}"
            operator.goto(f"{url}/console/#/map")
            operator.wait_for_selector(".leaflet-container")
            save(operator, "tour-map")
            operator.context.close()

            worker = login("gridworker", PHONE)
            save(worker, "tour-gridworker-phone")
            seen.shown["grid worker"] = f"{shown(worker, '.event-card')} cards"
            worker.context.close()

            handler = login("education", DESKTOP)
            save(handler, "tour-handler")
            seen.shown["handler"] = f"{shown(handler, '.event-card')} cards"
            handler.context.close()
        finally:
            browser.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10, help="How long the demo runs first.")
    parser.add_argument(
        "--out", type=Path, default=REPO / "test-artifacts" / "console", help="Screenshots here."
    )
    arguments = parser.parse_args()
    cameras = load_cameras([DEMO_CAMERAS])
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gridwatch-tour-") as temporary:
        demo = Demo(Path(temporary)).start()
        try:
            started = time.monotonic()
            print(
                f"`gridwatch run` up at {demo.url} with {len(cameras)} cameras;"
                f" {arguments.minutes:g} min ...",
                flush=True,
            )
            deadline = started + arguments.minutes * 60
            while time.monotonic() < deadline:
                time.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
                so_far = count(demo)
                print(
                    f"  {(time.monotonic() - started) / 60:4.1f} min: {so_far.items} items,"
                    f" {so_far.occurrences} occurrences;"
                    f" load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            counts = count(demo)
            seen = tour(demo.url, counts, arguments.out)
            # Items keep arriving while the pages are drawn: the figures as the pictures show.
            counts = count(demo)
            ran_min = (time.monotonic() - started) / 60
        finally:
            demo.stop()
    per_hour = counts.items / (len(cameras) * ran_min / 60)
    print(
        f"after {ran_min:.1f} min of `gridwatch run` ({len(cameras)} cameras, the demo clip in"
        f" real time): {counts.items} items ({counts.open_items} open) from"
        f" {counts.occurrences} occurrences = {per_hour:.1f} items per camera-hour;"
        f" by status {counts.by_status}"
    )
    for camera_id, (items, occurrences) in counts.per_camera.items():
        print(f"  {camera_id}: {items} items, {occurrences} occurrences")
    for page, what in seen.shown.items():
        print(f"  {page}: {what}")
    for path in seen.screenshots:
        print(f"screenshot: {path}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
