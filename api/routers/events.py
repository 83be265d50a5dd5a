"""Grid events: list, report, act on (the lifecycle), attach photos, export as GeoJSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, ValidationError
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import joinedload

from api.attachments import AttachmentRejected, attach, read_photos
from api.auth import UserDep, require_roles
from api.bodies import MULTIPART_OVERHEAD, BodyLimit
from api.deps import PolicyDep, SessionDep, SettingsDep
from api.events import (
    ReportedEvent,
    merge_candidates,
    open_reported_event,
    to_detail,
    to_occurrence,
    to_public,
)
from api.evidence import EvidenceError
from api.evidence_access import record_access
from api.grids import locate_grid
from api.lifecycle import TRANSITIONS, ActionRequest, TransitionError, apply_action
from api.models import Attachment, Camera, GridEvent, Incident, User, UserGrid
from api.principal import Principal
from api.problems import CodedProblem, InvalidFields, field_errors
from api.schemas import (
    GridEventCreate,
    GridEventDetail,
    GridEventPage,
    MergeCandidate,
    OccurrencePage,
    Problem,
    RowId,
    SuppressOnReject,
    Verifier,
)
from api.scope import can_see_event, done_by, scope_events, write_refusal
from api.taxonomy import EventType, Taxonomy, UnknownEventCode
from contract.vocabulary import Category

router = APIRouter(prefix="/api/v1/events", tags=["events"])

PHOTOS_LIMIT = BodyLimit(
    lambda s: s.max_attachment_bytes * s.max_attachments + MULTIPART_OVERHEAD,
    "GRIDWATCH_MAX_ATTACHMENT_BYTES x GRIDWATCH_MAX_ATTACHMENTS",
)
ReporterDep = Annotated[Principal, Depends(require_roles("operator", "grid_worker"))]
OperatorDep = Annotated[Principal, Depends(require_roles("operator"))]


class EventFilters:
    """Query filters shared by the list and the GeoJSON export."""

    def __init__(
        self,
        status: Annotated[list[str] | None, Query(description="Only these states.")] = None,
        category: Annotated[list[str] | None, Query(description="Only these categories.")] = None,
        event_code: Annotated[
            list[str] | None, Query(description="Only these taxonomy event codes.")
        ] = None,
        source: Annotated[list[str] | None, Query(description="Only these sources.")] = None,
        camera_id: Annotated[str | None, Query(description="Only from this camera.")] = None,
        grid_id: Annotated[str | None, Query(description="Only in this grid or below it.")] = None,
        department_id: Annotated[str | None, Query(description="Only this department's.")] = None,
        severity: Annotated[
            list[str] | None, Query(description="Only these severities (low ... critical).")
        ] = None,
        merged_into_id: Annotated[
            int | None,
            Query(ge=1, le=2**31 - 1, description="Only the duplicates merged into this event."),
        ] = None,
        overdue: Annotated[
            bool | None, Query(description="Only those past their deadline.")
        ] = None,
        occurred_from: Annotated[
            AwareDatetime | None,
            Query(alias="from", description="Occurred at or after (ISO 8601)."),
        ] = None,
        occurred_to: Annotated[
            AwareDatetime | None, Query(alias="to", description="Occurred before (ISO 8601).")
        ] = None,
    ):
        self.status, self.category, self.source = status, category, source
        self.event_code, self.severity, self.merged_into_id = event_code, severity, merged_into_id
        self.camera_id, self.grid_id, self.department_id = camera_id, grid_id, department_id
        self.overdue, self.occurred_from, self.occurred_to = overdue, occurred_from, occurred_to

    def apply(self, query: Select[GridEvent]) -> Select[GridEvent]:
        from api.models import Grid

        if self.status:
            query = query.where(GridEvent.status.in_(self.status))
        if self.category:
            query = query.where(GridEvent.category.in_(self.category))
        if self.event_code:
            query = query.where(GridEvent.event_code.in_(self.event_code))
        if self.source:
            query = query.where(GridEvent.source.in_(self.source))
        if self.severity:
            query = query.where(GridEvent.severity.in_(self.severity))
        if self.merged_into_id is not None:
            query = query.where(GridEvent.merged_into_id == self.merged_into_id)
        if self.camera_id:
            query = query.where(GridEvent.camera_id == self.camera_id)
        if self.grid_id:
            below = select(Grid.id).where(Grid.path.contains(f"/{self.grid_id}/"))
            query = query.where(GridEvent.grid_id.in_(below))
        if self.department_id:
            query = query.where(GridEvent.department_id == self.department_id)
        if self.overdue is not None:
            now = datetime.now(UTC)
            late = GridEvent.deadline_at.is_not(None) & (GridEvent.deadline_at < now)
            query = query.where(late if self.overdue else ~late)
        if self.occurred_from:
            query = query.where(GridEvent.occurred_at >= self.occurred_from)
        if self.occurred_to:
            query = query.where(GridEvent.occurred_at < self.occurred_to)
        return query


FiltersDep = Annotated[EventFilters, Depends()]
EventSort = Literal["newest", "severity", "deadline"]
# Most severe first.
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
# Each is one row per event (many-to-one): joined into the page's own statement, one round trip
# for the page rather than one more per relation.
_LOAD = (
    joinedload(GridEvent.incident),
    joinedload(GridEvent.best_incident),
    # Its owner's kind says why an event went to another department than its category's.
    joinedload(GridEvent.camera).joinedload(Camera.organisation),
    joinedload(GridEvent.grid),
    joinedload(GridEvent.assignee),
)


@router.get(
    "", response_model=GridEventPage, summary="Grid events in the caller's scope, newest first."
)
def list_events(
    request: Request,
    session: SessionDep,
    principal: UserDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    sort: Annotated[
        EventSort,
        Query(
            description="newest: newest occurrence first; severity: most severe first, then"
            " newest; deadline: nearest deadline first (none last), then newest."
        ),
    ] = "newest",
    assigned_to_me: Annotated[
        bool, Query(description="Only events the caller was asked to verify (assignee).")
    ] = False,
    done: Annotated[
        bool,
        Query(
            description="Only the caller's done list (已办): events they acted on (any step but"
            " a note or an acknowledgement) that no longer wait for them."
        ),
    ] = False,
) -> GridEventPage:
    query = filters.apply(scope_events(select(GridEvent), principal, with_done=True))
    if done:
        query = query.where(done_by(principal))
    if assigned_to_me:
        assert principal.user is not None
        query = query.where(GridEvent.assignee_id == principal.user.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = (GridEvent.occurred_at.desc(), GridEvent.id.desc())
    if sort == "severity":
        rank = case(SEVERITY_RANK, value=GridEvent.severity, else_=len(SEVERITY_RANK))
        order: tuple[Any, ...] = (rank, *newest)
    elif sort == "deadline":
        order = (GridEvent.deadline_at.is_(None), GridEvent.deadline_at, *newest)
    else:
        order = newest
    rows = session.scalars(query.options(*_LOAD).order_by(*order).limit(limit).offset(offset)).all()
    return GridEventPage(
        items=[to_public(event, request) for event in rows], total=total, limit=limit, offset=offset
    )


@router.get(".geojson", summary="Grid events in the caller's scope as a GeoJSON FeatureCollection.")
def events_geojson(
    request: Request,
    session: SessionDep,
    principal: UserDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    query = filters.apply(scope_events(select(GridEvent), principal, with_done=True))
    rows = session.scalars(query.options(*_LOAD).order_by(GridEvent.id.desc()).limit(limit)).all()
    features = []
    for event in rows:
        properties = to_public(event, request).model_dump(mode="json", exclude={"location"})
        geometry = (
            {"type": "Point", "coordinates": [event.lon, event.lat]}
            if event.lat is not None and event.lon is not None
            else None
        )
        features.append(
            {"type": "Feature", "id": event.id, "geometry": geometry, "properties": properties}
        )
    return {"type": "FeatureCollection", "features": features}


@router.post(
    "",
    response_model=GridEventDetail,
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}, 422: {"model": Problem}},
    summary="Report an event from the hotline, WeChat, a grid worker or by hand.",
)
def create_event(
    body: GridEventCreate,
    request: Request,
    session: SessionDep,
    principal: ReporterDep,
    policy: PolicyDep,
) -> GridEventDetail:
    # Writes are scoped like reads: an operator reports in their region, a grid worker in
    # their own cells.
    refusal = write_refusal(principal, locate_grid(session, body.location.lon, body.location.lat))
    if refusal is not None:
        raise CodedProblem(403, refusal, "outside_your_area", {"role": principal.role})
    event_type = _event_type(policy.taxonomy, body.event_code, body.category)
    report = ReportedEvent(
        source=body.source.value,
        category=event_type.category.value,
        event_code=event_type.code,
        severity=(body.severity or event_type.severity).value,
        title=body.title,
        description=body.description,
        lat=body.location.lat,
        lon=body.location.lon,
        address=body.address,
        occurred_at=body.occurred_at or datetime.now(UTC),
        source_reference=body.source_reference,
        reporter=body.reporter or principal.name,
    )
    event = open_reported_event(session, report, actor=principal.actor, policy=policy)
    return to_detail(event, request, principal)


def _event_type(taxonomy: Taxonomy, code: str | None, category: Category | None) -> EventType:
    """The event type a reporter named, by code or by category alone; 422 when they disagree."""
    if code is None:
        if category is None:
            raise InvalidFields(
                "event_code: name an event code or a category", "event_code", "missing"
            )
        code = taxonomy.for_category(category.value)
        if code is None:  # a district without a taxonomy
            raise CodedProblem(422, "event_code: the district has no event taxonomy", "no_taxonomy")
    try:
        event_type = taxonomy.check(code)
    except UnknownEventCode as err:
        raise CodedProblem(422, str(err), "event_code_unknown", {"event_code": code}) from err
    if category is not None and category != event_type.category:
        raise CodedProblem(
            422,
            f"category: event code {code} ({event_type.name_en}) is"
            f" {event_type.category.value}, not {category.value}",
            "event_code_category",
            {"event_code": code, "category": category.value},
        )
    return event_type


def _visible(session: SessionDep, principal: Principal, event_id: int) -> GridEvent:
    event = can_see_event(session, principal, event_id)
    if event is None:
        raise CodedProblem(
            404, f"grid event {event_id} not found", "event_not_found", {"event_id": event_id}
        )
    return event


@router.get(
    "/{event_id}",
    response_model=GridEventDetail,
    responses={404: {"model": Problem}},
    summary="One grid event with its audit trail, photos and the actions open to the caller.",
)
def get_event(
    event_id: RowId, request: Request, session: SessionDep, principal: UserDep
) -> GridEventDetail:
    return to_detail(_visible(session, principal, event_id), request, principal)


@router.post(
    "/{event_id}/actions/{action}",
    response_model=GridEventDetail,
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem},
               413: {"model": Problem}, 415: {"model": Problem}, 422: {"model": Problem}},
    summary="Move an event through its lifecycle: " + ", ".join(TRANSITIONS) + ".",
    dependencies=[Depends(PHOTOS_LIMIT)],
)  # fmt: skip
async def act_on_event(
    event_id: RowId,
    action: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
    policy: PolicyDep,
    note: Annotated[str, Form(max_length=5000, description="Why, or what was found.")] = "",
    department_id: Annotated[str | None, Form(description="dispatch: department.")] = None,
    assignee_id: Annotated[
        int | None, Form(ge=1, le=2**31 - 1, description="verify: grid worker's user id.")
    ] = None,
    into_event_id: Annotated[
        int | None, Form(ge=1, le=2**31 - 1, description="merge: the event to keep.")
    ] = None,
    photos: Annotated[
        list[UploadFile] | None, File(description="Photos (JPEG, PNG, WebP).")
    ] = None,
    suppress: Annotated[
        str | None,
        Form(
            max_length=2000,
            description='reject: "do not raise this again", as a JSON object (SuppressOnReject:'
            " margin, starts_at_time, ends_at_time, expires_in_days); {} for the defaults.",
        ),
    ] = None,
) -> GridEventDetail:
    event = _visible(session, principal, event_id)
    suppression = _suppress_request(suppress)
    if principal.role == "handler" and event.department_id != (
        principal.user and principal.user.department_id
    ):
        raise CodedProblem(403, "this event is not your department's", "not_your_department")
    if into_event_id is not None and can_see_event(session, principal, into_event_id) is None:
        raise CodedProblem(
            422,
            f"into_event_id: {into_event_id} is not an open event",
            "merge_target_closed",
            {"into_event_id": into_event_id},
        )
    try:
        pictures = await read_photos(
            photos or [],
            max_bytes=settings.max_attachment_bytes,
            max_count=settings.max_attachments,
        )
        step = apply_action(
            session, event, action, principal,
            ActionRequest(note=note, department_id=department_id, assignee_id=assignee_id,
                          into_event_id=into_event_id, photo_count=len(pictures),
                          suppress=suppression),
            policy,
        )  # fmt: skip
        attach(
            session,
            event,
            pictures,
            root=settings.evidence_dir,
            actor=principal.actor,
            history_id=step.id,
        )
        session.commit()
    except TransitionError as err:
        session.rollback()
        raise CodedProblem(err.status, err.detail, err.code, err.params) from err
    except AttachmentRejected as err:
        session.rollback()
        raise CodedProblem(err.status, str(err), err.code, err.params) from err
    except EvidenceError as err:
        session.rollback()
        raise CodedProblem(507, str(err), "evidence_store_failed") from err
    session.refresh(event)
    return to_detail(event, request, principal)


def _suppress_request(text: str | None) -> SuppressOnReject | None:
    """The verdict's "do not raise this again" request; 422 naming the field when invalid."""
    if text is None or not text.strip():
        return None
    try:
        return SuppressOnReject.model_validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = f"suppress{'.' + where if where else ''}"
        raise InvalidFields(
            f"{field}: {first['msg']}", field, first["type"], field_errors([first])[0]["params"]
        ) from err


