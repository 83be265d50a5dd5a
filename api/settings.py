"""API settings, read from GRIDWATCH_* environment variables (or a .env file)."""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "changethis"  # noqa: S105 - the value every non-development setting refuses


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", env_file=".env", extra="ignore")

    environment: Literal["development", "staging", "production"] = Field(
        default="development", description="Placeholder secrets are refused outside development."
    )
    database_url: str = Field(
        default="sqlite:///var/gridwatch.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    evidence_dir: Path = Field(
        default=Path("var/evidence"), description="Where snapshots and clips are stored."
    )
    worker_token: SecretStr = Field(
        default=SecretStr(PLACEHOLDER_SECRET),
        description="Bearer token workers present to post incidents.",
    )
    camera_configs: Path | None = Field(
        default=Path("camera_configs"),
        description="Camera YAML files imported at start-up (a folder); empty to skip.",
    )
    grids_file: Path | None = Field(
        default=Path("camera_configs/grids.geojson"),
        description="GeoJSON of the district's grids imported at start-up; empty to skip.",
    )
    max_snapshot_bytes: int = Field(
        default=5 * 1024 * 1024, description="Largest snapshot a worker may upload."
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.worker_token.get_secret_value() == PLACEHOLDER_SECRET:
            message = (
                "GRIDWATCH_WORKER_TOKEN is the placeholder 'changethis'; set a secret of your own"
            )
            if self.environment != "development":
                raise ValueError(message)
            warnings.warn(message + " before leaving development", stacklevel=2)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
