"""What a production server shows to anyone: secrets it starts with, documentation, metrics
(issue 13, kinds 12, 18 and 20)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings

STRONG = {
    "secret_key": secrets.token_urlsafe(32),
    "worker_token": secrets.token_hex(32),
    "credentials_key": Fernet.generate_key().decode(),
}


def production(
    settings_factory: Callable[..., Settings], database_url: str, **overrides: object
) -> Settings:
    return settings_factory(database_url, **{"environment": "production", **STRONG, **overrides})


@pytest.mark.parametrize("name", ["secret_key", "worker_token", "metrics_token"])
@pytest.mark.parametrize(
    "weak",
    ["x", "test-secret-key-0123456789abcdef", "a" * 64, "changethis" * 6, "0123456789abcdef"],
)
def test_production_refuses_a_secret_with_less_than_32_bytes_of_entropy(
    settings_factory: Callable[..., Settings], name: str, weak: str
) -> None:
    with pytest.raises(ValidationError, match=f"GRIDWATCH_{name.upper()} is too weak"):
        production(settings_factory, "sqlite://", **{name: weak})
    # Development takes it, so that a laptop needs no key management.
    assert settings_factory("sqlite://", **{name: weak}).environment == "development"


def test_production_starts_with_generated_secrets(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = production(settings_factory, "sqlite://", metrics_token=secrets.token_urlsafe(32))
    assert settings.metrics_token is not None


DOCUMENTATION = ("/docs", "/redoc", "/openapi.json")


def test_production_serves_no_documentation_or_open_metrics_by_default(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    with TestClient(create_app(production(settings_factory, database_url))) as client:
        for path in DOCUMENTATION:
            assert client.get(path).status_code == 404, path
        closed = client.get("/metrics")
        assert closed.status_code == 403 and "GRIDWATCH_METRICS_TOKEN" in closed.json()["detail"]
        assert closed.headers["x-content-type-options"] == "nosniff"


def test_each_production_exposure_is_a_setting(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('open') / 'gridwatch.db'}"
    token = secrets.token_urlsafe(32)
    settings = production(
        settings_factory, url, docs_enabled=True, openapi_enabled=True, metrics_token=token
    )
    with TestClient(create_app(settings)) as client:
        for path in DOCUMENTATION:
            assert client.get(path).status_code == 200, path
        assert client.get("/metrics").status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200
    public = production(settings_factory, url, metrics_public=True)
    with TestClient(create_app(public)) as client:
        assert client.get("/metrics").status_code == 200


def test_development_keeps_documentation_and_metrics_open(api_client: TestClient) -> None:
    for path in (*DOCUMENTATION, "/metrics"):
        assert api_client.get(path).status_code == 200, path


def _series(client: TestClient) -> set[str]:
    """The label sets of the request-latency series /metrics shows."""
    text = client.get("/metrics").text
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith("gridwatch_http")}


def test_invented_http_methods_add_no_metrics_series(api_client: TestClient) -> None:
    api_client.request("BREW", "/api/v1/events")
    _series(api_client)  # the scrape's own series appear from the next scrape on
    before = _series(api_client)
    for number in range(20):
        answer = api_client.request(f"INVENTED{number}", "/api/v1/events")
        assert answer.status_code in (401, 405)
    after = _series(api_client)
    assert after == before
    assert not [line for line in after if "INVENTED" in line or "BREW" in line]
    assert [line for line in after if 'method="other"' in line]