@router.get(
    "/{event_id}/attachments/{attachment_id}",
    name="event_attachment",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 404: {"model": Problem}},
)
def get_attachment(
    event_id: RowId,
    attachment_id: RowId,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
    request: Request,
) -> FileResponse:
    """Each view is recorded in the evidence access log."""
    event = _visible(session, principal, event_id)
    item = session.get(Attachment, attachment_id)
    if item is None or item.grid_event_id != event_id:
        raise CodedProblem(
            404,
            f"attachment {attachment_id} not found",
            "attachment_not_found",
            {"attachment_id": attachment_id},
        )
    record_access(
        session, request, principal, action="view", object_kind="photo",
        object_id=str(item.id), camera_id=event.camera_id, grid_event_id=event_id,
    )  # fmt: skip
    session.commit()
    return FileResponse(
        settings.evidence_dir / item.path,
        media_type=item.content_type,
        headers={"ETag": f'"{item.sha256}"'},
    )


@router.get(
    "/{event_id}/occurrences",
    response_model=OccurrencePage,
    responses={404: {"model": Problem}},
    summary="The incidents of an event's situation (occurrences), newest first.",
)
def list_occurrences(
    event_id: RowId,
    request: Request,
    session: SessionDep,
    principal: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> OccurrencePage:
    event = _visible(session, principal, event_id)
    query = select(Incident).where(Incident.grid_event_id == event.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Incident.started_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    ).all()
    return OccurrencePage(
        items=[to_occurrence(incident, request) for incident in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{event_id}/verifiers",
    response_model=list[Verifier],
    responses={404: {"model": Problem}},
    summary="Active grid workers of the event's grid cell: whom an operator may ask to verify.",
)
def get_verifiers(event_id: RowId, session: SessionDep, principal: OperatorDep) -> list[Verifier]:
    event = _visible(session, principal, event_id)
    if event.grid_id is None:
        return []
    workers = session.scalars(
        select(User)
        .join(UserGrid, UserGrid.user_id == User.id)
        .where(
            UserGrid.grid_id == event.grid_id,
            User.role == "grid_worker",
            User.active.is_(True),
        )
        .order_by(User.username)
    ).all()
    return [
        Verifier(id=user.id, username=user.username, full_name=user.full_name) for user in workers
    ]


@router.get(
    "/{event_id}/merge-candidates",
    response_model=list[MergeCandidate],
    responses={404: {"model": Problem}},
    summary="Open events of the same category nearby in space and time, newest first: likely"
    " duplicates.",
)
def get_merge_candidates(
    event_id: RowId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
) -> list[MergeCandidate]:
    event = _visible(session, principal, event_id)
    candidates = merge_candidates(
        session,
        event,
        radius_m=settings.merge_radius_m,
        window=timedelta(minutes=settings.merge_window_minutes),
    )
    return [
        MergeCandidate(event=to_public(other, request), distance_m=round(metres, 1))
        for other, metres in candidates
        if can_see_event(session, principal, other.id) is not None
    ]
