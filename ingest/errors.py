"""Errors raised by camera adapters; each docstring says whether the worker retries."""

from __future__ import annotations

import errno
import socket

# Adapters mask addresses in their errors; the function belongs to the wire contract.
from contract.addresses import mask_credentials as mask_credentials
from contract.health import HealthReason


class IngestError(Exception):
    """Base of every error a camera adapter raises; `health_reason` is how a camera's health
    report names it."""

    health_reason = HealthReason.capture_failed


class CameraUnavailable(IngestError):
    """The camera could not be opened or stopped delivering frames. Retried with backoff."""

    health_reason = HealthReason.stream_lost

    def __init__(self, camera_id: str, reason: str):
        self.camera_id = camera_id
        self.reason = reason
        super().__init__(f"{camera_id}: {reason}")


class SourceUnreachable(CameraUnavailable):
    """The camera's host name does not resolve or there is no route to it. Retried."""

    health_reason = HealthReason.unreachable


class SourceRefused(CameraUnavailable):
    """The host answered but nothing listens on the port. Retried."""

    health_reason = HealthReason.unreachable


class SourceTimeout(CameraUnavailable):
    """The camera accepted the connection but did not answer in time. Retried."""

    health_reason = HealthReason.unreachable


class AuthenticationFailed(CameraUnavailable):
    """The camera rejected the credentials (RTSP or HTTP 401/403, an ONVIF camera's
    `OnvifAuthError`). Retried at the backoff cap, since an owner may fix the password on the
    camera rather than in GridWatch."""

    health_reason = HealthReason.auth_failed


class NotAVideoStream(CameraUnavailable):
    """The address answers, but with something other than video (a web page, audio only, or at
    an onvif:// address no ONVIF device service). Retried: a camera's web server may answer
    before its streaming service is up."""

    health_reason = HealthReason.not_a_stream


class UndecodableStream(CameraUnavailable):
    """The connection gives frames, but for the read timeout none could be decoded (a codec
    the decoder does not take, a damaged stream). Retried: the next connection may do better."""

    health_reason = HealthReason.decoder_error


class DamagedFrame(IngestError):
    """One frame could not be decoded (a damaged JPEG in an MJPEG stream, a broken snapshot, a
    picture the decoder refused) while the connection itself is fine. Not retried: the frame is
    skipped and counted, and the camera goes on with the next one."""

    def __init__(self, camera_id: str, reason: str):
        self.camera_id = camera_id
        self.reason = reason
        super().__init__(f"{camera_id}: {reason}")


class UnsupportedSource(IngestError):
    """The source's scheme has no adapter in this build. Not retried: the config must change."""

    health_reason = HealthReason.source_invalid

    def __init__(self, camera_id: str, scheme: str):
        self.camera_id = camera_id
        self.scheme = scheme
        super().__init__(f"{camera_id}: no adapter for {scheme}:// sources")


class InvalidSource(IngestError):
    """The source address is malformed (no host, a bad port). Not retried: the config must
    change."""

    health_reason = HealthReason.source_invalid

    def __init__(self, camera_id: str, reason: str):
        self.camera_id = camera_id
        self.reason = reason
        super().__init__(f"{camera_id}: invalid source address: {reason}")


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}


def connection_error(
    camera_id: str, err: BaseException, host: str, port: int, timeout_s: float
) -> CameraUnavailable:
    """Our error for a failed connection attempt, with a message an operator can act on.

    Library errors (httpx, ssl) wrap the operating system's; the chain is searched for the
    first one that says what happened.
    """
    where = f"{host}:{port}"
    cause: BaseException | None = err
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return SourceUnreachable(camera_id, f"host {host} could not be resolved (DNS)")
        if isinstance(cause, ConnectionRefusedError):
            return SourceRefused(
                camera_id, f"connection refused by {where} (nothing listens on that port)"
            )
        if isinstance(cause, TimeoutError):
            return SourceTimeout(camera_id, f"no answer from {where} within {timeout_s:g} s")
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return SourceUnreachable(camera_id, f"host {host} is unreachable (no route)")
        if isinstance(cause, ConnectionError):
            return CameraUnavailable(camera_id, f"connection to {where} lost")
        cause = cause.__cause__ or cause.__context__
    # httpx names its errors but does not always keep the OSError underneath.
    text = str(err).lower()
    if "name or service not known" in text or "temporary failure in name resolution" in text:
        return SourceUnreachable(camera_id, f"host {host} could not be resolved (DNS)")
    if "connection refused" in text:
        return SourceRefused(
            camera_id, f"connection refused by {where} (nothing listens on that port)"
        )
    if "unreachable" in text or "no route" in text:
        return SourceUnreachable(camera_id, f"host {host} is unreachable (no route)")
    if "timed out" in text or "timeout" in type(err).__name__.lower():
        return SourceTimeout(camera_id, f"no answer from {where} within {timeout_s:g} s")
    return CameraUnavailable(camera_id, f"cannot connect to {where}: {type(err).__name__}")
