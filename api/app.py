"""The FastAPI application: wiring of settings, database, start-up imports and routers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import changes, migrate, redaction
from api.bodies import BodyGate, body_too_large
from api.cameras import seal_stored_addresses, upsert_camera
from api.db import make_engine, session_factory
from api.district import (
    DEFAULT_POLICY,
    DistrictPolicy,
    check_time_limits,
    load_policy,
    store_policy,
)
from api.escalation import escalate_overdue, expire_unverified
from api.events import live_alerts
from api.fanout import PostgresFanout
from api.grids import import_grids
from api.health import mark_silent_cameras
from api.integrations import runtime as integrations
from api.live import LiveHub
from api.middleware import (
    LeaseTurns,
    LoginLimiter,
    SecurityHeaders,
    StrictJson,
    internal_error,
)
from api.problems import http_problem, invalid_request
from api.reconnect import ReconnectOnce, track_commits
from api.routers import (
    auth,
    cameras,
    departments,
    evaluation,
    events,
    evidence_access,
    gb28181,
    grids,
    incidents,
    live,
    models,
    stats,
    suppressions,
    taxonomy,
    users,
)
from api.routers.console import mount_console
from api.security import CredentialCipher
from api.settings import Settings, get_settings
from api.taxonomy import load_taxonomy
from api.throttle import ConcurrencyLimit
from contract.loading import read_cameras
from contract.problems import ConfigProblem

log = logging.getLogger(__name__)


def load_startup_data(
    engine: Engine, settings: Settings, cipher: CredentialCipher
) -> tuple[DistrictPolicy, list[ConfigProblem]]:
    """Import the district's grids, policy and camera files named in the settings; returns the
    policy and the camera files refused (file, field, reason), which stop only their own
    camera: the others are imported and the API starts."""
    factory = session_factory(engine)
    policy = DEFAULT_POLICY
    refused: list[ConfigProblem] = []
    with factory.begin() as session:
        if settings.grids_file and settings.grids_file.is_file():
            document = json.loads(settings.grids_file.read_text(encoding="utf-8"))
            count = len(import_grids(session, document))
            log.info("imported %d grids from %s", count, settings.grids_file)
        if settings.district_file and settings.district_file.is_file():
            policy = load_policy(settings.district_file)
            store_policy(session, policy)
            log.info(
                "district policy from %s: %d departments",
                settings.district_file,
                len(policy.departments),
            )
        if settings.taxonomy_file:
            known = {department.id for department in policy.departments} or None
            taxonomy = load_taxonomy(settings.taxonomy_file, known)
            policy = policy.model_copy(update={"taxonomy": taxonomy})
            check_time_limits(policy, settings.district_file)
            log.info(
                "event taxonomy from %s: %d codes", settings.taxonomy_file, len(taxonomy.events)
            )
        if settings.camera_configs and Path(settings.camera_configs).exists():
            configs, refused = read_cameras([Path(settings.camera_configs)])
            imported = 0
            for path, config in configs:
                try:
                    with session.begin_nested():
                        upsert_camera(session, config, cipher)
                except Exception as err:
                    log.exception("%s: camera %s not imported", path, config.id)
                    refused.append(
                        ConfigProblem(
                            path,
                            "",
                            f"not imported: {type(err).__name__}: {err}"[:300],
                            "camera_not_imported",
                        )
                    )
                    continue
                imported += 1
            for problem in refused:
                log.error("camera file refused: %s", problem)
            log.info(
                "imported %d cameras from %s; %d problems in refused files",
                imported, settings.camera_configs, len(refused),
            )  # fmt: skip
        sealed = seal_stored_addresses(session, cipher)
        if sealed:
            log.info("encrypted the sub-stream addresses of %d cameras stored in clear", sealed)
    return policy, refused


# Any fixed number will do: the key of the advisory lock API processes start up under.
_STARTUP_LOCK_KEY = 0x67726964  # "grid"


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock for start-up, so that API processes started
    together (`gridwatch serve --workers N`, or N services) migrate and import the district
    one after another instead of racing on the same rows. SQLite serves one process: no lock."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _STARTUP_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _STARTUP_LOCK_KEY})
            connection.commit()


async def _watch_deadlines(app: FastAPI, interval_s: float) -> None:
    """Every `interval_s` seconds, off the event loop: escalate overdue events, expire alerts
    nobody verified, and open video-loss events for cameras no worker reports on any more.
    Their live alerts, webhooks and MQTT messages go out as each change commits (api.changes)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(_watch_once, app)
        except Exception:
            log.exception("deadline watch failed; trying again in %.0fs", interval_s)


