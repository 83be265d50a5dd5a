"""Incidents: workers report them here; their evidence is served from here."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Literal
from urllib.request import parse_http_list

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import ValidationError

from api import evidence
from api.auth import IncidentWriterDep, UserDep
from api.bodies import MULTIPART_OVERHEAD, BodyLimit
from api.deps import LoopSessionDep, PolicyDep, SessionDep, SettingsDep
from api.events import Registration, UnknownCamera, register_incident, to_public
from api.evidence_access import record_access
from api.leases import StaleLease
from api.middleware import parse_json
from api.models import Incident
from api.principal import Principal
from api.problems import CodedProblem
from api.schemas import GridEventPublic, IncidentSuppressed, IncidentTaken, Problem
from api.scope import can_see_event
from api.taxonomy import UnknownEventCode
from contract.incident import UUID_PATTERN, ClipReport, IncidentReport

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

JPEG_MAGIC = b"\xff\xd8\xff"

log = logging.getLogger(__name__)

INCIDENT_LIMIT = BodyLimit(
    lambda s: s.max_snapshot_bytes + s.max_clip_bytes + MULTIPART_OVERHEAD,
    "GRIDWATCH_MAX_SNAPSHOT_BYTES + GRIDWATCH_MAX_CLIP_BYTES",
)
CLIP_LIMIT = BodyLimit(lambda s: s.max_clip_bytes + MULTIPART_OVERHEAD, "GRIDWATCH_MAX_CLIP_BYTES")


@router.post(
    "",
    response_model=GridEventPublic | IncidentSuppressed | IncidentTaken,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": GridEventPublic | IncidentSuppressed | IncidentTaken,
            "description": "Already reported: the existing event (or the suppression).",
        },
        401: {"model": Problem},
        409: {
            "model": Problem,
            "description": "From a stale camera lease: another worker held the camera then.",
        },
        413: {"model": Problem},
        422: {"model": Problem},
        507: {"model": Problem, "description": "Evidence storage failed; retry later."},
    },
    summary=(
        "Report an incident (workers); opens a grid event or joins the open event of the same"
        " situation as an occurrence, unless a suppression holds it back. Idempotent on the"
        " incident id."
    ),
    description=(
        "The answer is the event opened or joined (or the suppression that held the incident"
        " back). With `Prefer: return=minimal` (RFC 7240), as workers send it, it is only what"
        " registering did and the event's id (`IncidentTaken`), marked `Preference-Applied:"
        " return=minimal`: the whole event is not shaped for a client that reads none of it."
    ),
    dependencies=[Depends(INCIDENT_LIMIT)],
)
async def create_incident(
    request: Request,
    session: LoopSessionDep,
    settings: SettingsDep,
    worker: IncidentWriterDep,
    policy: PolicyDep,
    metadata: Annotated[str, Form(description="The incident as JSON (IncidentReport).")],
    snapshot: Annotated[UploadFile, File(description="Annotated JPEG of the incident.")],
    clip: Annotated[
        UploadFile | None, File(description="MP4 (H.264) clip around the incident.")
    ] = None,
) -> Response:
    try:
        report = IncidentReport.model_validate(parse_json(metadata))
    except json.JSONDecodeError as err:
        raise HTTPException(422, detail=f"metadata: not valid JSON ({err.msg})") from err
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "metadata"
        raise HTTPException(422, detail=f"metadata.{field}: {first['msg']}") from err

    payload = await snapshot.read(settings.max_snapshot_bytes + 1)
    if len(payload) > settings.max_snapshot_bytes:
        raise HTTPException(
            413, detail=f"snapshot: larger than {settings.max_snapshot_bytes} bytes"
        )
    if not payload.startswith(JPEG_MAGIC):
        raise HTTPException(422, detail="snapshot: not a JPEG image")
    if evidence.sha256_hex(payload) != report.snapshot_sha256:
        raise HTTPException(422, detail="snapshot: SHA-256 does not match metadata.snapshot_sha256")
    video = await _read_clip(clip, report, settings.max_clip_bytes)

    try:
        event, done = register_incident(
            session, report, payload, clip=video, evidence_root=settings.evidence_dir,
            actor=worker.actor, policy=policy,
        )  # fmt: skip
    except UnknownCamera as err:
        raise HTTPException(
            422, detail=f"metadata.camera_id: camera {err} is not registered"
        ) from err
    except UnknownEventCode as err:
        raise HTTPException(422, detail=f"metadata.{err}") from err
    except StaleLease as err:
        # Another worker held the camera then: what it saw is the camera's record.
        log.warning("incident %s refused: %s", report.id, err)
        raise HTTPException(409, detail=f"metadata.lease_epoch: {err}") from err
    except evidence.EvidenceError as err:
        # Nothing is lost (the worker keeps the incident and retries), but nothing new reaches
        # the operators until someone frees the storage.
        log.error("%s: incident %s refused: %s", report.camera_id, report.id, err)
        raise HTTPException(507, detail=str(err)) from err
    code = status.HTTP_200_OK if done is Registration.already else status.HTTP_201_CREATED
    if prefers_minimal(request):
        taken = IncidentTaken(
            incident_id=report.id,
            registration=done.value,
            grid_event_id=event.id if event is not None else None,
        )
        return Response(
            taken.model_dump_json(),
            status_code=code,
            media_type="application/json",
            headers={"Preference-Applied": "return=minimal"},
        )
    answer: GridEventPublic | IncidentSuppressed
    if event is None:
        incident = session.get(Incident, report.id)
        assert incident is not None
        answer = IncidentSuppressed(incident_id=incident.id, suppression_id=incident.suppression_id)
    else:
        answer = to_public(event, request)
    # Built as the declared model already: written as it is, not validated against the union
    # of answers and serialized a second time (every incident a worker posts comes here).
    return Response(answer.model_dump_json(), status_code=code, media_type="application/json")


def prefers_minimal(request: Request) -> bool:
    """Whether the request asks for the short answer: a `return=minimal` preference in any of its
    `Prefer` headers (RFC 7240 section 4.2; names and the value compared case-insensitively,
    parameters after ";" ignored). `return=representation`, or no preference, is the whole one.

    Example:
        `Prefer: respond-async, return=minimal; foo="bar"` asks for it.
    """
    for header in request.headers.getlist("prefer"):
        for preference in parse_http_list(header):
            name, _, value = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() == "return" and value.strip().strip('"').lower() == "minimal":
                return True
    return False


def _visible_incident(session: SessionDep, principal: Principal, incident_id: str) -> Incident:
    """The incident if the caller may see its event; 404 alike when missing or out of scope."""
    incident = session.get(Incident, incident_id)
    event = incident.grid_event if incident is not None else None
    if incident is None or event is None or can_see_event(session, principal, event.id) is None:
        # A person reaches this one: the console fetches the evidence of the events it shows.
        raise CodedProblem(
            404, f"incident {incident_id} not found", "incident_not_found",
            {"incident_id": incident_id},
        )  # fmt: skip
    return incident


def _record(
    session: SessionDep,
    request: Request,
    principal: Principal,
    incident: Incident,
    kind: Literal["snapshot", "clip"],
) -> None:
    event = incident.grid_event
    record_access(
        session, request, principal,
        action="view" if kind == "snapshot" else "download", object_kind=kind,
        object_id=incident.id, camera_id=incident.camera_id,
        grid_event_id=event.id if event is not None else None,
    )  # fmt: skip
    session.commit()


@router.get(
    "/{incident_id}/snapshot.jpg",
    name="incident_snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": Problem}},
    summary="The incident's annotated JPEG.",
)
def incident_snapshot(
    incident_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
) -> FileResponse:
    """Each view is recorded in the evidence access log."""
    incident = _visible_incident(session, principal, incident_id)
    path = settings.evidence_dir / incident.snapshot_path
    if not path.is_file():
        raise CodedProblem(
            404, f"snapshot of incident {incident_id} is missing from storage",
            "evidence_missing", {"incident_id": incident_id},
        )  # fmt: skip
    _record(session, request, principal, incident, "snapshot")
    return FileResponse(
        path,
        media_type="image/jpeg",
        headers={
            "ETag": f'"{incident.snapshot_sha256}"',
            "Cache-Control": "private, max-age=86400",
        },
    )


async def _read_clip(clip: UploadFile | None, report: IncidentReport, limit: int) -> bytes | None:
    """The clip's bytes, checked against the metadata; None when the incident has none."""
    if clip is None:
        if report.clip_sha256 is not None:
            raise HTTPException(
                422, detail="clip: metadata.clip_sha256 is set but no clip was sent"
            )
        return None
    return await _checked_clip(clip, report.clip_sha256, "metadata.clip_sha256", limit)


