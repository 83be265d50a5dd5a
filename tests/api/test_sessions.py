"""Sessions that outlast their tokens: renewing an access token, and the live WebSocket that
authenticates by its first message (no token in the address) and closes when its token runs out
unless a renewed one arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.test_lifecycle import act
from tests.conftest import PASSWORD, Accounts, seed_accounts

LIFETIME_S = 6.0  # seconds; renewals at half of it must beat it on a loaded machine


@pytest.fixture
def short_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The API with access tokens that last three seconds."""
    settings = settings_factory(database_url, access_token_minutes=LIFETIME_S / 60)
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app, ("west_operator",))
        yield client


def _token(client: TestClient, username: str = "west_operator") -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_renewed_before_it_runs_out_and_not_after(short_client: TestClient) -> None:
    token = _token(short_client)
    renewed = short_client.post("/api/v1/auth/refresh", headers=_bearer(token))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expires_in"] == int(LIFETIME_S)
    time.sleep(LIFETIME_S + 1)
    # The old token ran out; one renewed in time would have been renewed again before now.
    expired = short_client.post("/api/v1/auth/refresh", headers=_bearer(token))
    assert expired.status_code == 401
    assert short_client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 401
    assert short_client.post("/api/v1/auth/refresh").status_code == 401


def test_the_websocket_authenticates_by_its_first_message(
    api_client: TestClient, accounts: Accounts
) -> None:
    token = accounts.headers("west_operator")["Authorization"].removeprefix("Bearer ")
    with api_client.websocket_connect("/api/v1/live/ws") as socket:
        socket.send_json({"type": "auth", "token": token})
        assert socket.receive_json()["type"] == "hello"
        event = report_incident(api_client)
        created = socket.receive_json()
        assert (created["type"], created["event_id"], created["from_status"]) == (
            "event.created",
            event["id"],
            None,
        )
        act(api_client, accounts, "west_operator", event["id"], "confirm")
        changed = socket.receive_json()
        assert (changed["from_status"], changed["event"]["status"]) == ("reported", "confirmed")
    for first in ({"type": "auth", "token": "nonsense"}, {"type": "hello"}):
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            api_client.websocket_connect("/api/v1/live/ws") as socket,
        ):
            socket.send_json(first)
            socket.receive_json()
        assert closed.value.code == 4401


def test_the_websocket_closes_when_its_token_runs_out_unless_renewed(
    short_client: TestClient,
) -> None:
    with short_client.websocket_connect("/api/v1/live/ws") as socket:
        socket.send_json({"type": "auth", "token": _token(short_client)})
        assert socket.receive_json()["type"] == "hello"
        started = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 4401
        assert LIFETIME_S - 1.5 < time.monotonic() - started < LIFETIME_S + 5

    with short_client.websocket_connect("/api/v1/live/ws") as socket:
        token = _token(short_client)
        socket.send_json({"type": "auth", "token": token})
        assert socket.receive_json()["type"] == "hello"
        for _ in range(2):  # renewed twice, well before each token runs out
            time.sleep(LIFETIME_S / 2)
            token = short_client.post("/api/v1/auth/refresh", headers=_bearer(token)).json()[
                "access_token"
            ]
            socket.send_json({"type": "auth", "token": token})
        # Past the first token's lifetime, the socket still carries alerts.
        report_incident(short_client)
        assert socket.receive_json()["type"] == "event.created"


def test_a_password_hashed_with_older_parameters_still_logs_in_and_is_hashed_anew(
    api_client: TestClient,
) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from api.models import User
    from api.security import password_needs_rehash

    seed_accounts(api_client.app, ("west_operator",))
    # argon2-cffi's own default (RFC 9106 low-memory: 64 MiB, 3 passes, 4 lanes), as earlier
    # releases stored it.
    old_hash = PasswordHasher().hash(PASSWORD)
    assert password_needs_rehash(old_hash)
    with api_client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        user = session.scalar(select(User).where(User.username == "west_operator"))
        user.password_hash = old_hash
        session.commit()

    _token(api_client)
    with api_client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        stored = session.scalar(select(User.password_hash).where(User.username == "west_operator"))
    assert stored != old_hash and not password_needs_rehash(stored)
    assert "$m=19456,t=2,p=1$" in stored
    _token(api_client)  # the new hash verifies too
