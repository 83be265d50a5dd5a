"""Live view from the worker's side: which cameras someone watches now, and sending their newest
frames to the API while they do (contract.live_view says how the two sides agree).

The API says a camera is watched in the answer to its health report, and again in the answer to
each live picture; the demand lapses by itself when no answer renews it, so a worker cut off
from the API stops sending.
"""

from __future__ import annotations

import logging
import threading
import time

import cv2
import httpx

from contract.live_view import CAPTURED_AT_HEADER, LivePictureReceipt
from gridwatch.api_client import ApiClient, ApiError, ApiRefused
from ingest import Frame

log = logging.getLogger(__name__)


class LiveDemand:
    """For how long each camera is watched, by `time.monotonic()`; shared between threads."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def watched_for(self, camera_id: str, seconds: float, *, now: float | None = None) -> None:
        """The API said someone watches the camera for `seconds` more (0: nobody does)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if seconds > 0:
                self._until[camera_id] = now + seconds
            else:
                self._until.pop(camera_id, None)

    def watched(self, *, now: float | None = None) -> list[str]:
        """The cameras someone watches now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for camera_id in [c for c, until in self._until.items() if until <= now]:
                del self._until[camera_id]
            return sorted(self._until)


class LivePictureSender:
    """Sends a watched camera's frame to the API as a JPEG (PUT /api/v1/cameras/{id}/live.jpg).

    Args:
        api_url, token, worker_name: As for `ApiClient`.
        max_width: Wider frames are scaled down to this many pixels first, to stay well under
            the API's size limit and the district network's bandwidth.
        quality: JPEG quality, 0-100.
        client: An httpx client to send through (tests).
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        worker_name: str,
        max_width: int = 1280,
        quality: int = 75,
        client: httpx.Client | None = None,
    ):
        self.api = ApiClient(api_url, token, worker_name=worker_name, timeout=5, client=client)
        self.demand = LiveDemand()
        self.max_width = max_width
        self.quality = quality
        self.sent = 0

    def encode(self, frame: Frame) -> bytes:
        """The frame as a JPEG, scaled down to `max_width` if wider.

        Raises:
            ValueError: OpenCV could not encode the frame.
        """
        image = frame.image
        height, width = image.shape[:2]
        if width > self.max_width:
            size = (self.max_width, round(height * self.max_width / width))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"{frame.camera_id}: frame {frame.sequence} could not be encoded")
        return encoded.tobytes()

    def send(self, frame: Frame) -> None:
        """Send `frame` as its camera's live picture; the answer renews or ends the demand.
        A failure is logged and ends the demand until the API renews it."""
        camera_id = frame.camera_id
        try:
            answer = self.api.call(
                "PUT",
                f"/api/v1/cameras/{camera_id}/live.jpg",
                content=self.encode(frame),
                headers={
                    "Content-Type": "image/jpeg",
                    CAPTURED_AT_HEADER: frame.timestamp.isoformat(),
                },
            )
            receipt = LivePictureReceipt.model_validate(answer)
        except ApiRefused as err:
            log.warning("%s: live picture refused (%d)", camera_id, err.status_code)
            self.demand.watched_for(camera_id, 0)
            return
        except (ApiError, ValueError) as err:
            log.warning("%s: live picture not sent (%s)", camera_id, err)
            self.demand.watched_for(camera_id, 0)
            return
        self.sent += 1
        self.demand.watched_for(camera_id, receipt.live_view_s)

    def close(self) -> None:
        self.api.close()
