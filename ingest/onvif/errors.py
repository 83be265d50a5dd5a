"""ONVIF errors, each a kind of the generic ingest error it is, and the library's mapped onto them.

Every error here is a `CameraUnavailable`, so the worker retries it with backoff like any other
camera that cannot be reached, and each also subclasses the generic kind it is: an ONVIF camera
that refuses the password raises `OnvifAuthError`, which `except AuthenticationFailed` catches.
"""

from __future__ import annotations

import asyncio
import errno

import aiohttp
import zeep.exceptions

from ingest.errors import (
    AuthenticationFailed,
    CameraUnavailable,
    NotAVideoStream,
    SourceRefused,
    SourceTimeout,
    SourceUnreachable,
)
from ingest.onvif.library import (
    ONVIFAuthError,
    ONVIFError,
    ONVIFTimeoutError,
    is_auth_error,
    stringify_onvif_error,
)
from ingest.onvif.models import OnvifAddress


class OnvifError(CameraUnavailable):
    """An ONVIF camera could not be used. Retried with backoff, as every CameraUnavailable."""


class OnvifAuthError(OnvifError, AuthenticationFailed):
    """The camera refused the user and password. Retried with the worker's capped backoff, which
    is slow enough not to lock the camera's account; the fix is in the camera's config."""


class OnvifUnreachable(OnvifError, SourceUnreachable):
    """Nothing answered: no route, an unknown host name, or (as `OnvifRefused`) a refused
    connection. Retried."""


class OnvifRefused(OnvifUnreachable, SourceRefused):
    """The host answered but nothing listens on the device service's port. Retried."""


class OnvifTimeout(OnvifError, SourceTimeout):
    """The camera accepted the connection but did not answer in time. Retried."""


class NotAnOnvifDevice(OnvifError, NotAVideoStream):
    """Something answered HTTP at the address, but not as an ONVIF device service. Retried, but
    usually the config names the wrong port or host."""


class OnvifAnswerNotUnderstood(OnvifError):
    """The camera answered, legally but in a shape the client library could not read (an
    optional element it assumed, an odd value). Retried; the log keeps the library's traceback."""


class OnvifEventsUnsupported(OnvifError):
    """The camera has no event service (or no PullPoint support). Not worth retrying soon."""


# What the client library raises on purpose.
LIBRARY_ERRORS = (
    zeep.exceptions.Error,
    ONVIFError,
    aiohttp.ClientError,
    TimeoutError,
    asyncio.TimeoutError,
    OSError,
)

# What the library (zeep's objects, its own parsing) raises on an answer it did not expect: an
# optional element missing, a value of another type. A camera's answer, not a reason to crash.
ODD_ANSWER_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def translate(
    camera_id: str, address: OnvifAddress, action: str, err: BaseException, limit_s: float
) -> OnvifError:
    """Our error for what the library raised while doing `action`; messages carry no secrets.

    Args:
        camera_id: The camera's id, first in the message.
        address: Where the camera is (only host and port are shown).
        action: The ONVIF operation that failed, e.g. `GetProfiles`.
        err: One of `LIBRARY_ERRORS` or `ODD_ANSWER_ERRORS`; the caller chains it
            (`raise ... from err`).
        limit_s: The time the call was given, in seconds, for the timeout message.
    """
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
            return OnvifRefused(camera_id, f"connection refused at {where} (nothing listens)")
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return OnvifUnreachable(camera_id, f"{where} is unreachable (no route to host)")
        return OnvifUnreachable(camera_id, f"cannot connect to {where}: {err.strerror or err}")
    if isinstance(err, aiohttp.ClientError | OSError):
        return OnvifUnreachable(camera_id, f"connection to {where} failed during {action}: {err}")
    if isinstance(err, ONVIFError):
        return OnvifError(camera_id, f"{action} failed at {where}: {err}")
    if isinstance(err, ODD_ANSWER_ERRORS):
        return OnvifAnswerNotUnderstood(
            camera_id,
            f"{where} answered {action} in a form that could not be read"
            f" ({type(err).__name__}: {err})",
        )
    return OnvifError(camera_id, f"{action} failed at {where}: {type(err).__name__}: {err}")
