"""What the GB/T 28181 service reports to the API about a device, and the API's answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

GbCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{20}$")]
"""A 20-digit GB/T 28181 code (device, channel or platform id)."""

Admission = Literal["pending", "accepted", "refused"]
"""An admin's decision on a device: new ids are pending until accepted or refused."""


def gb28181_source(device_id: str, channel_id: str) -> str:
    """The camera source of an adopted channel: ``gb28181://DEVICE_ID/CHANNEL_ID``."""
    return f"gb28181://{device_id}/{channel_id}"


class ChannelReport(BaseModel):
    """A channel from a device's catalog (a candidate camera); degrees WGS-84 when given."""

    model_config = ConfigDict(extra="forbid")

    channel_id: GbCode = Field(description="The channel's 20-digit code.")
    name: str = Field("", max_length=200, description="Name the device gives the channel.")
    manufacturer: str | None = Field(None, max_length=100, description="Device's maker.")
    model: str | None = Field(None, max_length=100, description="Device's model.")
    civil_code: str | None = Field(None, max_length=20, description="Administrative area code.")
    status: str | None = Field(None, max_length=16, description="ON or OFF as the device says.")
    longitude: float | None = Field(None, ge=-180, le=180, description="Degrees east.")
    latitude: float | None = Field(None, ge=-90, le=90, description="Degrees north.")


class DeviceReport(BaseModel):
    """The service's view of one device: sent on registration, catalog, online/offline."""

    model_config = ConfigDict(extra="forbid")

    online: bool = Field(description="Registered and keeping alive.")
    address: str = Field(max_length=64, description="host:port the device signals from.")
    channels: list[ChannelReport] | None = Field(
        None, max_length=4096, description="The whole catalog when it has arrived; None: unchanged."
    )


class DeviceAdmission(BaseModel):
    """The API's answer to a report: whether the device is admitted."""

    device_id: GbCode
    admission: Admission
