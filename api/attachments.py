"""Photos people attach to events: checked for size and type, stored by content digest."""

from __future__ import annotations

from pathlib import Path

from fastapi import UploadFile
from sqlalchemy.orm import Session

from api import evidence
from api.models import Attachment, GridEvent

SIGNATURES = {
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}


class AttachmentRejected(ValueError):
    """An upload that is too large or not an image we accept. Not retried; answered 413/415/422."""

    def __init__(self, status: int, detail: str, code: str, **params: object):
        self.status = status
        self.code = code  # with `params`, what a client words (api.problems)
        self.params = params
        super().__init__(detail)


def _kind(payload: bytes) -> tuple[str, str] | None:
    for signature, kind in SIGNATURES.items():
        if payload.startswith(signature):
            return kind
    if payload[:4] == b"RIFF" and payload[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


async def read_photos(
    files: list[UploadFile], *, max_bytes: int, max_count: int
) -> list[tuple[str, bytes, str, str]]:
    """(filename, payload, content type, suffix) of each upload, or AttachmentRejected."""
    if len(files) > max_count:
        raise AttachmentRejected(
            422, f"photos: at most {max_count} at once", "photos_too_many", limit=max_count
        )
    photos = []
    for upload in files:
        payload = await upload.read(max_bytes + 1)
        name = Path(upload.filename or "photo").name[:200]
        if len(payload) > max_bytes:
            raise AttachmentRejected(
                413,
                f"photos: {name} is larger than {max_bytes} bytes",
                "photo_too_large",
                name=name,
                megabytes=round(max_bytes / 1e6, 1),
            )
        kind = _kind(payload)
        if kind is None:
            raise AttachmentRejected(
                415, f"photos: {name} is not a JPEG, PNG or WebP image", "photo_kind", name=name
            )
        photos.append((name, payload, *kind))
    return photos


def attach(
    session: Session,
    event: GridEvent,
    photos: list[tuple[str, bytes, str, str]],
    *,
    root: Path,
    actor: str,
    history_id: int | None,
) -> list[Attachment]:
    stored = []
    for name, payload, content_type, suffix in photos:
        digest = evidence.sha256_hex(payload)
        relative = Path("attachments") / str(event.id) / f"{digest}{suffix}"
        evidence.store(root, relative, payload)
        item = Attachment(
            grid_event_id=event.id,
            history_id=history_id,
            filename=name,
            content_type=content_type,
            size=len(payload),
            sha256=digest,
            path=relative.as_posix(),
            uploaded_by=actor,
        )
        session.add(item)
        stored.append(item)
    session.flush()
    return stored
