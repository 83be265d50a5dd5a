"""Every request a worker makes carries its token and name; API failures arrive as our errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import tests.conftest
from api.models import CustomModel
from api.settings import Settings
from gridwatch.api_client import ApiClient, ApiError, ApiRefused, ApiUnreachable
from gridwatch.feed import ApiLeaseFeed, ApiModelSource, HealthReporter
from gridwatch.outbox import IncidentSender, Outbox
from tests.conftest import WORKER_TOKEN, LiveServer, free_port
from tests.gridwatch.test_outbox import make_incident

WORKER = "edge-7"
Requests = list[tuple[str, str, dict[str, str]]]


class RequestLog:
    """ASGI middleware that notes each HTTP request reaching the API: method, path, headers."""

    def __init__(self, app: ASGIApp, requests: Requests):
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
            self.requests.append((scope["method"], scope["path"], headers))
        await self.app(scope, receive, send)


@pytest.fixture
def recorded_api(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, Requests]]:
    """The real API served on loopback, noting every request that reaches it."""
    requests: Requests = []
    make_app = tests.conftest.create_app

    def create_app(settings: Settings) -> FastAPI:
        app = make_app(settings)
        app.add_middleware(RequestLog, requests=requests)
        return app

    monkeypatch.setattr(tests.conftest, "create_app", create_app)
    server = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'api.db'}")).start()
    yield server, requests
    server.stop()


def register_model(server: LiveServer, weights: bytes) -> None:
    """A custom model as the API keeps one after an admin registered it."""
    settings = server.settings
    folder = settings.evidence_dir / "models"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(weights).hexdigest()
    (folder / f"{digest}.pt").write_bytes(weights)
    factory = server.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        session.add(
            CustomModel(
                name="ward-fall", weights_sha256=digest, weights_path=f"models/{digest}.pt",
                class_names=["Normal", "Fall"], class_codes={"Fall": "0901"},
                registered_by="admin",
            )
        )  # fmt: skip
        session.commit()


def test_every_request_of_the_worker_carries_its_token_and_name(
    recorded_api: tuple[LiveServer, Requests], tmp_path: Path
) -> None:
    server, requests = recorded_api
    weights = b"not really a model, but bytes with a digest"
    register_model(server, weights)

    feed = ApiLeaseFeed(server.url, WORKER_TOKEN, worker_name=WORKER, capacity=2)
    cameras = feed.poll()
    assert cameras is not None and len(cameras) == 2
    reporter = HealthReporter(server.url, WORKER_TOKEN, worker_name=WORKER)
    reporter.report({camera.id: {"status": "online"} for camera in cameras})
    assert reporter.sent == 2
    models = ApiModelSource(server.url, WORKER_TOKEN, tmp_path / "data", worker_name=WORKER)
    path, codes = models.get("ward-fall")
    assert path.read_bytes() == weights and codes["Fall"]["code"] == "0901"
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.put(make_incident())
    sender = IncidentSender(outbox, server.url, WORKER_TOKEN, worker_name=WORKER)
    assert sender.deliver_due() == 1
    feed.close()
    for closable in (reporter, models, sender, outbox):
        closable.close()

    asked = {(method, path) for method, path, _ in requests}
    weights_path = "/api/v1/models/ward-fall/weights"
    assert {
        ("POST", "/api/v1/worker/leases"),
        *(("PUT", f"/api/v1/cameras/{camera.id}/health") for camera in cameras),
        ("GET", "/api/v1/models"),
        ("GET", weights_path),
        ("POST", "/api/v1/incidents"),
    } == asked
    for method, path, headers in requests:
        assert headers.get("authorization") == f"Bearer {WORKER_TOKEN}", (method, path)
        assert headers.get("x-gridwatch-worker") == WORKER, (method, path)
    page = httpx.get(f"{server.url}/api/v1/events", headers=server.admin_headers()).json()
    assert page["items"][0]["incident"]["reported_by"] == f"worker:{WORKER}"


def test_a_refusal_says_the_status_and_the_apis_reason(live_api: LiveServer) -> None:
    api = ApiClient(live_api.url, "not-the-token", worker_name=WORKER, timeout=5)
    with pytest.raises(ApiRefused) as refused:
        api.call("POST", "/api/v1/worker/leases", json={"capacity": 1})
    assert refused.value.status_code == 401 and refused.value.api_unavailable
    assert "not-the-token" not in str(refused.value)
    api.close()

    api = ApiClient(live_api.url, WORKER_TOKEN, worker_name=WORKER, timeout=5)
    with pytest.raises(ApiRefused) as refused:
        api.call("PUT", "/api/v1/cameras/no-such-camera/health", json={"status": "online"})
    assert refused.value.status_code == 404 and not refused.value.api_unavailable
    assert "no-such-camera" in refused.value.detail
    with pytest.raises(ApiRefused), api.stream("GET", "/api/v1/models/none/weights"):
        pass
    api.close()


def test_no_answer_is_api_unreachable() -> None:
    api = ApiClient(f"http://127.0.0.1:{free_port()}", WORKER_TOKEN, worker_name=WORKER, timeout=2)
    with pytest.raises(ApiUnreachable) as unreachable:
        api.call("GET", "/api/v1/models")
    assert isinstance(unreachable.value.__cause__, httpx.ConnectError)
    api.close()


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, {"detail": "database unavailable"}, ApiRefused),
        (302, {}, ApiRefused),  # a redirect is not a delivery
        (200, "<html>proxy login</html>", ApiError),
    ],
)
def test_an_answer_that_is_not_the_apis_success_is_an_error(
    status: int, body: Any, error: type[ApiError]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    api = ApiClient("http://api.test", WORKER_TOKEN, worker_name=WORKER, timeout=2, client=client)
    with pytest.raises(error) as raised:
        api.call("GET", "/api/v1/models")
    if status == 503:
        assert (
            isinstance(raised.value, ApiRefused) and raised.value.detail == "database unavailable"
        )
    api.close()
