"""Evidence files on disk: written atomically, named by incident, checked by digest, and which
rows name which files (an incident's snapshot and clip, an event's photos, a model's weights);
a clip that follows its incident is attached here."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.grouping import seen_again
from api.models import Attachment, CustomModel, GridEventHistory, Incident
from contract.incident import ClipReport

# A file being written is named so until it is whole; one left so was cut off mid-write.
PARTIAL_PREFIX = ".incoming-"


class EvidenceError(Exception):
    """Evidence could not be stored (disk full, permissions). Retried by the worker's outbox."""


class UnknownIncident(LookupError):
    """A clip names an incident the API does not hold (yet): the worker sends it again later."""


class ClipConflict(Exception):
    """The incident already has a different clip; the first one stands. Not retried."""


ACTION_ATTACH_CLIP = "attach_clip"


def snapshot_relative_path(incident_id: str, detected_at: datetime) -> Path:
    return Path(f"{detected_at:%Y/%m/%d}") / f"{incident_id}.jpg"


def clip_relative_path(snapshot_path: str | Path) -> Path:
    """Where an incident's clip lies: beside its snapshot, as ``<incident id>.mp4``."""
    return Path(snapshot_path).with_suffix(".mp4")


def store(root: Path, relative: Path, payload: bytes) -> Path:
    """Write `payload` under `root` atomically: a reader sees the whole file or none. The file
    is on disk (fsync) before this returns, written under a `PARTIAL_PREFIX` name and renamed.

    Every incident's snapshot passes here, so the folder is created only when the partial file
    cannot be (its first file of the day), not asked for on every call.

    Raises:
        EvidenceError: The file could not be written (disk full, permissions, a file where a
            folder must go).
    """
    target = root / relative
    try:
        try:
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL_PREFIX)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL_PREFIX)
        try:
            try:
                written = memoryview(payload)
                while written:
                    written = written[os.write(descriptor, written) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
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


def attach_clip(
    session: Session,
    incident_id: str,
    report: ClipReport,
    clip: bytes,
    *,
    evidence_root: Path,
    actor: str,
) -> bool:
    """Attach the clip that follows an incident reported without one, and commit; True when it
    was attached now, False when the incident already had this very clip (idempotent).

    The clip is on disk before the row names it. The incident takes the clip's `ended_at` and
    `ongoing`, seen up to the clip's end. Its grid event, if it opened one, gets an
    ``attach_clip`` step in its history, so the change is announced like any other (live
    alerts, webhooks).

    Raises:
        UnknownIncident: No incident has this id.
        ClipConflict: The incident has a different clip (another SHA-256).
        EvidenceError: The clip could not be written.
    """
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise UnknownIncident(incident_id)
    if incident.clip_path is not None:
        if incident.clip_sha256 == report.sha256:
            session.rollback()  # releases the row lock
            return False
        raise ClipConflict(
            f"incident {incident_id} has another clip (SHA-256 {incident.clip_sha256})"
        )
    relative = clip_relative_path(incident.snapshot_path)
    store(evidence_root, relative, clip)
    incident.clip_path = relative.as_posix()
    incident.clip_sha256 = report.sha256
    incident.clip_started_at = report.started_at
    incident.clip_duration_s = report.duration_s
    details = {**incident.details, "clip_frame_count": report.frame_count}
    if report.ongoing is not None:
        details["ongoing"] = report.ongoing
    incident.details = details
    if report.ended_at is not None:
        incident.ended_at = report.ended_at
    event = incident.grid_event
    if event is not None:
        now = datetime.now(UTC)
        event.updated_at = now
        seen_again(event, incident)
    if event is not None and event.incident_id == incident_id:
        # The event's own clip is a step of its history; an occurrence's clip only moves the
        # situation's last seen (one history row per repeat would bury the real steps).
        event.history.append(
            GridEventHistory(
                actor=actor,
                action=ACTION_ATTACH_CLIP,
                from_status=event.status,
                to_status=event.status,
                note=f"clip of incident {incident_id} ({report.duration_s:.1f} s)",
                at=event.updated_at,
                details={
                    "incident_id": incident_id,
                    "clip_sha256": report.sha256,
                    "duration_s": round(report.duration_s, 1),
                },
            )
        )
    session.commit()
    return True
