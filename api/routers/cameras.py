"""Cameras: owners register and edit them; workers fetch them and report their health."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Body, Depends, Header, Request, Response, status
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import object_session, selectinload

from api.auth import AdminDep, UserDep, WorkerDep, require_roles
from api.bodies import BodyLimit
from api.cameras import (
    CameraRejected,
    active_cameras,
    feed_version,
    full_config,
    merged_document,
    upsert_camera,
    validate_registration,
)
from api.deps import CipherDep, PolicyDep, SessionDep, SettingsDep
from api.evidence_access import record_access, record_accesses
from api.health import SILENT, UNASSIGNED, record_health
from api.liveview import LivePictureRejected, LiveViewsDep, check_jpeg
from api.models import Camera, CameraLease, Organisation
from api.principal import Principal
from api.problems import CodedProblem, InvalidFields
from api.reconnect import repeatable
from api.schemas import (
    CameraDetail,
    CameraFeed,
    CameraPublic,
    ConnectionReport,
    ConnectionTest,
    DiscoveredCameraPublic,
    DiscoveryRequest,
    FleetPublic,
    FleetWorkerPublic,
    LeaseGrant,
    LeaseRequest,
    LiveViewGrant,
    Location,
    OrganisationPublic,
    Problem,
    RefusedCameraFile,
    WaitingCamera,
)
from api.scope import scope_cameras
from api.throttle import ConcurrencyLimit, TooManyInFlight
from contract.camera import CameraConfig
from contract.health import HealthReport
from contract.live_view import (
    CAPTURED_AT_HEADER,
    LIVE_VIEW_HEADER,
    MAX_LIVE_PICTURE_BYTES,
    LivePictureReceipt,
)
from ingest.addresses import address_scheme
from ingest.errors import AuthenticationFailed, CameraUnavailable, InvalidSource, UnsupportedSource
from ingest.images import ImageTooLarge

router = APIRouter(prefix="/api/v1", tags=["cameras"])

OwnerDep = Annotated[Principal, Depends(require_roles("camera_owner"))]


def _why(camera: Camera) -> tuple[str | None, str | None]:
    """Why a camera is not online, as a code the console words, and the worker watching it."""
    session = object_session(camera)
    lease = session.get(CameraLease, camera.id) if session is not None else None
    watcher = lease.worker if lease is not None and lease.expires_at > datetime.now(UTC) else None
    if not camera.enabled:
        return "disabled", watcher
    if camera.status == "online":
        return None, watcher
    if camera.status == "unknown":
        # Never reported on: nobody runs it, or the worker that took it has not reported yet.
        return ("unwatched" if watcher is None else "awaiting_report"), watcher
    if camera.health.get("error") == SILENT:
        return "worker_silent", watcher
    if camera.status == UNASSIGNED:
        return "unassigned", watcher
    # The worker's code; a worker that sent none is worded by its detail alone.
    return camera.health.get("reason") or "stream", watcher


def _public(camera: Camera) -> CameraPublic:
    reason, watcher = _why(camera)
    return CameraPublic(
        id=camera.id,
        name=camera.name,
        organisation=OrganisationPublic.model_validate(camera.organisation),
        source=camera.source_display,
        location=Location(lat=camera.lat, lon=camera.lon),
        grid_id=camera.grid_id,
        enabled=camera.enabled,
        status=camera.status,
        status_reason=reason,
        watched_by=watcher,
        status_error=(
            camera.health.get("error")
            if reason not in (None, "disabled", "unwatched", "awaiting_report")
            else None
        ),
    )


def _detail(camera: Camera) -> CameraDetail:
    return CameraDetail(
        **_public(camera).model_dump(),
        config={k: v for k, v in camera.config.items() if k != "organisation"},
        status_since=camera.status_since,
        last_frame_at=camera.last_frame_at,
        health=camera.health,
        suppressed_incidents=camera.suppressed_incidents,
        last_suppressed_at=camera.last_suppressed_at,
    )


def _visible_camera(session: SessionDep, principal: Principal, camera_id: str) -> Camera:
    query = scope_cameras(select(Camera).where(Camera.id == camera_id), principal)
    camera = session.scalars(query.where(Camera.retired_at.is_(None))).first()
    if camera is None:
        raise _camera_not_found(camera_id)
    return camera


def _camera_not_found(camera_id: str) -> CodedProblem:
    return CodedProblem(
        404, f"camera {camera_id} not found", "camera_not_found", {"camera_id": camera_id}
    )


def _owned_camera(session: SessionDep, principal: Principal, camera_id: str) -> Camera:
    camera = _visible_camera(session, principal, camera_id)
    if principal.role != "admin" and (
        principal.user is None or camera.organisation_id != principal.user.organisation_id
    ):
        raise CodedProblem(403, "only the camera's owner may change it", "camera_not_yours")
    return camera


def _camera_tests(request: Request) -> ConcurrencyLimit:
    limit: ConcurrencyLimit = request.app.state.camera_tests
    return limit


CameraTestsDep = Annotated[ConcurrencyLimit, Depends(_camera_tests)]


@contextmanager
def _camera_test_slot(
    slots: ConcurrencyLimit, principal: Principal, timeout_s: float
) -> Iterator[None]:
    """A slot for a request that waits on the network, or a 429 that says which limit."""
    try:
        with slots.slot(principal.actor, timeout_s):
            yield
    except TooManyInFlight as err:
        raise CodedProblem(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{err.reason}; try again in {err.retry_after_s} s",
            "camera_tests_busy",
            {"seconds": err.retry_after_s},
            headers={"Retry-After": str(err.retry_after_s)},
        ) from err


# What a camera owner's address may be: a live camera. file:// reads the API host's own disk.
OWNER_SCHEMES = ("rtsp", "rtsps", "http", "https", "onvif")


def _check_source(principal: Principal, document: dict[str, Any]) -> None:
    if principal.role == "admin":
        return
    stream = document.get("stream")
    for field in ("source", "sub_source"):
        # A stream that is not a mapping is refused by the camera model, with the reason.
        nested = stream.get(field) if isinstance(stream, dict) else None
        value = document.get(field) or nested or ""
        source = str(value)
        if not source:
            continue
        # Decided on the parsed address, as every reader parses it: " file://" is file://.
        try:
            scheme = address_scheme(field, source)
        except InvalidSource as err:
            raise CodedProblem(
                422, f"{field}: {err.reason}", "source_unparsable", {"field": field}
            ) from err
        if scheme == "file":
            raise CodedProblem(
                422,
                f"{field}: file:// recordings are for administrators only",
                "source_admin_only",
                {"field": field, "what": "file://"},
            )
        if scheme not in OWNER_SCHEMES:
            raise CodedProblem(
                422,
                f"{field}: scheme {scheme or '(none)'!r} is not a camera's"
                f" ({', '.join(OWNER_SCHEMES)})",
                "source_scheme",
                {"field": field, "scheme": scheme or "", "schemes": ", ".join(OWNER_SCHEMES)},
            )
        # A worker expands ${VAR} from its own environment: from an owner that would be a way
        # to send a worker's secrets to any address.
        if "${" in source:
            raise CodedProblem(
                422,
                f"{field}: ${{...}} references are for administrators only",
                "source_admin_only",
                {"field": field, "what": "${...}"},
            )


@router.get(
    "/camera-files/refused",
    response_model=list[RefusedCameraFile],
    summary="Camera files of the API's camera folder refused at start-up, with why (admins).",
)
def refused_camera_files(request: Request, _admin: AdminDep) -> list[RefusedCameraFile]:
    return [
        RefusedCameraFile(
            file=str(problem.path or ""),
            field=problem.field,
            reason=problem.reason,
            type=problem.code,
            params=problem.params,
        )
        for problem in request.app.state.refused_camera_files
    ]


@router.get(
    "/fleet",
    response_model=FleetPublic,
    summary="The workers, their capacity and the cameras none of them holds (admins).",
)
def fleet(session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> FleetPublic:
    from datetime import timedelta

    from api.leases import fleet_status

    status_now = fleet_status(session, timedelta(seconds=settings.lease_s))
    return FleetPublic(
        leasing=status_now.leasing,
        worker_count=len(status_now.workers),
        capacity=status_now.capacity,
        held=status_now.held,
        spare=max(0, status_now.capacity - status_now.held),
        waiting=len(status_now.waiting),
        workers=[
            FleetWorkerPublic(name=name, capacity=capacity, held=held, last_seen_at=seen)
            for name, capacity, held, seen in status_now.workers
        ],
        waiting_cameras=[
            WaitingCamera(id=camera_id, priority=priority, dark_since=since)
            for camera_id, priority, since in status_now.waiting
        ],
    )


@router.get("/cameras", response_model=list[CameraPublic], summary="Cameras in the caller's scope.")
def list_cameras(session: SessionDep, principal: UserDep) -> list[CameraPublic]:
    query = scope_cameras(select(Camera).where(Camera.retired_at.is_(None)), principal)
    cameras = session.scalars(query.options(selectinload(Camera.organisation)).order_by(Camera.id))
    return [_public(camera) for camera in cameras]


@router.get("/cameras.geojson", summary="Cameras in the caller's scope as GeoJSON points.")
def cameras_geojson(session: SessionDep, principal: UserDep) -> dict[str, Any]:
    query = scope_cameras(select(Camera).where(Camera.retired_at.is_(None)), principal)
    features = [
        {
            "type": "Feature",
            "id": camera.id,
            "geometry": {"type": "Point", "coordinates": [camera.lon, camera.lat]},
            "properties": _public(camera).model_dump(mode="json", exclude={"location"}),
        }
        for camera in session.scalars(
            query.options(selectinload(Camera.organisation)).order_by(Camera.id)
        )
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get(
    "/cameras.schema.json",
    summary="The JSON schema of a camera file: every field and rule kind, with descriptions.",
)
def camera_schema(_user: UserDep) -> dict[str, Any]:
    """What the console's camera editor draws its forms from; rules are a union on `kind`."""
    return CameraConfig.model_json_schema()


