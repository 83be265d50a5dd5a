"""GB/T 28181 devices: the SIP service reports them and their alarms; admins admit them, give
them passwords and assign them to an organisation, whose owner adopts their channels."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.auth import AdminDep, WorkerDep, require_roles
from api.cameras import CameraRejected, upsert_camera, validate_registration
from api.deps import CipherDep, PolicyDep, SessionDep, SettingsDep
from api.district import DistrictPolicy
from api.events import UnknownCamera, register_incident
from api.health import record_health
from api.liveview import LiveViewsDep
from api.models import Camera, GbAlarm, GbChannel, GbDevice, Organisation
from api.principal import Principal
from api.problems import CodedProblem
from api.schemas import Problem
from api.settings import Settings
from contract.gb28181 import (
    Admission,
    AlarmRecorded,
    AlarmReport,
    ChannelReport,
    DeviceAdmission,
    DeviceCredential,
    DeviceReport,
    gb28181_source,
)
from contract.incident import IncidentReport

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["gb28181"])

GbPath = Annotated[str, Path(pattern=r"^[0-9]{20}$", description="A 20-digit GB/T 28181 code.")]
OFFLINE_ERROR = "GB/T 28181 device offline (no keep-alive)"
ALARM_RULE = "gb28181_alarm"
# Alarm ids (and the ids of the incidents they raise): one alarm, one id, however often it comes.
ALARM_NAMESPACE = uuid.UUID("5b1f6f0e-3c1e-4f55-9a57-2b8f0c6d8a11")
OwnerDep = Annotated[Principal, Depends(require_roles("camera_owner"))]


class ChannelPublic(ChannelReport):
    camera_id: str | None = Field(description="The camera adopted from it, if any.")
    refused: bool = Field(description="Not to be adopted: out of the candidates.")


class DevicePublic(BaseModel):
    """A device as admins and its organisation's owner see it: admission, signalling state,
    what it says of itself (DeviceInfo) and its catalog."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    admission: Admission
    online: bool
    authenticated: bool = Field(description="False: it has no password here and cannot register.")
    address: str
    organisation_id: str | None
    has_password: bool = Field(description="It registers with a password of its own.")
    first_seen_at: datetime
    last_report_at: datetime
    last_keepalive_at: datetime | None
    name: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    channel_count: int | None
    channels: list[ChannelPublic]


class AdmissionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admission: Admission = Field(description="accepted or refused (pending: decide later).")
    organisation_id: str | None = Field(
        None, max_length=64, description="The organisation whose owner adopts its channels."
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(
        min_length=8, max_length=64, description="The device's own digest password."
    )


class ChannelRefusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refused: bool = Field(description="True: not to be adopted; false: a candidate again.")


class AlarmPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    device_id: str
    channel_id: str
    priority: int
    method: int
    alarm_type: int | None
    event_code: str | None
    alarm_time: datetime
    description: str
    received_at: datetime
    camera_id: str | None
    grid_event_id: int | None


def _public(device: GbDevice) -> DevicePublic:
    return DevicePublic(
        id=device.id, admission=device.admission, online=device.online,
        authenticated=device.authenticated, address=device.address,
        organisation_id=device.organisation_id,
        has_password=device.password_encrypted is not None,
        first_seen_at=device.first_seen_at, last_report_at=device.last_report_at,
        last_keepalive_at=device.last_keepalive_at, name=device.name,
        manufacturer=device.manufacturer, model=device.model, firmware=device.firmware,
        channel_count=device.channel_count,
        channels=[
            ChannelPublic(
                channel_id=c.channel_id, name=c.name, manufacturer=c.manufacturer,
                model=c.model, civil_code=c.civil_code, status=c.status,
                longitude=c.longitude, latitude=c.latitude, camera_id=c.camera_id,
                refused=c.refused,
            )
            for c in device.channels
        ],
    )  # fmt: skip


@router.put(
    "/worker/gb28181/devices/{device_id}",
    response_model=DeviceAdmission,
    responses={403: {"model": Problem}, 422: {"model": Problem}},
    summary="The SIP service reports a device (registration, catalog, online/offline).",
)
def report_device(
    device_id: GbPath,
    report: DeviceReport,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    _worker: WorkerDep,
) -> DeviceAdmission:
    """A device the service has no password for (`authenticated` false) is listed, pending
    unless decided, and changes nothing else. Online/offline becomes the adopted cameras'
    health (`api.health.record_health`), and past GRIDWATCH_VIDEO_LOSS_GRACE_S offline the
    video-loss event every camera gets; online again clears only the offline this set."""
    now = datetime.now(UTC)
    device = session.get(GbDevice, device_id)
    if device is None:
        device = GbDevice(id=device_id, admission="pending", first_seen_at=now)
        session.add(device)
    device.address, device.last_report_at = report.address, now
    device.authenticated = report.authenticated
    if not report.authenticated:
        device.online = False
        session.commit()
        return DeviceAdmission(device_id=device_id, admission=device.admission)
    device.online = report.online
    if report.last_keepalive_at is not None:
        device.last_keepalive_at = report.last_keepalive_at
    if report.info is not None:
        for name, value in report.info.model_dump().items():
            setattr(device, name, value)
    if report.channels is not None:
        existing = {c.channel_id: c for c in device.channels}
        for reported in report.channels:
            channel = existing.pop(reported.channel_id, None)
            if channel is None:
                channel = GbChannel(channel_id=reported.channel_id)
                device.channels.append(channel)
            for name, value in reported.model_dump(exclude={"channel_id"}).items():
                setattr(channel, name, value)
        for gone in existing.values():  # no longer in the catalog; adopted ones stay
            if gone.camera_id is None:
                device.channels.remove(gone)
    session.commit()
    _device_health(session, device, report, policy, settings, now)
    return DeviceAdmission(device_id=device_id, admission=device.admission)


def _device_health(
    session: Session,
    device: GbDevice,
    report: DeviceReport,
    policy: DistrictPolicy,
    settings: Settings,
    now: datetime,
) -> None:
    grace = timedelta(seconds=settings.video_loss_grace_s)
    for channel in list(device.channels):
        camera = session.get(Camera, channel.camera_id) if channel.camera_id else None
        if camera is None or camera.retired_at is not None:
            continue
        if not report.online:
            health: dict[str, Any] = {
                "status": "offline",
                "reason": "device_offline",
                "error": OFFLINE_ERROR,
            }
            if report.last_keepalive_at is not None:
                health["offline_since"] = report.last_keepalive_at
            record_health(session, camera, health, policy=policy, grace=grace, now=now)
        elif (camera.health or {}).get("error") == OFFLINE_ERROR:
            # Online, the worker that leases the camera and plays its stream reports its
            # health; the device's report only lifts the offline mark it set itself.
            record_health(session, camera, {"status": "online"}, policy=policy, grace=grace,
                          now=now)  # fmt: skip


@router.get(
    "/worker/gb28181/credentials",
    response_model=list[DeviceCredential],
    summary="The SIP service's view of admissions and devices' own passwords.",
)
def device_credentials(
    session: SessionDep, cipher: CipherDep, _worker: WorkerDep
) -> list[DeviceCredential]:
    """Devices an admin decided on or gave a password; pending ones without a password use
    the platform's, so they are left out."""
    devices = session.scalars(
        select(GbDevice).where(
            (GbDevice.admission != "pending") | GbDevice.password_encrypted.is_not(None)
        )
    )
    return [
        DeviceCredential(
            device_id=device.id, admission=device.admission,
            password=cipher.decrypt(device.password_encrypted)
            if device.password_encrypted else None,
        )
        for device in devices
    ]  # fmt: skip


def alarm_id(alarm: AlarmReport) -> str:
    """The alarm's id: one per device, channel, time, method and type."""
    key = (
        f"{alarm.device_id}|{alarm.channel_id}|{alarm.time.isoformat()}|{alarm.method}"
        f"|{alarm.alarm_type}"
    )
    return str(uuid.uuid5(ALARM_NAMESPACE, key))


@router.post(
    "/worker/gb28181/alarms",
    response_model=AlarmRecorded,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="The SIP service reports a device's alarm; an incident when its channel is a camera.",
)
def report_alarm(
    alarm: AlarmReport,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    live_views: LiveViewsDep,
    worker: WorkerDep,
) -> AlarmRecorded:
    """Kept on the device; when the alarming channel (or the device itself) is adopted as a
    camera, it is that camera's incident (rule `gb28181_alarm`): the event code of the rule kind
    its method and type map to (`contract.gb28181.ALARM_RULES`), else its category's. The device
    sends no picture with an alarm: the evidence is the camera's live picture when someone
    watches it (at most a minute old), else a card saying what the device reported.
    Idempotent: the same alarm again returns what the first did."""
    device = _device(session, alarm.device_id)
    known_id = alarm_id(alarm)
    known = session.get(GbAlarm, known_id)
    if known is not None:
        return AlarmRecorded(alarm_id=known.id, camera_id=known.camera_id,
                             grid_event_id=known.grid_event_id, created=False)  # fmt: skip
    kind = alarm.rule_kind()
    event_code = policy.taxonomy.for_rule(kind, alarm.category().value) if kind else None
    event_code = event_code or policy.taxonomy.for_category(alarm.category().value)
    channel = session.get(GbChannel, (device.id, alarm.channel_id))
    if channel is None and alarm.channel_id == device.id:
        channel = next((c for c in device.channels if c.camera_id), None)
    camera = session.get(Camera, channel.camera_id) if channel and channel.camera_id else None
    grid_event_id = None
    if camera is not None and camera.retired_at is None and device.admission == "accepted":
        live = live_views.latest(camera.id)
        if live is not None:
            snapshot = live.jpeg
            evidence = f"the camera's live picture of {live.captured_at.isoformat()}"
        else:
            snapshot = _alarm_card(camera.name, alarm)
            evidence = "no picture: the device sends none with an alarm"
        report = _alarm_incident(known_id, camera.id, alarm, event_code, snapshot, evidence)
        try:
            event, _ = register_incident(
                session, report, snapshot, evidence_root=settings.evidence_dir,
                actor=worker.actor, policy=policy,
            )  # fmt: skip
        except UnknownCamera as err:  # retired between the two reads
            raise CodedProblem(
                404, f"camera {err} is not registered", "camera_not_found", {"camera_id": str(err)}
            ) from err
        grid_event_id = event.id if event is not None else None
    else:
        camera = None
    session.add(
        GbAlarm(
            id=known_id, device_id=device.id, channel_id=alarm.channel_id, sn=alarm.sn,
            priority=alarm.priority, method=alarm.method, alarm_type=alarm.alarm_type,
            event_code=event_code, alarm_time=alarm.time, description=alarm.description,
            longitude=alarm.longitude, latitude=alarm.latitude, received_at=datetime.now(UTC),
            camera_id=camera.id if camera else None, grid_event_id=grid_event_id,
        )
    )  # fmt: skip
    session.commit()
    log.warning("%s: alarm %s on %s%s", device.id, alarm.label(), alarm.channel_id,
                f" -> event {grid_event_id}" if grid_event_id else " (no camera)")  # fmt: skip
    return AlarmRecorded(alarm_id=known_id, camera_id=camera.id if camera else None,
                         grid_event_id=grid_event_id, created=True)  # fmt: skip


def _alarm_incident(
    incident_id: str,
    camera_id: str,
    alarm: AlarmReport,
    event_code: str | None,
    snapshot: bytes,
    evidence: str,
) -> IncidentReport:
    import cv2
    import numpy as np

    from detectors.evidence import sha256_hex

    image = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2] if image is not None else (576, 768)

    return IncidentReport(
        # One situation per kind of alarm: a video loss does not join an open intrusion.
        id=incident_id, camera_id=camera_id, rule=ALARM_RULE,
        zone=f"alarm-{alarm.method}-{alarm.alarm_type or 0}",
        category=alarm.category(), event_code=event_code, severity=alarm.severity(),
        summary=f"GB/T 28181 alarm: {alarm.label()}"
        + (f" ({alarm.description})" if alarm.description else ""),
        started_at=alarm.time, detected_at=alarm.time, track_id=0, object_class="alarm",
        confidence=1.0, box_xyxy=[0.0, 0.0, float(width), float(height)], frame_width=width,
        frame_height=height,
        model_name="gb28181-alarm", model_version=alarm.device_id,
        rule_parameters={"method": alarm.method, "alarm_type": alarm.alarm_type},
        snapshot_sha256=sha256_hex(snapshot),
        details={
            "device_id": alarm.device_id, "channel_id": alarm.channel_id, "sn": alarm.sn,
            "priority": alarm.priority, "method": alarm.method, "alarm_type": alarm.alarm_type,
            "event_type": alarm.event_type, "description": alarm.description,
            "longitude": alarm.longitude, "latitude": alarm.latitude,
            "evidence": evidence,
        },
    )  # fmt: skip


