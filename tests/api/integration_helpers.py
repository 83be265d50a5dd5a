"""A real webhook receiver on loopback, and helpers to drive the delivery outbox in tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.integrations.delivery import Dispatcher
from api.settings import Settings
from tests.conftest import free_port, seed_accounts


@contextmanager
def running_api(settings: Settings, *, accounts: bool = True) -> Iterator[TestClient]:
    """The API in-process with `settings`, its lifespan (and delivery loop) running."""
    with TestClient(create_app(settings)) as client:
        if accounts:
            seed_accounts(client.app)
        yield client


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def delivery_id(self) -> str:
        return self.headers["x-gridwatch-delivery"]

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP server that checks each delivery's signature as a receiver would.

    `statuses` are answered in turn, one per request, then 204 for the rest.
    """

    def __init__(self, secret: str, *, port: int | None = None, statuses: tuple[int, ...] = ()):
        self.secret = secret
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/gridwatch"
        self.received: list[Received] = []
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-gridwatch-timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        given = headers.get("x-gridwatch-signature", "")
        return fresh and hmac.compare_digest("sha256=" + expected, given)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(
                        Received(headers, body, receiver._verify(headers, body))
                    )
                    status = receiver._statuses.pop(0) if receiver._statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout_s: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} deliveries received, expected {count}")


def dispatcher_of(client: TestClient) -> Dispatcher:
    dispatcher: Dispatcher = client.app.state.integrations.dispatcher  # type: ignore[attr-defined]
    return dispatcher


def drain(client: TestClient, *, rounds: int = 20) -> int:
    """Run the delivery loop by hand, as if time had passed, until nothing is due."""
    dispatcher = dispatcher_of(client)
    total = 0
    for round_number in range(rounds):
        later = datetime.now(UTC) + timedelta(hours=2 * (round_number + 1))
        claimed = dispatcher.run_once(now=later)
        if claimed == 0:
            return total
        total += claimed
    return total


def create_webhook(
    client: TestClient, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", headers=headers, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(client: TestClient, headers: dict[str, str], webhook_id: int) -> list[Any]:
    response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def eventually(check: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
