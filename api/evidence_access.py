"""The evidence access log: each view or download of evidence and each worker's read of camera
credentials, recorded by the route that serves it, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from fastapi import Request
from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.models import EvidenceAccess
from api.principal import Principal

Action = Literal["view", "download", "credentials"]
ObjectKind = Literal["snapshot", "clip", "photo", "live_picture", "camera_credentials"]


def record_access(
    session: Session,
    request: Request,
    principal: Principal,
    *,
    action: Action,
    object_kind: ObjectKind,
    object_id: str,
    camera_id: str | None = None,
    grid_event_id: int | None = None,
) -> None:
    """Add one access to the session (the caller commits it with what it serves).

    Who: the principal's actor, role and account id; from where: the client's address and
    User-Agent (cut to the column's 300 characters).
    """
    row = _row(request, principal, action, object_kind, object_id, camera_id, grid_event_id)
    session.add(EvidenceAccess(**row))


def record_accesses(
    session: Session,
    request: Request,
    principal: Principal,
    *,
    action: Action,
    object_kind: ObjectKind,
    objects: Sequence[tuple[str, str | None]],
) -> None:
    """Record an access to each of `objects` (object id, camera id) as `record_access` does,
    in one INSERT sent now (the caller commits it with what it serves): a worker handed the
    credentials of many cameras at once (its first lease of a district's share) costs one
    statement, not a flushed object per camera."""
    if not objects:
        return
    session.execute(
        insert(EvidenceAccess),
        [
            _row(request, principal, action, object_kind, object_id, camera_id, None)
            for object_id, camera_id in objects
        ],
    )


def _row(
    request: Request,
    principal: Principal,
    action: Action,
    object_kind: ObjectKind,
    object_id: str,
    camera_id: str | None,
    grid_event_id: int | None,
) -> dict[str, Any]:
    return {
        "actor": principal.actor[:120],
        "role": principal.role,
        "user_id": principal.user.id if principal.user is not None else None,
        "action": action,
        "object_kind": object_kind,
        "object_id": object_id[:200],
        "camera_id": camera_id,
        "grid_event_id": grid_event_id,
        "client_address": request.client.host if request.client else "unknown",
        "user_agent": request.headers.get("user-agent", "")[:300],
    }
