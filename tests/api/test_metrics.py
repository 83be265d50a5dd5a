"""Prometheus metrics: the scrape parses, and the numbers move with what happens."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.live import ViewerScope
from api.settings import Settings
from tests.api.helpers import WORKER, report_incident
from tests.api.integration_helpers import create_webhook, drain
from tests.api.test_lifecycle import act
from tests.conftest import Accounts, seed_accounts
from tests.factories import incident_form, incident_metadata, jpeg


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_numbers_move(database_url: str, settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(database_url, outbox_poll_s=0, metrics_token="scrape-token")
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app)
        accounts = Accounts(client)
        assert client.get("/metrics").status_code == 401
        auth = {"Authorization": "Bearer scrape-token"}
        before = scrape(client, **auth)
        assert value(before, "gridwatch_events", state="reported", category="public_safety") == 0

        hook = create_webhook(client, accounts.headers("admin"), url="http://127.0.0.1:9/")
        first = report_incident(client)
        report_incident(client, track_id=2, zone="playground")
        snapshot = jpeg()
        metadata = incident_metadata(snapshot, id=first["incident"]["id"])
        duplicate = client.post(
            "/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot)
        )
        assert duplicate.status_code == 200
        act(client, accounts, "west_operator", first["id"], "confirm")
        hub = client.app.state.hub  # type: ignore[attr-defined]
        with hub.subscription(ViewerScope(role="admin")):
            during = scrape(client, **auth)

        events = "gridwatch_events"
        assert value(during, events, state="reported", category="public_safety") == 1
        assert value(during, events, state="confirmed", category="public_safety") == 1
        received = "gridwatch_incidents_received_total"
        assert value(during, received, outcome="created") == 2
        assert value(during, received, outcome="duplicate") == 1
        assert value(during, "gridwatch_live_subscribers") == 1
        integration = f"webhook:{hook['id']}"
        assert value(during, "gridwatch_delivery_queue_depth", integration=integration) == 3
        assert value(during, "gridwatch_delivery_queue_oldest_seconds") > 0
        latency = "gridwatch_http_request_duration_seconds_count"
        route = {"method": "POST", "route": "/api/v1/incidents"}
        assert value(during, latency, status="201", **route) == 2
        assert value(during, latency, status="200", **route) == 1

        client.app.state.integrations.dispatcher.run_once()  # type: ignore[attr-defined]
        after = scrape(client, **auth)
        deliveries = "gridwatch_deliveries_total"
        assert value(after, deliveries, integration=integration, outcome="retry") == 1
        assert value(after, "gridwatch_live_subscribers") == 0
        assert value(after, "gridwatch_delivery_queue_depth", integration=integration) == 3
        drain(client, rounds=2)
        assert (
            value(scrape(client, **auth), deliveries, integration=integration, outcome="retry") > 1
        )


def test_evidence_that_cannot_be_stored_is_told_to_whoever_runs_the_api(
    settings_factory: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full or broken evidence disk refuses incidents (507, the worker keeps them): the
    scrape shows the free space before it runs out and counts the refusals, and the log
    says why."""
    settings = settings_factory(f"sqlite:///{tmp_path / 'api.db'}", outbox_poll_s=0)
    with TestClient(create_app(settings)) as client:
        free = value(scrape(client), "gridwatch_evidence_free_bytes")
        assert 0 < free <= shutil.disk_usage(settings.evidence_dir).total
        # A file where the day's folder must go: the write fails as on a full disk.
        snapshot = jpeg()
        metadata = incident_metadata(snapshot)
        (settings.evidence_dir / metadata["detected_at"][:4]).write_bytes(b"in the way")
        with caplog.at_level(logging.ERROR, logger="api.routers.incidents"):
            refused = client.post(
                "/api/v1/incidents", headers=WORKER, **incident_form(metadata, snapshot)
            )
        assert refused.status_code == 507
        assert refused.json()["detail"].startswith("evidence could not be stored")
        received = "gridwatch_incidents_received_total"
        assert value(scrape(client), received, outcome="not_stored") == 1
        assert value(scrape(client), received, outcome="rejected") == 0
        (line,) = [record.getMessage() for record in caplog.records]
        assert metadata["id"] in line and "evidence could not be stored" in line


def test_rules_failing_and_pictures_changing_size_are_counted_per_camera(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(database_url, metrics_token="scrape-token")
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": "Bearer scrape-token"}
        report = {
            "status": "online", "resolution": [768, 432], "size_changes": 2,
            "last_size_change": "768x576 -> 768x432",
            "rule_failures": {"tamper:view": 3, "intrusion:gate_path": 1},
        }  # fmt: skip
        answer = client.put("/api/v1/cameras/school-no1-gate/health", json=report, headers=WORKER)
        assert answer.status_code == 204, answer.text

        samples = scrape(client, **auth)

        camera = "school-no1-gate"
        failures = "gridwatch_camera_rule_failures"
        assert value(samples, failures, camera=camera, rule="tamper:view") == 3
        assert value(samples, failures, camera=camera, rule="intrusion:gate_path") == 1
        assert value(samples, "gridwatch_camera_size_changes", camera=camera) == 2
