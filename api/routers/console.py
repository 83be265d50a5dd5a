"""The web console: the single-page app in api/console/ served by the API itself under /console/."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import Response
from starlette.types import Scope

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"


class ConsoleSettings(BaseSettings):
    """Console settings, read from GRIDWATCH_CONSOLE_* environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDWATCH_CONSOLE_", env_file=".env", extra="ignore"
    )

    tile_url: str = Field(
        default="",
        description="Map tile URL template with {z}/{x}/{y}, e.g. a district tile server; empty:"
        " grids and cameras are drawn on a plain background and no tile server is contacted.",
    )
    tile_attribution: str = Field(default="", description="Attribution shown for those tiles.")


@lru_cache
def get_console_settings() -> ConsoleSettings:
    return ConsoleSettings()


def _content_security_policy(settings: ConsoleSettings) -> str:
    # Images come from our own origin or from blob: URLs made of authorised fetches (snapshots
    # and photos need the access token, which an <img src> cannot carry).
    tiles = urlsplit(settings.tile_url.replace("{s}", "a"))
    tile_origin = f" {tiles.scheme}://{tiles.netloc}" if tiles.scheme and tiles.netloc else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' blob: data:{tile_origin}",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        )
    )


router = APIRouter(include_in_schema=False)


@router.get("/console")
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console/")
def console_index() -> FileResponse:
    """The app shell; pages are chosen client-side by the URL's #fragment."""
    return FileResponse(
        CONSOLE_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-cache",
            # Stricter than the middleware's default for HTML: it names the tile server, if any.
            # The other security headers come from the middleware.
            "Content-Security-Policy": _content_security_policy(get_console_settings()),
        },
    )


@router.get("/console/config.json")
def console_config() -> dict[str, Any]:
    """What the browser needs before login: the optional tile layer."""
    settings = get_console_settings()
    return {"tile_url": settings.tile_url, "tile_attribution": settings.tile_attribution}


class _ConsoleFiles(StaticFiles):
    """The console's assets, revalidated on every load (ETag), so an upgrade reaches every
    browser at once instead of after a heuristic cache lifetime."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_console(app: FastAPI) -> None:
    """Serve the console at /console/ (its assets under /console/static/)."""
    app.include_router(router)
    app.mount("/console/static", _ConsoleFiles(directory=CONSOLE_DIR), name="console-static")
