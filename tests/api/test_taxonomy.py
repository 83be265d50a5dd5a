"""The event taxonomy: the file loads and is checked, every rule and source carries a code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from api.district import load_policy
from api.taxonomy import API_RULE_KINDS, TaxonomyError, load_taxonomy
from contract.rules import RULE_KINDS
from contract.vocabulary import Category
from tests.api.helpers import report_incident
from tests.conftest import REPO, Accounts

TAXONOMY = REPO / "camera_configs" / "district" / "taxonomy.yaml"
POLICY = REPO / "camera_configs" / "district" / "policy.yaml"
INSIDE = {"lat": 30.2550, "lon": 120.1200}  # the school's cell, D01-T01-C01-G01


def test_the_bundled_taxonomy_loads_and_names_policy_departments() -> None:
    departments = {department.id for department in load_policy(POLICY).departments}
    taxonomy = load_taxonomy(TAXONOMY, departments)
    names = {event_type.name_en for event_type in taxonomy.events.values()}
    assert names >= {
        "Unlicensed street vending", "Business outside the shop", "Exposed garbage",
        "Overflowing bins", "Piled materials", "Illegal parking", "Disorderly parked bicycles",
        "Fire and smoke", "Crowd gathering", "Intrusion", "Loitering", "Line crossing",
        "Person fallen", "Camera tampered", "Video loss",
    }  # fmt: skip
    for kind in (*RULE_KINDS, *API_RULE_KINDS):
        assert taxonomy.rules[kind] in taxonomy.events, kind
    for category in Category:
        assert taxonomy.category_defaults[category] in taxonomy.events, category
    fall = taxonomy.events[taxonomy.rules["fall"]]
    assert (fall.code, fall.major_code, fall.category, fall.department) == (
        "0901", "09", Category.health_emergency, "health-commission",
    )  # fmt: skip


def _broken(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"].pop("fall"), "rule kind 'fall' has no event code"),
        (lambda d: d["rules"].update(fall="9999"), "rules.fall: unknown event code '9999'"),
        (lambda d: d["rules"].update(jump="0801"), "rules.jump: not a rule kind"),
        (lambda d: d["category_defaults"].pop("fire_hazard"), "'fire_hazard' has no code"),
        (lambda d: d["classes"][0]["minors"][1].update(code="0102"), "0102 appears twice"),
        (lambda d: d["classes"][0]["minors"][0].update(code="0202"), "0202 is not in class 01"),
        (lambda d: d["classes"][0].update(colour="red"), "classes.0.colour: unknown field"),
        (lambda d: d["classes"][0]["minors"][0].update(severity="dire"), "minors.0.severity"),
    ],
)
def test_a_broken_taxonomy_is_refused_with_where_and_why(tmp_path: Path, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TaxonomyError, match=r"taxonomy\.yaml: ") as raised:
        load_taxonomy(_broken(tmp_path, change))
    assert message in str(raised.value)


def test_a_default_department_must_be_in_the_policy(tmp_path: Path) -> None:
    path = _broken(tmp_path, lambda d: d["classes"][0]["minors"][0].update(department="zoo"))
    with pytest.raises(TaxonomyError, match="event 0102: department 'zoo' is not in the district"):
        load_taxonomy(path, {"urban-management-bureau"})


def test_the_api_serves_the_taxonomy(api_client: TestClient, accounts: Accounts) -> None:
    served = api_client.get("/api/v1/taxonomy", headers=accounts.headers("school_worker"))
    assert served.status_code == 200
    body = served.json()
    assert body["rules"]["intrusion"] == "0801"
    assert [major["code"] for major in body["classes"]][:3] == ["01", "04", "05"]
    assert api_client.get("/api/v1/taxonomy").status_code == 401


@pytest.mark.parametrize("rule", RULE_KINDS)
def test_every_rule_kind_opens_an_event_with_its_code(
    api_client: TestClient, accounts: Accounts, rule: str
) -> None:
    taxonomy = load_taxonomy(TAXONOMY)
    event = report_incident(api_client, rule=rule)
    code = taxonomy.rules[rule]
    assert (event["event_code"], event["event_name_en"], event["event_name_zh"]) == (
        code, taxonomy.events[code].name_en, taxonomy.events[code].name_zh,
    )  # fmt: skip


def test_a_camera_rule_may_report_its_own_code(api_client: TestClient) -> None:
    event = report_incident(api_client, rule="intrusion", event_code="0501")
    assert event["event_code"] == "0501"


def test_an_incident_with_an_unknown_code_is_refused(api_client: TestClient) -> None:
    from tests.api.helpers import WORKER
    from tests.factories import incident_form, incident_metadata, jpeg

    snapshot = jpeg()
    response = api_client.post(
        "/api/v1/incidents",
        headers=WORKER,
        **incident_form(incident_metadata(snapshot, event_code="7777"), snapshot),
    )
    assert response.status_code == 422
    assert "metadata.event_code: unknown code '7777'" in response.json()["detail"]


@pytest.mark.parametrize("source", ["hotline_12345", "wechat", "grid_worker", "manual"])
def test_reported_events_carry_a_code_given_or_defaulted(
    api_client: TestClient, accounts: Accounts, source: str
) -> None:
    def post(**fields):  # type: ignore[no-untyped-def]
        body = {"source": source, "title": "seen on patrol", "location": INSIDE, **fields}
        return api_client.post(
            "/api/v1/events", headers=accounts.headers("school_worker"), json=body
        )

    vending = post(event_code="0501")
    assert vending.status_code == 201, vending.text
    assert (vending.json()["event_code"], vending.json()["category"]) == (
        "0501",
        "urban_management",
    )
    assert vending.json()["department_id"] == "urban-management-bureau"
    assert vending.json()["severity"] == "low"  # the event type's default

    by_category = post(category="fire_hazard", severity="high")
    assert by_category.status_code == 201, by_category.text
    assert (by_category.json()["event_code"], by_category.json()["severity"]) == ("0406", "high")
    assert by_category.json()["department_id"] == "emergency-management-bureau"

    unknown = post(event_code="0000")
    assert unknown.status_code == 422
    assert "event_code: unknown code '0000'; codes are 0102, " in unknown.json()["detail"]
    mismatch = post(event_code="0501", category="fire_hazard")
    assert mismatch.status_code == 422
    assert "0501 (Unlicensed street vending) is urban_management" in mismatch.json()["detail"]
    assert post().status_code == 422


def test_event_codes_reach_the_geojson_export_and_filters(
    api_client: TestClient, accounts: Accounts
) -> None:
    report_incident(api_client, rule="fall", category="health_emergency")
    report_incident(api_client, rule="crowd")
    headers = accounts.headers("admin")
    collection = api_client.get("/api/v1/events.geojson", headers=headers).json()
    assert sorted(f["properties"]["event_code"] for f in collection["features"]) == ["0412", "0901"]
    crowd = api_client.get("/api/v1/events", headers=headers, params={"event_code": "0412"})
    assert [item["event_name_en"] for item in crowd.json()["items"]] == ["Crowd gathering"]
