"""The camera's answers (zeep objects, notification XML) turned into the adapter's own models.

Only the package's own modules pass zeep objects in; what comes out is always ours.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import zeep.helpers
from defusedxml import ElementTree as SafeET

from ingest.onvif.models import CameraEvent, DeviceInfo, EventKind, MediaProfile

_TAMPER_WORDS = frozenset(
    {
        "tamper",
        "tamperdetector",
        "tampering",
        "globalscenechange",
        "imagetooblurry",
        "imagetoodark",
        "imagetoobright",
    }
)
_MOTION_WORDS = frozenset(
    {"motion", "motionalarm", "cellmotiondetector", "motiondetector", "motionregiondetector"}
)
_ANALYTICS_ROOTS = frozenset({"ruleengine", "videoanalytics", "analytics"})
# Data items that carry the event's state, most specific first; other booleans are a fallback.
_STATE_ITEMS = ("IsMotion", "IsTamper", "IsInside", "State", "LogicalState", "Active", "Value")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

_NS = {
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tt": "http://www.onvif.org/ver10/schema",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
}


def event_kind(topic: str) -> EventKind:
    """Sort a topic into motion, tamper, analytics or other.

    Vendor prefixes (`tns1:`, `tnsaxis:`) are ignored, so vendor topics that follow the ONVIF
    names sort the same way.

    Example:
        >>> event_kind("tns1:RuleEngine/CellMotionDetector/Motion")
        'motion'
        >>> event_kind("tns1:VideoSource/GlobalSceneChange/ImagingService")
        'tamper'
    """
    words = [part.rpartition(":")[2].lower() for part in topic.strip().split("/") if part]
    if any(word in _TAMPER_WORDS for word in words):
        return "tamper"
    if any(word in _MOTION_WORDS for word in words):
        return "motion"
    if words and (words[0] in _ANALYTICS_ROOTS or any(w.endswith("detector") for w in words)):
        return "analytics"
    return "other"


def _state_of(data: Mapping[str, str]) -> bool | None:
    for name in (*_STATE_ITEMS, *data):
        value = data.get(name, "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return None


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # ONVIF times are UTC; some cameras leave the zone out
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _camera_event(
    topic: str,
    utc_time: dt.datetime | None,
    operation: str | None,
    source: dict[str, str],
    data: dict[str, str],
    received: dt.datetime,
) -> CameraEvent:
    return CameraEvent(
        topic=topic,
        kind=event_kind(topic),
        state=_state_of(data),
        source=source,
        time=utc_time or received,
        operation=operation or "Changed",
        data=data,
    )


def _items(element: ET.Element | None) -> dict[str, str]:
    if element is None:
        return {}
    return {
        item.get("Name", ""): item.get("Value", "")
        for item in element.findall("tt:SimpleItem", _NS)
    }


def event_from_xml(notification: ET.Element, received: dt.datetime) -> CameraEvent | None:
    """A CameraEvent from one `wsnt:NotificationMessage` element, None if it has no topic.

    Args:
        notification: The NotificationMessage element.
        received: When it arrived; stands in for a message without a time of its own.
    """
    topic = notification.findtext("wsnt:Topic", default="", namespaces=_NS).strip()
    if not topic:
        return None
    message = notification.find("wsnt:Message/tt:Message", _NS)
    if message is None:
        return _camera_event(topic, None, None, {}, {}, received)
    return _camera_event(
        topic,
        _parse_time(message.get("UtcTime")),
        message.get("PropertyOperation"),
        _items(message.find("tt:Source", _NS)),
        _items(message.find("tt:Data", _NS)),
        received,
    )


def parse_pull_messages(xml: bytes | str, received: dt.datetime | None = None) -> list[CameraEvent]:
    """Every event in a PullMessages answer (or any XML holding NotificationMessage elements).

    Example:
        >>> events = parse_pull_messages(Path("pull_messages_response.xml").read_bytes())
        >>> events[0].kind, events[0].state
        ('motion', True)
    """
    root = SafeET.fromstring(xml)
    current = _parse_time(root.findtext(".//tev:CurrentTime", namespaces=_NS))
    fallback = received or current or dt.datetime.now(dt.UTC)
    events = (
        event_from_xml(notification, fallback)
        for notification in root.iter(f"{{{_NS['wsnt']}}}NotificationMessage")
    )
    return [event for event in events if event is not None]


def _simple_items(container: Any) -> dict[str, str]:
    items = (container or {}).get("SimpleItem") or []
    return {str(item.get("Name")): str(item.get("Value")) for item in items if item}


def event_from_zeep(notification: Any, received: dt.datetime) -> CameraEvent | None:
    """A CameraEvent from the library's NotificationMessage object, None if it has no topic.

    Args:
        notification: One `NotificationMessage` of a PullMessages answer, as the client parsed it.
        received: When it arrived; stands in for a message without a time of its own.
    """
    topic_value = getattr(notification.Topic, "_value_1", None)
    topic = str(topic_value or "").strip()
    if not topic:
        return None
    message = getattr(notification.Message, "_value_1", None)
    if isinstance(message, ET.Element) or hasattr(message, "tag"):
        # A message of a type the WSDLs do not describe arrives as a raw XML element.
        wrapper = ET.Element(f"{{{_NS['wsnt']}}}NotificationMessage")
        ET.SubElement(wrapper, f"{{{_NS['wsnt']}}}Topic").text = topic
        holder = ET.SubElement(wrapper, f"{{{_NS['wsnt']}}}Message")
        holder.append(SafeET.fromstring(_element_bytes(message)))
        return event_from_xml(wrapper, received)
    fields = zeep.helpers.serialize_object(message, dict) or {}
    utc_time = fields.get("UtcTime")
    if isinstance(utc_time, dt.datetime):
        utc_time = utc_time.replace(tzinfo=utc_time.tzinfo or dt.UTC).astimezone(dt.UTC)
    elif isinstance(utc_time, str):
        utc_time = _parse_time(utc_time)
    else:
        utc_time = None
    return _camera_event(
        topic,
        utc_time,
        fields.get("PropertyOperation"),
        _simple_items(fields.get("Source")),
        _simple_items(fields.get("Data")),
        received,
    )


def _element_bytes(element: Any) -> bytes:
    from lxml import etree  # the library's own XML type; only reached for untyped messages

    return bytes(etree.tostring(element))


def events_from_pull_answer(answer: Any, received: dt.datetime) -> list[CameraEvent]:
    """The events of the library's PullMessages answer, timed by the camera's clock if it sent it.

    Args:
        answer: The PullMessagesResponse object.
        received: When the answer arrived (timezone-aware); used when it carries no CurrentTime.
    """
    current = getattr(answer, "CurrentTime", None)
    if isinstance(current, dt.datetime):
        received = current.replace(tzinfo=current.tzinfo or dt.UTC)
    events = (
        event_from_zeep(message, received)
        for message in (getattr(answer, "NotificationMessage", None) or [])
    )
    return [event for event in events if event is not None]


def device_info_from_zeep(info: Any) -> DeviceInfo:
    """Our DeviceInfo from the library's GetDeviceInformation answer."""
    return DeviceInfo(
        manufacturer=str(info.Manufacturer or ""),
        model=str(info.Model or ""),
        firmware_version=str(info.FirmwareVersion or ""),
        serial_number=str(info.SerialNumber or ""),
        hardware_id=str(getattr(info, "HardwareId", "") or ""),
    )


