"""The short answer to a reported incident (`Prefer: return=minimal`, RFC 7240): what a worker
asks for, since it reads only the status; the whole event stays the answer for everyone else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.schemas import IncidentTaken
from gridwatch.outbox import IncidentSender, Outbox
from tests.api.helpers import WORKER
from tests.api.test_suppressions import DETECTED, suppressed_by_rejecting
from tests.conftest import WORKER_TOKEN, Accounts, LiveServer
from tests.factories import incident_form, incident_metadata, jpeg
from tests.gridwatch.test_outbox import make_incident

SHORT = {**WORKER, "Prefer": "return=minimal"}


def post(client: TestClient, metadata: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    """Post `metadata` (made for `jpeg(shade=91)`) with that snapshot."""
    snapshot = jpeg(shade=91)
    return client.post("/api/v1/incidents", headers=headers, **incident_form(metadata, snapshot))


def test_a_worker_asking_for_the_short_answer_gets_what_registering_did(
    api_client: TestClient, accounts: Accounts
) -> None:
    first = incident_metadata(jpeg(shade=91), detected_at=DETECTED)
    opened = post(api_client, first, SHORT)
    assert opened.status_code == 201, opened.text
    assert opened.headers["preference-applied"] == "return=minimal"
    answer = opened.json()
    assert set(answer) == {"incident_id", "registration", "grid_event_id"}
    assert answer["incident_id"] == first["id"] and answer["registration"] == "opened"
    event_id = answer["grid_event_id"]

    again = post(api_client, first, SHORT)  # the same incident, sent again
    assert again.status_code == 200
    assert again.json() == {**answer, "registration": "already"}

    repeat = incident_metadata(jpeg(shade=91), detected_at=DETECTED + timedelta(minutes=1))
    joined = post(api_client, {**repeat, "track_id": 8}, SHORT)
    assert joined.status_code == 201
    assert joined.json() == {
        "incident_id": repeat["id"],
        "registration": "joined",
        "grid_event_id": event_id,
    }
    # The event it named holds both: the first, and the repeat as its occurrence.
    whole = api_client.get(f"/api/v1/events/{event_id}", headers=accounts.headers("admin"))
    assert whole.status_code == 200, whole.text
    assert whole.json()["incident"]["id"] == first["id"]
    assert whole.json()["occurrence_count"] == 2


@pytest.mark.parametrize(
    ("prefer", "short"),
    [
        (["return=minimal"], True),
        (["RETURN = Minimal"], True),  # names and values compare case-insensitively (RFC 7240)
        (['respond-async, return="minimal"; foo=bar'], True),
        (["respond-async", "return=minimal"], True),  # in a second Prefer header
        (["return=representation"], False),
        (["wait=10"], False),
        ([], False),
    ],
)
def test_only_a_return_minimal_preference_shortens_the_answer(
    api_client: TestClient, prefer: list[str], short: bool
) -> None:
    headers = [(name, value) for name, value in WORKER.items()]
    headers += [("Prefer", value) for value in prefer]
    snapshot = jpeg(shade=92)
    response = api_client.post(
        "/api/v1/incidents", headers=headers, **incident_form(incident_metadata(snapshot), snapshot)
    )
    assert response.status_code == 201, response.text
    if short:
        assert response.headers["preference-applied"] == "return=minimal"
        IncidentTaken.model_validate(response.json())
    else:
        assert "preference-applied" not in response.headers
        whole = response.json()
        assert whole["status"] == "reported" and whole["incident"]["zone"] == "gate_path"


def test_a_suppressed_incident_is_answered_short_without_an_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    suppressed_by_rejecting(api_client, accounts, {"margin": 0.5})
    later = incident_metadata(jpeg(shade=91), detected_at=DETECTED + timedelta(minutes=10))
    response = post(api_client, later, SHORT)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "incident_id": later["id"],
        "registration": "suppressed",
        "grid_event_id": None,
    }


def test_the_worker_asks_for_the_short_answer_and_gets_it(
    live_api: LiveServer, tmp_path: Path
) -> None:
    answers: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        answers.append(response)

    client = httpx.Client(timeout=10, event_hooks={"response": [keep]})
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = IncidentSender(outbox, live_api.url, WORKER_TOKEN, client=client)
    try:
        outbox.put(make_incident(index=0))
        assert sender.deliver_due() == 1
    finally:
        sender.close()
        outbox.close()
    (answer,) = answers
    assert answer.request.headers["prefer"] == "return=minimal"
    assert answer.status_code == 201
    assert answer.headers["preference-applied"] == "return=minimal"
    assert answer.json()["registration"] == "opened"
