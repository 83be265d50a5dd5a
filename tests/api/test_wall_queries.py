"""What the operator's wall asks of the list: severity filter and sort, the duplicates merged into
an event, merge candidates newest first, and why a department differs from the category's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.district import DistrictPolicy, RoutingConfig
from api.taxonomy import Taxonomy
from tests.api.helpers import report_incident
from tests.api.test_lifecycle import act
from tests.conftest import REPO, Accounts, seed_accounts

T0 = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def _ids(client: TestClient, accounts: Accounts, **params: object) -> list[int]:
    response = client.get(
        "/api/v1/events", params=params, headers=accounts.headers("district_operator")
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_the_list_filters_by_severity_and_sorts_by_severity_or_deadline(
    api_client: TestClient, accounts: Accounts
) -> None:
    made = {}
    for minute, (severity, zone) in enumerate(
        [("low", "a"), ("critical", "b"), ("medium", "c"), ("high", "d"), ("critical", "e")]
    ):
        event = report_incident(
            api_client, severity=severity, zone=f"zone_{zone}", track_id=minute + 1,
            detected_at=T0 + timedelta(minutes=10 * minute), summary=f"person {zone}",
        )  # fmt: skip
        made[event["id"]] = event
    ids = list(made)
    newest = ids[::-1]
    assert _ids(api_client, accounts) == newest
    assert _ids(api_client, accounts, severity=["critical"]) == [ids[4], ids[1]]
    assert _ids(api_client, accounts, severity=["low", "medium"]) == [ids[2], ids[0]]
    assert _ids(api_client, accounts, sort="severity") == [ids[4], ids[1], ids[3], ids[2], ids[0]]
    by_deadline = sorted(ids, key=lambda i: (made[i]["deadline_at"], -i))
    assert _ids(api_client, accounts, sort="deadline") == by_deadline
    bad = api_client.get(
        "/api/v1/events", params={"sort": "oldest"}, headers=accounts.headers("district_operator")
    )
    assert bad.status_code == 422 and "sort" in bad.text


def test_merge_candidates_come_newest_first_and_the_survivor_lists_its_duplicates(
    api_client: TestClient, accounts: Accounts
) -> None:
    first = report_incident(api_client, zone="gate_path", detected_at=T0)["id"]
    later = [
        report_incident(
            api_client, zone=f"yard_{n}", track_id=10 + n, detected_at=T0 + timedelta(minutes=n),
            summary=f"person {n}",
        )["id"]
        for n in (1, 2, 3)
    ]  # fmt: skip
    candidates = api_client.get(
        f"/api/v1/events/{first}/merge-candidates", headers=accounts.headers("west_operator")
    ).json()
    assert [c["event"]["id"] for c in candidates] == later[::-1]
    for duplicate in later[:2]:
        merged = act(api_client, accounts, "west_operator", duplicate, "merge",
                     into_event_id=first, note="same people")  # fmt: skip
        assert merged.status_code == 200, merged.text
    assert _ids(api_client, accounts, merged_into_id=first) == later[1::-1]
    assert _ids(api_client, accounts, merged_into_id=later[2]) == []


def test_the_event_says_why_its_department_is_not_the_categorys(
    api_client: TestClient, accounts: Accounts
) -> None:
    # The school's camera: public safety, routed to the education bureau by its owner's kind.
    event = report_incident(api_client)
    assert event["category"] == "public_safety"
    assert (event["department_id"], event["category_department_id"], event["routed_by"]) == (
        "education-bureau", "public-security-bureau", "owner",
    )  # fmt: skip
    # An operator who dispatches elsewhere is the reason then.
    assert act(api_client, accounts, "west_operator", event["id"], "confirm").status_code == 200
    response = act(api_client, accounts, "west_operator", event["id"], "dispatch",
                   department_id="urban-management-bureau")  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["routed_by"] == "dispatch"
    response = act(api_client, accounts, "west_operator", event["id"], "escalate")
    assert response.json()["routed_by"] == "dispatch"


def test_routed_by_names_the_event_code_when_its_type_routes_elsewhere() -> None:
    # The shipped taxonomy with one street-order type the district gives the police.
    shipped = yaml.safe_load((REPO / "camera_configs/district/taxonomy.yaml").read_text("utf-8"))
    street = next(major for major in shipped["classes"] if major["code"] == "05")
    street["minors"].append({
        "code": "0510", "name_zh": "占道经营", "name_en": "Blocking the road",
        "category": "urban_management", "department": "public-security-bureau", "severity": "low",
    })  # fmt: skip
    taxonomy = Taxonomy.model_validate(shipped)
    policy = DistrictPolicy(
        departments=[],
        routing=[
            RoutingConfig(category="urban_management", department="urban-management-bureau"),  # type: ignore[arg-type]
            RoutingConfig(category="urban_management", owner_kind="housing", department="housing"),  # type: ignore[arg-type]
        ],
        levels={},
        deadlines_minutes={},
        taxonomy=taxonomy,
    )
    category = "urban_management"
    assert policy.category_department(category) == "urban-management-bureau"
    assert policy.route(category, None, "0510") == "public-security-bureau"
    assert policy.routed_by(category, None, "0510", "public-security-bureau") == "event_code"
    assert policy.routed_by(category, "housing", "0510", "housing") == "owner"
    assert policy.routed_by(category, None, "0510", "urban-management-bureau") is None
    assert policy.routed_by(category, None, "0510", "fire-brigade") == "dispatch"
    assert policy.routed_by(category, None, None, None) is None


def test_an_operator_lists_the_grid_workers_who_may_verify_and_assigns_one(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_incident(api_client)
    response = api_client.get(
        f"/api/v1/events/{event['id']}/verifiers", headers=accounts.headers("west_operator")
    )
    assert response.status_code == 200, response.text
    verifiers = response.json()
    assert verifiers and all(set(v) == {"id", "username", "full_name"} for v in verifiers)
    chosen = verifiers[-1]
    verified = act(api_client, accounts, "west_operator", event["id"], "verify",
                   assignee_id=chosen["id"])  # fmt: skip
    assert verified.status_code == 200, verified.text
    assert verified.json()["assignee"] == chosen["username"]
    forbidden = api_client.get(
        f"/api/v1/events/{event['id']}/verifiers", headers=accounts.headers("school_worker")
    )
    assert forbidden.status_code == 403


def test_a_page_of_the_list_costs_the_same_few_statements_whatever_its_length(
    quiet_api_client: TestClient,
) -> None:
    """Every operator's wall asks for the list every few seconds: its camera, grid, incidents
    and assignee come with the page's own statement, not one statement more each."""
    api_client = quiet_api_client
    seed_accounts(api_client.app)
    accounts = Accounts(api_client)
    engine = api_client.app.state.engine
    for minute in range(6):
        report_incident(
            api_client, zone=f"zone_{minute}", track_id=minute + 1,
            detected_at=T0 + timedelta(minutes=10 * minute),
        )  # fmt: skip
    _ids(api_client, accounts)  # what the API reads once and keeps is not counted
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]).split(None, 1)[0].upper())

    costs = {}
    for limit in (1, 6):
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert len(_ids(api_client, accounts, limit=limit)) == limit
        finally:
            event.remove(engine, "before_cursor_execute", count)
        costs[limit], statements[:] = list(statements), []
    # Who asks (their account and their region), how many events in all, and the page.
    assert costs[1] == costs[6] == ["SELECT"] * 4, costs
