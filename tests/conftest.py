"""Shared fixtures: real assets, both databases, a real API server on loopback."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.settings import Settings
from contract.camera import default_data_dir
from gridwatch.assets import ensure_all

REPO = Path(__file__).resolve().parent.parent

# The tests' own requests to a live API wait up to a minute: httpx's 5 s default is shorter than a
# loaded 2-core machine has taken to answer (an Argon2 login, a clip encoded beside, three test
# processes at once). A request that means to give up sooner passes its own timeout.
TEST_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
for _verb in ("request", "stream", "get", "options", "head", "post", "put", "patch", "delete"):
    setattr(httpx, _verb, functools.partial(getattr(httpx, _verb), timeout=TEST_HTTP_TIMEOUT))
WORKER_TOKEN = "test-worker-token"
POSTGRES_ADMIN_URL = os.environ.get(
    "GRIDWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def assets() -> dict[str, Path]:
    """The real model weights and demo recording (fetched once, checked by SHA-256)."""
    return ensure_all(default_data_dir())


@pytest.fixture(scope="session")
def demo_clip(assets: dict[str, Path]) -> Path:
    return assets["vtest.avi"]


@pytest.fixture(scope="session")
def model_path(assets: dict[str, Path]) -> Path:
    return assets["yolov8n.pt"]


@pytest.fixture(scope="session")
def detector(model_path: Path):  # type: ignore[no-untyped-def]
    from detectors.model import YoloDetector

    return YoloDetector(model_path)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the PostgreSQL server the suite runs against."""
    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as err:  # pragma: no cover - a missing server is a setup problem
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {err}")
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


def _postgres_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    name = f"gridwatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(database_url: str) -> None:
    from api import migrate
    from api.db import make_engine

    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the schema's head, migrated once per test process, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "gridwatch.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> Iterator[str]:
    """The name of a PostgreSQL database at the schema's head, migrated once per test process,
    for `CREATE DATABASE ... TEMPLATE` (about 0.1 s against 1.5 s for the whole migration chain)."""
    databases = _postgres_database(postgres_server)
    url = next(databases)
    try:
        _migrate(url)
        yield str(make_url(url).database)
    finally:
        databases.close()  # drops it


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind the product supports, at the schema's head: a copy of one
    migrated once per test process, so that the API's start-up has nothing left to migrate.
    Tests of the migrations themselves take `empty_database_url`."""
    if request.param == "sqlite":
        path = tmp_path / "gridwatch.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("migrated_postgres")
        yield from _postgres_database(request.getfixturevalue("postgres_server"), template)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind the product supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gridwatch.db'}"
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "evidence_dir": tmp_path / "evidence",
            "worker_token": WORKER_TOKEN,
            "camera_configs": REPO / "camera_configs",
            "grids_file": REPO / "camera_configs" / "grids.geojson",
            "district_file": REPO / "camera_configs" / "district" / "policy.yaml",
            "taxonomy_file": REPO / "camera_configs" / "district" / "taxonomy.yaml",
            "secret_key": "test-secret-key-0123456789abcdef",
            "escalation_interval_s": 0,
            # The suite's cameras (RTSP, HTTP, ONVIF peers) run on loopback.
            "camera_test_allowed_networks": ["127.0.0.0/8", "::1/128"],
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def api_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The API in-process on a fresh database (each kind), migrated and loaded with the samples."""
    with TestClient(create_app(settings_factory(database_url))) as client:
        yield client


@contextmanager
def quiet_api(settings: Settings) -> Iterator[TestClient]:
    """The API in-process as `settings` say, without its delivery loop (whose look for due
    deliveries every `outbox_poll_s` would fall now and then among statements a test counts) and,
    on PostgreSQL, once its fan-out's roll call is answered (until then a process takes it that
    operators watch elsewhere, and shapes live alerts)."""
    with TestClient(create_app(settings.model_copy(update={"outbox_poll_s": 0}))) as client:
        fanout = client.app.state.fanout  # type: ignore[attr-defined]
        if fanout is not None:
            assert fanout.settled.wait(10)
        yield client


