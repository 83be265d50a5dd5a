"""An ONVIF camera's device and media services: connecting, profiles, stream URI, snapshot.

`OnvifCamera` is synchronous and thread-safe; it runs the asyncio client on its `OnvifBridge`.

Example:
    >>> with OnvifCamera.connect("gate-1", "onvif://admin:secret@192.0.2.10:80") as camera:
    ...     camera.device_info().model
    ...     camera.stream_uri()          # rtsp://admin:secret@192.0.2.10:554/... for the reader
    ...     jpeg = camera.snapshot()
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlsplit

import cv2
import httpx
import zeep.exceptions

from ingest.errors import DamagedFrame, mask_credentials
from ingest.http import CameraAuth, content_type_of, decode_image, read_limited, snapshot_format
from ingest.images import check_image_size
from ingest.onvif.bridge import OnvifBridge
from ingest.onvif.errors import OnvifAuthError, OnvifError, OnvifTimeout, OnvifUnreachable
from ingest.onvif.library import OnvifClient, is_auth_error, stringify_onvif_error
from ingest.onvif.models import CameraDescription, DeviceInfo, MediaProfile, OnvifAddress
from ingest.onvif.parsers import device_info_from_zeep, media_profile_from_zeep
from ingest.onvif.pullpoint import OnvifEventSubscription

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


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
        self.bridge = OnvifBridge(camera_id, self.address, timeout_s=timeout_s)
        self._client: OnvifClient | None = None
        self._profiles: tuple[MediaProfile, ...] | None = None

    @classmethod
    def connect(
        cls, camera_id: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> OnvifCamera:
        """Log in to the camera at an onvif:// URL and learn its services; raises OnvifError."""
        camera = cls(camera_id, url, timeout_s=timeout_s)
        try:
            camera.bridge.call("connect", camera._connect)
        except BaseException:
            camera.close()
            raise
        return camera

    def __enter__(self) -> OnvifCamera:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def _connect(self) -> None:
        address = self.address
        # adjust_time: a camera whose clock has drifted rejects WS-Security digests made with
        # ours; the client reads the camera's clock first (one unauthenticated call; UTC or,
        # from cameras that report only that, local time) and signs with its time, so drift
        # does not read as a wrong password.
        self._client = OnvifClient(
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

    def client(self) -> OnvifClient:
        """The library's client, for coroutines run through `bridge.call` only; raises
        OnvifError before `connect`."""
        if self._client is None:
            raise OnvifError(self.camera_id, "not connected (use OnvifCamera.connect)")
        return self._client

    def device_info(self) -> DeviceInfo:
        """Manufacturer, model, firmware and serial number, as the camera reports them."""

        async def fetch() -> DeviceInfo:
            service = await self.client().create_devicemgmt_service()
            return device_info_from_zeep(await service.GetDeviceInformation())

        return self.bridge.call("GetDeviceInformation", fetch)

    def profiles(self) -> tuple[MediaProfile, ...]:
        """The camera's media profiles, in its own order (read once, then remembered)."""
        if self._profiles is None:

            async def fetch() -> tuple[MediaProfile, ...]:
                media = await self.client().create_media_service()
                return tuple(
                    media_profile_from_zeep(profile) for profile in await media.GetProfiles()
                )

            self._profiles = self.bridge.call("GetProfiles", fetch)
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

        async def fetch() -> str | None:
            media = await self.client().create_media_service()
            answer = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": chosen.token,
                }
            )
            uri = getattr(answer, "Uri", None)
            return str(uri) if uri else None

        uri = self.bridge.call("GetStreamUri", fetch)
        if uri is None:
            raise OnvifError(
                self.camera_id, f"the camera gives no stream address for profile {chosen.name}"
            )
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
            media = await self.client().create_media_service()
            try:
                answer = await media.GetSnapshotUri({"ProfileToken": chosen.token})
            except zeep.exceptions.Fault as err:
                if is_auth_error(err):
                    raise
                log.info("%s: no snapshot URI: %s", self.camera_id, stringify_onvif_error(err))
                return None
            uri = getattr(answer, "Uri", None)
            return str(uri) if uri else None

        return self.bridge.call("GetSnapshotUri", fetch)

    def snapshot(self, profile: str | None = None) -> bytes:
        """One JPEG from the camera's snapshot URI, logging in as the HTTP cameras do
        (`CameraAuth`: the scheme the camera's challenge asks for) and read with their size
        limit. Whether the answer is a picture is decided as for HTTP cameras
        (`snapshot_format`: by the bytes when the type is missing or generic); a PNG is
        re-encoded as JPEG. Raises OnvifError when there is no snapshot or it is no picture.
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
                content_type = content_type_of(response)
        except httpx.TimeoutException as err:
            raise OnvifTimeout(
                self.camera_id, f"snapshot from {mask_credentials(uri)} timed out"
            ) from err
        except httpx.HTTPError as err:
            raise OnvifUnreachable(
                self.camera_id, f"snapshot from {mask_credentials(uri)} failed: {err}"
            ) from err
        found = snapshot_format(content_type, content)
        if found is None:
            raise OnvifError(
                self.camera_id,
                f"snapshot is neither a JPEG nor a PNG picture ({content_type or 'no type'})",
            )
        check_image_size(self.camera_id, content)
        if found == "png":
            return self._as_jpeg(content)
        return content

    def _as_jpeg(self, png: bytes) -> bytes:
        """A PNG snapshot re-encoded as JPEG, the one format evidence is kept in."""
        try:
            image = decode_image(self.camera_id, png)
        except DamagedFrame as err:
            raise OnvifError(self.camera_id, "the PNG snapshot could not be decoded") from err
        ok, encoded = cv2.imencode(".jpg", image)
        if not ok:
            raise OnvifError(self.camera_id, "the PNG snapshot could not be encoded as JPEG")
        return encoded.tobytes()

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
        if self.bridge.closed:
            return
        client, self._client = self._client, None
        if client is not None:
            try:
                self.bridge.call("close", client.close)
            except Exception:  # closing is best effort: the camera may be gone already
                log.debug("%s: closing the ONVIF client failed", self.camera_id, exc_info=True)
        self.bridge.close()


def resolve_stream_url(camera_id: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The RTSP URL (credentials included, never to be logged) behind an onvif:// camera URL."""
    with OnvifCamera.connect(camera_id, url, timeout_s=timeout_s) as camera:
        return camera.stream_uri()