@router.get(
    "/cameras/{camera_id}", response_model=CameraDetail, responses={404: {"model": Problem}}
)
def get_camera(camera_id: str, session: SessionDep, principal: UserDep) -> CameraDetail:
    return _detail(_visible_camera(session, principal, camera_id))


@router.get(
    "/cameras/{camera_id}/config.yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}, 404: {"model": Problem}},
    summary="The camera as a camera file (credentials masked), for camera_configs/.",
)
def export_camera(camera_id: str, session: SessionDep, principal: UserDep) -> Response:
    camera = _visible_camera(session, principal, camera_id)
    text = yaml.safe_dump(camera.config, sort_keys=False, allow_unicode=True)
    return Response(text, media_type="application/yaml")


@router.post(
    "/cameras",
    response_model=CameraDetail,
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    summary="Register a camera (a camera file's fields; owners register for their organisation).",
)
def register_camera(
    request: Request,
    session: SessionDep,
    principal: OwnerDep,
    cipher: CipherDep,
    document: Annotated[dict[str, Any], Body(description="Fields of a camera file.")],
) -> CameraDetail:
    _check_source(principal, document)
    organisation_id = document.pop("organisation_id", None)
    document.pop("organisation", None)
    if principal.role != "admin":
        assert principal.user is not None
        if organisation_id not in (None, principal.user.organisation_id):
            raise CodedProblem(
                403,
                "organisation_id: you register for your own organisation",
                "own_organisation_only",
            )
        organisation_id = principal.user.organisation_id
    organisation = session.get(Organisation, organisation_id) if organisation_id else None
    if organisation is None:
        raise InvalidFields(
            "organisation_id: name an existing organisation", "organisation_id", "missing"
        )
    if "id" in document and session.get(Camera, str(document["id"])) is not None:
        raise CodedProblem(
            409,
            f"id: camera {document['id']!r} exists already",
            "camera_exists",
            {"camera_id": str(document["id"])},
        )
    try:
        config = validate_registration(document, organisation)
    except CameraRejected as err:
        raise _rejected(err) from err
    camera = upsert_camera(session, config, cipher)
    session.commit()
    return _detail(camera)


