"""Evidence files on disk: written atomically, named by incident, checked by digest."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path


class EvidenceError(Exception):
    """Evidence could not be stored (disk full, permissions). Retried by the worker's outbox."""


def snapshot_relative_path(incident_id: str, detected_at: datetime) -> Path:
    return Path(f"{detected_at:%Y/%m/%d}") / f"{incident_id}.jpg"


def store(root: Path, relative: Path, payload: bytes) -> Path:
    """Write `payload` under `root` atomically: a reader sees the whole file or none."""
    target = root / relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
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
