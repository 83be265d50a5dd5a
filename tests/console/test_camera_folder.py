"""Admins see in the console's camera-health page the camera files the API refused at start-up,
with file, field and reason, and the fleet (workers, capacity, cameras no worker holds);
operators do not, and every other camera is there."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from api.settings import Settings
from tests.api.test_camera_folder import SAMPLES, folder_with_bad_files
from tests.conftest import REPO, WORKER_TOKEN, LiveServer, seed_accounts
from tests.console.conftest import Console


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The console over a camera folder with three bad files beside the samples."""
    root = tmp_path_factory.mktemp("console-folder")
    settings = Settings(
        database_url=f"sqlite:///{root / 'console.db'}",
        evidence_dir=root / "evidence",
        worker_token=WORKER_TOKEN,  # type: ignore[arg-type]
        camera_configs=folder_with_bad_files(root),
        grids_file=REPO / "camera_configs" / "grids.geojson",
        district_file=REPO / "camera_configs" / "district" / "policy.yaml",
        secret_key="test-secret-key-0123456789abcdef",  # type: ignore[arg-type]
        escalation_interval_s=0,
    )
    server = LiveServer(settings).start()
    seed_accounts(server.app, names=("admin", "district_operator"))
    yield server
    server.stop()


def test_admins_see_the_refused_camera_files_beside_the_running_cameras(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    # One worker with room for two of the four cameras: two wait, and the admins are told.
    headers = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"}
    grant = httpx.post(
        f"{console_server.url}/api/v1/worker/leases", json={"capacity": 2}, headers=headers
    )
    assert grant.status_code == 200, grant.text
    admin = open_console("admin")
    admin.login("admin")
    admin.open("#/cameras")
    page = admin.page
    panel = page.locator(".refused-camera-files")
    panel.wait_for()
    rows = panel.locator("tbody tr")
    assert rows.count() == 3
    bad_zone = panel.locator("tr[data-file$='bad_zone.yaml']")
    assert "rules.0.zone" in bad_zone.inner_text()
    # Why, in the reader's words; the API's English only as the detail.
    words = bad_zone.locator(".reason-words").inner_text()
    assert words == "区域「playground」不存在（已有区域：gate_path）", words
    assert "playground" in bad_zone.locator(".reason-detail").inner_text()
    typo = panel.locator("tr[data-file$='typo.yaml'] .reason-words").inner_text()
    assert typo == "不是可填写的字段（请检查拼写）", typo
    assert {
        page.locator(".cameras-table tbody tr").nth(i).get_attribute("data-camera-id")
        for i in range(page.locator(".cameras-table tbody tr").count())
    } == SAMPLES
    fleet = page.locator(".fleet-panel")
    assert fleet.locator("[data-figure=capacity] .kpi-value").inner_text() == "2"
    assert fleet.locator("[data-figure=waiting] .kpi-value").inner_text() == "2"
    assert "2" in fleet.locator(".notice").inner_text()
    admin.screenshot("camera-health-refused-files", full_page=True)

    operator = open_console("district_operator")
    operator.login("district_operator")
    operator.open("#/cameras")
    operator.page.locator(".cameras-table").wait_for()
    assert operator.page.locator(".refused-camera-files").count() == 0