@router.patch(
    "/cameras/{camera_id}",
    response_model=CameraDetail,
    responses={403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}},
    summary="Change a camera: a merge-patch of camera-file fields (null removes a field).",
)
def update_camera(
    camera_id: str,
    session: SessionDep,
    principal: OwnerDep,
    cipher: CipherDep,
    changes: Annotated[dict[str, Any], Body(description="Fields to change.")],
) -> CameraDetail:
    camera = _owned_camera(session, principal, camera_id)
    for fixed in ("id", "organisation", "organisation_id"):
        if fixed in changes:
            raise CodedProblem(
                422,
                f"{fixed}: cannot be changed; register a new camera",
                "camera_field_fixed",
                {"field": fixed},
            )
    _check_source(principal, changes)
    try:
        config = validate_registration(
            merged_document(camera, cipher, changes), camera.organisation
        )
    except CameraRejected as err:
        raise _rejected(err) from err
    camera = upsert_camera(session, config, cipher)
    session.commit()
    return _detail(camera)


def _rejected(err: CameraRejected) -> CodedProblem:
    """A camera file's fields that do not validate, each named with its error type."""
    return CodedProblem(422, str(err), "invalid", {"errors": err.errors})


@router.delete(
    "/cameras/{camera_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"model": Problem}, 404: {"model": Problem}},
    summary="Remove a camera: it is no longer watched; its events stay.",
)
def retire_camera(camera_id: str, session: SessionDep, principal: OwnerDep) -> None:
    from datetime import UTC, datetime

    camera = _owned_camera(session, principal, camera_id)
    camera.retired_at = camera.updated_at = datetime.now(UTC)
    camera.enabled = False
    session.commit()


