"""What incident intake costs the database: statements per incident, counted by the API itself
(`gridwatch_database_statements_total`), and credentials looked up once per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, update

from api.accounts import issue_api_token
from api.models import ApiToken
from api.settings import Settings
from tests.api.helpers import WORKER
from tests.conftest import quiet_api
from tests.factories import incident_form, incident_metadata, jpeg

SCRAPE = {"Authorization": "Bearer scrape-token"}


@pytest.fixture
def client(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[TestClient]:
    with quiet_api(settings_factory(database_url, metrics_token="scrape-token")) as client:
        yield client


def statements_so_far(client: TestClient) -> float:
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "gridwatch_database_statements_total":
                return sample.value
    raise AssertionError("no gridwatch_database_statements_total in /metrics")


def post(client: TestClient, headers: dict[str, str], **overrides: Any) -> int:
    snapshot = jpeg()
    response = client.post(
        "/api/v1/incidents",
        headers=headers,
        **incident_form(incident_metadata(snapshot, **overrides), snapshot),
    )
    assert response.status_code in (200, 201), response.text
    return response.status_code


def statements_of(client: TestClient, **overrides: Any) -> float:
    """The statements one incident post costs, as the API counts them. Each scrape's own
    queries are read after its count, so they fall in the next difference: a scrape before and
    after an empty stretch measures them."""
    first = statements_so_far(client)
    second = statements_so_far(client)
    post(client, WORKER, **overrides)
    third = statements_so_far(client)
    return (third - second) - (second - first)


def test_what_an_incident_costs_in_statements(client: TestClient) -> None:
    """Opening an event: the camera with the idempotency check, whether any suppression could
    apply (none here: their query is not sent), the webhooks' generation and (PostgreSQL) the
    situation's lock, all in one round trip; the open situation, the incident, then the event
    with its report step and the incident's event id (PostgreSQL: one statement; SQLite: three).
    The enabled webhooks are read once, by the process's first event change, and not again
    while their generation stays; the answer reads nothing again. With no operator connected to
    any API process, no live alert is shaped or sent (no NOTIFY). An occurrence that joins
    inserts its incident and updates the event instead (PostgreSQL: one statement; SQLite:
    two)."""
    postgresql = client.app.state.engine.dialect.name == "postgresql"  # type: ignore[attr-defined]
    first = statements_of(client, zone="yard", track_id=1)
    new_event = statements_of(client, zone="gate_path", track_id=1)
    assert first == new_event + 1  # the webhooks, read once
    assert new_event == (4 if postgresql else 6)
    statements_of(client, zone="gate_path", track_id=2)  # the 2nd: a step in the history too
    occurrence = statements_of(client, zone="gate_path", track_id=3)
    assert occurrence == (3 if postgresql else 4)
    assert occurrence <= new_event


def test_a_repeat_is_answered_as_such_even_naming_an_unknown_camera(client: TestClient) -> None:
    """The camera and the idempotency check are one round trip; a repeat naming a camera the API
    does not know is still answered as the report it repeats (200), and a new report naming one
    is refused (422)."""
    snapshot = jpeg()
    metadata = incident_metadata(snapshot)
    form = incident_form(metadata, snapshot)
    assert client.post("/api/v1/incidents", headers=WORKER, **form).status_code == 201
    assert client.post("/api/v1/incidents", headers=WORKER, **form).status_code == 200

    elsewhere = incident_form({**metadata, "camera_id": "no-such-camera"}, snapshot)
    repeated = client.post("/api/v1/incidents", headers=WORKER, **elsewhere)
    assert repeated.status_code == 200, repeated.text
    unknown = incident_metadata(snapshot, camera_id="no-such-camera")
    refused = client.post("/api/v1/incidents", headers=WORKER, **incident_form(unknown, snapshot))
    assert refused.status_code == 422
    assert "camera no-such-camera is not registered" in refused.json()["detail"]


def test_an_issued_token_is_looked_up_once_per_incident(client: TestClient) -> None:
    """The body gate authenticates the token before the body is read; the route takes the
    caller from it instead of looking the token up again. A revoked token is refused there."""
    app: Any = client.app
    with app.state.session_factory() as session:
        row, token = issue_api_token(session, "edge-school", ["incidents:write"])
    lookups: list[str] = []

    def note(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if "FROM api_token" in statement:
            lookups.append(statement)

    headers = {"Authorization": f"Bearer {token}"}
    event.listen(app.state.engine, "before_cursor_execute", note)
    try:
        assert post(client, headers) == 201
        assert len(lookups) == 1
        with app.state.session_factory() as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(revoked=True))
            session.commit()
        snapshot = jpeg()
        refused = client.post(
            "/api/v1/incidents",
            headers=headers,
            **incident_form(incident_metadata(snapshot), snapshot),
        )
        assert refused.status_code == 401
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)


# psycopg keeps a query's conversion to PostgreSQL's placeholders only for queries of at most
# 4096 bytes with at most 50 parameters (psycopg/_queries.py, MAX_CACHED_STATEMENT_LENGTH and
# MAX_CACHED_STATEMENT_PARAMS); any larger is converted anew on every execution.
PSYCOPG_CACHED_BYTES = 4096
PSYCOPG_CACHED_PARAMETERS = 50


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_intake_statements_keep_their_conversion_in_psycopg(client: TestClient) -> None:
    """Each statement a new event or an occurrence sends is small enough for psycopg to keep
    its conversion: one folded past that costs the API more CPU, on every incident, than the
    round trip it saves."""
    app: Any = client.app
    assert app.state.engine.dialect.name == "postgresql"
    sent: list[tuple[str, int]] = []

    def note(
        _connection: object, _cursor: object, statement: str, parameters: Any, *_rest: object
    ) -> None:
        sent.append((statement, len(parameters or ())))

    event.listen(app.state.engine, "before_cursor_execute", note)
    try:
        for track_id in (1, 2, 3):  # a new event, then occurrences (the 2nd with a step)
            post(client, WORKER, zone="gate_path", track_id=track_id)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    assert sent
    for statement, parameters in sent:
        assert len(statement.encode()) <= PSYCOPG_CACHED_BYTES, statement
        assert parameters <= PSYCOPG_CACHED_PARAMETERS, statement
