"""GB/T 28181 end to end: SIPp registers as a device, its catalog becomes candidates, an admin
accepts it for a school, the school's owner adopts a channel with an intrusion zone, a worker
leases the camera and asks for its stream, the demo clip flows as PS over RTP, and a grid event
appears with its snapshot. The owner turning the camera off ends the stream with BYE while the
worker runs on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml

from gridwatch.api_client import ApiClient
from gridwatch.gb28181.reporting import ApiReporter
from tests.conftest import REPO, WORKER_TOKEN, LiveServer
from tests.gb28181 import ps_sender
from tests.gb28181.test_live_video import CHANNEL_ID, DEVICE_ID, service_with_control, sipp_device
from tests.gb28181.test_sipp_control import login

pytestmark = pytest.mark.slow

ADOPTED = {  # the owner's: the organisation is the device's, which the admin assigned
    "id": "gb-gate",
    "location": {"lat": 30.2550, "lon": 120.1200},
    "detect": {"fps": 2, "confidence": 0.4},
    "zones": [{"name": "whole_view", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
    "rules": [{"kind": "intrusion", "zone": "whole_view", "classes": ["person"],
               "min_frames": 2, "cooldown_s": 600}],
}  # fmt: skip


def organisation_only(folder: Path) -> Path:
    """The sample school's camera, disabled: its organisation exists, nothing else is watched."""
    folder.mkdir()
    document = yaml.safe_load((REPO / "camera_configs" / "school_gate.yaml").read_text())
    document["enabled"] = False
    (folder / "school_gate.yaml").write_text(yaml.safe_dump(document))
    return folder


def wait_for(condition, timeout_s: float, what: str, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(
        f"waited {timeout_s:g} s for {what}" + (f"; {log.name}: {tail(log)}" if log else "")
    )


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def test_sipp_device_to_grid_event(
    settings_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    demo_clip: Path,
    model_path: Path,
) -> None:
    clip = ps_sender.prepare(demo_clip, model_path.parent, frames=300)
    cameras = organisation_only(tmp_path / "cameras")
    server = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'e2e.db'}", camera_configs=cameras)
    ).start()
    reporter = ApiReporter(
        ApiClient(server.url, WORKER_TOKEN, worker_name="gb28181", timeout=10), retry_s=0.5
    )
    worker: subprocess.Popen[str] | None = None
    worker_log = tmp_path / "worker.log"
    try:
        admin = server.admin_headers()
        api = httpx.Client(base_url=server.url, headers=admin, timeout=30)
        with service_with_control(reporter) as (service, control_url), sipp_device(
            service, clip, tmp_path, stay_ms=120_000, speed=1.0, finish=False
        ):  # fmt: skip
            # The catalog reaches the API as candidates.
            devices = wait_for(
                lambda: [
                    d for d in api.get("/api/v1/gb28181/devices").json()
                    if d["id"] == DEVICE_ID and d["channels"]
                ],
                20, "the device's catalog in the API",
            )  # fmt: skip
            assert CHANNEL_ID in {c["channel_id"] for c in devices[0]["channels"]}
            accepted = api.put(
                f"/api/v1/gb28181/devices/{DEVICE_ID}/admission",
                json={"admission": "accepted", "organisation_id": "no1-primary-school"},
            )
            assert accepted.status_code == 200, accepted.text
            owner = httpx.Client(
                base_url=server.url, headers=login(server, "school_owner"), timeout=30
            )
            adopted = owner.post(
                f"/api/v1/gb28181/devices/{DEVICE_ID}/channels/{CHANNEL_ID}/camera", json=ADOPTED
            )
            assert adopted.status_code == 201, adopted.text

            worker = subprocess.Popen(
                [sys.executable, "-m", "gridwatch", "worker", "--from-api", "--capacity", "4",
                 "--max-seconds", "150"],
                env={
                    **os.environ, "PYTHONPATH": str(REPO), "GRIDWATCH_API_URL": server.url,
                    "GRIDWATCH_WORKER_TOKEN": WORKER_TOKEN, "GRIDWATCH_WORKER_NAME": "gb-worker",
                    "GRIDWATCH_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
                    "GRIDWATCH_MODEL_PATH": str(model_path), "GRIDWATCH_LEASE_RENEW_S": "1",
                    "GRIDWATCH_GB28181_CONTROL_URL": control_url,
                    "GRIDWATCH_GB28181_MEDIA_HOST": "127.0.0.1",
                    "GRIDWATCH_GB28181_MEDIA_BIND": "127.0.0.1",
                },
                stdout=subprocess.DEVNULL, stderr=worker_log.open("w"), text=True, cwd=tmp_path,
            )  # fmt: skip
            events = wait_for(
                lambda: api.get("/api/v1/events", params={"limit": 50}).json()["items"],
                180, "a grid event from the GB/T 28181 camera", worker_log,
            )  # fmt: skip
            camera = api.get("/api/v1/cameras/gb-gate").json()
            assert service.media.calls and service.media.byes == 0
            # No longer watched: the owner turns the camera off, the worker lets it go at its
            # next lease renewal and the device gets its BYE, the worker still running.
            off = owner.patch("/api/v1/cameras/gb-gate", json={"enabled": False})
            assert off.status_code == 200, off.text
            wait_for(lambda: not service.media.calls, 30, "the BYE", worker_log)
            assert service.media.byes == 1 and worker.poll() is None
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        reporter.close()
    try:
        event = events[0]
        assert event["camera_id"] == "gb-gate" and event["source"] == "video", tail(worker_log)
        assert event["grid_id"] == "D01-T01-C01-G01"
        assert event["incident"]["object_class"] == "person"
        assert camera["status"] == "online"
        snapshot = httpx.get(event["snapshot_url"], headers=admin, timeout=30)
        assert snapshot.status_code == 200
        picture = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape == (576, 768, 3)
    finally:
        server.stop()
