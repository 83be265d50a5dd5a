"""GB/T 28181 devices: the SIP service reports them; admins admit them and adopt their channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.auth import AdminDep, WorkerDep
from api.cameras import CameraRejected, upsert_camera, validate_registration
from api.deps import CipherDep, SessionDep
from api.models import Camera, GbChannel, GbDevice, Organisation
from api.schemas import Problem
from contract.gb28181 import (
    Admission,
    ChannelReport,
    DeviceAdmission,
    DeviceReport,
    gb28181_source,
)

router = APIRouter(prefix="/api/v1", tags=["gb28181"])

GbPath = Annotated[str, Path(pattern=r"^[0-9]{20}$", description="A 20-digit GB/T 28181 code.")]
OFFLINE_ERROR = "GB/T 28181 device offline (no keep-alive)"


class ChannelPublic(ChannelReport):
    camera_id: str | None = Field(description="The camera adopted from it, if any.")


class DevicePublic(BaseModel):
    """A device as admins see it: admission, signalling state and its catalog."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    admission: Admission
    online: bool
    address: str
    first_seen_at: datetime
    last_report_at: datetime
    channels: list[ChannelPublic]


class AdmissionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admission: Admission = Field(description="accepted or refused (pending: decide later).")


def _public(device: GbDevice) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        admission=device.admission,
        online=device.online,
        address=device.address,
        first_seen_at=device.first_seen_at,
        last_report_at=device.last_report_at,
        channels=[
            ChannelPublic(
                channel_id=c.channel_id, name=c.name, manufacturer=c.manufacturer,
                model=c.model, civil_code=c.civil_code, status=c.status,
                longitude=c.longitude, latitude=c.latitude, camera_id=c.camera_id,
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
    device_id: GbPath, report: DeviceReport, session: SessionDep, _worker: WorkerDep
) -> DeviceAdmission:
    now = datetime.now(UTC)
    device = session.get(GbDevice, device_id)
    if device is None:
        device = GbDevice(id=device_id, admission="pending", first_seen_at=now)
        session.add(device)
    device.online, device.address, device.last_report_at = report.online, report.address, now
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
    # A device offline cannot stream: its adopted cameras are offline, whatever a worker last
    # said. Online, the worker that leases a camera and plays its stream reports its health;
    # the device's report only lifts the offline mark it set itself.
    for channel in device.channels:
        camera = session.get(Camera, channel.camera_id) if channel.camera_id else None
        if camera is None:
            continue
        if not report.online:
            if camera.status != "offline":
                camera.status, camera.status_since = "offline", now
            camera.last_report_at = now
            camera.health = {"error": OFFLINE_ERROR}
        elif (camera.health or {}).get("error") == OFFLINE_ERROR:
            camera.status, camera.status_since = "online", now
            camera.last_report_at = now
            camera.health = {}
    session.commit()
    return DeviceAdmission(device_id=device_id, admission=device.admission)


@router.get(
    "/gb28181/devices",
    response_model=list[DevicePublic],
    summary="GB/T 28181 devices with their catalog channels (candidates and adopted).",
)
def list_devices(session: SessionDep, _admin: AdminDep) -> list[DevicePublic]:
    devices = session.scalars(
        select(GbDevice).options(selectinload(GbDevice.channels)).order_by(GbDevice.id)
    )
    return [_public(device) for device in devices]


def _device(session: Any, device_id: str) -> GbDevice:
    device = session.get(GbDevice, device_id)
    if device is None:
        raise HTTPException(404, detail=f"device_id: no GB/T 28181 device {device_id}")
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
    device.admission = change.admission
    session.commit()
    return _public(device)


@router.post(
    "/gb28181/devices/{device_id}/channels/{channel_id}/camera",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    summary="Adopt a channel of an accepted device as a camera (gb28181://DEVICE/CHANNEL).",
)
def adopt_channel(
    device_id: GbPath,
    channel_id: GbPath,
    session: SessionDep,
    cipher: CipherDep,
    _admin: AdminDep,
    document: Annotated[dict[str, Any], Body(description="Camera-file fields but the source.")],
) -> dict[str, str]:
    device = _device(session, device_id)
    if device.admission != "accepted":
        raise HTTPException(
            409, detail=f"device_id: {device_id} is {device.admission}, not accepted"
        )
    channel = session.get(GbChannel, (device_id, channel_id))
    if channel is None:
        raise HTTPException(404, detail=f"channel_id: {channel_id} is not in {device_id}'s catalog")
    if channel.camera_id is not None:
        raise HTTPException(409, detail=f"channel_id: adopted already as {channel.camera_id}")
    if "source" in document:
        raise HTTPException(422, detail="source: set by the channel, leave it out")
    organisation_id = document.pop("organisation_id", None)
    organisation = (
        session.get(Organisation, organisation_id) if isinstance(organisation_id, str) else None
    )
    if organisation is None:
        raise HTTPException(422, detail="organisation_id: name an existing organisation")
    if "id" in document and session.get(Camera, str(document["id"])) is not None:
        raise HTTPException(409, detail=f"id: camera {document['id']!r} exists already")
    document["source"] = gb28181_source(device_id, channel_id)
    if "location" not in document and channel.latitude is not None and channel.longitude:
        document["location"] = {"lat": channel.latitude, "lon": channel.longitude}
    document.setdefault("name", channel.name or channel_id)
    try:
        config = validate_registration(document, organisation)
    except CameraRejected as err:
        raise HTTPException(422, detail=str(err)) from err
    camera = upsert_camera(session, config, cipher)
    camera.status = "online" if device.online else "offline"
    camera.status_since = datetime.now(UTC)
    channel.camera_id = camera.id
    session.commit()
    return {"camera_id": camera.id, "source": camera.source_display}