@router.post(
    "/cameras/test",
    response_model=ConnectionReport,
    responses={
        422: {"model": Problem, "description": "Why the camera cannot be used."},
        429: {"model": Problem, "description": "Too many tests at a time; see Retry-After."},
    },
    summary="Connect to a camera once: what it sends, with a snapshot, or exactly why not.",
)
def test_connection(
    body: ConnectionTest, principal: OwnerDep, settings: SettingsDep, slots: CameraTestsDep
) -> ConnectionReport:
    """Administrators test any address and are told everything that failed. A camera owner's
    test reaches no loopback, link-local or server-own address (unless its network is in
    `camera_test_allowed_networks`), follows no redirect to another host, and a failure says
    what the owner can fix, not what else answers at the address.

    At most `camera_tests_per_user` tests of one account and `camera_tests_total` of everyone
    run at a time; more are answered 429 with Retry-After (seconds). No database connection is
    held while the camera is waited on."""
    with _camera_test_slot(slots, principal, body.timeout_s):
        return _test_connection(body, principal, settings)


def _test_connection(
    body: ConnectionTest, principal: Principal, settings: SettingsDep
) -> ConnectionReport:
    import base64

    from contract.camera import expand_source
    from contract.problems import ConfigError
    from ingest.errors import IngestError
    from ingest.probe import ReachPolicy, probe

    _check_source(principal, {"source": body.source})
    admin = principal.role == "admin"
    policy = None if admin else ReachPolicy(tuple(settings.camera_test_allowed_networks))
    try:
        source = expand_source(body.source) if admin else body.source
        result = probe(source, body.timeout_s, transport=body.transport, policy=policy)
    except (IngestError, ConfigError) as err:
        raise CodedProblem(
            422, str(err) if admin else _owner_reason(err), _failure_code(err), {"field": "source"}
        ) from err
    except ValueError as err:  # a host name no parser or IDNA codec takes (UnicodeError too)
        raise CodedProblem(
            422, "source: the address cannot be parsed", "source_unparsable", {"field": "source"}
        ) from err
    return ConnectionReport(
        ok=True,
        kind=result.kind,
        resolution=(result.width, result.height),
        fps=result.fps,
        codec=result.codec,
        transport=result.transport,
        time_to_first_frame_s=round(result.time_to_first_frame_s, 3),
        snapshot_jpeg_base64=base64.b64encode(result.snapshot_jpeg).decode(),
    )


