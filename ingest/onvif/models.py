"""What the ONVIF adapter hands out: plain dataclasses of an address and of what a camera says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from contract.addresses import canonical_address
from ingest.errors import mask_credentials

DEFAULT_PORT = 80


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

        User and password are percent-decoded; a password may also hold `/ ? # @` unencoded
        (`contract.addresses.split_credentials`).
        """
        parts = urlsplit(canonical_address(url))
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
