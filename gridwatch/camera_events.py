"""A camera's own alarms: an ONVIF camera that reports tampering raises a device_fault incident.

The camera's PullPoint subscription is pulled in a thread per camera; a tamper alarm turning on
becomes one incident (again only after the cooldown), with the camera's own snapshot as evidence
when it offers one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta, tzinfo
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from contract.camera import CameraConfig
from detectors.evidence import burned_in_time, encode_jpeg, sha256_hex
from detectors.incident import Incident, incident_id
from ingest.backoff import Backoff
from ingest.errors import IngestError
from ingest.onvif import CameraEvent, OnvifCamera

log = logging.getLogger(__name__)

RULE = "camera_tamper"


def tamper_incident(
    camera: CameraConfig, event: CameraEvent, snapshot: bytes | None, *, device: str
) -> Incident:
    """The device_fault incident a camera's tamper alarm raises."""
    picture = snapshot or _no_picture(camera.name, event, ZoneInfo(camera.timezone))
    image = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2] if image is not None else (576, 768)
    return Incident(
        id=incident_id(camera.id, RULE, "view", 0, event.time, event.time),
        camera_id=camera.id,
        rule=RULE,
        zone="view",
        category="device_fault",
        severity="medium",
        summary="camera reports tampering",
        started_at=event.time,
        detected_at=event.time,
        track_id=0,
        object_class="camera",
        confidence=1.0,
        box_xyxy=(0.0, 0.0, float(width), float(height)),
        frame_width=width,
        frame_height=height,
        model_name="onvif-events",
        model_version=device[:64],
        rule_parameters={"topic": event.topic},
        snapshot_jpeg=picture,
        snapshot_sha256=sha256_hex(picture),
        details={"topic": event.topic, "source": dict(event.source), "data": dict(event.data)},
    )


def _no_picture(name: str, event: CameraEvent, zone: tzinfo) -> bytes:
    """A plain card saying what happened, for a camera that gives no snapshot; the time is the
    camera's local time with its offset, as on every snapshot."""
    card = np.full((576, 768, 3), 40, dtype=np.uint8)
    lines = [name, "camera reports tampering", event.topic, burned_in_time(event.time, zone)]
    for row, text in enumerate(lines):
        cv2.putText(
            card, text, (30, 240 + 40 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2
        )
    return encode_jpeg(card)


class CameraEventWatcher(threading.Thread):
    """Pulls one ONVIF camera's events until `stop` is set; reconnects with a capped backoff."""

    def __init__(
        self,
        camera: CameraConfig,
        keep: Callable[[Incident], None],
        stop: threading.Event,
        *,
        cooldown: timedelta = timedelta(minutes=5),
        backoff: Backoff | None = None,
    ):
        super().__init__(name=f"events-{camera.id}", daemon=True)
        self.camera = camera
        self.keep = keep
        self.stop = stop
        self.cooldown = cooldown
        # 2 s after the first failure, doubling to a minute; jittered like a camera's reconnects,
        # since the cameras of one recorder lose their subscriptions together.
        self.backoff = backoff or Backoff(initial_s=2.0, cap_s=60.0)
        self.raised = 0
        self._last: float | None = None  # time.monotonic() of the last incident raised
        self._tampered = False

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                with OnvifCamera.connect(self.camera.id, self.camera.resolved_source()) as device:
                    subscription = device.subscribe_events()
                    failures = 0
                    try:
                        described = device.device_info()
                        name = f"{described.manufacturer} {described.model}".strip()
                    except IngestError:
                        name = "onvif camera"
                    while not self.stop.is_set():
                        for event in subscription.pull(timeout_s=2):
                            self._handle(event, device, name)
            except IngestError as err:
                delay = self.backoff.delay(failures)
                failures += 1
                log.warning(
                    "%s: camera events unavailable (%s); retry in %.0fs", self.camera.id, err, delay
                )
                self.stop.wait(delay)
            except Exception:
                log.exception("%s: camera events failed", self.camera.id)
                self.stop.wait(self.backoff.cap_s)

    def _handle(self, event: CameraEvent, device: OnvifCamera, name: str) -> None:
        if event.kind != "tamper" or event.state is None:
            return
        was, self._tampered = self._tampered, event.state
        if not event.state or was:
            return  # only an alarm turning on is news
        now = time.monotonic()  # a step of the wall clock must not end or stretch the cooldown
        if self._last is not None and now - self._last < self.cooldown.total_seconds():
            return
        self._last = now
        try:
            snapshot: bytes | None = device.snapshot()
        except IngestError:
            snapshot = None
        self.raised += 1
        log.warning("%s: the camera reports tampering (%s)", self.camera.id, event.topic)
        self.keep(tamper_incident(self.camera, event, snapshot, device=name))
