"""The FastAPI application: wiring of settings, database, start-up imports and routers."""

from __future__ import annotations

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
from api.grids import import_grids
from api.routers import cameras, events, grids, incidents
from api.settings import Settings, get_settings
from gridwatch.config import load_cameras

log = logging.getLogger(__name__)


def load_startup_data(engine: Engine, settings: Settings) -> None:
    """Import the district's grids and the camera files named in the settings."""
    factory = session_factory(engine)
    with factory.begin() as session:
        if settings.grids_file and settings.grids_file.is_file():
            document = json.loads(settings.grids_file.read_text(encoding="utf-8"))
            count = len(import_grids(session, document))
            log.info("imported %d grids from %s", count, settings.grids_file)
        if settings.camera_configs and Path(settings.camera_configs).exists():
            configs = load_cameras([Path(settings.camera_configs)])
            for config in configs:
                upsert_camera(session, config)
            log.info("imported %d cameras from %s", len(configs), settings.camera_configs)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        migrate.upgrade(engine)
        load_startup_data(engine, settings)
        settings.evidence_dir.mkdir(parents=True, exist_ok=True)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="GridWatch",
        summary="Camera incidents registered as grid events for a district's governance platform.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(incidents.router)
    app.include_router(events.router)
    app.include_router(cameras.router)
    app.include_router(grids.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability.")
    def healthz() -> dict[str, str]:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
