"""Posting incidents as a worker, for API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import WORKER_TOKEN
from tests.factories import incident_form, incident_metadata, jpeg

WORKER = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-GridWatch-Worker": "edge-1"}


def report_incident(client: TestClient, **overrides: Any) -> dict[str, Any]:
    """Post an incident as a worker; returns the grid event it opened."""
    snapshot = jpeg(shade=len(client.app.state.__dict__) % 255)
    response = client.post(
        "/api/v1/incidents",
        headers=WORKER,
        **incident_form(incident_metadata(snapshot, **overrides), snapshot),
    )
    assert response.status_code == 201, response.text
    return response.json()
