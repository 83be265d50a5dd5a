"""The integrations in the API: their routes, and the outbox hooks, MQTT and delivery loop that
start and stop with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx
from fastapi import FastAPI

from api import metrics
from api.integrations import outbox
from api.integrations.delivery import Dispatcher, RetryPolicy, Sender, run_loop
from api.integrations.mqtt import MqttPublisher
from api.integrations.webhooks import WebhookSender
from api.routers import open311, webhooks
from api.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Integrations:
    """What runs for the integrations in one API process."""

    dispatcher: Dispatcher
    mqtt: MqttPublisher | None
    http: httpx.Client
    loop_task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self.loop_task is not None:
            self.loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.loop_task
        await asyncio.to_thread(self.dispatcher.close)
        self.http.close()
        if self.mqtt is not None:
            await asyncio.to_thread(self.mqtt.stop)


def install(app: FastAPI) -> None:
    """Add the webhook and Open311 routes and /metrics to `app`."""
    app.include_router(webhooks.router)
    open311.install(app)
    metrics.install(app)


def start(app: FastAPI, settings: Settings) -> Integrations:
    """Queue event changes in the outbox from now on, and start delivering (on the running loop).

    Called from the lifespan, once `app.state.session_factory` exists.
    """
    factory = app.state.session_factory
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_commit() -> None:
        # Called from whichever thread committed; the loop may already be gone at shutdown.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    outbox.install(
        factory,
        outbox.OutboxConfig(
            mqtt=bool(settings.mqtt_url), on_commit=on_commit, taxonomy=app.state.policy.taxonomy
        ),
    )
    mqtt = None
    if settings.mqtt_url:
        mqtt = MqttPublisher(
            settings.mqtt_url,
            topic_prefix=settings.mqtt_topic_prefix,
            publish_timeout_s=settings.webhook_timeout_s,
        )
        mqtt.start()
        log.info("MQTT: publishing to %s under %s/", mqtt.where, mqtt.prefix)
    if settings.outbox_lease_s < settings.outbox_batch * settings.webhook_timeout_s:
        # A batch to one slow receiver could outlast its claims, and another process would
        # send the same deliveries again.
        log.warning(
            "GRIDWATCH_OUTBOX_LEASE_S (%.0fs) is shorter than a batch may take (%d x %.0fs)",
            settings.outbox_lease_s,
            settings.outbox_batch,
            settings.webhook_timeout_s,
        )
    http = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
    senders: dict[str, Sender] = {"webhook": WebhookSender(http, settings.cipher())}
    if mqtt is not None:
        senders[outbox.MQTT] = mqtt
    dispatcher = Dispatcher(
        factory,
        senders,
        retry=RetryPolicy(
            base_s=settings.outbox_retry_base_s,
            max_s=settings.outbox_retry_max_s,
            max_attempts=settings.outbox_max_attempts,
        ),
        lease=timedelta(seconds=settings.outbox_lease_s),
        batch=settings.outbox_batch,
        on_result=app.state.metrics.delivery_result,
    )
    integrations = Integrations(dispatcher=dispatcher, mqtt=mqtt, http=http)
    if settings.outbox_poll_s > 0:
        integrations.loop_task = asyncio.create_task(
            run_loop(dispatcher, wake, settings.outbox_poll_s)
        )
    return integrations
