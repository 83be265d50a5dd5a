"""ONVIF cameras: device facts, media profiles, stream and snapshot addresses, PullPoint events.

This module is the only place that talks to the ONVIF client library (onvif-zeep-async). What
leaves it is our own: plain dataclasses and the errors below, each a `CameraUnavailable`, so the
worker retries them with backoff like any other camera that cannot be reached.

The library is asyncio; the rest of the worker is synchronous threads. Each `OnvifCamera` owns
one event loop, run in a thread of its own, and every public method hands a coroutine to that
loop and waits for it. One loop for the camera's whole life (rather than `asyncio.run` per call)
because the library's HTTP sessions, its parsed service clients and a PullPoint subscription are
bound to the loop that made them: with a loop per call every call would reconnect, re-read the
service addresses and parse the WSDLs again.

Example:
    >>> with OnvifCamera.connect("gate-1", "onvif://admin:secret@192.0.2.10:80") as camera:
    ...     camera.device_info().model
    ...     camera.stream_uri()          # rtsp://admin:secret@192.0.2.10:554/... for the reader
    ...     jpeg = camera.snapshot()
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import aiohttp
import httpx
from defusedxml import ElementTree as SafeET

from ingest.errors import CameraUnavailable, mask_credentials
from ingest.http import CameraAuth, read_limited

# Importing the client runs `logging.basicConfig(level=INFO)` as a side effect, which would take
# the process's logging set-up away from the command line. Keep the root logger as it was.
_root_logger = logging.getLogger()
_root_state = (list(_root_logger.handlers), _root_logger.level)
import zeep.exceptions  # noqa: E402
import zeep.helpers  # noqa: E402
from onvif import ONVIFCamera  # noqa: E402
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError  # noqa: E402
from onvif.util import is_auth_error, stringify_onvif_error  # noqa: E402

_root_logger.handlers[:] = _root_state[0]
_root_logger.setLevel(_root_state[1])

log = logging.getLogger(__name__)

DEFAULT_PORT = 80
DEFAULT_TIMEOUT_S = 10.0
_PULLPOINT_NAMESPACE = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
_T = TypeVar("_T")


# ----------------------------------------------------------------------------------- errors


class OnvifError(CameraUnavailable):
    """An ONVIF camera could not be used. Retried with backoff, as every CameraUnavailable."""


class OnvifAuthError(OnvifError):
    """The camera refused the user and password. Retried with the worker's capped backoff, which
    is slow enough not to lock the camera's account; the fix is in the camera's config."""


class OnvifUnreachable(OnvifError):
    """Nothing answered: connection refused, no route, or an unknown host name. Retried."""


class OnvifTimeout(OnvifError):
    """The camera accepted the connection but did not answer in time. Retried."""


class NotAnOnvifDevice(OnvifError):
    """Something answered HTTP at the address, but not as an ONVIF device service. Retried, but
    usually the config names the wrong port or host."""


class OnvifEventsUnsupported(OnvifError):
    """The camera has no event service (or no PullPoint support). Not worth retrying soon."""


# --------------------------------------------------------------------------- what leaves here


@dataclass(frozen=True, slots=True)
class OnvifAddress:
    """Where an ONVIF camera's device service is and how to log in, from an onvif:// URL.

    Attributes:
        host: Host name or address.
        port: HTTP port of the device service (80 unless the URL names one).
        user: User name, or None for a camera without authentication.
        password: Password; never shown by repr.
        profile: Media profile wanted (token or name), or None for the default choice.
    """

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    profile: str | None = None

    @classmethod
    def parse(cls, url: str) -> OnvifAddress:
        """Parse `onvif://[user:password@]host[:port][?profile=NAME]`; raises ValueError.

        User and password are percent-decoded: write a password's `@` as `%40`, `:` as `%3A`.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "onvif":
            raise ValueError(f"not an onvif:// URL: {mask_credentials(url)}")
        if not parts.hostname:
            raise ValueError(f"onvif:// URL without a host: {mask_credentials(url)}")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as err:
            raise ValueError(f"onvif:// URL with a bad port: {mask_credentials(url)}") from err
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"profile"})
        if unknown:
            raise ValueError(f"onvif:// URL: unknown option {unknown[0]!r} (known: profile)")
        profile = query.get("profile", [None])[-1]
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            profile=profile,
        )

    @property
    def where(self) -> str:
        """host:port, for messages (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the camera says it is (GetDeviceInformation)."""

    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str
    hardware_id: str = ""


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """One media profile: a stream configuration the camera offers.

    Attributes:
        token: The camera's handle for the profile.
        name: Its display name.
        encoding: Video encoding (H264, H265, JPEG, ...), None for a profile without video.
        width: Encoded width in pixels, None when unknown.
        height: Encoded height in pixels, None when unknown.
        fps: Frame rate limit, None when unknown.
    """

    token: str
    name: str
    encoding: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True, slots=True)
