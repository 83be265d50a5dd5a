"""MQTT against a real Mosquitto broker (127.0.0.1:1883, or GRIDWATCH_TEST_MQTT_URL): topics,
QoS 1, availability with a last will, and nothing lost while the broker cannot be reached."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from api.integrations.mqtt import MqttPublisher
from api.models import OutboundDelivery
from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.integration_helpers import eventually, running_api
from tests.api.test_lifecycle import act
from tests.conftest import Accounts, free_port

BROKER_URL = os.environ.get("GRIDWATCH_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
_broker = urlsplit(BROKER_URL)
BROKER = (_broker.hostname or "127.0.0.1", _broker.port or 1883)


@pytest.fixture(scope="module", autouse=True)
def broker() -> None:
    """The MQTT broker the tests publish through must be up."""
    try:
        socket.create_connection(BROKER, timeout=5).close()
    except OSError as err:  # pragma: no cover - a missing broker is a setup problem
        pytest.fail(f"no MQTT broker at {BROKER_URL} (GRIDWATCH_TEST_MQTT_URL): {err}")


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client subscribed to everything under one topic prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4()}")
        self._client.on_connect = lambda client, *_: client.subscribe(f"{prefix}/#", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, message.payload, bool(message.retain)))

    def __enter__(self) -> Subscriber:
        self._client.connect(*BROKER)
        self._client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe to the broker"
        return self

    def __exit__(self, *_: object) -> None:
        # Leave no retained availability behind on the shared broker.
        self._client.publish(f"{self.prefix}/available", b"", qos=1, retain=True).wait_for_publish(
            5
        )
        self._client.disconnect()
        self._client.loop_stop()

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [message for message in self.messages if message.topic == topic]

    def wait(self, topic: str, count: int = 1, timeout_s: float = 10) -> list[Message]:
        full = f"{self.prefix}/{topic}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.on(full)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{full}: {len(self.on(full))} messages, expected {count}")


@pytest.fixture
def prefix() -> str:
    return f"gridwatch-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mqtt_settings(
    database_url: str, settings_factory: Callable[..., Settings], prefix: str
) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "mqtt_url": BROKER_URL,
            "mqtt_topic_prefix": prefix,
            "outbox_poll_s": 0.05,
            "outbox_retry_base_s": 0.05,
            "outbox_retry_max_s": 0.2,
        }
        values.update(overrides)
        return settings_factory(database_url, **values)

    return make


def test_events_are_published_in_the_frigate_style(
    mqtt_settings: Callable[..., Settings], prefix: str
) -> None:
    with Subscriber(prefix) as subscriber:
        with running_api(mqtt_settings()) as client:
            assert subscriber.wait("available")[-1].payload == b"online"
            event = report_incident(client)
            act(client, Accounts(client), "west_operator", event["id"], "reject", note="a shadow")

            new, end = (message.json() for message in subscriber.wait("events", 2))
            assert (new["type"], new["before"], new["after"]["id"]) == ("new", None, event["id"])
            assert (end["type"], end["action"]) == ("end", "reject")
            assert (end["before"]["status"], end["after"]["status"]) == ("reported", "false_alarm")
            (by_camera,) = subscriber.wait("school-no1-gate/public_safety")
            assert by_camera.json()["id"] == event["id"]
            assert by_camera.json()["camera_id"] == "school-no1-gate"
        # A clean stop says offline, retained for whoever subscribes next.
        offline = subscriber.wait("available", 2)[-1]
        assert offline.payload == b"offline"
        assert len(subscriber.on(f"{prefix}/events")) == 2


def test_nothing_is_lost_while_the_broker_is_unreachable(
    mqtt_settings: Callable[..., Settings], prefix: str
) -> None:
    unreachable = mqtt_settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", outbox_poll_s=0)
    with running_api(unreachable, accounts=False) as client:
        event = report_incident(client)
        client.app.state.integrations.dispatcher.run_once()  # type: ignore[attr-defined]
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            (queued,) = session.scalars(select(OutboundDelivery)).all()
            assert (queued.integration, queued.status, queued.attempts) == ("mqtt", "pending", 1)
            assert "unreachable" in (queued.last_error or "")

    # The same database, now pointed at the real broker: the queued change goes out.
    with (
        Subscriber(prefix) as subscriber,
        running_api(mqtt_settings(), accounts=False) as client,
    ):
        (message,) = subscriber.wait("events")
        assert message.json()["after"]["id"] == event["id"]
        assert message.json()["delivery_id"] == queued.delivery_id
        subscriber.wait("school-no1-gate/public_safety")
        factory = client.app.state.session_factory  # type: ignore[attr-defined]

        def delivered() -> bool:
            with factory() as session:
                row = session.get(OutboundDelivery, queued.id)
                return row is not None and row.status == "delivered"

        eventually(delivered)


def test_the_last_will_says_offline_when_the_connection_dies(prefix: str) -> None:
    with Subscriber(prefix) as subscriber:
        publisher = MqttPublisher(BROKER_URL, topic_prefix=prefix)
        publisher.start()
        try:
            assert publisher.wait_connected(10)
            subscriber.wait("available")
            connection = publisher._client.socket()
            assert isinstance(connection, socket.socket)
            # Cut the connection without an MQTT DISCONNECT, as a crash would.
            connection.shutdown(socket.SHUT_RDWR)
            statuses = [m.payload for m in subscriber.wait("available", 3, timeout_s=20)]
            assert statuses[:3] == [b"online", b"offline", b"online"]  # the will, then back
        finally:
            publisher.stop()