def _owner_reason(err: Exception) -> str:
    """Why a camera owner's test failed, in words that do not tell a closed port from a silent
    one, or a web page, another service or an HTTP status from one another: what the owner can
    fix (the address's form, the password, the picture's size) is said as it is."""
    if not isinstance(err, CameraUnavailable | InvalidSource | UnsupportedSource):
        return str(err)  # the address's ${...} or form: about the text, not the network
    if isinstance(err, InvalidSource | UnsupportedSource | AuthenticationFailed | ImageTooLarge):
        return str(err)
    return (
        f"{err.camera_id}: no camera stream could be opened at this address (check the host,"
        " port and path, and that the camera is on and streams video)"
    )


def _failure_code(err: Exception) -> str:
    """The code of a failed connection test, no finer than _owner_reason tells an owner."""
    if isinstance(err, AuthenticationFailed):
        return "camera_auth_failed"
    if isinstance(err, ImageTooLarge):
        return "camera_image_too_large"
    if isinstance(err, InvalidSource):
        return "source_unparsable"
    if isinstance(err, UnsupportedSource):
        return "source_unsupported"
    if isinstance(err, CameraUnavailable):
        return "camera_unreachable"
    return "camera_test_failed"


@router.post(
    "/cameras/discover",
    response_model=list[DiscoveredCameraPublic],
    summary="Find ONVIF cameras on the API's network by WS-Discovery (admins).",
)
def discover_cameras(
    body: DiscoveryRequest, admin: AdminDep, slots: CameraTestsDep
) -> list[DiscoveredCameraPublic]:
    """Counts against the same limits as connection tests (429 with Retry-After)."""
    from ingest.discovery import discover

    try:
        with _camera_test_slot(slots, admin, body.timeout_s):
            found = discover(body.timeout_s, interface=body.interface)
    except OSError as err:
        raise CodedProblem(
            422, f"interface: cannot probe from it ({err.strerror})", "discovery_interface"
        ) from err
    return [
        DiscoveredCameraPublic(
            source=camera.onvif_url,
            name=camera.name,
            model=camera.model,
            location=camera.location,
            endpoint=camera.endpoint,
            xaddrs=list(camera.xaddrs),
            scopes=list(camera.scopes),
            responder=camera.responder,
        )
        for camera in found
    ]


def _record_credential_reads(
    session: SessionDep, request: Request, worker: Principal, cameras: Sequence[Camera]
) -> None:
    record_accesses(
        session, request, worker, action="credentials", object_kind="camera_credentials",
        objects=[(camera.id, camera.id) for camera in cameras],
    )  # fmt: skip
    session.commit()


