"""Who a token lets in, and for how long (issue 13, kinds 1, 10 and 13): API token scopes on
every route a system calls, password changes and disabled accounts ending every session, and
live sockets that do not outlive their account. Real API, SQLite and PostgreSQL, accounts of
two organisations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.websockets import WebSocketDisconnect

from api import migrate
from api.app import create_app
from api.db import make_engine
from api.settings import Settings
from tests.api.helpers import WORKER
from tests.conftest import PASSWORD, WORKER_TOKEN, Accounts, seed_accounts
from tests.factories import incident_form, incident_metadata, jpeg

RECHECK_S = 0.3


@pytest.fixture
def client(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[TestClient]:
    """The API with live sockets re-checked every RECHECK_S, accounts of every role seeded."""
    settings = settings_factory(database_url, live_recheck_s=RECHECK_S)
    with TestClient(create_app(settings)) as test_client:
        seed_accounts(test_client.app)
        yield test_client


def _issue(client: TestClient, admin: dict[str, str], name: str, scopes: Any) -> Any:
    return client.post("/api/v1/tokens", json={"name": name, "scopes": scopes}, headers=admin)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-GridWatch-Worker": "edge-1"}


def _calls(client: TestClient, headers: dict[str, str], api_key: str) -> dict[str, int]:
    """The status of one call to every route a system (not a person) calls."""
    snapshot = jpeg()
    incident = incident_form(incident_metadata(snapshot), snapshot)
    return {
        "worker": client.get("/api/v1/worker/cameras", headers=headers).status_code,
        "leases": client.post(
            "/api/v1/worker/leases", json={"capacity": 2}, headers=headers
        ).status_code,
        "health": client.put(
            "/api/v1/cameras/school-no1-gate/health", json={"status": "online"}, headers=headers
        ).status_code,
        "models": client.get("/api/v1/models", headers=headers).status_code,
        "incidents": client.post(
            "/api/v1/incidents", headers=headers, **incident
        ).status_code,
        "open311": client.post(
            "/open311/v2/requests.json",
            data={"api_key": api_key, "service_code": "urban_management",
                  "lat": "30.2550", "long": "120.1200", "description": "Overflowing bins"},
        ).status_code,
    }  # fmt: skip


ALLOWED = {
    "worker": {"worker", "leases", "health", "models"},
    "incidents:write": {"incidents"},
    "open311": {"open311"},
}


@pytest.mark.parametrize("scope", list(ALLOWED))
def test_a_token_calls_only_the_routes_of_its_scopes(client: TestClient, scope: str) -> None:
    accounts = Accounts(client)
    admin = accounts.headers("admin")
    issued = _issue(client, admin, f"system-{scope.replace(':', '-')}", [scope])
    assert issued.status_code == 201, issued.text
    assert issued.json()["scopes"] == [scope]
    token = issued.json()["token"]

    statuses = _calls(client, _bearer(token), token)
    allowed = {route for route, code in statuses.items() if code < 400}
    assert allowed == ALLOWED[scope], statuses
    refused = {route: code for route, code in statuses.items() if route not in ALLOWED[scope]}
    assert set(refused.values()) == {403}, refused

    # Nobody's account is a worker: a user's token reads no credentials, whatever the role.
    for username in ("admin", "school_owner", "works_owner", "district_operator"):
        feed = client.get("/api/v1/worker/cameras", headers=accounts.headers(username))
        assert feed.status_code == 403, username


def test_the_workers_shared_token_has_every_scope(client: TestClient) -> None:
    statuses = _calls(client, WORKER, WORKER_TOKEN)
    assert {route for route, code in statuses.items() if code < 400} == {
        "worker", "leases", "health", "models", "incidents",
    }, statuses  # fmt: skip
    # Open311 refuses the shared token by name (it is no hotline's).
    assert statuses["open311"] == 403


def test_the_token_list_shows_scopes_and_never_a_token(client: TestClient) -> None:
    accounts = Accounts(client)
    admin = accounts.headers("admin")
    hotline = _issue(client, admin, "hotline-12345", ["open311"]).json()
    edge = _issue(client, admin, "edge-school", ["worker", "incidents:write"]).json()
    assert edge["scopes"] == ["incidents:write", "worker"]
    client.delete(f"/api/v1/tokens/{hotline['id']}", headers=admin)

    listed = client.get("/api/v1/tokens", headers=admin)
    assert listed.status_code == 200
    rows = {row["name"]: row for row in listed.json()}
    assert rows["hotline-12345"]["scopes"] == ["open311"] and rows["hotline-12345"]["revoked"]
    assert rows["edge-school"]["scopes"] == ["incidents:write", "worker"]
    assert hotline["token"] not in listed.text and edge["token"] not in listed.text
    for username in ("school_owner", "district_operator"):
        assert client.get("/api/v1/tokens", headers=accounts.headers(username)).status_code == 403


@pytest.mark.parametrize(
    ("scopes", "reason"),
    [([], "scopes"), (["root"], "open311"), ("worker", "scopes"), (None, "scopes")],
)
def test_a_token_without_known_scopes_is_refused(
    client: TestClient, scopes: Any, reason: str
) -> None:
    admin = Accounts(client).headers("admin")
    refused = _issue(client, admin, "no-scope", scopes)
    assert refused.status_code == 422, refused.text
    assert reason in refused.text


def test_tokens_issued_before_scopes_may_only_post_open311(
    empty_database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    from api.security import new_api_token, token_digest

    token = new_api_token()
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine, "0011")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_token (name, token_sha256, created_at, revoked)"
                    " VALUES ('old-edge', :digest, CURRENT_TIMESTAMP, false)"
                ),
                {"digest": token_digest(token)},
            )
    finally:
        engine.dispose()
    with TestClient(create_app(settings_factory(empty_database_url))) as old:
        seed_accounts(old.app, names=("admin",))
        listed = old.get("/api/v1/tokens", headers=Accounts(old).headers("admin")).json()
        assert [row["scopes"] for row in listed] == [["open311"]]
        statuses = _calls(old, _bearer(token), token)
        assert {route for route, code in statuses.items() if code < 400} == {"open311"}


def test_a_password_change_ends_every_earlier_session(client: TestClient) -> None:
    accounts = Accounts(client)
    old = accounts.headers("school_owner")
    other = accounts.headers("works_owner")  # the other organisation's owner
    second_login = client.post(
        "/api/v1/auth/token", data={"username": "school_owner", "password": PASSWORD}
    ).json()["access_token"]

    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a new password 1"},
        headers=old,
    )
    assert wrong.status_code == 422 and "current_password" in wrong.json()["detail"]
    short = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=old,
    )
    assert short.status_code == 422 and "new_password" in short.text

    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new password 1"},
        headers=old,
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    for stale in (old, {"Authorization": f"Bearer {second_login}"}):
        refused = client.get("/api/v1/cameras", headers=stale)
        assert refused.status_code == 401 and "log in again" in refused.json()["detail"]
    assert client.get("/api/v1/cameras", headers=fresh).status_code == 200
    assert client.get("/api/v1/cameras", headers=other).status_code == 200  # untouched
    login = {"username": "school_owner"}
    assert (
        client.post("/api/v1/auth/token", data={**login, "password": PASSWORD}).status_code == 401
    )
    assert (
        client.post(
            "/api/v1/auth/token", data={**login, "password": "a new password 1"}
        ).status_code
        == 200
    )


def test_a_stolen_session_cannot_guess_the_current_password(client: TestClient) -> None:
    owner = Accounts(client).headers("school_owner")
    answers = [
        client.post(
            "/api/v1/auth/password",
            json={"current_password": f"guess number {n}", "new_password": "taken over 123"},
            headers=owner,
        ).status_code
        for n in range(7)
    ]
    assert answers[:5] == [422] * 5 and answers[-1] == 429, answers


def test_an_admin_disables_an_account_and_resets_a_password(client: TestClient) -> None:
    accounts = Accounts(client)
    admin = accounts.headers("admin")
    owner = accounts.headers("school_owner")
    owner_id = accounts.user_id("school_owner")
    other = accounts.headers("works_owner")

    # Only admins change accounts, and none disables their own.
    assert (
        client.patch(f"/api/v1/users/{owner_id}", json={"active": False}, headers=other).status_code
        == 403
    )
    own = client.patch(f"/api/v1/users/{accounts.user_id('admin')}", json={"active": False},
                       headers=admin)  # fmt: skip
    assert own.status_code == 422 and "own account" in own.json()["detail"]

    disabled = client.patch(f"/api/v1/users/{owner_id}", json={"active": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert client.get("/api/v1/cameras", headers=owner).status_code == 401
    login = {"username": "school_owner", "password": PASSWORD}
    assert client.post("/api/v1/auth/token", data=login).status_code == 401
    assert client.get("/api/v1/cameras", headers=other).status_code == 200

    enabled = client.patch(f"/api/v1/users/{owner_id}", json={"active": True}, headers=admin)
    assert enabled.json()["active"] is True
    # Enabling again does not bring back the sessions the disable ended.
    assert client.get("/api/v1/cameras", headers=owner).status_code == 401
    again = client.post("/api/v1/auth/token", data=login).json()["access_token"]

    reset = client.patch(
        f"/api/v1/users/{owner_id}", json={"password": "reset by the admin"}, headers=admin
    )
    assert reset.status_code == 200
    assert client.get("/api/v1/cameras", headers=_bearer(again)).status_code == 401
    assert client.post("/api/v1/auth/token", data=login).status_code == 401


def _disable(client: TestClient, admin: dict[str, str], user_id: int) -> None:
    response = client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=admin)
    assert response.status_code == 200


def _change_password(client: TestClient, headers: dict[str, str], _admin: object, _id: int) -> None:
    body = {"current_password": PASSWORD, "new_password": "another password 2"}
    assert client.post("/api/v1/auth/password", json=body, headers=headers).status_code == 200


@pytest.mark.parametrize("change", ["disable", "password"])
def test_a_live_websocket_is_closed_once_its_account_changes(
    client: TestClient, change: str
) -> None:
    accounts = Accounts(client)
    admin = accounts.headers("admin")
    operator = accounts.headers("district_operator")
    user_id = accounts.user_id("district_operator")
    token = operator["Authorization"].removeprefix("Bearer ")
    bystander = accounts.headers("east_operator")["Authorization"].removeprefix("Bearer ")

    with (
        client.websocket_connect("/api/v1/live/ws", headers=_bearer(token)) as socket,
        client.websocket_connect("/api/v1/live/ws", headers=_bearer(bystander)) as other,
    ):
        assert socket.receive_json()["type"] == "hello"
        assert other.receive_json()["type"] == "hello"
        if change == "disable":
            _disable(client, admin, user_id)
        else:
            _change_password(client, operator, admin, user_id)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()  # a few re-check intervals at most
        assert closed.value.code == 4401
        # The other operator's socket stays and still receives alerts.
        posted = client.post(
            "/api/v1/events",
            json={"source": "manual", "title": "Bins", "category": "urban_management",
                  "location": {"lat": 30.29, "lon": 120.19}},
            headers=admin,
        )  # fmt: skip
        assert posted.status_code == 201, posted.text
        assert other.receive_json()["type"] == "event.created"


def test_a_live_event_stream_ends_once_its_account_is_disabled(client: TestClient) -> None:
    accounts = Accounts(client)
    admin = accounts.headers("admin")
    operator = accounts.headers("district_operator")
    user_id = accounts.user_id("district_operator")
    body: list[str] = []

    def listen() -> None:
        with client.stream("GET", "/api/v1/live/events", headers=operator) as response:
            assert response.status_code == 200
            body.extend(response.iter_lines())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    listener.join(timeout=RECHECK_S * 5)
    assert listener.is_alive(), "the stream ended while the account was valid"
    _disable(client, admin, user_id)
    # Within a few re-check intervals; the margin is for a loaded machine, and stays well
    # below the 15 s keep-alive that would end a wait on its own.
    listener.join(timeout=10)
    assert not listener.is_alive(), "the stream outlived its account"
    assert "event: closed" in body


def test_the_command_line_issues_scoped_tokens_and_ends_sessions(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.settings import get_settings
    from gridwatch.cli import app as cli

    monkeypatch.setenv("GRIDWATCH_DATABASE_URL", database_url)
    for name in ("GRIDWATCH_SECRET_KEY", "GRIDWATCH_WORKER_TOKEN"):
        monkeypatch.setenv(name, "not-the-placeholder-0123456789abcdef")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        issued = runner.invoke(cli, ["tokens", "issue", "edge-east", "--scope", "worker"])
        assert issued.exit_code == 0, issued.output
        token = issued.output.strip().splitlines()[-1]
        assert token.startswith("gw_")
        listed = runner.invoke(cli, ["tokens", "list"])
        assert "edge-east" in listed.output and "worker" in listed.output
        assert token not in listed.output
        refused = runner.invoke(cli, ["tokens", "issue", "edge-west", "--scope", "root"])
        assert refused.exit_code == 1 and "'root' is not a scope" in refused.output
        feed = client.get("/api/v1/worker/cameras", headers=_bearer(token))
        assert feed.status_code == 200

        owner = Accounts(client).headers("school_owner")
        disabled = runner.invoke(cli, ["users", "disable", "school_owner"])
        assert disabled.exit_code == 0, disabled.output
        assert client.get("/api/v1/cameras", headers=owner).status_code == 401
        assert runner.invoke(cli, ["users", "enable", "school_owner"]).exit_code == 0
        changed = runner.invoke(
            cli, ["users", "password", "school_owner"],
            env={"GRIDWATCH_NEW_PASSWORD": "set on the command line"},
        )  # fmt: skip
        assert changed.exit_code == 0, changed.output
        login = {"username": "school_owner", "password": "set on the command line"}
        assert client.post("/api/v1/auth/token", data=login).status_code == 200
    finally:
        get_settings.cache_clear()
