"""Live view: who watches which camera now, and each camera's newest live picture.

An operator who opens a live view registers as a viewer for `VIEW_S` seconds and renews while
the view stays open. Workers learn from the answer to their health reports that a camera is
watched and send its newest frame about once a second; nothing of it goes into the database.

Both live in small files under the evidence directory (`<evidence_dir>/live/`): a camera's
viewers are one empty file whose modification time is when the view ends, its picture one JPEG
whose modification time is when the frame was taken, replaced atomically. Several API processes
stay correct as long as they share the evidence directory, as they must for snapshots and clips
anyway; with one that is not shared, a worker's picture would reach only the process it was
sent to.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from api.settings import Settings
from contract.live_view import MAX_LIVE_PICTURE_BYTES

VIEW_S = 10.0
"""How long one registration (or renewal) of a viewer keeps a camera watched, in seconds."""

MAX_PICTURE_AGE_S = 60.0
"""A live picture older than this is not shown: the camera is not being sent now."""


class LivePictureRejected(ValueError):
    """A worker's live picture the API does not take. Not retried; `status` is the HTTP status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class LivePicture:
    """A camera's newest live picture: JPEG bytes and when the frame was taken (aware, UTC)."""

    jpeg: bytes
    captured_at: datetime

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.captured_at).total_seconds()


def check_jpeg(payload: bytes) -> None:
    """Refuse what is not one whole JPEG of at most `MAX_LIVE_PICTURE_BYTES`.

    Raises:
        LivePictureRejected: 413 when too large, 415 when not a JPEG, 422 when empty.
    """
    if not payload:
        raise LivePictureRejected(422, "live picture: empty body")
    if len(payload) > MAX_LIVE_PICTURE_BYTES:
        raise LivePictureRejected(
            413, f"live picture: {len(payload)} bytes, at most {MAX_LIVE_PICTURE_BYTES}"
        )
    # A JPEG starts with SOI and a marker, and ends with EOI.
    if not (payload.startswith(b"\xff\xd8\xff") and payload.rstrip(b"\0").endswith(b"\xff\xd9")):
        raise LivePictureRejected(415, "live picture: not a JPEG image")


class LiveViews:
    """The viewers and live pictures of every camera, kept in `folder`.

    Times are the wall clock (`time.time()`, seconds), which API processes share; `now` lets
    tests drive it. Camera ids are slugs (contract.vocabulary.SLUG), safe as file names.
    """

    def __init__(self, folder: Path, *, view_s: float = VIEW_S):
        self.folder = folder
        self.view_s = view_s

    def _path(self, camera_id: str, suffix: str) -> Path:
        return self.folder / f"{camera_id}{suffix}"

    def watch(self, camera_id: str, *, now: float | None = None) -> float:
        """Register (or renew) a viewer of the camera; returns the seconds it is watched for."""
        now = time.time() if now is None else now
        until = max(now + self.view_s, self._until(camera_id))
        path = self._path(camera_id, ".watch")
        self.folder.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (until, until))
        return until - now

    def watched_s(self, camera_id: str, *, now: float | None = None) -> float:
        """Seconds for which someone still watches the camera; 0 when nobody does."""
        now = time.time() if now is None else now
        return max(0.0, self._until(camera_id) - now)

    def _until(self, camera_id: str) -> float:
        try:
            return self._path(camera_id, ".watch").stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def store(self, camera_id: str, jpeg: bytes, captured_at: datetime) -> None:
        """Keep `jpeg` (checked with `check_jpeg`) as the camera's newest picture; an older
        frame than the one kept (a late request) is ignored."""
        current = self._captured_at(self._path(camera_id, ".jpg"))
        if current is not None and current >= captured_at:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader gets the old picture or the new one, whole.
        partial = self._path(camera_id, f".{os.getpid()}.partial")
        partial.write_bytes(jpeg)
        stamp = captured_at.timestamp()
        os.utime(partial, (stamp, stamp))
        partial.replace(self._path(camera_id, ".jpg"))

    def latest(self, camera_id: str, *, now: datetime | None = None) -> LivePicture | None:
        """The camera's newest picture if it is at most `MAX_PICTURE_AGE_S` old, else None."""
        try:
            with self._path(camera_id, ".jpg").open("rb") as stream:
                # The open file is the picture whose time it has, even if a newer one replaces it.
                captured_at = datetime.fromtimestamp(os.fstat(stream.fileno()).st_mtime, UTC)
                jpeg = stream.read()
        except FileNotFoundError:
            return None
        picture = LivePicture(jpeg, captured_at)
        return picture if picture.age_s(now) <= MAX_PICTURE_AGE_S else None

    @staticmethod
    def _captured_at(path: Path) -> datetime | None:
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None


def live_views_for(settings: Settings) -> LiveViews:
    return LiveViews(settings.evidence_dir / "live", view_s=VIEW_S)


def get_live_views(request: Request) -> LiveViews:
    return live_views_for(request.app.state.settings)


LiveViewsDep = Annotated[LiveViews, Depends(get_live_views)]