@pytest.fixture
def quiet_api_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """`api_client` as `quiet_api` runs it: for tests that count the statements of a request."""
    with quiet_api(settings_factory(database_url)) as client:
        yield client


T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
    """Run `coroutine` to completion in an event loop of its own, on a thread of its own.

    A browser test earlier in the same process (Playwright's sync API) keeps an event loop running
    on the main thread, where `asyncio.run` then refuses to start; which tests share a process
    depends on how the suite is split, so every test runs its coroutines through here.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=timeout_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """The API served by uvicorn on a loopback port, in a thread; can be stopped and restarted."""

    def __init__(self, settings: Settings, port: int | None = None):
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._thread: threading.Thread | None = None
        self.app = None

    def start(self) -> LiveServer:
        import uvicorn

        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        # Generous: on a loaded 2-core machine the app's start-up (migrations, policy, hubs) has
        # taken over 30 s.
        deadline = time.monotonic() + 90
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("API server stopped while starting (see its log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("API server did not start within 90 s")
            time.sleep(0.05)
        return self

    def admin_headers(self) -> dict[str, str]:
        """Log in as the seeded admin (seeding the accounts on first use)."""
        import httpx

        login = {"username": "admin", "password": PASSWORD}
        # Argon2 on purpose slow: on a loaded 2-core machine a login has taken over httpx's 5 s.
        url = f"{self.url}/api/v1/auth/token"
        response = httpx.post(url, data=login, timeout=60)
        if response.status_code == 401:
            seed_accounts(self.app, names=("admin",))
            response = httpx.post(url, data=login, timeout=60)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._server = None


@pytest.fixture
def live_api(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[LiveServer]:
    """A real API server on loopback over SQLite."""
    server = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'live.db'}")).start()
    yield server
    server.stop()


PASSWORD = "correct horse battery"

# Accounts of every role, scoped inside the sample district (camera_configs/).
ACCOUNTS: dict[str, dict[str, object]] = {
    "admin": {"role": "admin"},
    "district_operator": {"role": "operator", "region_id": "D01"},
    "west_operator": {"role": "operator", "region_id": "D01-T01"},
    "east_operator": {"role": "operator", "region_id": "D01-T02"},
    "school_owner": {"role": "camera_owner", "organisation_id": "no1-primary-school"},
    "works_owner": {"role": "camera_owner", "organisation_id": "urban-management-bureau"},
    "school_worker": {"role": "grid_worker", "grid_ids": ["D01-T01-C01-G01"]},
    "east_worker": {"role": "grid_worker", "grid_ids": ["D01-T02-C01-G01", "D01-T02-C02-G02"]},
    "education_handler": {"role": "handler", "department_id": "education-bureau"},
    "urban_handler": {"role": "handler", "department_id": "urban-management-bureau"},
}


@functools.cache
def _password_hash(password: str) -> str:
    from api.security import hash_password

    return hash_password(password)


def seed_accounts(app, names: tuple[str, ...] | None = None) -> None:  # type: ignore[no-untyped-def]
    from unittest import mock

    from api.accounts import create_user
    from api.schemas import UserCreate

    # Argon2 is slow on purpose; the seeded accounts share one real hash of the same password.
    with (
        mock.patch("api.accounts.hash_password", _password_hash),
        app.state.session_factory() as session,
    ):
        for username, scope in ACCOUNTS.items():
            if names is not None and username not in names:
                continue
            create_user(session, UserCreate(username=username, password=PASSWORD, **scope))  # type: ignore[arg-type]


class Accounts:
    """Access tokens of the seeded accounts, for a client."""

    def __init__(self, client: TestClient):
        self.client = client
        self._tokens: dict[str, str] = {}

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            response = self.client.post(
                "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def user_id(self, username: str) -> int:
        return int(self.client.get("/api/v1/auth/me", headers=self.headers(username)).json()["id"])


@pytest.fixture
def accounts(api_client: TestClient) -> Accounts:
    seed_accounts(api_client.app)
    return Accounts(api_client)
