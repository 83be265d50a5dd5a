"""MANSCDP XML bodies (GB/T 28181 appendix A): Keepalive, Catalog and DeviceInfo queries and
responses, Alarm notifications and their response.

Devices declare GB2312 or UTF-8 (and often send GBK under the GB2312 name), which expat cannot
decode itself; the body is decoded with Python's codec for the declared encoding (GB18030, the
superset, for any GB name) and parsed as text with `defusedxml`, so no entity tricks get through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeXml
from pydantic import ValidationError

from contract.gb28181 import AlarmReport, ChannelReport, DeviceInfo

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")
_GB = {"gb2312", "gbk", "gb18030", "gb-2312", "euc-cn"}
_DEVICE_ID = re.compile(r"^[0-9]{20}$")


class ManscdpError(ValueError):
    """The body is not MANSCDP XML GridWatch can read; the text names the element and why."""


@dataclass(frozen=True)
class Channel:
    """A channel a device reports in its catalog: a candidate camera until an admin adopts it.

    Longitude and latitude are WGS-84 degrees when the device gives them, else None.
    """

    device_id: str
    channel_id: str
    name: str
    manufacturer: str | None
    model: str | None
    civil_code: str | None
    status: str | None
    longitude: float | None
    latitude: float | None


def decode(body: bytes) -> Element:
    """Parse a MANSCDP body into its root element.

    Raises:
        ManscdpError: the declared encoding is unknown or wrong for the bytes, or the XML is
            malformed or uses entities/DTDs.
    """
    match = _DECLARATION.match(body)
    declared = match.group(1).decode().lower() if match else "utf-8"
    codec = "gb18030" if declared in _GB else declared
    try:
        text = body.decode(codec)
    except (LookupError, UnicodeDecodeError) as err:
        raise ManscdpError(f"body is not {declared}: {err}") from err
    if match:
        text = text[len(match.group(0).decode("ascii")) :]
    try:
        return SafeXml.fromstring(text)
    except (SafeXml.ParseError, DefusedXmlException) as err:
        raise ManscdpError(f"XML: {err}") from err


def text_of(root: Element, name: str, *, required: bool = False) -> str | None:
    node = root.find(name)
    value = node.text.strip() if node is not None and node.text else None
    if required and not value:
        raise ManscdpError(f"<{root.tag}> has no <{name}>")
    return value


def device_id_of(root: Element) -> str:
    value = text_of(root, "DeviceID", required=True) or ""
    if not _DEVICE_ID.match(value):
        raise ManscdpError(f"<DeviceID> {value[:40]!r} is not a 20-digit GB/T 28181 code")
    return value


def sn_of(root: Element) -> int:
    value = text_of(root, "SN", required=True) or ""
    if not value.isdigit():
        raise ManscdpError(f"<SN> {value[:20]!r} is not a number")
    return int(value)


def _degrees(item: Element, name: str, limit: float) -> float | None:
    value = text_of(item, name)
    if value is None:
        return None
    try:
        degrees = float(value)
    except ValueError as err:
        raise ManscdpError(f"<{name}> {value[:20]!r} is not a number") from err
    if not -limit <= degrees <= limit or degrees == 0.0:
        return None  # devices send 0.0 for "not set"
    return degrees


VIDEO_TYPES = frozenset({"131", "132"})
"""Type codes (a 20-digit id's digits 11 to 13, GB/T 28181-2016 appendix D) of video channels:
camera, network camera."""
NOT_VIDEO_TYPES = frozenset({"134", "135", "136", "137", "200", "215", "216"})
"""Type codes of catalog items that carry no video: alarm input and output, audio input and
output, a (lower) platform, a business group, a virtual organisation."""


def catalog_items(root: Element, device_id: str) -> tuple[int, list[Channel], list[str]]:
    """The (SumNum, channels, other items) of one catalog Response message.

    Channels are the items that can be cameras. The others count toward SumNum but are no
    candidates: a lower platform's administrative areas (a civil code of 2, 4, 6 or 8 digits),
    its business groups and virtual organisations, alarm and audio inputs and outputs (by
    their type code), and any parent item (`Parental` 1: an NVR a platform lists above its
    cameras) that is not itself a camera.

    Raises:
        ManscdpError: SumNum missing or not a number, an <Item> whose DeviceID is neither a
            20-digit code nor a civil code, or whose field is over the API's length.
    """
    sum_text = text_of(root, "SumNum", required=True) or ""
    if not sum_text.isdigit():
        raise ManscdpError(f"<SumNum> {sum_text[:20]!r} is not a number")
    channels = []
    directories = []
    for item in root.iterfind("DeviceList/Item"):
        item_id = text_of(item, "DeviceID") or ""
        if item_id.isascii() and item_id.isdigit() and len(item_id) in (2, 4, 6, 8):
            directories.append(item_id)
            continue
        if _DEVICE_ID.match(item_id) and (
            item_id[10:13] in NOT_VIDEO_TYPES
            or (text_of(item, "Parental") == "1" and item_id[10:13] not in VIDEO_TYPES)
        ):
            directories.append(item_id)
            continue
        channel = Channel(
            device_id=device_id,
            channel_id=device_id_of(item),
            name=(text_of(item, "Name") or "")[:200],
            manufacturer=text_of(item, "Manufacturer"),
            model=text_of(item, "Model"),
            civil_code=text_of(item, "CivilCode"),
            status=text_of(item, "Status"),
            longitude=_degrees(item, "Longitude", 180.0),
            latitude=_degrees(item, "Latitude", 90.0),
        )
        try:  # the API's own model: what it would refuse is refused here, answered 400
            ChannelReport.model_validate(
                {k: v for k, v in channel.__dict__.items() if k != "device_id"}
            )
        except ValidationError as err:
            raise _first_error(err, "Item") from err
        channels.append(channel)
    return int(sum_text), channels, directories


def catalog_query(sn: int, device_id: str) -> bytes:
    """The Query CmdType=Catalog body the platform sends a device, GB2312 as the standard shows."""
    return _query("Catalog", sn, device_id)


def _query(command: str, sn: int, device_id: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>{command}</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
    ).encode("gb2312")


def device_info_query(sn: int, device_id: str) -> bytes:
    """The Query CmdType=DeviceInfo body (GB/T 28181-2016 A.2.4.4)."""
    return _query("DeviceInfo", sn, device_id)


def _first_error(err: ValidationError, element: str) -> ManscdpError:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return ManscdpError(f"<{element}> {field}: {first['msg']}")


def _integer(root: Element, name: str) -> int | None:
    value = text_of(root, name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise ManscdpError(f"<{name}> {value[:20]!r} is not a number")
    return int(value)


def device_info(root: Element) -> DeviceInfo:
    """The DeviceInfo Response's fields (GB/T 28181-2016 A.2.6.5).

    Raises:
        ManscdpError: Result is ERROR, Channel is not a number, or a field is over its length.
    """
    if (text_of(root, "Result") or "OK").upper() != "OK":
        raise ManscdpError(f"<Result> {text_of(root, 'Result')!r}: the device refused the query")
    try:
        return DeviceInfo(
            name=text_of(root, "DeviceName"),
            manufacturer=text_of(root, "Manufacturer"),
            model=text_of(root, "Model"),
            firmware=text_of(root, "Firmware"),
            channel_count=_integer(root, "Channel"),
        )
    except ValidationError as err:
        raise _first_error(err, "Response") from err


def _alarm_time(value: str, zone: tzinfo) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise ManscdpError(f"<AlarmTime> {value[:40]!r} is not an ISO 8601 time") from err
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def alarm(root: Element, device_id: str, zone: tzinfo) -> AlarmReport:
    """The Alarm Notify's fields (GB/T 28181-2016 §9.4, A.2.5.4) as an `AlarmReport`.

    Args:
        root: The <Notify> element.
        device_id: The registered device that sent it (its <DeviceID> is the alarming channel).
        zone: Where AlarmTime is read when it carries no offset (devices send local time).

    Raises:
        ManscdpError: a missing or malformed field (names the element and why), coordinates
            out of range, a priority or method outside the standard's codes.
    """
    channel_id = device_id_of(root)
    priority = _integer(root, "AlarmPriority")
    method = _integer(root, "AlarmMethod")
    when = text_of(root, "AlarmTime", required=True) or ""
    info = root.find("Info")
    alarm_type = event_type = None
    if info is not None:
        alarm_type = _integer(info, "AlarmType")
        parameter = info.find("AlarmTypeParam")
        if parameter is not None:
            event_type = _integer(parameter, "EventType")
    longitude = _coordinate(root, "Longitude")
    latitude = _coordinate(root, "Latitude")
    if longitude == 0.0 and latitude == 0.0:
        longitude = latitude = None  # devices send 0, 0 for "not set"
    try:
        return AlarmReport(
            device_id=device_id,
            channel_id=channel_id,
            sn=sn_of(root),
            priority=priority,
            method=method,
            alarm_type=alarm_type,
            event_type=event_type,
            time=_alarm_time(when, zone),
            description=(text_of(root, "AlarmDescription") or "")[:200],
            longitude=longitude,
            latitude=latitude,
        )
    except ValidationError as err:
        raise _first_error(err, "Notify") from err


def _coordinate(root: Element, name: str) -> float | None:
    value = text_of(root, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as err:
        raise ManscdpError(f"<{name}> {value[:20]!r} is not a number") from err


def alarm_response(sn: int, device_id: str) -> bytes:
    """The platform's Response CmdType=Alarm Result=OK (GB/T 28181-2016 §9.4.2, A.2.6.9): the
    alarm was received. The device stops repeating it and waits for a reset."""
    return (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>Alarm</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n<Result>OK</Result>\r\n"
        "</Response>\r\n"
    ).encode("gb2312")


def alarm_reset(sn: int, channel_id: str, method: int, alarm_type: int | None) -> bytes:
    """The Control CmdType=DeviceControl AlarmCmd=ResetAlarm body (GB/T 28181-2016 §9.4.3,
    A.2.3.1.8): the platform resets the channel's alarm once it is handled."""
    info = f"<Info>\r\n<AlarmMethod>{method}</AlarmMethod>\r\n"
    if alarm_type is not None:
        info += f"<AlarmType>{alarm_type}</AlarmType>\r\n"
    info += "</Info>\r\n"
    return (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Control>\r\n'
        f"<CmdType>DeviceControl</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{channel_id}</DeviceID>"
        f"\r\n<AlarmCmd>ResetAlarm</AlarmCmd>\r\n{info}</Control>\r\n"
    ).encode("gb2312")
