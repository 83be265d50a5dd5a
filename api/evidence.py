"""Evidence files on disk: written atomically, named by incident, checked by digest, and which
rows name which files (an incident's snapshot and clip, an event's photos, a model's weights)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Attachment, CustomModel, Incident

# A file being written is named so until it is whole; one left so was cut off mid-write.
PARTIAL_PREFIX = ".incoming-"


class EvidenceError(Exception):
    """Evidence could not be stored (disk full, permissions). Retried by the worker's outbox."""


def snapshot_relative_path(incident_id: str, detected_at: datetime) -> Path:
    return Path(f"{detected_at:%Y/%m/%d}") / f"{incident_id}.jpg"


def store(root: Path, relative: Path, payload: bytes) -> Path:
    """Write `payload` under `root` atomically: a reader sees the whole file or none."""
    target = root / relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(payload)
                stream.flush()
                os.fsync(stream.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise EvidenceError(f"evidence could not be stored: {err.strerror or err}") from err
    return target


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class EvidenceFile:
    """One file under the evidence directory that a row names.

    Attributes:
        owner: The row, e.g. ``"incident 3f2c..."``, ``"attachment 12"``, ``"model ward-fall"``.
        kind: ``snapshot``, ``clip``, ``attachment`` or ``weights``.
        path: Relative to the evidence directory, with ``/`` separators.
        sha256: The digest the row recorded (hex).
    """

    owner: str
    kind: str
    path: str
    sha256: str


def incident_files(incident: Incident) -> list[EvidenceFile]:
    """The files an incident stores: its snapshot and, when it has one, its clip."""
    owner = f"incident {incident.id}"
    files = [EvidenceFile(owner, "snapshot", incident.snapshot_path, incident.snapshot_sha256)]
    if incident.clip_path is not None:
        files.append(EvidenceFile(owner, "clip", incident.clip_path, incident.clip_sha256 or ""))
    return files


def stored_files(session: Session) -> Iterator[EvidenceFile]:
    """Every evidence file that a row names: incidents' snapshots and clips, the photos added to
    events and registered models' weights. Whatever else lies in the evidence directory is an
    orphan (written before a commit that failed) or a partial write (`PARTIAL_PREFIX`)."""
    for incident in session.scalars(select(Incident)):
        yield from incident_files(incident)
    for attachment in session.scalars(select(Attachment)):
        owner = f"attachment {attachment.id}"
        yield EvidenceFile(owner, "attachment", attachment.path, attachment.sha256)
    for model in session.scalars(select(CustomModel)):
        yield EvidenceFile(
            f"model {model.name}", "weights", model.weights_path, model.weights_sha256
        )
