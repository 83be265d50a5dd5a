"""What the GB/T 28181 service reports to the API about a device, and the API's answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contract.vocabulary import Category, Instant, Severity

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


class DeviceAdmission(BaseModel):
    """The API's answer to a report: whether the device is admitted."""

    device_id: GbCode
    admission: Admission


class DeviceInfo(BaseModel):
    """A device's answer to the DeviceInfo query (GB/T 28181-2016 A.2.6.5)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100, description="DeviceName.")
    manufacturer: str | None = Field(None, max_length=100, description="Manufacturer.")
    model: str | None = Field(None, max_length=100, description="Model.")
    firmware: str | None = Field(None, max_length=100, description="Firmware version.")
    channel_count: int | None = Field(None, ge=0, le=65_535, description="Channel: video inputs.")


class DeviceReport(BaseModel):
    """The service's view of one device: sent on registration, catalog, online/offline."""

    model_config = ConfigDict(extra="forbid")

    online: bool = Field(description="Registered and keeping alive.")
    address: str = Field(max_length=64, description="host:port the device signals from.")
    channels: list[ChannelReport] | None = Field(
        None, max_length=4096, description="The whole catalog when it has arrived; None: unchanged."
    )
    info: DeviceInfo | None = Field(None, description="Its DeviceInfo answer; None: unchanged.")
    last_keepalive_at: Instant | None = Field(
        None, description="When its last keep-alive (or registration) arrived."
    )
    authenticated: bool = Field(
        True,
        description="False: it tried to register but has no password here yet (a new id while "
        "devices register with passwords of their own); listed for an admin, not registered.",
    )


AlarmPriority = Literal[1, 2, 3, 4]
"""GB/T 28181-2016 A.2.5.4 AlarmPriority: 1 first-level (most urgent) to 4 fourth-level."""

AlarmMethod = Literal[1, 2, 3, 4, 5, 6, 7]
"""GB/T 28181-2016 A.2.5.4 AlarmMethod: 1 telephone, 2 device, 3 SMS, 4 GPS, 5 video analysis,
6 device fault, 7 other."""

# (AlarmMethod, AlarmType) -> the rule kind whose event code the alarm carries (taxonomy.yaml's
# `rules`), after GB/T 28181-2016 A.2.5.4 (types of method 2, 5 and 6; 2022 keeps them). A pair
# not listed takes the code of its method's category (`ALARM_CATEGORY`).
ALARM_RULES: dict[tuple[int, int], str] = {
    (2, 1): "video_loss",  # 视频丢失报警
    (2, 2): "camera_tamper",  # 设备防拆报警
    (5, 5): "line_crossing",  # 绊线检测报警
    (5, 6): "intrusion",  # 入侵检测报警
    (5, 8): "loitering",  # 徘徊检测报警
    (5, 10): "crowd",  # 密度检测报警
    (5, 11): "tamper",  # 视频异常检测报警 (occluded, moved, defocused)
}
ALARM_CATEGORY: dict[int, Category] = {
    1: Category.public_safety, 2: Category.device_fault, 3: Category.public_safety,
    4: Category.public_safety, 5: Category.public_safety, 6: Category.device_fault,
    7: Category.public_safety,
}  # fmt: skip
ALARM_SEVERITY: dict[int, Severity] = {
    1: Severity.critical,
    2: Severity.high,
    3: Severity.medium,
    4: Severity.low,
}
ALARM_NAMES: dict[tuple[int, int], str] = {
    (2, 1): "video loss", (2, 2): "device tamper", (2, 3): "storage full",
    (2, 4): "over temperature", (2, 5): "under temperature", (5, 1): "manual video alarm",
    (5, 2): "motion", (5, 3): "object left", (5, 4): "object removed", (5, 5): "tripwire",
    (5, 6): "intrusion", (5, 7): "wrong direction", (5, 8): "loitering", (5, 9): "flow count",
    (5, 10): "density", (5, 11): "video abnormal", (5, 12): "fast movement",
    (6, 1): "storage disk fault", (6, 2): "storage fan fault",
}  # fmt: skip
ALARM_METHODS = {1: "telephone", 2: "device", 3: "SMS", 4: "GPS", 5: "video analysis",
                 6: "device fault", 7: "other"}  # fmt: skip


class AlarmReport(BaseModel):
    """A device's alarm (MESSAGE Notify CmdType=Alarm, GB/T 28181-2016 §9.4 and A.2.5.4) as the
    service reports it to the API. The same alarm (device, DeviceID, time, method, type)
    reported twice is one alarm and one incident. Degrees are WGS-84."""

    model_config = ConfigDict(extra="forbid")

    device_id: GbCode = Field(description="The registered device that sent it.")
    channel_id: GbCode = Field(description="Its DeviceID: the alarming channel (or the device).")
    sn: int = Field(ge=0, le=2**31 - 1, description="The message's SN.")
    priority: AlarmPriority = Field(description="AlarmPriority, 1 most urgent.")
    method: AlarmMethod = Field(description="AlarmMethod.")
    alarm_type: int | None = Field(None, ge=0, le=99, description="Info/AlarmType, if given.")
    event_type: int | None = Field(
        None, ge=0, le=99, description="Info/AlarmTypeParam/EventType (1 on, 2 off), if given."
    )
    time: Instant = Field(description="AlarmTime, in the platform's zone when the device omits it.")
    description: str = Field("", max_length=200, description="AlarmDescription.")
    longitude: float | None = Field(None, ge=-180, le=180, description="Degrees east.")
    latitude: float | None = Field(None, ge=-90, le=90, description="Degrees north.")

    def rule_kind(self) -> str | None:
        """The rule kind whose event code this alarm carries, or None: its category's code."""
        return ALARM_RULES.get((self.method, self.alarm_type or 0))

    def category(self) -> Category:
        if self.rule_kind() in ("video_loss", "camera_tamper", "tamper"):
            return Category.device_fault
        return ALARM_CATEGORY[self.method]

    def severity(self) -> Severity:
        return ALARM_SEVERITY[self.priority]

    def label(self) -> str:
        """What the alarm is, in words: 'device: video loss', 'video analysis: intrusion'."""
        kind = ALARM_NAMES.get((self.method, self.alarm_type or 0))
        method = ALARM_METHODS[self.method]
        return f"{method}: {kind}" if kind else f"{method} alarm"


class AlarmRecorded(BaseModel):
    """The API's answer to an alarm: its id, and the camera and grid event it raised (None:
    the channel is not an adopted camera, the alarm is kept on the device only)."""

    alarm_id: str
    camera_id: str | None
    grid_event_id: int | None
    created: bool = Field(description="False: reported before, nothing changed.")


class DeviceCredential(BaseModel):
    """What the service needs of an admitted or refused device: its admission and, when an
    admin gave it one, its own digest password."""

    device_id: GbCode
    admission: Admission
    password: str | None = Field(
        None, description="The device's own password; None: the platform's."
    )
