"""The evidence access log for administrators: listed and exported, never changed."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import Select, func, select

from api.auth import AdminDep
from api.deps import SessionDep
from api.models import EvidenceAccess
from api.routers.evaluation import csv_cell
from api.schemas import EvidenceAccessPage, EvidenceAccessPublic

router = APIRouter(prefix="/api/v1/evidence-access", tags=["evidence access"])

CSV_COLUMNS = list(EvidenceAccessPublic.model_fields)


class AccessFilters:
    """Which accesses: by time, who, what kind, which camera or event."""

    def __init__(
        self,
        since: Annotated[datetime | None, Query(description="From (ISO 8601 with offset).")] = None,
        until: Annotated[datetime | None, Query(description="Before (ISO 8601).")] = None,
        actor: Annotated[str | None, Query(max_length=120, description="user:<name>...")] = None,
        object_kind: Annotated[str | None, Query(max_length=30)] = None,
        camera_id: Annotated[str | None, Query(max_length=100)] = None,
        grid_event_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    ):
        self.since, self.until, self.actor = since, until, actor
        self.object_kind, self.camera_id, self.grid_event_id = object_kind, camera_id, grid_event_id

    def apply(self, query: Select[EvidenceAccess]) -> Select[EvidenceAccess]:
        conditions = [
            (self.since, EvidenceAccess.at >= self.since if self.since else None),
            (self.until, EvidenceAccess.at < self.until if self.until else None),
            (self.actor, EvidenceAccess.actor == self.actor),
            (self.object_kind, EvidenceAccess.object_kind == self.object_kind),
            (self.camera_id, EvidenceAccess.camera_id == self.camera_id),
            (self.grid_event_id, EvidenceAccess.grid_event_id == self.grid_event_id),
        ]
        for value, condition in conditions:
            if value is not None and condition is not None:
                query = query.where(condition)
        return query


FiltersDep = Annotated[AccessFilters, Depends()]


@router.get(
    "",
    response_model=EvidenceAccessPage,
    summary="Who viewed or downloaded which evidence, and which worker read which camera's"
    " credentials, newest first (admins).",
)
def list_accesses(
    session: SessionDep,
    _admin: AdminDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> EvidenceAccessPage:
    # Entries keep coming while the page is read: count and list up to the same newest one.
    newest = session.scalar(select(func.max(EvidenceAccess.id))) or 0
    query = filters.apply(select(EvidenceAccess).where(EvidenceAccess.id <= newest))
    total = session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0
    rows = session.scalars(
        query.order_by(EvidenceAccess.id.desc()).limit(limit).offset(offset)
    ).all()
    return EvidenceAccessPage(
        items=[EvidenceAccessPublic.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    ".csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The evidence access log as CSV, oldest first (admins); cells a spreadsheet would"
    " run as formulas are neutralised.",
)
def export_accesses(session: SessionDep, _admin: AdminDep, filters: FiltersDep) -> Response:
    rows = session.scalars(filters.apply(select(EvidenceAccess)).order_by(EvidenceAccess.id))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        public = EvidenceAccessPublic.model_validate(row).model_dump(mode="json")
        writer.writerow({key: csv_cell(value) for key, value in public.items()})
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="evidence-access.csv"'},
    )
