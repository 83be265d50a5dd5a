"""PullPoint event subscription: a camera's own events (motion, tamper, analytics), pulled.

Example:
    >>> with OnvifCamera.connect("gate-1", url) as camera, camera.subscribe_events() as events:
    ...     for event in events.pull(timeout_s=5):
    ...         print(event.kind, event.state)
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zeep.exceptions

from ingest.onvif.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifEventsUnsupported,
    OnvifTimeout,
    OnvifUnreachable,
)
from ingest.onvif.library import ONVIFError, is_auth_error, stringify_onvif_error
from ingest.onvif.models import CameraEvent
from ingest.onvif.parsers import events_from_pull_answer

if TYPE_CHECKING:
    from ingest.onvif.device import OnvifCamera

log = logging.getLogger(__name__)

_PULLPOINT_NAMESPACE = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"


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
        device = self.camera.client()

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

        self.camera.bridge.call("CreatePullPointSubscription", create)
        log.info(
            "%s: subscribed to camera events for %.0fs",
            self.camera_id,
            self.lifetime.total_seconds(),
        )

    def renew(self) -> None:
        """Extend the subscription by its lifetime now; a forgotten one is created anew."""
        device = self.camera.client()

        async def renew() -> None:
            answer = await self._subscription.Renew(device.get_next_termination_time(self.lifetime))
            self._schedule_renewal(
                getattr(answer, "CurrentTime", None), getattr(answer, "TerminationTime", None)
            )

        try:
            self.camera.bridge.call("Renew", renew)
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
            return events_from_pull_answer(answer, received=dt.datetime.now(dt.UTC))

        try:
            events = self.camera.bridge.call(
                "PullMessages", pull, timeout_s=wait + self.camera.timeout_s
            )
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
        if self._subscription is None or self.camera.bridge.closed:
            return

        async def unsubscribe() -> None:
            await self._subscription.Unsubscribe()

        try:
            self.camera.bridge.call("Unsubscribe", unsubscribe)
        except OnvifError as err:
            log.debug("%s: unsubscribe failed: %s", self.camera_id, err.reason)
        self._subscription = None

    def __enter__(self) -> OnvifEventSubscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
