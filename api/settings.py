"""API settings, read from GRIDWATCH_* environment variables (or a .env file)."""

from __future__ import annotations

import ipaddress
import math
import string
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.security import CredentialCipher

PLACEHOLDER_SECRET = "changethis"  # noqa: S105 - the value every non-development setting refuses
# Outside development every secret must carry at least this much (estimated) entropy.
MIN_SECRET_BITS = 256
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/-_=")
_CHARACTER_CLASSES = (
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.digits), 10),
    (frozenset(string.punctuation + " "), 33),
)


def secret_bits(secret: str) -> float:
    """An estimate of the entropy of `secret`, in bits: its length times the bits per character
    of its alphabet (hex: 4, base64: 6, else the character classes it uses). A secret made of
    few distinct characters (`aaaa...`, `abab...`, a word repeated) counts as 0.

    It catches short, placeholder and repetitive secrets; it cannot prove a secret random.
    `openssl rand -hex 32` and `python -c 'import secrets; print(secrets.token_urlsafe(32))'`
    give 256 bits.

    Example:
        >>> secret_bits("0123456789abcdef" * 4), secret_bits("changethis")
        (256.0, 60.0)
    """
    if not secret:
        return 0.0
    characters = set(secret)
    if characters <= _HEX:
        pool = 16
    elif characters <= _BASE64:
        pool = 64
    else:
        pool = sum(size for members, size in _CHARACTER_CLASSES if characters & members)
        pool += 100 if any(not char.isascii() for char in characters) else 0
    if len(characters) < min(pool, len(secret)) / 4:
        return 0.0
    return len(secret) * math.log2(pool)


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
        description="Bearer token workers present to post incidents (tokens can also be issued).",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(PLACEHOLDER_SECRET), description="Signs users' access tokens (JWT)."
    )
    credentials_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting camera credentials at rest; derived from the secret"
        " key in development when unset.",
    )
    access_token_minutes: float = Field(
        default=8 * 60,
        gt=0,
        description="Lifetime of an access token, in minutes; the console renews it"
        " (POST /api/v1/auth/refresh) before it runs out.",
    )
    live_recheck_s: float = Field(
        default=10,
        gt=0,
        le=300,
        description="Seconds between checks that a live WebSocket/SSE's account is still"
        " valid (not disabled, password unchanged, token not expired); one that is not is"
        " closed.",
    )
    camera_configs: Path | None = Field(
        default=Path("camera_configs"),
        description="Camera YAML files imported at start-up (a folder); empty to skip.",
    )
    grids_file: Path | None = Field(
        default=Path("camera_configs/grids.geojson"),
        description="GeoJSON of the district's grids imported at start-up; empty to skip.",
    )
    district_file: Path | None = Field(
        default=Path("camera_configs/district/policy.yaml"),
        description="Departments, routing and deadlines imported at start-up; empty to skip.",
    )
    taxonomy_file: Path | None = Field(
        default=Path("camera_configs/district/taxonomy.yaml"),
        description="Event codes (classes, rule and category defaults) read at start-up.",
    )
    max_snapshot_bytes: int = Field(
        default=5 * 1024 * 1024, description="Largest snapshot a worker may upload."
    )
    max_clip_bytes: int = Field(
        default=32 * 1024 * 1024, description="Largest incident clip a worker may upload."
    )
    max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024, description="Largest photo a person may attach to an event."
    )
    max_attachments: int = Field(default=6, description="Most photos in one upload.")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body (JSON, forms) of a route without a cap of its own;"
        " uploads are capped by the limits of what they carry.",
    )
    max_grids_bytes: int = Field(
        default=32 * 1024 * 1024, description="Largest GeoJSON of grids an admin may import."
    )
    max_model_bytes: int = Field(
        default=512 * 1024 * 1024, description="Largest model weights file an admin may upload."
    )
    merge_radius_m: float = Field(
        default=150, description="Events this close, same category, are proposed for merge."
    )
    merge_window_minutes: float = Field(default=120, description="... and this close in time.")
    video_loss_grace_s: float = Field(
        default=60, description="A camera offline this long opens a video-loss event."
    )
    lease_s: float = Field(
        default=30,
        description="A worker that does not renew its camera leases this long loses them.",
    )
    lease_requests_at_once: int = Field(
        default=1,
        ge=1,
        description="Workers' lease requests (renewals and claims) handled at once by each API"
        " process; the rest wait their turn without holding a request thread or a database"
        " connection, so that operators are not kept waiting when a whole fleet claims its"
        " cameras at once (bench/fleet.py, 5,000 cameras and 300 workers on two processes:"
        " operators' event-list p95 62 ms with 1, 126 ms with 4, 178 ms with no limit).",
    )
    worker_access_log: bool = Field(
        default=False,
        description="Log a request line (uvicorn's access log) for workers' lease renewals and"
        " health reports too; off, since every worker sends them every few seconds (thousands of"
        " lines a minute for a district, a few per cent of the API's CPU). Other requests are"
        " always logged.",
    )
    escalation_interval_s: float = Field(
        default=30, description="How often overdue events are looked for (0: never)."
    )
    # Integrations: webhooks and MQTT share one durable outbox in the database.
    mqtt_url: str = Field(
        default="",
        description="MQTT broker, mqtt://[user:password@]host[:port] or mqtts://...; empty: off.",
    )
    mqtt_topic_prefix: str = Field(
        default="gridwatch",
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]*$",
        description="First level of every MQTT topic (gridwatch/events, gridwatch/available).",
    )
    outbox_poll_s: float = Field(
        default=2.0,
        description="How often this process looks for due deliveries (0: it delivers none).",
    )
    outbox_batch: int = Field(default=20, ge=1, description="Deliveries claimed at a time.")
    outbox_lease_s: float = Field(
        default=300,
        description="How long a claim lasts (keep it above batch x webhook timeout); a crashed"
        " process's claims are retried after it.",
    )
    outbox_retry_base_s: float = Field(
        default=5, description="First retry delay; it doubles each attempt, with jitter."
    )
    outbox_retry_max_s: float = Field(default=3600, description="Longest delay between retries.")
    outbox_max_attempts: int = Field(
        default=25, ge=1, description="Attempts before a delivery is marked failed (redeliverable)."
    )
    webhook_timeout_s: float = Field(
        default=10, description="Time a webhook receiver has to answer."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics asks for; empty: /metrics is open where"
        " metrics_public allows it, else refused.",
    )
    metrics_public: bool | None = Field(
        default=None,
        description="Serve /metrics without a token when metrics_token is empty; default: only"
        " in development.",
    )
    docs_enabled: bool | None = Field(
        default=None,
        description="Serve the interactive API documentation (/docs, /redoc); default: only in"
        " development. They need openapi_enabled.",
    )
    openapi_enabled: bool | None = Field(
        default=None,
        description="Serve the OpenAPI document (/openapi.json); default: only in development.",
    )
    camera_test_allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=list,
        description="Networks a camera owner's connection test may reach although they are"
        " loopback, link-local or this host's own (cameras on the API's own machine, a site's"
        ' link-local cameras), e.g. ["127.0.0.0/8"]. Administrators\' tests are not limited.',
    )

    camera_tests_per_user: int = Field(
        default=2,
        ge=1,
        description="Connection tests one account may run at a time; more are answered 429.",
    )
    camera_tests_total: int = Field(
        default=8,
        ge=1,
        description="Connection tests (and discoveries) the API runs at a time, for everyone;"
        " more are answered 429. Each waits on a camera for up to its timeout on a thread.",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        development = self.environment == "development"
        for name in ("worker_token", "secret_key"):
            if getattr(self, name).get_secret_value() != PLACEHOLDER_SECRET:
                continue
            message = f"GRIDWATCH_{name.upper()} is the placeholder 'changethis'; set your own"
            if not development:
                raise ValueError(message)
            warnings.warn(message + " before leaving development", stacklevel=2)
        if self.credentials_key is None and not development:
            raise ValueError("GRIDWATCH_CREDENTIALS_KEY must be set outside development")
        if not development:
            for name in ("worker_token", "secret_key", "metrics_token"):
                secret: SecretStr | None = getattr(self, name)
                if secret is not None and secret_bits(secret.get_secret_value()) < MIN_SECRET_BITS:
                    raise ValueError(
                        f"GRIDWATCH_{name.upper()} is too weak: outside development a secret needs"
                        f" {MIN_SECRET_BITS // 8} bytes of entropy (e.g. `openssl rand -hex 32`)"
                    )
        # What anyone may read unauthenticated: open while developing, closed otherwise.
        for name in ("metrics_public", "docs_enabled", "openapi_enabled"):
            if getattr(self, name) is None:
                setattr(self, name, development)
        return self

    def cipher(self) -> CredentialCipher:
        """The cipher for camera credentials at rest."""
        if self.credentials_key is not None:
            return CredentialCipher(self.credentials_key.get_secret_value())
        return CredentialCipher.derived_from(self.secret_key.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    return Settings()