async def _checked_clip(clip: UploadFile, sha256: str | None, named: str, limit: int) -> bytes:
    """The clip's bytes: at most `limit` of them (else 413), an MP4 whose SHA-256 is `sha256`
    (else 422; `named` says where the digest came from)."""
    video = await clip.read(limit + 1)
    if len(video) > limit:
        raise HTTPException(413, detail=f"clip: larger than {limit} bytes")
    if video[4:8] != b"ftyp":
        raise HTTPException(422, detail="clip: not an MP4 video")
    if sha256 is None or evidence.sha256_hex(video) != sha256:
        raise HTTPException(422, detail=f"clip: SHA-256 does not match {named}")
    return video


@router.put(
    "/{incident_id}/clip",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        401: {"model": Problem},
        404: {"model": Problem, "description": "No such incident (yet): send it again later."},
        409: {"model": Problem, "description": "The incident already has a different clip."},
        413: {"model": Problem},
        422: {"model": Problem},
        507: {"model": Problem, "description": "Evidence storage failed; retry later."},
    },
    summary="Attach the clip that follows an incident reported without one (workers)."
    " Idempotent: the same clip again changes nothing.",
    dependencies=[Depends(CLIP_LIMIT)],
)
async def attach_incident_clip(
    session: LoopSessionDep,
    settings: SettingsDep,
    worker: IncidentWriterDep,
    incident_id: Annotated[str, PathParam(pattern=UUID_PATTERN, description="Incident id.")],
    metadata: Annotated[str, Form(description="The clip as JSON (ClipReport).")],
    clip: Annotated[UploadFile, File(description="MP4 (H.264) clip around the incident.")],
) -> Response:
    try:
        report = ClipReport.model_validate(json.loads(metadata))
    except json.JSONDecodeError as err:
        raise HTTPException(422, detail=f"metadata: not valid JSON ({err.msg})") from err
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "metadata"
        raise HTTPException(422, detail=f"metadata.{field}: {first['msg']}") from err
    video = await _checked_clip(clip, report.sha256, "metadata.sha256", settings.max_clip_bytes)
    try:
        evidence.attach_clip(
            session, incident_id, report, video, evidence_root=settings.evidence_dir,
            actor=worker.actor,
        )  # fmt: skip
    except evidence.UnknownIncident as err:
        raise HTTPException(404, detail=f"incident {incident_id} not found") from err
    except evidence.ClipConflict as err:
        raise HTTPException(409, detail=str(err)) from err
    except evidence.EvidenceError as err:
        log.error("incident %s: clip refused: %s", incident_id, err)
        raise HTTPException(507, detail=str(err)) from err
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{incident_id}/clip.mp4",
    name="incident_clip",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}}, 404: {"model": Problem}},
    summary="The incident's clip (MP4/H.264, a few seconds before and after).",
)
def incident_clip(
    incident_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: UserDep,
) -> FileResponse:
    """Each download (a player's range requests each count) is recorded in the evidence access
    log."""
    incident = _visible_incident(session, principal, incident_id)
    if not incident.clip_path or not (settings.evidence_dir / incident.clip_path).is_file():
        raise CodedProblem(
            404, f"incident {incident_id} has no clip", "clip_missing",
            {"incident_id": incident_id},
        )  # fmt: skip
    _record(session, request, principal, incident, "clip")
    return FileResponse(
        settings.evidence_dir / incident.clip_path,
        media_type="video/mp4",
        headers={"ETag": f'"{incident.clip_sha256}"', "Cache-Control": "private, max-age=86400"},
    )