@router.get(
    "/worker/cameras",
    response_model=CameraFeed,
    responses={304: {"description": "Nothing changed since the version in If-None-Match."}},
    summary="Every camera to watch, with credentials (workers only).",
)
def worker_cameras(
    request: Request,
    response: Response,
    session: SessionDep,
    cipher: CipherDep,
    worker: WorkerDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Each camera sent (not a 304) is recorded in the evidence access log as a credential
    read."""
    cameras = active_cameras(session)
    version = feed_version(cameras)
    if if_none_match and if_none_match.strip('"') == version:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": f'"{version}"'})
    response.headers["ETag"] = f'"{version}"'
    _record_credential_reads(session, request, worker, cameras)
    return CameraFeed(
        version=version,
        cameras=[full_config(camera, cipher).model_dump(mode="json") for camera in cameras],
    )


@router.post(
    "/worker/leases",
    response_model=LeaseGrant,
    summary="A worker's heartbeat: renew its camera leases and claim free cameras up to capacity.",
)
def worker_leases(
    request: Request,
    body: LeaseRequest,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
    worker: WorkerDep,
) -> LeaseGrant:
    """Sends the configuration, with credentials, only of the held cameras the worker does not
    have in their current version (`held`); each one sent is recorded in the evidence access
    log as a credential read, and a renewal that sends none records none."""
    from datetime import timedelta

    from api.leases import claim, release

    # A renewal run twice renews the same leases and hands out the same cameras: after a
    # dropped database connection it is run again even if its autocommit statement was sent.
    repeatable()
    if body.release:
        release(session, worker.name)
        return LeaseGrant(worker=worker.name, lease_s=settings.lease_s, cameras=[])
    held = claim(session, worker.name, body.capacity, timedelta(seconds=settings.lease_s))
    # Only what the worker does not have in its current version is sent, and only what is sent
    # hands out credentials: a renewal that changes nothing records no credential read.
    stale = [item.camera_id for item in held if body.held.get(item.camera_id) != item.version]
    cameras = (
        list(session.scalars(select(Camera).where(Camera.id.in_(stale)).order_by(Camera.id)))
        if stale
        else []
    )
    if cameras:
        _record_credential_reads(session, request, worker, cameras)
    grant = LeaseGrant(
        worker=worker.name,
        lease_s=settings.lease_s,
        cameras=[full_config(camera, cipher).model_dump(mode="json") for camera in cameras],
        epochs={item.camera_id: item.epoch for item in held},
        versions={item.camera_id: item.version for item in held},
    )
    # Every worker calls here every few seconds: the connection goes back to the pool now, not
    # once the session dependency is cleaned up on a request thread that a burst of heartbeats
    # may keep busy (they would wait on the pool, and the pool on them).
    session.close()
    return grant


@router.put(
    "/cameras/{camera_id}/health",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
    summary="A worker's report of a camera's stream health.",
)
def report_health(
    camera_id: str,
    report: HealthReport,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    live_views: LiveViewsDep,
    response: Response,
    _worker: WorkerDep,
) -> None:
    """The answer says in the LIVE_VIEW_HEADER header when someone watches the camera live."""
    from datetime import timedelta

    camera = session.get(Camera, camera_id)
    if camera is None or camera.retired_at is not None:
        raise _camera_not_found(camera_id)
    record_health(
        session, camera, report.model_dump(), policy=policy,
        grace=timedelta(seconds=settings.video_loss_grace_s),
    )  # fmt: skip
    watched_s = live_views.watched_s(camera.id)
    if watched_s > 0:
        response.headers[LIVE_VIEW_HEADER] = f"{watched_s:.1f}"


@router.get(
    "/cameras/{camera_id}/health",
    response_model=CameraDetail,
    responses={404: {"model": Problem}},
    summary="A camera's health: status, since when, fps, resolution, reconnects, drops.",
)
def get_health(camera_id: str, session: SessionDep, principal: UserDep) -> CameraDetail:
    return _detail(_visible_camera(session, principal, camera_id))


@router.post(
    "/cameras/{camera_id}/live-view",
    response_model=LiveViewGrant,
    responses={404: {"model": Problem}},
    summary="Watch a camera live: registers a viewer for a few seconds; renew while watching.",
)
def watch_live(
    camera_id: str, request: Request, session: SessionDep, principal: UserDep, views: LiveViewsDep
) -> LiveViewGrant:
    """The camera's worker sends a picture about once a second while someone watches; the first
    comes with its next health report (within its health interval, ~10 s)."""
    camera = _visible_camera(session, principal, camera_id)
    return LiveViewGrant(
        camera_id=camera.id,
        watched_s=round(views.watch(camera.id), 1),
        picture_url=str(request.url_for("live_picture", camera_id=camera.id)),
    )


@router.get(
    "/cameras/{camera_id}/live.jpg",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The newest live picture."},
        404: {"model": Problem, "description": "No live picture of the last minute."},
    },
    summary="A camera's newest live picture, with when it was taken (X-GridWatch-Captured-At).",
)
def live_picture(
    camera_id: str,
    request: Request,
    session: SessionDep,
    principal: UserDep,
    views: LiveViewsDep,
) -> Response:
    """Headers: X-GridWatch-Captured-At (ISO 8601) and X-GridWatch-Picture-Age-S (seconds, by the
    API's clock, so that a browser with a wrong clock still shows the right age). Each picture
    served is recorded in the evidence access log (its object: the camera and when it was
    taken)."""
    camera = _visible_camera(session, principal, camera_id)
    picture = views.latest(camera.id)
    if picture is None:
        raise CodedProblem(
            404,
            f"camera {camera_id}: no live picture yet",
            "no_live_picture",
            {"camera_id": camera_id},
        )
    record_access(
        session, request, principal, action="view", object_kind="live_picture",
        object_id=f"{camera.id}@{picture.captured_at.isoformat()}", camera_id=camera.id,
    )  # fmt: skip
    session.commit()
    return Response(
        picture.jpeg,
        media_type="image/jpeg",
        headers={
            CAPTURED_AT_HEADER: picture.captured_at.isoformat(),
            "X-GridWatch-Picture-Age-S": f"{max(0.0, picture.age_s()):.1f}",
            "Cache-Control": "no-store",
        },
    )


async def _live_picture_body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it passes MAX_LIVE_PICTURE_BYTES."""
    declared = request.headers.get("content-length")
    if (
        declared
        and (declared.isascii() and declared.isdigit())
        and int(declared) > MAX_LIVE_PICTURE_BYTES
    ):
        raise _live_picture_too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LIVE_PICTURE_BYTES:
            raise _live_picture_too_large()
    return bytes(body)


def _live_picture_too_large() -> CodedProblem:
    return CodedProblem(
        413,
        f"live picture: at most {MAX_LIVE_PICTURE_BYTES} bytes",
        "too_large",
        {"bytes": MAX_LIVE_PICTURE_BYTES},
    )


_CAPTURED_AT = TypeAdapter(AwareDatetime)


@router.put(
    "/cameras/{camera_id}/live.jpg",
    response_model=LivePictureReceipt,
    responses={404: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
               422: {"model": Problem}},
    openapi_extra={"requestBody": {"content": {"image/jpeg": {}}, "required": True}},
    summary="A worker's newest frame of a watched camera (JPEG; X-GridWatch-Captured-At).",
    dependencies=[Depends(BodyLimit(lambda _: MAX_LIVE_PICTURE_BYTES, "MAX_LIVE_PICTURE_BYTES"))],
)  # fmt: skip
def put_live_picture(
    camera_id: str,
    session: SessionDep,
    views: LiveViewsDep,
    _worker: WorkerDep,
    body: Annotated[bytes, Depends(_live_picture_body)],
    content_type: Annotated[str | None, Header()] = None,
    captured_at: Annotated[str | None, Header(alias=CAPTURED_AT_HEADER)] = None,
) -> LivePictureReceipt:
    """Kept only while someone watches; the answer tells the worker for how long still."""
    camera = session.get(Camera, camera_id)
    if camera is None or camera.retired_at is not None:
        raise _camera_not_found(camera_id)
    if (content_type or "").split(";")[0].strip().lower() != "image/jpeg":
        raise CodedProblem(
            415, "Content-Type: send the live picture as image/jpeg", "live_picture_kind"
        )
    try:
        taken = _CAPTURED_AT.validate_python(captured_at)
    except ValidationError as err:
        raise InvalidFields(
            f"{CAPTURED_AT_HEADER}: when the frame was taken, ISO 8601 with offset",
            CAPTURED_AT_HEADER,
            "datetime_parsing",
        ) from err
    try:
        check_jpeg(body)
    except LivePictureRejected as err:
        raise CodedProblem(err.status, str(err), "live_picture_invalid") from err
    watched_s = views.watched_s(camera.id)
    if watched_s > 0:
        views.store(camera.id, body, taken)
    return LivePictureReceipt(live_view_s=round(watched_s, 1))