class CameraDescription:
    """Everything a connection test shows about an ONVIF camera. Holds no credentials."""

    address: str
    device: DeviceInfo
    profiles: tuple[MediaProfile, ...]
    profile: MediaProfile
    stream_uri: str
    snapshot_uri: str | None


EventKind = Literal["motion", "tamper", "analytics", "other"]


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One event a camera reported itself (its own motion detection, tamper alarm, rule ...).

    Attributes:
        topic: The ONVIF topic as sent, e.g. `tns1:RuleEngine/CellMotionDetector/Motion`.
        kind: motion, tamper, analytics (another rule of the camera's analytics) or other.
        state: The boolean the event carries (IsMotion, State, IsTamper, ...), None when it
            carries none (a momentary event such as a line crossing).
        source: Which part of the camera raised it (video source, rule name ...), name to value.
        time: When the camera says it happened (timezone-aware, UTC).
        operation: Initialized (the state when subscribing), Changed or Deleted.
        data: Every data item of the event, name to value, state item included.
    """

    topic: str
    kind: EventKind
    state: bool | None
    source: Mapping[str, str]
    time: dt.datetime
    operation: str = "Changed"
    data: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------ event parsing

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


def _event_from_zeep(notification: Any, received: dt.datetime) -> CameraEvent | None:
    """Our CameraEvent from the library's NotificationMessage object (stays in this module)."""
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


# ---------------------------------------------------------------------------- error mapping


def _translate(
    camera_id: str, address: OnvifAddress, action: str, err: BaseException, limit_s: float
) -> OnvifError:
    """Our error for what the library raised while doing `action`; messages carry no secrets."""
    where = address.where
    if isinstance(err, ONVIFAuthError) or (
        isinstance(err, zeep.exceptions.Fault) and is_auth_error(err)
    ):
        return OnvifAuthError(
            camera_id, f"ONVIF authentication failed at {where} (check the user and password)"
        )
    if isinstance(err, zeep.exceptions.TransportError):
        if err.status_code in (401, 403):
            return OnvifAuthError(
                camera_id, f"ONVIF authentication failed at {where} (check the user and password)"
            )
        return NotAnOnvifDevice(
            camera_id,
            f"{where} answered HTTP {err.status_code} to {action}: not an ONVIF device service",
        )
    if isinstance(err, zeep.exceptions.Fault):
        if err.code is None and err.message == "Unknown fault occured":
            # zeep's words for an answer that parsed as XML but held no SOAP envelope or fault.
            return NotAnOnvifDevice(
                camera_id, f"{where} answered {action} without SOAP: not an ONVIF device service"
            )
        return OnvifError(camera_id, f"camera refused {action}: {stringify_onvif_error(err)}")
    if isinstance(err, zeep.exceptions.XMLSyntaxError | zeep.exceptions.XMLParseError):
        return NotAnOnvifDevice(
            camera_id, f"{where} answered {action} with something other than SOAP XML"
        )
    if isinstance(err, TimeoutError | ONVIFTimeoutError | asyncio.TimeoutError):
        return OnvifTimeout(camera_id, f"{where} did not answer {action} within {limit_s:g} s")
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return OnvifUnreachable(camera_id, f"host name not found: {address.host}")
    if isinstance(err, aiohttp.ClientConnectorError):
        code = err.os_error.errno if err.os_error else None
        if code == errno.ECONNREFUSED:
            return OnvifUnreachable(camera_id, f"connection refused at {where} (nothing listens)")
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return OnvifUnreachable(camera_id, f"{where} is unreachable (no route to host)")
        return OnvifUnreachable(camera_id, f"cannot connect to {where}: {err.strerror or err}")
    if isinstance(err, aiohttp.ClientError | OSError):
        return OnvifUnreachable(camera_id, f"connection to {where} failed during {action}: {err}")
    if isinstance(err, ONVIFError):
        return OnvifError(camera_id, f"{action} failed at {where}: {err}")
    return OnvifError(camera_id, f"{action} failed at {where}: {type(err).__name__}: {err}")


_LIBRARY_ERRORS = (
    zeep.exceptions.Error,
    ONVIFError,
    aiohttp.ClientError,
    TimeoutError,
    asyncio.TimeoutError,
    OSError,
)


def _with_credentials(uri: str, user: str | None, password: str | None) -> str:
    """`uri` with the camera's user and password in it, unless it carries some already."""
    parts = urlsplit(uri)
    if not user or parts.username:
        return uri
    secret = f"{quote(user, safe='')}:{quote(password or '', safe='')}"
    return parts._replace(netloc=f"{secret}@{parts.netloc}").geturl()


def choose_profile(profiles: Iterable[MediaProfile], wanted: str | None) -> MediaProfile | None:
    """The profile named `wanted` (token, or name ignoring case); without one, the largest.

    The default is the profile with the most pixels, the camera's own order breaking ties:
    detection and the evidence snapshots gain from resolution, and on most cameras that is the
    first (main) profile anyway. Profiles without video are never chosen by default.
    """
    candidates = list(profiles)
    if wanted is not None:
        for profile in candidates:
            if profile.token == wanted:
                return profile
        for profile in candidates:
            if profile.name.lower() == wanted.lower():
                return profile
        return None
    with_video = [profile for profile in candidates if profile.encoding] or candidates
    return max(with_video, key=lambda profile: profile.pixels, default=None)


def _media_profile(profile: Any) -> MediaProfile:
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


# ------------------------------------------------------------------------------ the adapter


class _LoopThread:
    """An asyncio event loop running in a daemon thread of its own."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class OnvifCamera:
    """One ONVIF camera, reached through its device service; synchronous and thread-safe.

    Open it with `OnvifCamera.connect`, which logs in and reads the service addresses; close it
    (or use it as a context manager) to stop its event loop thread. Each call waits at most
    `timeout_s` for the camera.
    """

    def __init__(self, camera_id: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        try:
            self.address = OnvifAddress.parse(url)
        except ValueError as err:
            raise OnvifError(camera_id, str(err)) from err
        self.camera_id = camera_id
        self.timeout_s = timeout_s
        self._runner = _LoopThread(f"onvif-{camera_id}")
        self._client: ONVIFCamera | None = None
        self._profiles: tuple[MediaProfile, ...] | None = None
        self._closed = False

    @classmethod
    def connect(
        cls, camera_id: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> OnvifCamera:
        """Log in to the camera at an onvif:// URL and learn its services; raises OnvifError."""
        camera = cls(camera_id, url, timeout_s=timeout_s)
        try:
            camera._call("connect", camera._connect)
        except BaseException:
            camera.close()
            raise
        return camera

    def __enter__(self) -> OnvifCamera:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # The library's objects live on the camera's loop thread. Each method below builds a coroutine
    # that uses them and runs it through `_call`; only our own types come back out.

    def _call(
        self, action: str, coroutine: Callable[[], Awaitable[_T]], timeout_s: float | None = None
    ) -> _T:
        """Run `coroutine()` on the camera's loop within the timeout, translating failures."""
        if self._closed:
            raise OnvifError(self.camera_id, f"{action}: the ONVIF connection is closed")
        limit = self.timeout_s if timeout_s is None else timeout_s

        async def guarded() -> _T:
            try:
                async with asyncio.timeout(limit):
                    return await coroutine()
            except OnvifError:
                raise
            except _LIBRARY_ERRORS as err:
                raise _translate(self.camera_id, self.address, action, err, limit) from err

        return self._runner.run(guarded())

    async def _connect(self) -> None:
        address = self.address
        # adjust_time: a camera whose clock has drifted rejects WS-Security digests made with
        # ours; the library reads the camera's clock first (one unauthenticated call) and signs
        # with its time, so drift does not read as a wrong password.
        self._client = ONVIFCamera(
            address.host,
            address.port,
            # Empty rather than None: the library signs every request and cannot sign None.
            address.user or "",
            address.password or "",
            no_cache=True,  # the WSDLs ship with the library; nothing to cache from the network
            adjust_time=True,
        )
        await self._client.update_xaddrs()
        log.info("%s: ONVIF device service at %s answers", self.camera_id, address.where)

    def _device(self) -> ONVIFCamera:
        if self._client is None:
            raise OnvifError(self.camera_id, "not connected (use OnvifCamera.connect)")
        return self._client

    def device_info(self) -> DeviceInfo:
        """Manufacturer, model, firmware and serial number, as the camera reports them."""

        async def fetch() -> DeviceInfo:
            service = await self._device().create_devicemgmt_service()
            info = await service.GetDeviceInformation()
            return DeviceInfo(
                manufacturer=str(info.Manufacturer or ""),
                model=str(info.Model or ""),
                firmware_version=str(info.FirmwareVersion or ""),
                serial_number=str(info.SerialNumber or ""),
                hardware_id=str(getattr(info, "HardwareId", "") or ""),
            )

        return self._call("GetDeviceInformation", fetch)

    def profiles(self) -> tuple[MediaProfile, ...]:
        """The camera's media profiles, in its own order (read once, then remembered)."""
        if self._profiles is None:

            async def fetch() -> tuple[MediaProfile, ...]:
                media = await self._device().create_media_service()
                return tuple(_media_profile(profile) for profile in await media.GetProfiles())

            self._profiles = self._call("GetProfiles", fetch)
        return self._profiles

    def profile(self, wanted: str | None = None) -> MediaProfile:
        """The profile to use: `wanted`, else the URL's `?profile=`, else the largest one."""
        wanted = wanted if wanted is not None else self.address.profile
        profiles = self.profiles()
        chosen = choose_profile(profiles, wanted)
        if chosen is None:
            known = ", ".join(f"{p.name} ({p.token})" for p in profiles) or "none"
            what = f"no media profile {wanted!r}" if wanted else "no media profiles"
            raise OnvifError(self.camera_id, f"{what} on the camera (it has: {known})")
        return chosen

    def stream_uri(self, profile: str | None = None, *, with_credentials: bool = True) -> str:
        """The RTSP address of the chosen profile's stream.

        With `with_credentials` the camera's user and password are written into it, as the stream
        reader needs them; such a URL must never be logged (pass it through `mask_credentials`).
        """
        chosen = self.profile(profile)

        async def fetch() -> str:
            media = await self._device().create_media_service()
            answer = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": chosen.token,
                }
            )
            return str(answer.Uri)

        uri = self._call("GetStreamUri", fetch)
        log.info(
            "%s: profile %s (%s) streams at %s",
            self.camera_id,
            chosen.name,
            chosen.token,
            mask_credentials(uri),
        )
        if with_credentials:
            return _with_credentials(uri, self.address.user, self.address.password)
        return uri

    def snapshot_uri(self, profile: str | None = None) -> str | None:
        """The HTTP address of the chosen profile's snapshot JPEG, None if the camera has none."""
        chosen = self.profile(profile)

        async def fetch() -> str | None:
            media = await self._device().create_media_service()
            try:
                answer = await media.GetSnapshotUri({"ProfileToken": chosen.token})
            except zeep.exceptions.Fault as err:
                if is_auth_error(err):
                    raise
                log.info("%s: no snapshot URI: %s", self.camera_id, stringify_onvif_error(err))
                return None
            uri = getattr(answer, "Uri", None)
            return str(uri) if uri else None

        return self._call("GetSnapshotUri", fetch)

    def snapshot(self, profile: str | None = None) -> bytes:
        """One JPEG from the camera's snapshot URI, logging in as the HTTP cameras do
        (`CameraAuth`: the scheme the camera's challenge asks for) and read with their size
        limit. Raises OnvifError when there is no snapshot or it is not a JPEG.
        """
        uri = self.snapshot_uri(profile)
        if uri is None:
            raise OnvifError(self.camera_id, "the camera offers no snapshot URI")
        user, password = self.address.user, self.address.password
        auth = CameraAuth(user, password or "") if user else None
        try:
            with (
                httpx.Client(timeout=self.timeout_s, follow_redirects=True, auth=auth) as client,
                client.stream("GET", uri) as response,
            ):
                if response.status_code in (401, 403):
                    raise OnvifAuthError(
                        self.camera_id,
                        f"snapshot authentication failed at {mask_credentials(uri)}"
                        " (check the user and password)",
                    )
                if response.status_code != 200:
                    raise OnvifError(
                        self.camera_id,
                        f"snapshot from {mask_credentials(uri)} answered HTTP "
                        f"{response.status_code}",
                    )
                content = read_limited(self.camera_id, response.iter_bytes())
                kind = response.headers.get("content-type", "unknown type")
        except httpx.TimeoutException as err:
            raise OnvifTimeout(
                self.camera_id, f"snapshot from {mask_credentials(uri)} timed out"
            ) from err
        except httpx.HTTPError as err:
            raise OnvifUnreachable(
                self.camera_id, f"snapshot from {mask_credentials(uri)} failed: {err}"
            ) from err
        if not content.startswith(b"\xff\xd8"):
            raise OnvifError(self.camera_id, f"snapshot is not a JPEG ({kind})")
        return content

    def describe(self) -> CameraDescription:
        """Device facts, profiles and the chosen profile's addresses (without credentials)."""
        chosen = self.profile()
        return CameraDescription(
            address=self.address.where,
            device=self.device_info(),
            profiles=self.profiles(),
            profile=chosen,
            stream_uri=self.stream_uri(chosen.token, with_credentials=False),
            snapshot_uri=self.snapshot_uri(chosen.token),
        )

    def subscribe_events(
        self,
        *,
        lifetime: dt.timedelta = dt.timedelta(seconds=60),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> OnvifEventSubscription:
        """Open a PullPoint subscription to the camera's own events; raises OnvifError.

        Raises OnvifEventsUnsupported when the camera has no event service.
        """
        subscription = OnvifEventSubscription(self, lifetime=lifetime, monotonic=monotonic)
        subscription.start()
        return subscription

    def close(self) -> None:
        """Close the camera's connections and stop its loop thread. Safe to call twice."""
        if self._closed:
            return
        client, self._client = self._client, None
        if client is not None:
            try:
                self._runner.run(asyncio.wait_for(client.close(), self.timeout_s))
            except Exception:  # closing is best effort: the camera may be gone already
                log.debug("%s: closing the ONVIF client failed", self.camera_id, exc_info=True)
        self._closed = True
        self._runner.stop()


class OnvifEventSubscription:
    """A PullPoint subscription: pull the camera's events, renewed before it runs out.

    Renewal happens on the caller's thread, in `pull`: when the subscription is within a fifth of
    its lifetime of running out, it is renewed before the next pull, and a pull never waits past
    that moment. A camera that forgot the subscription (after a reboot) gets a new one. Pull at
    least once per lifetime, or the camera drops the subscription.
    """

    def __init__(
        self,
        camera: OnvifCamera,
        *,
        lifetime: dt.timedelta,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.camera = camera
        self.camera_id = camera.camera_id
        self.lifetime = lifetime
        self._monotonic = monotonic
        self._renew_at = 0.0
        self._pullpoint: Any = None  # the library's services; only ever used on the loop thread
        self._subscription: Any = None
        self.renewals = 0
        self.restarts = 0

    def _schedule_renewal(self, current: Any, termination: Any) -> None:
        granted = self.lifetime.total_seconds()
        if isinstance(current, dt.datetime) and isinstance(termination, dt.datetime):
            granted = (termination - current).total_seconds()
        # Renew at four fifths of what the camera granted, as ONVIF clients commonly do; a
        # camera that grants less than a few seconds is treated as granting a few seconds.
        self._renew_at = self._monotonic() + max(granted, 5.0) * 0.8

    def start(self) -> None:
        """Create the subscription (called by OnvifCamera.subscribe_events)."""
        device = self.camera._device()

        async def create() -> None:
            try:
                events = await device.create_events_service()
            except ONVIFError as err:
                if "support service" in str(err):
                    raise OnvifEventsUnsupported(
                        self.camera_id, "the camera has no ONVIF event service"
                    ) from err
                raise
            try:
                answer = await events.CreatePullPointSubscription(
                    {"InitialTerminationTime": device.get_next_termination_time(self.lifetime)}
                )
            except zeep.exceptions.Fault as err:
                if is_auth_error(err):
                    raise
                raise OnvifEventsUnsupported(
                    self.camera_id,
                    f"the camera refused a PullPoint subscription: {stringify_onvif_error(err)}",
                ) from err
            address = answer.SubscriptionReference.Address._value_1
            device.xaddrs[_PULLPOINT_NAMESPACE] = device.rewrite_url(str(address))
            self._subscription = await device.create_subscription_service("PullPointSubscription")
            self._pullpoint = await device.create_pullpoint_service()
            if device.has_broken_relative_time(
                self.lifetime, answer.CurrentTime, answer.TerminationTime
            ):
                # Some cameras misread a relative lifetime; the library then asks in absolute time.
                answer = await self._subscription.Renew(
                    device.get_next_termination_time(self.lifetime)
                )
            self._schedule_renewal(answer.CurrentTime, answer.TerminationTime)

        self.camera._call("CreatePullPointSubscription", create)
        log.info(
            "%s: subscribed to camera events for %.0fs",
            self.camera_id,
            self.lifetime.total_seconds(),
        )

    def renew(self) -> None:
        """Extend the subscription by its lifetime now; a forgotten one is created anew."""
        device = self.camera._device()

        async def renew() -> None:
            answer = await self._subscription.Renew(device.get_next_termination_time(self.lifetime))
            self._schedule_renewal(
                getattr(answer, "CurrentTime", None), getattr(answer, "TerminationTime", None)
            )

        try:
            self.camera._call("Renew", renew)
            self.renewals += 1
            log.debug("%s: event subscription renewed", self.camera_id)
        except (OnvifAuthError, OnvifUnreachable, OnvifTimeout):
            raise
        except OnvifError as err:
            log.warning("%s: renewal refused (%s), subscribing again", self.camera_id, err.reason)
            self.restarts += 1
            self.start()

    def pull(self, *, timeout_s: float = 5.0, limit: int = 100) -> list[CameraEvent]:
        """Events that arrived since the last pull, waiting up to `timeout_s` for the first one.

        Renews the subscription first when it is due.
        """
        if self._monotonic() >= self._renew_at:
            self.renew()
        wait = max(0.0, min(timeout_s, self._renew_at - self._monotonic()))

        async def pull() -> list[CameraEvent]:
            answer = await self._pullpoint.PullMessages(
                {"Timeout": dt.timedelta(seconds=wait), "MessageLimit": limit}
            )
            received = dt.datetime.now(dt.UTC)
            current = getattr(answer, "CurrentTime", None)
            if isinstance(current, dt.datetime):
                received = current.replace(tzinfo=current.tzinfo or dt.UTC)
            events = (
                _event_from_zeep(message, received)
                for message in (getattr(answer, "NotificationMessage", None) or [])
            )
            return [event for event in events if event is not None]

        try:
            events = self.camera._call("PullMessages", pull, timeout_s=wait + self.camera.timeout_s)
        except (OnvifAuthError, OnvifUnreachable, OnvifTimeout):
            raise
        except OnvifError as err:
            # A camera that rebooted no longer knows the subscription: make a new one.
            log.warning("%s: pull refused (%s), subscribing again", self.camera_id, err.reason)
            self.restarts += 1
            self.start()
            return []
        for event in events:
            log.debug(
                "%s: camera event %s %s=%s", self.camera_id, event.topic, event.kind, event.state
            )
        return events

    def close(self) -> None:
        """Unsubscribe (best effort: the camera drops it at its termination time anyway)."""
        if self._subscription is None or self.camera._closed:
            return

        async def unsubscribe() -> None:
            await self._subscription.Unsubscribe()

        try:
            self.camera._call("Unsubscribe", unsubscribe)
        except OnvifError as err:
            log.debug("%s: unsubscribe failed: %s", self.camera_id, err.reason)
        self._subscription = None

    def __enter__(self) -> OnvifEventSubscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def resolve_stream_url(camera_id: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The RTSP URL (credentials included, never to be logged) behind an onvif:// camera URL."""
    with OnvifCamera.connect(camera_id, url, timeout_s=timeout_s) as camera:
        return camera.stream_uri()
