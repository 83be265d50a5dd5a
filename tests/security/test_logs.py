"""Tokens in the server's log lines (issue 13, kind 8): the real `gridwatch serve`, its access
log at the level it ships with, requests that carry credentials in their URLs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from api.redaction import mask_secrets
from tests.conftest import REPO, free_port, run_coroutine

SECRETS = {
    "token": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXdlYnNvY2tldA.sig-one",
    "access_token": "access-token-secret-two",
    "api_key": "gw_api-key-secret-three",
    "password": "password-secret-four",
}


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("gridwatch serve did not start")


async def _open_websocket(url: str) -> None:
    try:
        async with websockets.connect(url, open_timeout=5) as socket:
            await socket.recv()
    except websockets.exceptions.WebSocketException:
        pass  # refused (the token is not a real one): what matters is what was logged


def test_credentials_in_urls_never_reach_the_server_log(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
        "GRIDWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "GRIDWATCH_ESCALATION_INTERVAL_S": "0",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gridwatch", "serve", "--port", str(port)],
            cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(base, server)
        url = f"ws://127.0.0.1:{port}/api/v1/live/ws?token={SECRETS['token']}"
        run_coroutine(_open_websocket(url), timeout_s=30)
        httpx.get(f"{base}/open311/v2/requests.json", params={"api_key": SECRETS["api_key"]})
        httpx.get(
            f"{base}/api/v1/events",
            params={"access_token": SECRETS["access_token"], "page": "1"},
        )
        httpx.get(f"{base}/api/v1/events?x=1&PassWord={SECRETS['password']}#frag")
        httpx.get(f"{base}/api/v1/live/events", params={"token": SECRETS["token"]})
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log_path.read_text()
    assert "GET /open311/v2/requests.json?api_key=*** HTTP/1.1" in text, text
    assert "/api/v1/events?access_token=***&page=1" in text
    assert "/api/v1/live/ws?token=***" in text
    for name, secret in SECRETS.items():
        assert secret not in text, name


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("/x?api_key=abc&y=1", "/x?api_key=***&y=1"),
        ("/x?y=1&X-Api-Key=abc", "/x?y=1&X-Api-Key=***"),
        ("/x?client_secret=abc;sig=def", "/x?client_secret=***;sig=***"),
        ("/x?user=admin&pwd=p%40ss", "/x?user=***&pwd=***"),
        ("/x?page=2&limit=5", "/x?page=2&limit=5"),
        ("rtsp://admin:p/a#ss@10.0.0.7:554/s", "rtsp://***@10.0.0.7:554/s"),
        ("opened http://10.0.0.7/snap.jpg", "opened http://10.0.0.7/snap.jpg"),
    ],
)
def test_every_credential_bearing_part_of_a_url_is_masked(line: str, masked: str) -> None:
    assert mask_secrets(line) == masked
