"""Live view on the wire: how the API tells a worker that someone watches a camera, and what a
worker's live picture carries.

The API answers a worker's health report (PUT /api/v1/cameras/{id}/health) with the header
`LIVE_VIEW_HEADER`: the seconds for which someone still watches the camera (absent when nobody
does). While it is above zero the worker sends the camera's newest frame about once a second
(PUT /api/v1/cameras/{id}/live.jpg, a JPEG, with its capture time in `CAPTURED_AT_HEADER`), and
each answer (`LivePictureReceipt`) renews or ends the demand.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LIVE_VIEW_HEADER = "X-GridWatch-Live-View-S"
"""Header of a health report's answer: seconds someone still watches the camera."""

CAPTURED_AT_HEADER = "X-GridWatch-Captured-At"
"""Header of a live picture, both ways: when the frame was taken (ISO 8601 with offset)."""

LIVE_PICTURE_INTERVAL_S = 1.0
"""How often a worker sends a watched camera's newest frame, in seconds."""

MAX_LIVE_PICTURE_BYTES = 2 * 1024 * 1024
"""The largest live picture the API takes (a 1080p JPEG is ~200-500 KB)."""


class LivePictureReceipt(BaseModel):
    """The API's answer to a live picture."""

    model_config = ConfigDict(extra="forbid")

    live_view_s: float = Field(
        ge=0,
        description="Seconds for which someone still watches the camera; 0: nobody does, stop"
        " sending.",
    )