def _watch_once(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    with app.state.session_factory() as session:
        escalate_overdue(session, app.state.policy)
        expire_unverified(session, app.state.policy)
        grace = timedelta(seconds=settings.video_loss_grace_s)
        mark_silent_cameras(
            session, app.state.policy, grace=grace, lease=timedelta(seconds=settings.lease_s)
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Open311's ?api_key=, and a token an old client still puts in a WebSocket address (which
    # is refused), arrive in URLs that every access log writes.
    redaction.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.metrics.count_statements(engine)
        track_commits(engine)
        app.state.cipher = settings.cipher()
        with startup_lock(engine):
            migrate.upgrade(engine)
            app.state.policy, app.state.refused_camera_files = load_startup_data(
                engine, settings, app.state.cipher
            )
        settings.evidence_dir.mkdir(parents=True, exist_ok=True)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        changes.listen(app.state.session_factory, live_alerts(app))
        app.state.hub.bind(asyncio.get_running_loop())
        fanout = None
        if engine.dialect.name == "postgresql":
            fanout = PostgresFanout(engine, app.state.hub)
            app.state.hub.relay = fanout.send
            app.state.hub.watched_elsewhere = fanout.watched_elsewhere
            app.state.hub.on_watchers = fanout.announce
            fanout.start()
            # Serve only once alerts from the other processes can arrive.
            await asyncio.to_thread(fanout.listening.wait, 10)
        app.state.fanout = fanout
        app.state.integrations = integrations.start(app, settings)
        watcher = None
        if settings.escalation_interval_s > 0:
            watcher = asyncio.create_task(_watch_deadlines(app, settings.escalation_interval_s))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            if fanout is not None:
                fanout.stop()
            await app.state.integrations.stop()
            engine.dispose()

    app = FastAPI(
        title="GridWatch",
        summary="Camera incidents registered as grid events for a district's governance platform.",
        version="0.1.0",
        lifespan=lifespan,
        # Closed by default outside development (api/settings.py): a map of the API is for
        # integrators, not for whoever finds the server.
        openapi_url="/openapi.json" if settings.openapi_enabled else None,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.refused_camera_files = []
    app.state.hub = LiveHub()
    app.state.login_limiter = LoginLimiter()
    app.state.camera_tests = ConcurrencyLimit(
        settings.camera_tests_total, settings.camera_tests_per_user, what="connection tests"
    )
    # Innermost: it runs the request again, so it sees the route's errors first.
    app.add_middleware(ReconnectOnce)
    app.add_middleware(StrictJson)
    # Around everything that reads a body: the caller is known and the size allowed first.
    app.add_middleware(BodyGate)
    # Outside the body gate: a lease request waiting its turn has read nothing yet.
    app.add_middleware(LeaseTurns, at_once=settings.lease_requests_at_once)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(413, body_too_large)
    app.add_exception_handler(Exception, internal_error)
    # Every error with a code the console words in its reader's language (api.problems).
    app.add_exception_handler(StarletteHTTPException, http_problem)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(incidents.router)
    app.include_router(events.router)
    app.include_router(suppressions.router)
    app.include_router(live.router)
    app.include_router(stats.router)
    app.include_router(evaluation.router)
    app.include_router(evidence_access.router)
    app.include_router(cameras.router)
    app.include_router(gb28181.router)
    app.include_router(grids.router)
    app.include_router(departments.router)
    app.include_router(models.router)
    app.include_router(taxonomy.router)
    mount_console(app)
    integrations.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability.")
    def healthz() -> dict[str, str]:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
