"""MQTT: grid-event changes published to a broker on topics in the style NVR users know (Frigate).

- ``<prefix>/events``: every change, ``{"type": "new"|"update"|"end", "before", "after", ...}``
- ``<prefix>/<camera_id>/<category>``: each new event from a camera, the event itself
- ``<prefix>/available``: ``online`` while this process is connected, ``offline`` (retained, and
  the broker's last will should the process vanish)

Messages are QoS 1 and come from the durable outbox: a publish counts only once the broker has
acknowledged it (PUBACK), so nothing is lost while the broker is down.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from api.district import FINAL_STATES
from api.integrations.errors import DeliveryRetryable
from api.integrations.outbox import EVENT_CREATED, Claimed

log = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"


class MqttConfigError(ValueError):
    """GRIDWATCH_MQTT_URL cannot be used. Not retried: fix the setting."""


def frigate_type(item: Claimed) -> str:
    """new, update or end: the words Frigate's frigate/events topic uses."""
    if item.event_type == EVENT_CREATED:
        return "new"
    return "end" if item.payload["event"].get("status") in FINAL_STATES else "update"


def messages(item: Claimed, prefix: str) -> list[tuple[str, bytes]]:
    """The (topic, payload) pairs one delivery publishes."""
    event = item.payload["event"]
    change = {
        "type": frigate_type(item),
        "delivery_id": item.delivery_id,
        "action": item.payload.get("action"),
        "at": item.payload.get("at"),
        "before": item.payload.get("before"),
        "after": event,
    }
    out = [(f"{prefix}/events", _encode(change))]
    if item.event_type == EVENT_CREATED and event.get("camera_id"):
        out.append((f"{prefix}/{event['camera_id']}/{event['category']}", _encode(event)))
    return out


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class MqttPublisher:
    """One connection to the broker, kept up by paho's network thread (it reconnects itself)."""

    def __init__(
        self,
        url: str,
        *,
        topic_prefix: str = "gridwatch",
        client_id: str | None = None,
        publish_timeout_s: float = 10,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttConfigError("GRIDWATCH_MQTT_URL: use mqtt://host[:port] or mqtts://...")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.prefix = topic_prefix.rstrip("/")
        self.available_topic = f"{self.prefix}/available"
        self.publish_timeout_s = publish_timeout_s
        self._connected = threading.Event()
        self._stopping = False
        client_id = client_id or f"gridwatch-{socket.gethostname()}-{os.getpid()}"
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if parts.username:
            self._client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            self._client.tls_set_context(ssl.create_default_context())
        self._client.will_set(self.available_topic, OFFLINE, qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    @property
    def where(self) -> str:
        """The broker, for logs (never with credentials)."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.where, reason)
            return
        log.info("MQTT connected to %s", self.where)
        client.publish(self.available_topic, ONLINE, qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.where, reason)
        self._connected.clear()

    def send(self, item: Claimed) -> None:
        """Publish one delivery at QoS 1 and wait for the broker's acknowledgements."""
        for topic, payload in messages(item, self.prefix):
            self.publish(topic, payload)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        # Refusing while disconnected keeps the outbox, not paho's memory, the one queue.
        if not self._connected.is_set():
            raise DeliveryRetryable(f"MQTT broker {self.where} unreachable")
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as err:
            raise DeliveryRetryable(f"MQTT publish to {self.where} failed: {err}") from err
        if not info.is_published():
            raise DeliveryRetryable(
                f"MQTT broker {self.where} did not acknowledge in {self.publish_timeout_s:.0f}s"
            )

    def stop(self) -> None:
        """Say offline (a clean exit sends no last will) and disconnect."""
        self._stopping = True
        if self._connected.is_set():
            info = self._client.publish(self.available_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                log.debug("MQTT offline notice not sent to %s", self.where)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
