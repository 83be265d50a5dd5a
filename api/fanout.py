"""Live alerts across API processes: messages travel through PostgreSQL LISTEN/NOTIFY.

Each API process publishes with NOTIFY and listens on the same channel, so an operator connected
to any process behind the load balancer receives every alert in their scope. On SQLite (one
process) messages stay in the process.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text

from api.live import Audience, LiveHub

log = logging.getLogger(__name__)

CHANNEL = "gridwatch_live"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900


class PostgresFanout:
    """Relays LiveHub messages between processes sharing one PostgreSQL database."""

    def __init__(self, engine: Engine, hub: LiveHub):
        self.engine = engine
        self.hub = hub
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="live-fanout", daemon=True)
        self.listening = threading.Event()
        self.received = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def send(self, message: dict[str, Any], audience: Audience) -> bool:
        """NOTIFY every process; False when this process must deliver the message itself.

        That is when the NOTIFY failed, and also when this process's own listener is not
        listening (it reconnects after a database restart): it would not hear the message, and
        its operators would miss the alert.
        """
        payload = _payload(message, audience)
        if payload is None:
            log.error("live alert %s too large to relay", message.get("type"))
            return False
        try:
            with self.engine.begin() as connection:
                connection.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
        except Exception:
            log.exception("live fan-out unavailable; delivering to this process only")
            return False
        return self.listening.is_set()

    def notify(self, connection: Connection, message: dict[str, Any], audience: Audience) -> bool:
        """NOTIFY every process as `connection`'s transaction commits (PostgreSQL holds a
        NOTIFY back until then, and drops it on rollback), without a connection and transaction
        of its own. False when the message, even shortened, does not fit a NOTIFY: it was not
        queued, and this process delivers it itself after the commit. Whether this process's
        own listener hears it is `listening`, read once the transaction committed."""
        payload = _payload(message, audience)
        if payload is None:
            return False
        connection.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
        return True

    def _listen(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._relay(notice.payload)
            except psycopg.Error as err:
                self.listening.clear()
                # The database restarted or the network dropped: listen again, backing off.
                log.warning("live fan-out lost its connection (%s); retry in %.1fs", err, delay)
                self._stop.wait(delay)
                # Short: alerts from the other processes are missed until it listens again.
                delay = min(delay * 2, 2.0)

    def _relay(self, payload: str) -> None:
        if self.hub.subscribers == 0:
            # Every process hears every alert; one with no operator connected has no one to
            # parse it for.
            self.received += 1
            return
        try:
            document = json.loads(payload)
            audience = Audience(**document["audience"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live message")
            return
        self.received += 1
        self.hub.publish_local(document["message"], audience)


_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def _payload(message: dict[str, Any], audience: Audience) -> str | None:
    """The NOTIFY payload of a message, shortened when too large (`_shrunk`); None when even
    that does not fit."""
    payload = json.dumps({"message": message, "audience": asdict(audience)}, default=str)
    if len(payload.encode()) > MAX_PAYLOAD:
        message = _shrunk(message)
        payload = json.dumps({"message": message, "audience": asdict(audience)}, default=str)
        if len(payload.encode()) > MAX_PAYLOAD:
            return None
    return payload


def _shrunk(message: dict[str, Any]) -> dict[str, Any]:
    """The message without long free text (clients fetch the full event when they open it)."""
    event = dict(message.get("event") or {})
    event["description"] = str(event.get("description", ""))[:500]
    if isinstance(event.get("incident"), dict):
        event["incident"] = {**event["incident"], "rule_parameters": {}}
    return {**message, "event": event, "truncated": True}
