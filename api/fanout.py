"""Live alerts across API processes: messages travel through PostgreSQL LISTEN/NOTIFY.

Each API process publishes with NOTIFY and listens on the same channel, so an operator connected
to any process behind the load balancer receives every alert in their scope. On SQLite (one
process) messages stay in the process.

Alerts are shaped and sent only while some operator is connected somewhere: each process says
on a second channel when its first operator connects and its last one leaves, repeats it while
it has any (a process that died without saying so is forgotten after `VIEWERS_TTL_S`), and a
listener that (re)connects asks who has operators before trusting that nobody does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text

from api.live import Audience, LiveHub

log = logging.getLogger(__name__)

CHANNEL = "gridwatch_live"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900
# Where processes say how many operators they have connected.
VIEWERS_CHANNEL = "gridwatch_live_viewers"
# A process with operators connected says so this often; one not heard from for VIEWERS_TTL_S is
# taken to have none (it stopped without saying so).
HEARTBEAT_S = 10.0
VIEWERS_TTL_S = 3 * HEARTBEAT_S
# After (re)connecting, the listener asks who has operators connected and, until their answers
# have had this long to arrive, takes it that someone has.
ROLL_CALL_S = 1.0


class PostgresFanout:
    """Relays LiveHub messages between processes sharing one PostgreSQL database."""

    def __init__(self, engine: Engine, hub: LiveHub):
        self.engine = engine
        self.hub = hub
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="live-fanout", daemon=True)
        self.listening = threading.Event()
        # Set once the roll call's answers are in: from then on, `watched_elsewhere` knows.
        self.settled = threading.Event()
        self.received = 0
        self.process_id = uuid.uuid4().hex
        # Other processes with operators connected, and when each is forgotten (monotonic).
        self._viewers: dict[str, float] = {}
        self._viewers_lock = threading.Lock()

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

    def watched_elsewhere(self) -> bool:
        """Whether operators may be connected to another API process: one said so within
        `VIEWERS_TTL_S`, or this process cannot tell (its listener is not listening, or the
        answers to its roll call are not in yet)."""
        if not self.settled.is_set():
            return True
        now = time.monotonic()
        with self._viewers_lock:
            return any(until > now for until in self._viewers.values())

    def announce(self, viewers: int) -> None:
        """Tell the other processes how many operators this one has connected (0: none left).
        Committed before it returns: a process that has not heard it yet is the listener thread
        of one that has been sent it."""
        with self.engine.begin() as connection:
            connection.execute(
                _NOTIFY, {"channel": VIEWERS_CHANNEL, "payload": self._presence(viewers)}
            )

    def _presence(self, viewers: int, *, roll_call: bool = False) -> str:
        return json.dumps({"process": self.process_id, "viewers": viewers, "roll_call": roll_call})

    def _listen(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    connection.execute(f"LISTEN {VIEWERS_CHANNEL}")
                    with self._viewers_lock:
                        self._viewers.clear()  # what was heard before may have changed since
                    self._say(connection, roll_call=True)
                    answers_by = time.monotonic() + ROLL_CALL_S
                    next_heartbeat = time.monotonic() + HEARTBEAT_S
                    self.listening.set()
                    delay = 0.5
                    while not self._stop.is_set():
                        asked = False
                        wait = 1.0 if self.settled.is_set() else ROLL_CALL_S / 4
                        # The connection is locked while notifies() runs: a roll call stops it
                        # and is answered at once, since the asker trusts silence after
                        # ROLL_CALL_S (waiting out the rest of `wait` first could take as long).
                        notices = connection.notifies(timeout=wait)
                        try:
                            for notice in notices:
                                if notice.channel == VIEWERS_CHANNEL:
                                    asked |= self._heard(notice.payload)
                                else:
                                    self._relay(notice.payload)
                                if asked:
                                    break
                        finally:
                            notices.close()
                        now = time.monotonic()
                        if now >= answers_by:
                            self.settled.set()
                        if now >= next_heartbeat:
                            asked, next_heartbeat = True, now + HEARTBEAT_S
                        if asked and self.hub.subscribers:
                            self._say(connection)
            except psycopg.Error as err:
                self.listening.clear()
                self.settled.clear()
                # The database restarted or the network dropped: listen again, backing off.
                log.warning("live fan-out lost its connection (%s); retry in %.1fs", err, delay)
                self._stop.wait(delay)
                # Short: alerts from the other processes are missed until it listens again.
                delay = min(delay * 2, 2.0)

    def _say(self, connection: psycopg.Connection[Any], *, roll_call: bool = False) -> None:
        payload = self._presence(self.hub.subscribers, roll_call=roll_call)
        connection.execute("SELECT pg_notify(%s, %s)", (VIEWERS_CHANNEL, payload))

    def _heard(self, payload: str) -> bool:
        """Note what another process said of its operators; True when it asked who has any."""
        try:
            document = json.loads(payload)
            process, viewers = str(document["process"]), int(document["viewers"])
            roll_call = bool(document.get("roll_call"))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live viewers message")
            return False
        if process == self.process_id:
            return False
        with self._viewers_lock:
            if viewers > 0:
                self._viewers[process] = time.monotonic() + VIEWERS_TTL_S
            else:
                self._viewers.pop(process, None)
        return roll_call

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
