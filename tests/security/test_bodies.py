"""Bodies are not read before the caller is known, and every body has a cap (issue 13, kind 6).
The API is served by uvicorn on loopback; requests are written on raw sockets so that the
answer is seen to come before the body is even sent."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from api.settings import Settings
from tests.conftest import TEST_HTTP_TIMEOUT, WORKER_TOKEN, Accounts, LiveServer, seed_accounts

MiB = 1024 * 1024
JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=gridwatch"


@pytest.fixture
def server(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[LiveServer]:
    live = LiveServer(
        settings_factory(database_url, max_model_bytes=50 * MiB, max_attachment_bytes=256 * 1024)
    ).start()
    seed_accounts(live.app, names=("admin", "school_owner"))
    yield live
    live.stop()


def _headers_only(
    server: LiveServer,
    path: str,
    content_type: str,
    length: int,
    token: str | None,
    method: str = "POST",
) -> tuple[int, str]:
    """Send a request's headers declaring `length` body bytes, and none of the body: the
    status and body of the answer, which must come without the body."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def _token(server: LiveServer, user: str) -> str:
    with httpx.Client(base_url=server.url, timeout=TEST_HTTP_TIMEOUT) as client:
        return Accounts(client).headers(user)["Authorization"].removeprefix("Bearer ")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "content_type", "size", "who", "status", "reason"),
    [
        ("/api/v1/cameras", JSON, 150 * MiB, None, 401, "not authenticated"),
        ("/api/v1/incidents", MULTIPART, 300 * MiB, None, 401, "not authenticated"),
        ("/api/v1/events/1/actions/comment", MULTIPART, 300 * MiB, "bogus", 401, "access token"),
        ("/api/v1/models", MULTIPART, 100 * MiB, "school_owner", 403, "role admin"),
        ("/api/v1/grids", JSON, 20 * MiB, "school_owner", 403, "role admin"),
        ("/api/v1/incidents", MULTIPART, 30 * MiB, "school_owner", 403, "role worker"),
        ("/api/v1/models", MULTIPART, 100 * MiB, "admin", 413, "GRIDWATCH_MAX_MODEL_BYTES"),
        ("/api/v1/cameras", JSON, 150 * MiB, "admin", 413, "GRIDWATCH_MAX_BODY_BYTES"),
        ("/api/v1/incidents", MULTIPART, 300 * MiB, "worker", 413, "GRIDWATCH_MAX_CLIP_BYTES"),
        ("/api/v1/auth/token", "application/x-www-form-urlencoded", 50 * MiB, None, 413, "BODY"),
        ("/open311/v2/requests.json", MULTIPART, 50 * MiB, None, 413, "BODY_BYTES"),
    ],
)
def test_a_refusal_comes_before_the_body(
    server: LiveServer,
    path: str,
    content_type: str,
    size: int,
    who: str | None,
    status: int,
    reason: str,
) -> None:
    token = {None: None, "bogus": "not-a-token", "worker": WORKER_TOKEN}.get(who, "")
    if token == "":
        token = _token(server, str(who))
    started = time.monotonic()
    answer, body = _headers_only(server, path, content_type, size, token)
    assert (answer, reason in body) == (status, True), body
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("admin", 413)])
def test_a_get_with_a_body_is_refused_before_it_too(
    server: LiveServer, token: str | None, status: int
) -> None:
    """A JSON body on any method would be read whole by the JSON checks: it meets the same gate."""
    bearer = _token(server, token) if token else None
    answer, body = _headers_only(server, "/api/v1/events", JSON, 150 * MiB, bearer, method="GET")
    assert answer == status, body


def _watch(folder: Path, stream: Iterator[bytes], seen: dict[str, int]) -> Iterator[bytes]:
    """`stream`, noting the most bytes in `folder` and the process's largest RSS growth."""
    process = psutil.Process()
    base = process.memory_info().rss
    for chunk in stream:
        files = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
        seen["temp_bytes"] = max(seen.get("temp_bytes", 0), files)
        seen["rss_growth"] = max(seen.get("rss_growth", 0), process.memory_info().rss - base)
        seen["sent"] = seen.get("sent", 0) + len(chunk)
        yield chunk


def _multipart(total: int) -> Iterator[bytes]:
    yield (
        b'--gridwatch\r\nContent-Disposition: form-data; name="note"\r\n\r\nseen\r\n'
        b'--gridwatch\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8"
    )
    for _ in range(total // MiB):
        yield b"\0" * MiB


def _json(total: int) -> Iterator[bytes]:
    yield b'{"id": "cam-x", "name": "'
    for _ in range(total // MiB):
        yield b"a" * MiB


@pytest.mark.parametrize(
    ("path", "content_type", "body", "cap"),
    [
        ("/api/v1/cameras", JSON, _json, 1 * MiB),
        ("/api/v1/events/1/actions/comment", MULTIPART, _multipart, 6 * 256 * 1024 + MiB),
    ],
)
def test_a_body_without_a_length_is_cut_at_its_cap(
    server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    path: str,
    content_type: str,
    body: Callable[[int], Iterator[bytes]],
    cap: int,
) -> None:
    """Sent chunked (no Content-Length): the server stops reading at the cap, spooling and
    holding no more than that, and says why (when the answer outruns the reset connection)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    seen: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {_token(server, 'admin')}", "Content-Type": content_type}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post(
                path, content=_watch(spool, body(150 * MiB), seen), headers=headers
            )
    except httpx.TransportError:
        pass  # the server closed the connection on a body it will not read
    else:
        assert answer.status_code == 413, answer.text
        assert "this route accepts" in answer.json()["detail"]
    # What got through is the cap and the sockets' buffers, not the 150 MiB offered.
    assert seen["sent"] < cap + 40 * MiB, seen
    assert seen["temp_bytes"] <= cap, seen
    assert seen["rss_growth"] < 100 * MiB, seen


def test_every_route_that_reads_a_body_names_who_may_send_it(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """A route whose role check BodyGate cannot see would read bodies of anyone: only the login
    and Open311 (whose key may come in the body) are open, and they have the default cap."""
    from api.app import create_app
    from api.bodies import BODY_METHODS, DEFAULT_LIMIT, _RouteIndex

    app = create_app(settings_factory(f"sqlite:///{tmp_path / 'routes.db'}"))
    index = _RouteIndex(app)
    writes = [(route, need) for route, need in index.routes if route.methods & BODY_METHODS]
    assert len(writes) > 20
    open_routes = sorted(route.path for route, need in writes if need.roles is None)
    assert open_routes == ["/api/v1/auth/token", "/open311/v2/requests.json"]
    uploads = {route.path: need.limit for route, need in writes if need.limit is not DEFAULT_LIMIT}
    assert sorted(uploads) == [
        "/api/v1/cameras/{camera_id}/live.jpg",
        "/api/v1/events/{event_id}/actions/{action}",
        "/api/v1/grids",
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}/clip",
        "/api/v1/models",
    ]
