"""Malformed input (issue 13, kind 16): NaN, Infinity, numbers no float holds, and values of the
wrong type, sent to every route that takes JSON, by an administrator and a camera owner. Each is
a 4xx that says why, with the security headers; never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import WORKER, report_incident
from tests.conftest import Accounts
from tests.factories import incident_form, incident_metadata, jpeg

NON_STANDARD = ("NaN", "Infinity", "-Infinity", "1e999")
WRONG_TYPES = ("[1]", '{"a": 1}', '"x"', "true", "null")
# Camera files are bodies without a fixed schema: the fields a camera has.
CAMERA_FIELDS = ("stream", "source", "lat", "lon", "zones", "privacy_masks", "rules", "name")


def _json_operations(client: TestClient, event_id: int) -> list[tuple[str, str, list[str]]]:
    """(method, url, top-level fields) of every operation with a JSON body."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    operations = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            fields = list(resolve(content["application/json"]["schema"]).get("properties", {}))
            url = path.replace("{camera_id}", "school-no1-gate")
            url = re.sub(r"\{[^}]+\}", str(event_id), url.replace("{event_id}", str(event_id)))
            operations.append((method.upper(), url, fields or list(CAMERA_FIELDS)))
    return operations


def _says_why(response: Any) -> bool:
    detail = response.json().get("detail")
    return bool(detail) and (isinstance(detail, str) or all(item.get("msg") for item in detail))


def test_no_malformed_json_body_makes_any_route_fail(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = report_incident(api_client)["id"]
    operations = _json_operations(api_client, event_id)
    assert len(operations) >= 12
    failures: list[str] = []
    for username in ("admin", "school_owner"):
        headers = {**accounts.headers(username), "Content-Type": "application/json"}
        for method, url, fields in operations:
            for field in fields:
                for value in NON_STANDARD + WRONG_TYPES:
                    body = f'{{"{field}": {value}}}'
                    response = api_client.request(method, url, content=body, headers=headers)
                    where = f"{username} {method} {url} {body}"
                    if response.status_code >= 500:
                        failures.append(f"{where}: {response.status_code}")
                    elif response.status_code >= 400 and not _says_why(response):
                        failures.append(f"{where}: {response.status_code} without a reason")
                    elif value in NON_STANDARD and response.status_code != 422:
                        # A caller the route refuses whatever they send is refused before the
                        # body is read (kind 6): an admin at a workers' route.
                        refused = response.status_code == 403 and "needs the role" in response.text
                        if not refused:
                            failures.append(f"{where}: {response.status_code}, not 422")
                    if response.headers.get("x-content-type-options") != "nosniff":
                        failures.append(f"{where}: no security headers")
    assert failures == []


@pytest.mark.parametrize("value", NON_STANDARD)
def test_a_non_standard_number_is_refused_with_its_name(
    api_client: TestClient, accounts: Accounts, value: str
) -> None:
    response = api_client.post(
        "/api/v1/cameras",
        content=f'{{"id": "cam-x", "name": "x", "lat": {value}, "lon": 116.4}}',
        headers={**accounts.headers("school_owner"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert value.lstrip("-") in response.json()["detail"]
    assert response.headers["x-frame-options"] == "DENY"


def test_a_camera_stream_of_the_wrong_type_is_a_422_with_the_field(
    api_client: TestClient, accounts: Accounts
) -> None:
    owner = accounts.headers("school_owner")
    response = api_client.patch(
        "/api/v1/cameras/school-no1-gate", json={"stream": [1]}, headers=owner
    )
    assert response.status_code == 422 and "stream" in response.json()["detail"]


def test_a_worker_incident_with_nan_is_refused(api_client: TestClient) -> None:
    snapshot = jpeg()
    metadata = json.dumps(incident_metadata(snapshot, confidence=float("nan")))
    assert "NaN" in metadata
    form = incident_form({}, snapshot)
    form["data"] = {"metadata": metadata}
    response = api_client.post("/api/v1/incidents", headers=WORKER, **form)
    assert response.status_code == 422
    assert "NaN is not a JSON number" in response.json()["detail"]


def _integer_query_parameters(client: TestClient, event_id: int) -> list[tuple[str, str]]:
    """(url, name) of every integer query parameter of every GET operation."""
    spec = client.get("/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        operation = methods.get("get")
        if operation is None:
            continue
        url = path.replace("{camera_id}", "school-no1-gate")
        url = re.sub(r"\{[^}]+\}", str(event_id), url)
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            types = {schema.get("type")} | {
                option.get("type") for option in schema.get("anyOf", [])
            }
            if parameter["in"] == "query" and "integer" in types:
                found.append((url, parameter["name"]))
    return found


def test_no_integer_past_the_databases_range_makes_any_route_fail(
    api_client: TestClient, accounts: Accounts
) -> None:
    """An offset or an id of 2**63 is refused with a reason (422), never passed to the database,
    whose integers it overflows (a 500 on SQLite)."""
    event_id = report_incident(api_client)["id"]
    parameters = _integer_query_parameters(api_client, event_id)
    assert len(parameters) >= 10
    failures = []
    headers = accounts.headers("admin")
    for url, name in parameters:
        for value in (2**63, 2**31):
            response = api_client.get(url, params={name: value}, headers=headers)
            if response.status_code != 422:
                failures.append(f"GET {url}?{name}={value}: {response.status_code}")
    assert failures == []
