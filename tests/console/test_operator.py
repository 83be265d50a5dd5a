"""The operator's console in a real browser: alerts arrive live, are dismissed or dispatched, and
the map, figures and camera health show the district."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detectors.evidence import encode_mp4, sha256_hex
from gridwatch.outbox import IncidentSender, Outbox
from tests.conftest import WORKER_TOKEN, LiveServer
from tests.console.conftest import Console, api_as, post_incident
from tests.gridwatch.test_outbox import T0, make_incident
from tests.ingest.peers import jpeg_frames

pytestmark = pytest.mark.browser


def test_operator_sees_a_new_alert_live_and_dismisses_it_as_a_false_alarm(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page
    assert operator.menu() == ["wall", "map", "report", "stats", "evaluation", "cameras"]
    page.wait_for_selector(".wall .notice, .wall .event-card")
    page.evaluate("window.__sameDocument = true")
    # The wall's camera health counts them as the camera page does: nobody watches these four,
    # so they are off the air (离线), not "unknown".
    health = page.locator(".health-summary li")
    health.first.wait_for()
    assert health.all_inner_texts() == ["离线 4"]

    event = post_incident(console_server, detected_at=datetime.now(UTC))

    # It arrives over the WebSocket: same document, no reload.
    card = page.locator(f'.event-card[data-event-id="{event["id"]}"]')
    card.wait_for()
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".event-card").first.get_attribute("data-event-id") == str(event["id"])
    snapshot = card.locator("img.snapshot")
    page.wait_for_function("img => img.naturalWidth === 640", arg=snapshot.element_handle())
    assert snapshot.get_attribute("src", timeout=1000).startswith("blob:")  # type: ignore[union-attr]
    assert card.locator(".camera").inner_text() == "No.1 Primary School, main gate path"
    assert "grid 1" in card.locator(".grid").inner_text()
    assert card.locator(".badge-category").inner_text() == "公共安全"
    assert card.locator(".badge-severity").inner_text() == "高"
    assert card.locator(".age").inner_text()
    operator.screenshot("operator-wall-desktop")

    card.locator("button[data-action=reject]").click()
    dialog = page.locator("dialog.action-dialog")
    dialog.locator("button[data-action=reject]").click()
    assert dialog.locator(".form-error").inner_text() == "请填写原因。"
    dialog.locator("textarea[name=note]").fill("行人正常通行，不是入侵")
    dialog.locator("button[data-action=reject]").click()
    card.wait_for(state="detached")  # the wall shows open events; a false alarm leaves it

    with api_as(console_server, "district_operator") as client:
        detail = client.get(f"/api/v1/events/{event['id']}").json()
    assert detail["status"] == "false_alarm"
    last = detail["history"][-1]
    assert (last["actor"], last["action"], last["note"]) == (
        "user:district_operator",
        "reject",
        "行人正常通行，不是入侵",
    )

    operator.open(f"#/events/{event['id']}")
    step = page.locator(".timeline .step-reject")
    step.wait_for()
    assert "district_operator" in step.inner_text()
    assert "行人正常通行" in step.inner_text()
    assert page.locator(".event-head .badge-status").inner_text() == "误报"
    operator.screenshot("operator-event-desktop")


def test_operator_dispatches_from_the_event_page_and_reads_map_figures_and_health(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    event = post_incident(
        console_server,
        camera_id="urban-works-west",
        category="urban_management",
        severity="medium",
        summary="vehicle parked in zone",
        detected_at=datetime.now(UTC),
    )
    operator = open_console("district_operator")
    operator.login("district_operator")
    page = operator.page

    operator.open(f"#/events/{event['id']}")
    page.locator(".actions-panel button[data-action=dispatch]").click()
    panel = page.locator("dialog.action-dialog[data-action=dispatch]")
    panel.locator("select[name=department_id] option[value=urban-management-bureau]").wait_for(
        state="attached"
    )
    panel.locator("select[name=department_id]").select_option("urban-management-bureau")
    panel.locator("textarea[name=note]").fill("请城管到场处理")
    panel.locator("button[data-action=dispatch]").click()
    page.wait_for_selector('.event-head .badge-status[data-status="dispatched"]')
    page.wait_for_selector(".timeline .step-dispatch")
    actions = page.eval_on_selector_all(
        ".timeline .step", "steps => steps.map(s => s.dataset.action)"
    )
    assert actions == ["report", "confirm", "dispatch"]
    assert "District Urban Management Bureau" in page.locator(".step-dispatch").inner_text()

    operator.open("#/map")
    page.wait_for_selector(".leaflet-overlay-pane path")
    page.wait_for_selector(".camera-marker")
    assert page.locator(".camera-marker").count() == 4
    # A camera's mark says why it is off the air, in words: no worker runs these.
    page.locator(".camera-marker").first.click()
    reason = page.locator(".leaflet-popup .map-popup .status-reason")
    reason.wait_for()
    assert reason.get_attribute("data-reason") == "unwatched"
    assert "无人值守" in reason.inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector(".event-cluster")
    assert page.locator(".event-cluster.status-dispatched").count() >= 1
    assert page.locator(".leaflet-tile").count() == 0  # no tile server by default
    assert "GRIDWATCH_CONSOLE_TILE_URL" in page.locator(".map-no-tiles").inner_text()
    operator.screenshot("operator-map-desktop")

    operator.open("#/stats")
    page.wait_for_selector(".kpis .ring")
    assert page.locator(".chart svg.bars").count() >= 3
    operator.screenshot("operator-stats-desktop")

    operator.open("#/evaluation")
    page.wait_for_selector(".evaluation-table tbody tr")
    assert "按期处置率" in page.locator(".evaluation-table thead").inner_text()
    assert page.locator(".evaluation-table tfoot th").inner_text() == "合计"
    with page.expect_download() as download:
        page.click("button.csv-download")
    assert download.value.suggested_filename == "evaluation-by-department.csv"
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("key,name,reported")
    operator.screenshot("operator-evaluation-desktop")

    operator.open("#/cameras")
    page.wait_for_selector(".cameras-table tbody tr")
    assert page.locator(".cameras-table tbody tr").count() == 4
    operator.screenshot("operator-cameras-desktop")

    page.click(".lang-switch button[data-lang=en]")
    page.wait_for_selector("nav.menu a[data-menu=wall]:text('Alert wall')")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click(".lang-switch button[data-lang=zh-CN]")
    page.wait_for_selector("nav.menu a[data-menu=wall]:text('告警墙')")


CLIP_FPS = 10  # the demo footage's own rate
THUMB = (96, 72)  # size at which the page's picture is compared with the footage


def test_an_incidents_h264_clip_from_the_api_plays_in_the_event_page(
    open_console: Callable[..., Console],
    console_server: LiveServer,
    demo_clip: Path,
    tmp_path: Path,
) -> None:
    """A worker's incident with three seconds of the demo footage as H.264: the event page fetches
    the API's clip.mp4 with the token and Chromium decodes and plays it to the end."""
    jpegs = jpeg_frames(demo_clip, count=3 * CLIP_FPS, step=1)
    frames = [
        frame
        for jpeg in jpegs
        if (frame := cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)) is not None
    ]
    assert len(frames) == len(jpegs) == 3 * CLIP_FPS
    height, width = frames[0].shape[:2]
    stamps = [T0 + timedelta(seconds=index / CLIP_FPS) for index in range(len(frames))]
    clip = encode_mp4(frames, stamps)
    incident = replace(
        make_incident(), snapshot_jpeg=jpegs[0], snapshot_sha256=sha256_hex(jpegs[0]),
        clip_mp4=clip, clip_sha256=sha256_hex(clip), clip_started_at=T0,
        clip_duration_s=len(frames) / CLIP_FPS, clip_frame_count=len(frames),
    )  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.put(incident)
    sender = IncidentSender(outbox, console_server.url, WORKER_TOKEN, worker_name="edge-1")
    assert sender.deliver_due() == 1
    sender.close()
    outbox.close()
    with api_as(console_server, "district_operator") as client:
        listed = client.get("/api/v1/events", params={"limit": 500}).json()["items"]
        (event,) = [item for item in listed if item["incident"]["id"] == incident.id]
        detail = client.get(f"/api/v1/events/{event['id']}").json()
        clip_path = f"/api/v1/incidents/{incident.id}/clip.mp4"
        stored = client.get(clip_path)
    assert detail["incident"]["clip_url"] == f"{console_server.url}{clip_path}"
    assert stored.headers["content-type"] == "video/mp4" and stored.content == clip

    operator = open_console("district_operator")
    page = operator.page
    # The wall's card may fetch the clip before the event page does; the page then reuses it.
    clip_fetches: list[Any] = []
    page.on("response", lambda r: clip_fetches.append(r) if r.url.endswith(clip_path) else None)
    operator.login("district_operator")
    operator.open(f"#/events/{event['id']}")
    video = page.locator(".event-page video.evidence-clip")
    handle = video.element_handle()
    page.wait_for_function(
        "video => video.src.startsWith('blob:') && (video.readyState >= 2 || video.error)",
        arg=handle,
    )
    assert clip_fetches
    for served in clip_fetches:
        assert served.status == 200
        assert served.request.headers["authorization"].startswith("Bearer ")
        assert served.headers["content-type"] == "video/mp4"
        assert served.headers["content-length"] == str(len(clip))
        assert served.headers["etag"] == f'"{sha256_hex(clip)}"'

    loaded = video.evaluate(
        "video => ({error: video.error && video.error.message, width: video.videoWidth,"
        " height: video.videoHeight, duration: video.duration, at: video.currentTime})"
    )
    assert loaded == {
        "error": None,
        "width": width,
        "height": height,
        "duration": pytest.approx(len(frames) / CLIP_FPS, abs=0.05),
        "at": 0,
    }

    # The picture shown is the footage's first frame (its last frame is 5 grey levels off).
    shown = video.evaluate(
        """(video, [w, h]) => {
            const canvas = Object.assign(document.createElement("canvas"), {width: w, height: h});
            const context = canvas.getContext("2d", {willReadFrequently: true});
            context.drawImage(video, 0, 0, w, h);
            const rgba = context.getImageData(0, 0, w, h).data;
            return Array.from({length: w * h}, (_, i) =>
                0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
        }""",
        list(THUMB),
    )
    picture = np.array(shown, np.float32).reshape(THUMB[1], THUMB[0])
    footage = cv2.cvtColor(cv2.resize(frames[0], THUMB, interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2GRAY).astype(np.float32)  # fmt: skip
    assert float(np.abs(picture - footage).mean()) < 3

    video.evaluate("video => video.play()")
    page.wait_for_function("video => video.ended || video.error", arg=handle, timeout=15_000)
    played = video.evaluate(
        "video => ({error: video.error && video.error.message, ended: video.ended,"
        " at: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames})"
    )
    assert played["error"] is None and played["ended"] is True
    assert played["at"] == pytest.approx(len(frames) / CLIP_FPS, abs=0.05)
    assert played["frames"] == len(frames)
