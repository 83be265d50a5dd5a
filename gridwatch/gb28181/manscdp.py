"""MANSCDP XML bodies (GB/T 28181 appendix A): Keepalive, Catalog query and response.

Devices declare GB2312 or UTF-8 (and often send GBK under the GB2312 name), which expat cannot
decode itself; the body is decoded with Python's codec for the declared encoding (GB18030, the
superset, for any GB name) and parsed as text with `defusedxml`, so no entity tricks get through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeXml

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


def catalog_items(root: Element, device_id: str) -> tuple[int, list[Channel], list[str]]:
    """The (SumNum, channels, directories) of one catalog Response message.

    A lower platform's catalog also lists its administrative areas, whose DeviceID is a civil
    code of 2, 4, 6 or 8 digits: they count toward SumNum and come back as `directories`.

    Raises:
        ManscdpError: SumNum missing or not a number, an <Item> whose DeviceID is neither a
            20-digit code nor a civil code.
    """
    sum_text = text_of(root, "SumNum", required=True) or ""
    if not sum_text.isdigit():
        raise ManscdpError(f"<SumNum> {sum_text[:20]!r} is not a number")
    channels = []
    directories = []
    for item in root.iterfind("DeviceList/Item"):
        item_id = text_of(item, "DeviceID") or ""
        if item_id.isdigit() and len(item_id) in (2, 4, 6, 8):
            directories.append(item_id)
            continue
        channels.append(
            Channel(
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
        )
    return int(sum_text), channels, directories


def catalog_query(sn: int, device_id: str) -> bytes:
    """The Query CmdType=Catalog body the platform sends a device, GB2312 as the standard shows."""
    return (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
    ).encode("gb2312")
