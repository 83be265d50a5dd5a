"""The worker's environment settings (GRIDWATCH_*) and the cores it may use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.camera import default_data_dir


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", env_file=".env", extra="ignore")

    api_url: str = Field(default="http://127.0.0.1:8000", description="Where the API listens.")
    worker_token: SecretStr = Field(
        default=SecretStr("changethis"), description="Bearer token for posting incidents."
    )
    worker_name: str = Field(
        default_factory=socket.gethostname, description="Name in audit trails."
    )
    model_path: Path = Field(
        default_factory=lambda: default_data_dir() / "yolov8n.pt",
        description="Absolute path to the detection model's weights.",
    )
    outbox_path: Path = Field(
        default=Path("var/worker-outbox.sqlite"), description="The durable outbox file."
    )
    lease_renew_s: float = Field(
        default=10,
        gt=0,
        le=3600,
        description=(
            "Seconds between renewals of the camera leases (each renewal also picks up cameras"
            " added, changed or freed). Keep it well under the API's GRIDWATCH_LEASE_S: a"
            " killed worker's cameras are taken over once its lease runs out, at the next"
            " renewal of a worker with room, so within GRIDWATCH_LEASE_S plus this."
        ),
    )
    detect_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Frames analysed at once, each camera's in turn; default one per core.",
    )


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
