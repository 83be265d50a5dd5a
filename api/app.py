"""The FastAPI application: wiring of settings, database, start-up imports and routers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine, text

from api import migrate
from api.cameras import upsert_camera
from api.db import make_engine, session_factory
from api.district import DEFAULT_POLICY, DistrictPolicy, load_policy, store_policy
from api.escalation import escalate_overdue
from api.grids import import_grids
from api.integrations import runtime as integrations
from api.live import LiveHub
from api.routers import auth, cameras, events, grids, incidents, live, stats, users
from api.settings import Settings, get_settings
from gridwatch.config import load_cameras

log = logging.getLogger(__name__)


def load_startup_data(engine: Engine, settings: Settings) -> DistrictPolicy:
    """Import the district's grids, policy and camera files named in the settings."""
    factory = session_factory(engine)
    policy = DEFAULT_POLICY
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
        if settings.camera_configs and Path(settings.camera_configs).exists():
            configs = load_cameras([Path(settings.camera_configs)])
            for config in configs:
                upsert_camera(session, config)
            log.info("imported %d cameras from %s", len(configs), settings.camera_configs)
    return policy


async def _watch_deadlines(app: FastAPI, interval_s: float) -> None:
    """Escalate overdue events every `interval_s` seconds, off the event loop."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            escalated = await asyncio.to_thread(_escalate_once, app)
        except Exception:
            log.exception("deadline watch failed; trying again in %.0fs", interval_s)
            continue
        for event_id in escalated:
            _publish_by_id(app, event_id)


def _escalate_once(app: FastAPI) -> list[int]:
    with app.state.session_factory() as session:
        return [event.id for event in escalate_overdue(session, app.state.policy)]


def _publish_by_id(app: FastAPI, event_id: int) -> None:
    from api.events import audience
    from api.models import GridEvent

    with app.state.session_factory() as session:
        event = session.get(GridEvent, event_id)
        if event is not None:
            app.state.hub.publish(
                {"type": "event.escalated", "event_id": event.id, "level": event.level,
                 "status": event.status, "title": event.title},
                audience(event),
            )  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        migrate.upgrade(engine)
        app.state.policy = load_startup_data(engine, settings)
        settings.evidence_dir.mkdir(parents=True, exist_ok=True)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.hub.bind(asyncio.get_running_loop())
        app.state.integrations = integrations.start(app, settings)
        watcher = None
        if settings.escalation_interval_s > 0:
            watcher = asyncio.create_task(_watch_deadlines(app, settings.escalation_interval_s))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await app.state.integrations.stop()
            engine.dispose()

    app = FastAPI(
        title="GridWatch",
        summary="Camera incidents registered as grid events for a district's governance platform.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.hub = LiveHub()
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(incidents.router)
    app.include_router(events.router)
    app.include_router(live.router)
    app.include_router(stats.router)
    app.include_router(cameras.router)
    app.include_router(grids.router)
    integrations.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability.")
    def healthz() -> dict[str, str]:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
