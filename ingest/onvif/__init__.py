"""ONVIF cameras: device facts, media profiles, stream and snapshot addresses, PullPoint events.

This package is the only place that talks to the ONVIF client library (onvif-zeep-async). What
leaves it is our own: the dataclasses of `models` and the errors of `errors`, each a kind of the
generic ingest error it is (`OnvifAuthError` is an `AuthenticationFailed`, ...).

- `models`: what the adapter hands out (address, device facts, profiles, camera events).
- `errors`: our ONVIF errors and the library's mapped onto them.
- `parsers`: zeep answers and notification XML turned into the models.
- `bridge`: the camera's asyncio loop thread, the one way calls reach the library.
- `device`: `OnvifCamera` (connect, profiles, stream URI, snapshot) and `resolve_stream_url`.
- `pullpoint`: `OnvifEventSubscription`, the camera's own events by PullPoint.
- `library`: the library's single import.

Example:
    >>> with OnvifCamera.connect("gate-1", "onvif://admin:secret@192.0.2.10:80") as camera:
    ...     camera.device_info().model
    ...     camera.stream_uri()          # rtsp://admin:secret@192.0.2.10:554/... for the reader
"""

from ingest.onvif.device import (
    DEFAULT_TIMEOUT_S,
    OnvifCamera,
    choose_profile,
    resolve_stream_url,
)
from ingest.onvif.errors import (
    NotAnOnvifDevice,
    OnvifAnswerNotUnderstood,
    OnvifAuthError,
    OnvifError,
    OnvifEventsUnsupported,
    OnvifRefused,
    OnvifTimeout,
    OnvifUnreachable,
)
from ingest.onvif.models import (
    DEFAULT_PORT,
    CameraDescription,
    CameraEvent,
    DeviceInfo,
    EventKind,
    MediaProfile,
    OnvifAddress,
)
from ingest.onvif.parsers import event_from_xml, event_kind, parse_pull_messages
from ingest.onvif.pullpoint import OnvifEventSubscription

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT_S",
    "CameraDescription",
    "CameraEvent",
    "DeviceInfo",
    "EventKind",
    "MediaProfile",
    "NotAnOnvifDevice",
    "OnvifAddress",
    "OnvifAnswerNotUnderstood",
    "OnvifAuthError",
    "OnvifCamera",
    "OnvifError",
    "OnvifEventSubscription",
    "OnvifEventsUnsupported",
    "OnvifRefused",
    "OnvifTimeout",
    "OnvifUnreachable",
    "choose_profile",
    "event_from_xml",
    "event_kind",
    "parse_pull_messages",
    "resolve_stream_url",
]
