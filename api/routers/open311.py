"""Open311 GeoReport v2: grid events as service requests, so civic tools can read and post them.

Services are the district taxonomy's event codes. Reading requests and posting one need an
``api_key`` (query or form field, or ``Authorization: Bearer``), which is one of:

- an API token issued by an admin (``POST /api/v1/tokens``, ``gw_...``): the usual choice for a
  system such as the 12345 hotline. It posts events with source ``hotline_12345`` and reads back
  the requests it posted.
- a user's access token (``POST /api/v1/auth/token``): an operator posts events with source
  ``manual``; any user reads the events in their own scope, as in ``/api/v1/events``.

The camera workers' shared token (GRIDWATCH_WORKER_TOKEN) is refused here. Errors follow the
specification: a JSON list of ``{"code", "description"}`` with the HTTP status as the code.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from api.auth import bearer_token, current_principal
from api.deps import PolicyDep, SessionDep, SettingsDep
from api.district import FINAL_STATES
from api.events import ReportedEvent, open_reported_event
from api.grids import locate_grid
from api.models import GridEvent, GridEventHistory
from api.principal import Principal
from api.scope import scope_events, write_refusal
from api.settings import Settings
from api.taxonomy import EventType, Taxonomy
from contract.vocabulary import Category

log = logging.getLogger(__name__)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

MAX_SPAN = timedelta(days=90)  # the specification's default and widest date range
MAX_RESULTS = 1000
# Services are the taxonomy's event codes. A category name (the services before the taxonomy)
# is still accepted as a service_code: it means the category's default code when posting, and
# every code of the category when listing.
CATEGORIES = frozenset(category.value for category in Category)


def _service(event_type: EventType) -> dict[str, Any]:
    return {
        "service_code": event_type.code,
        "service_name": f"{event_type.name_en} ({event_type.name_zh})",
        "description": f"{event_type.major_name_en} ({event_type.major_name_zh}):"
        f" {event_type.name_en}.",
        "metadata": False,
        "type": "realtime",
        "keywords": event_type.category.value,
        "group": f"{event_type.major_name_en} ({event_type.major_name_zh})",
    }


class Open311Error(Exception):
    """A request refused in the Open311 way. Not retried; `code` is the HTTP status."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


async def _error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Open311Error)
    return JSONResponse([{"code": exc.code, "description": exc.description}], exc.code)


def install(app: FastAPI) -> None:
    """Add the Open311 routes and their error format to `app`."""
    app.include_router(router)
    app.add_exception_handler(Open311Error, _error_response)


def _principal(
    session: Session, settings: Settings, request: Request, api_key: str | None
) -> Principal:
    key = api_key or bearer_token(request.headers.get("authorization"))
    if not key:
        raise Open311Error(401, "api_key is required")
    if key == settings.worker_token.get_secret_value():
        raise Open311Error(403, "api_key: the camera workers' shared token is not accepted here")
    try:
        principal = current_principal(session, settings, key)
    except HTTPException as err:
        raise Open311Error(401, f"api_key: {err.detail}") from err
    if principal.role == "worker" and "open311" not in principal.scopes:
        raise Open311Error(403, f"api_key: token {principal.name!r} lacks the scope 'open311'")
    return principal


def _visible(query: Select[GridEvent], principal: Principal) -> Select[GridEvent]:
    if principal.role == "worker":
        # A system with an API token follows the requests it posted itself.
        own = select(GridEventHistory.grid_event_id).where(
            GridEventHistory.action == "report", GridEventHistory.actor == principal.actor
        )
        return query.where(GridEvent.id.in_(own))
    return scope_events(query, principal)