def media_profile_from_zeep(profile: Any) -> MediaProfile:
    """Our MediaProfile from one profile of the library's GetProfiles answer.

    The video encoder's settings give the encoding, size (pixels) and frame-rate limit; a
    profile without them (audio only) has None there.
    """
    encoder = getattr(profile, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None)
    rate = getattr(encoder, "RateControl", None)
    fps = getattr(rate, "FrameRateLimit", None)
    return MediaProfile(
        token=str(profile.token),
        name=str(getattr(profile, "Name", "") or profile.token),
        encoding=str(encoder.Encoding) if encoder is not None and encoder.Encoding else None,
        width=int(resolution.Width) if resolution is not None else None,
        height=int(resolution.Height) if resolution is not None else None,
        fps=float(fps) if fps else None,
    )


_QUARTER_HOUR = dt.timedelta(minutes=15)


def _moment_from_zeep(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """A `tt:DateTime` (Date: Year, Month, Day; Time: Hour, Minute, Second) as a datetime in
    `zone`; None when it is missing, incomplete or no real date."""
    date: Any = getattr(value, "Date", None)
    clock: Any = getattr(value, "Time", None)
    try:
        return dt.datetime(
            int(date.Year), int(date.Month), int(date.Day),
            int(clock.Hour), int(clock.Minute), int(clock.Second), tzinfo=zone,
        )  # fmt: skip
    except (AttributeError, TypeError, ValueError):
        return None


def camera_utc_time(answer: Any, now: dt.datetime) -> dt.datetime | None:
    """The camera's idea of the current UTC time, from its GetSystemDateAndTime answer.

    `UTCDateTime` is optional in ONVIF, and some cameras send only `LocalDateTime`. Their zone
    is not read from `TimeZone`, whose text comes in several forms (POSIX "CST-8", IANA names,
    vendors' "GMT+08:00" with the sign turned round): zones are whole quarter hours, so the
    local time's distance from our clock rounded to a quarter hour is the zone, and what is left
    is the camera's drift, which is what signing requests with its clock needs.

    Args:
        answer: The library's GetSystemDateAndTime answer (`SystemDateAndTime`).
        now: Our clock's current UTC time (timezone-aware).

    Returns:
        The camera's UTC time (timezone-aware), or None when the answer holds neither time.

    Example:
        >>> local_only = ...  # LocalDateTime 20:02:00, no UTCDateTime
        >>> camera_utc_time(local_only, datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
        datetime.datetime(2026, 11, 27, 12, 2, tzinfo=datetime.timezone.utc)
    """
    utc = _moment_from_zeep(getattr(answer, "UTCDateTime", None), dt.UTC)
    if utc is not None:
        return utc
    local = _moment_from_zeep(getattr(answer, "LocalDateTime", None), dt.UTC)
    if local is None:
        return None
    zone = round((local - now) / _QUARTER_HOUR) * _QUARTER_HOUR
    return local - zone
