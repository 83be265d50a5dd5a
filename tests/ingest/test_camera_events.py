"""A camera's own tamper alarm (ONVIF PullPoint) becomes one device_fault incident."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from contract.camera import CameraConfig
from detectors.incident import Incident
from gridwatch.camera_events import CameraEventWatcher
from tests.ingest.onvif_events_device import events_device

RECORDED = Path(__file__).parent / "data" / "onvif" / "pull_messages_response.xml"


def test_a_tamper_alarm_raises_one_device_fault_incident() -> None:
    kept: list[Incident] = []
    stop = threading.Event()
    with events_device() as device:
        camera = CameraConfig.model_validate(
            {
                "id": "gate-1", "name": "Gate", "source": f"onvif://u:p@127.0.0.1:{device.port}",
                "organisation": {"id": "org", "name": "Org", "kind": "education"},
                "location": {"lat": 30.25, "lon": 120.12},
            }
        )  # fmt: skip
        watcher = CameraEventWatcher(camera, kept.append, stop)
        watcher.start()
        deadline = time.monotonic() + 10
        while "CreatePullPointSubscription" not in device.actions and time.monotonic() < deadline:
            time.sleep(0.05)
        # The recorded notifications hold a tamper alarm turning on, among motion and rules;
        # the same alarm repeated is one incident.
        device.pending.append(RECORDED.read_text())
        device.pending.append(RECORDED.read_text())
        while not kept and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        watcher.join(timeout=10)
    (incident,) = kept
    assert (incident.category, incident.rule, incident.camera_id) == (
        "device_fault",
        "camera_tamper",
        "gate-1",
    )
    assert "Tamper" in incident.details["topic"] or "SceneChange" in incident.details["topic"]
    picture = cv2.imdecode(np.frombuffer(incident.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None  # the device has no snapshot: a card says what happened
    assert incident.metadata()["snapshot_sha256"] == incident.snapshot_sha256