def _w3c(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _service_request(event: GridEvent, taxonomy: Taxonomy) -> dict[str, Any]:
    event_type = taxonomy.get(event.event_code)
    closed = event.status in FINAL_STATES  # "closed" to Open311; every other state is "open"
    department = event.department
    return {
        "service_request_id": str(event.id),
        "status": "closed" if closed else "open",
        "status_notes": event.status,
        "service_name": _service(event_type)["service_name"] if event_type else event.category,
        "service_code": event.event_code or event.category,
        "description": event.description or event.title,
        "agency_responsible": department.name if department else None,
        "service_notice": None,
        "requested_datetime": _w3c(event.reported_at),
        "updated_datetime": _w3c(event.updated_at),
        "expected_datetime": None if closed else _w3c(event.deadline_at),
        "address": event.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": event.lat,
        "long": event.lon,
        "media_url": None,
    }


def _parse_datetime(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise Open311Error(400, f"{name}: not a W3C date-time ({text!r})") from err
    # A date or time without a zone is read as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _codes(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@router.get("/services.json", summary="Open311 services: one per taxonomy event code.")
def list_services(policy: PolicyDep) -> list[dict[str, Any]]:
    return [_service(event_type) for event_type in policy.taxonomy.events.values()]


@router.get("/requests.json", summary="Open311 service requests: grid events in the key's scope.")
def list_requests(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    api_key: Annotated[str | None, Query(description="API token or access token.")] = None,
    service_request_id: Annotated[
        str | None, Query(description="Comma-separated ids; other filters are then ignored.")
    ] = None,
    service_code: Annotated[
        str | None, Query(description="Comma-separated event codes (or categories).")
    ] = None,
    start_date: Annotated[str | None, Query(description="Requested at or after.")] = None,
    end_date: Annotated[str | None, Query(description="Requested before.")] = None,
    status_filter: Annotated[
        str | None, Query(alias="status", description="open, closed or open,closed.")
    ] = None,
    jurisdiction_id: Annotated[str | None, Query(description="Ignored: one district.")] = None,
) -> list[dict[str, Any]]:
    principal = _principal(session, settings, request, api_key)
    query = _visible(select(GridEvent), principal).options(selectinload(GridEvent.department))
    ids = _codes(service_request_id)
    if ids:
        if not all((part.isascii() and part.isdigit()) for part in ids):
            raise Open311Error(400, "service_request_id: comma-separated numbers")
        query = query.where(GridEvent.id.in_([int(part) for part in ids]))
    else:
        codes = _codes(service_code)
        known = policy.taxonomy.events
        unknown = [code for code in codes if code not in known and code not in CATEGORIES]
        if unknown:
            raise Open311Error(400, f"service_code: unknown {', '.join(unknown)}")
        if codes:
            query = query.where(
                GridEvent.event_code.in_([code for code in codes if code in known])
                | GridEvent.category.in_([code for code in codes if code in CATEGORIES])
            )
        states = _codes(status_filter)
        if any(state not in ("open", "closed") for state in states):
            raise Open311Error(400, "status: open or closed")
        if states == ["open"]:
            query = query.where(GridEvent.status.not_in(FINAL_STATES))
        elif states == ["closed"]:
            query = query.where(GridEvent.status.in_(FINAL_STATES))
        end = _parse_datetime("end_date", end_date) if end_date else datetime.now(UTC)
        start = _parse_datetime("start_date", start_date) if start_date else end - MAX_SPAN
        if start >= end:
            raise Open311Error(400, "start_date: must be before end_date")
        if end - start > MAX_SPAN:
            raise Open311Error(400, "start_date, end_date: may not span more than 90 days")
        query = query.where(GridEvent.reported_at >= start, GridEvent.reported_at < end)
    rows = session.scalars(
        query.order_by(GridEvent.reported_at.desc(), GridEvent.id.desc()).limit(MAX_RESULTS)
    ).all()
    return [_service_request(event, policy.taxonomy) for event in rows]


@router.get(
    "/requests/{service_request_id}.json", summary="One Open311 service request (a list of one)."
)
def get_request(
    service_request_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    api_key: Annotated[str | None, Query(description="API token or access token.")] = None,
    jurisdiction_id: Annotated[str | None, Query(description="Ignored: one district.")] = None,
) -> list[dict[str, Any]]:
    principal = _principal(session, settings, request, api_key)
    event = None
    if service_request_id.isascii() and service_request_id.isdigit():
        query = _visible(select(GridEvent), principal).where(
            GridEvent.id == int(service_request_id)
        )
        event = session.scalars(query.options(selectinload(GridEvent.department))).first()
    if event is None:
        raise Open311Error(404, f"service_request_id: {service_request_id} not found")
    return [_service_request(event, policy.taxonomy)]


def _coordinate(name: str, text: str | None, limit: float) -> float:
    if text is None or not text.strip():
        raise Open311Error(
            400, f"{name}: required (lat and long; GridWatch places events by coordinates)"
        )
    try:
        value = float(text)
    except ValueError as err:
        raise Open311Error(400, f"{name}: not a number ({text!r})") from err
    if not -limit <= value <= limit:
        raise Open311Error(400, f"{name}: out of range")
    return value


@router.post(
    "/requests.json",
    status_code=status.HTTP_201_CREATED,
    summary="Post an Open311 service request: opens a grid event (hotline_12345 or manual).",
)
def create_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    api_key: Annotated[str | None, Form(description="API token or access token.")] = None,
    service_code: Annotated[str | None, Form(description="A code from services.json.")] = None,
    lat: Annotated[str | None, Form(description="Latitude (WGS84).")] = None,
    long: Annotated[str | None, Form(description="Longitude (WGS84).")] = None,
    address_string: Annotated[str | None, Form(description="Address in words.")] = None,
    description: Annotated[str | None, Form(description="What is wrong (4000 chars).")] = None,
    first_name: Annotated[str | None, Form(description="Reporter's first name.")] = None,
    last_name: Annotated[str | None, Form(description="Reporter's last name.")] = None,
    email: Annotated[str | None, Form(description="Not stored.")] = None,
    phone: Annotated[str | None, Form(description="Not stored.")] = None,
    jurisdiction_id: Annotated[str | None, Form(description="Ignored: one district.")] = None,
) -> list[dict[str, Any]]:
    principal = _principal(session, settings, request, api_key)
    if principal.role == "worker":
        source = "hotline_12345"
    elif principal.role in ("operator", "admin"):
        source = "manual"
    else:
        raise Open311Error(403, f"a {principal.role} may not post service requests")
    code = (
        policy.taxonomy.for_category(service_code) if service_code in CATEGORIES else service_code
    )
    event_type = policy.taxonomy.get(code)
    if event_type is None:
        raise Open311Error(
            400, f"service_code: one of {', '.join(policy.taxonomy.events)} (services.json)"
        )
    latitude = _coordinate("lat", lat, 90)
    longitude = _coordinate("long", long, 180)
    grid = locate_grid(session, longitude, latitude)
    if grid is None:
        raise Open311Error(400, "lat, long: outside the district's grids")
    refusal = write_refusal(principal, grid)
    if refusal is not None:
        raise Open311Error(403, refusal.replace("location:", "lat, long:", 1))
    text = (description or "").strip()
    if len(text) > 4000:
        raise Open311Error(400, "description: longer than 4000 characters")
    first_line = text.splitlines()[0] if text else ""
    report = ReportedEvent(
        source=source,
        category=event_type.category.value,
        event_code=event_type.code,
        severity=event_type.severity.value,
        title=(first_line or _service(event_type)["service_name"])[:300],
        description=text,
        lat=latitude,
        lon=longitude,
        address=(address_string or "").strip()[:300],
        occurred_at=datetime.now(UTC),
        source_reference=None,
        reporter=" ".join(part for part in (first_name, last_name) if part).strip()[:100],
    )
    event = open_reported_event(session, report, actor=principal.actor, policy=policy)
    log.info("open311: %s opened grid event %d (%s)", principal.actor, event.id, source)
    return [{"service_request_id": str(event.id), "service_notice": None, "account_id": None}]