def _alarm_card(camera_name: str, alarm: AlarmReport) -> bytes:
    """A plain card saying what the device reported, for an alarm that comes without a picture."""
    import cv2
    import numpy as np

    card = np.full((576, 768, 3), 40, dtype=np.uint8)
    lines = [camera_name.encode("ascii", "replace").decode(), "GB/T 28181 alarm",
             alarm.label(), alarm.time.isoformat(), "no picture from the device"]  # fmt: skip
    for row, text in enumerate(lines):
        cv2.putText(card, text, (30, 200 + 40 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (255, 255, 255), 2)  # fmt: skip
    ok, encoded = cv2.imencode(".jpg", card, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


def _may_see(principal: Principal, device: GbDevice) -> bool:
    if principal.role == "admin":
        return True
    own = principal.user.organisation_id if principal.user is not None else None
    return own is not None and device.organisation_id == own


@router.get(
    "/gb28181/devices",
    response_model=list[DevicePublic],
    summary="GB/T 28181 devices with their catalog channels (candidates and adopted); an "
    "owner sees the devices assigned to their organisation.",
)
def list_devices(session: SessionDep, principal: OwnerDep) -> list[DevicePublic]:
    query = select(GbDevice).options(selectinload(GbDevice.channels)).order_by(GbDevice.id)
    if principal.role != "admin":
        own = principal.user.organisation_id if principal.user is not None else None
        query = query.where(GbDevice.organisation_id == own, GbDevice.organisation_id.is_not(None))
    return [_public(device) for device in session.scalars(query)]


@router.get(
    "/gb28181/alarms",
    response_model=list[AlarmPublic],
    summary="Devices' alarms, newest first (an owner: those of their organisation's devices).",
)
def list_alarms(
    session: SessionDep,
    principal: OwnerDep,
    device_id: Annotated[str | None, Query(pattern=r"^[0-9]{20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmPublic]:
    query = select(GbAlarm).join(GbDevice, GbDevice.id == GbAlarm.device_id)
    if device_id is not None:
        query = query.where(GbAlarm.device_id == device_id)
    if principal.role != "admin":
        own = principal.user.organisation_id if principal.user is not None else None
        query = query.where(GbDevice.organisation_id == own, GbDevice.organisation_id.is_not(None))
    query = query.order_by(GbAlarm.alarm_time.desc(), GbAlarm.id).limit(limit)
    return [AlarmPublic.model_validate(alarm) for alarm in session.scalars(query)]


def _device(session: Any, device_id: str, principal: Principal | None = None) -> GbDevice:
    device = session.get(GbDevice, device_id)
    if device is None or (principal is not None and not _may_see(principal, device)):
        raise CodedProblem(
            404, f"device_id: no GB/T 28181 device {device_id}", "gb_device_not_found",
            {"device_id": device_id},
        )  # fmt: skip
    return device


@router.put(
    "/gb28181/devices/{device_id}/admission",
    response_model=DevicePublic,
    responses={404: {"model": Problem}},
    summary="Accept or refuse a device that registered.",
)
def decide_admission(
    device_id: GbPath, change: AdmissionChange, session: SessionDep, _admin: AdminDep
) -> DevicePublic:
    device = _device(session, device_id)
    if change.organisation_id is not None:
        if session.get(Organisation, change.organisation_id) is None:
            raise CodedProblem(
                422, "organisation_id: name an existing organisation", "organisation_unknown"
            )
        device.organisation_id = change.organisation_id
    device.admission = change.admission
    session.commit()
    log.info("%s: %s%s", device.id, change.admission,
             f" for {device.organisation_id}" if device.organisation_id else "")  # fmt: skip
    return _public(device)


@router.put(
    "/gb28181/devices/{device_id}/password",
    response_model=DevicePublic,
    responses={404: {"model": Problem}},
    summary="Give a device its own digest password (it then registers with that one only).",
)
def set_password(
    device_id: GbPath,
    change: PasswordChange,
    session: SessionDep,
    cipher: CipherDep,
    _admin: AdminDep,
) -> DevicePublic:
    """Stored encrypted like camera credentials; the SIP service fetches it within its
    credentials interval. A device id not seen yet is listed (pending) with it, so an admin can
    register a device before it first calls."""
    device = session.get(GbDevice, device_id)
    if device is None:
        now = datetime.now(UTC)
        device = GbDevice(id=device_id, admission="pending", online=False, address="",
                          first_seen_at=now, last_report_at=now, authenticated=False)  # fmt: skip
        session.add(device)
    device.password_encrypted = cipher.encrypt(change.password.get_secret_value())
    session.commit()
    return _public(device)


@router.delete(
    "/gb28181/devices/{device_id}/password",
    response_model=DevicePublic,
    responses={404: {"model": Problem}},
    summary="Remove a device's own password: it registers with the platform's again.",
)
def remove_password(device_id: GbPath, session: SessionDep, _admin: AdminDep) -> DevicePublic:
    device = _device(session, device_id)
    device.password_encrypted = None
    session.commit()
    return _public(device)


@router.put(
    "/gb28181/devices/{device_id}/channels/{channel_id}/refusal",
    response_model=DevicePublic,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="Refuse a candidate channel (not to be adopted), or make it a candidate again.",
)
def refuse_channel(
    device_id: GbPath,
    channel_id: GbPath,
    change: ChannelRefusal,
    session: SessionDep,
    principal: OwnerDep,
) -> DevicePublic:
    device = _device(session, device_id, principal)
    channel = session.get(GbChannel, (device_id, channel_id))
    if channel is None:
        raise CodedProblem(
            404, f"channel_id: {channel_id} is not in {device_id}'s catalog",
            "gb_channel_not_found", {"device_id": device_id, "channel_id": channel_id},
        )  # fmt: skip
    if channel.camera_id is not None and change.refused:
        raise CodedProblem(
            409, f"channel_id: adopted already as {channel.camera_id}", "gb_channel_adopted",
            {"camera_id": channel.camera_id},
        )  # fmt: skip
    channel.refused = change.refused
    session.commit()
    return _public(device)


@router.post(
    "/gb28181/devices/{device_id}/channels/{channel_id}/camera",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    summary="Adopt a channel of an accepted device as a camera (gb28181://DEVICE/CHANNEL); an "
    "owner adopts those of devices assigned to their organisation, for it.",
)
def adopt_channel(
    device_id: GbPath,
    channel_id: GbPath,
    session: SessionDep,
    cipher: CipherDep,
    principal: OwnerDep,
    document: Annotated[dict[str, Any], Body(description="Camera-file fields but the source.")],
) -> dict[str, str]:
    device = _device(session, device_id, principal)
    if device.admission != "accepted":
        raise CodedProblem(
            409, f"device_id: {device_id} is {device.admission}, not accepted",
            "gb_device_not_accepted", {"device_id": device_id, "admission": device.admission},
        )  # fmt: skip
    channel = session.get(GbChannel, (device_id, channel_id))
    if channel is None:
        raise CodedProblem(
            404, f"channel_id: {channel_id} is not in {device_id}'s catalog",
            "gb_channel_not_found", {"device_id": device_id, "channel_id": channel_id},
        )  # fmt: skip
    if channel.camera_id is not None:
        raise CodedProblem(
            409, f"channel_id: adopted already as {channel.camera_id}", "gb_channel_adopted",
            {"camera_id": channel.camera_id},
        )  # fmt: skip
    if "source" in document:
        raise CodedProblem(422, "source: set by the channel, leave it out", "gb_source_given")
    if channel.refused:
        raise CodedProblem(
            409, "channel_id: refused; make it a candidate again first", "gb_channel_refused"
        )
    organisation_id = document.pop("organisation_id", None)
    if principal.role != "admin":
        if organisation_id not in (None, device.organisation_id):
            raise CodedProblem(
                403, "organisation_id: you adopt for your own organisation",
                "own_organisation_only",
            )  # fmt: skip
        organisation_id = device.organisation_id
    elif organisation_id is None:
        organisation_id = device.organisation_id
    organisation = (
        session.get(Organisation, organisation_id) if isinstance(organisation_id, str) else None
    )
    if organisation is None:
        raise CodedProblem(
            422, "organisation_id: name an existing organisation", "organisation_unknown"
        )
    if "id" in document and session.get(Camera, str(document["id"])) is not None:
        raise CodedProblem(
            409, f"id: camera {document['id']!r} exists already", "camera_exists",
            {"camera_id": str(document["id"])},
        )  # fmt: skip
    document["source"] = gb28181_source(device_id, channel_id)
    if "location" not in document and channel.latitude is not None and channel.longitude:
        document["location"] = {"lat": channel.latitude, "lon": channel.longitude}
    document.setdefault("name", channel.name or channel_id)
    try:
        config = validate_registration(document, organisation)
    except CameraRejected as err:
        raise CodedProblem(422, str(err), "invalid", {"errors": err.errors}) from err
    camera = upsert_camera(session, config, cipher)
    camera.status = "online" if device.online else "offline"
    camera.status_since = datetime.now(UTC)
    channel.camera_id = camera.id
    session.commit()
    return {"camera_id": camera.id, "source": camera.source_display}
