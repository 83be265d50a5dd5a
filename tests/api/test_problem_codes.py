"""Every error the console can show has words in both of its languages: the API answers every
error with a code (api/problems.py), the console words each code, validation error type and
field (api/console/js/messages.js, i18n.js). A probe over the source and one over every route
fail when an English-only message is added."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import REPO, Accounts

CONSOLE_JS = REPO / "api" / "console" / "js"
# Modules whose routes only machines call (workers, integrations, Prometheus): their plain
# HTTPExceptions are answered with an http_<status> code; the console never calls them.
MACHINE_FACING = {
    "api/routers/incidents.py": "detection workers post incidents and clips",
    "api/routers/webhooks.py": "integrators' webhook subscriptions",
    "api/routers/open311.py": "the 12345 hotline's Open311 client",
    "api/routers/models.py": "model registry (administrators, by API)",
    "api/routers/users.py": "account administration (administrators, by API)",
    "api/metrics.py": "Prometheus",
}
# What people reach in those modules all the same: the addresses the API hands them (an event's
# snapshot_url and clip_url, which the console fetches), by route name and by function.
PERSON_FACING_ROUTES = {"incident_snapshot", "incident_clip"}
PERSON_FACING_FUNCTIONS = {
    "api/routers/incidents.py": {"_visible_incident", "incident_snapshot", "incident_clip"},
}
# Calls that raise an error with a code: the argument that names it (position, keyword).
CODED = {
    "CodedProblem": 2,
    "TransitionError": 2,
    "AttachmentRejected": 2,
    "AccountError": 1,
    "_unauthorised": 1,
}


def catalogue(language: str) -> set[str]:
    """The console's keys in `language` ("zh" or "en"), from i18n.js and messages.js."""
    i18n = (CONSOLE_JS / "i18n.js").read_text(encoding="utf-8")
    messages = (CONSOLE_JS / "messages.js").read_text(encoding="utf-8")
    zh_i18n, en_i18n = i18n.split("\nconst en = {", 1)
    zh_messages, en_messages = messages.split("\nexport const enMessages = {", 1)
    text = zh_i18n + zh_messages if language == "zh" else en_i18n + en_messages
    return set(re.findall(r'^\s*"([a-z_]+\.[a-z0-9_.]+)":', text, re.MULTILINE))


CATALOGUES = {language: catalogue(language) for language in ("zh", "en")}


def _raised_codes(path: Path) -> tuple[list[str], list[str]]:
    """(codes named in `path`, the lines raising a plain HTTPException)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    codes, plain = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name == "HTTPException":
            plain.append(f"{path.relative_to(REPO)}:{node.lineno}")
        if name in CODED:
            position = CODED[name]
            argument = node.args[position] if len(node.args) > position else None
            argument = next((k.value for k in node.keywords if k.arg == "code"), argument)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                codes.append(argument.value)
    return codes, plain


def _person_facing_lines(path: Path) -> set[int]:
    """Lines of the functions in `path` that answer people though their module is for machines."""
    names = PERSON_FACING_FUNCTIONS.get(str(path.relative_to(REPO)), set())
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def test_every_error_raised_outside_machine_facing_modules_has_a_worded_code() -> None:
    codes: set[str] = set()
    plain: list[str] = []
    for path in sorted((REPO / "api").rglob("*.py")):
        found, raised = _raised_codes(path)
        codes.update(found)
        if str(path.relative_to(REPO)) not in MACHINE_FACING:
            plain.extend(raised)
        else:
            people = _person_facing_lines(path)
            plain.extend(where for where in raised if int(where.rsplit(":", 1)[1]) in people)
    assert not plain, f"raise CodedProblem (api/problems.py) instead of HTTPException: {plain}"
    assert len(codes) > 40
    for language, keys in CATALOGUES.items():
        missing = sorted(code for code in codes if f"apierror.{code}" not in keys)
        assert not missing, f"codes without words in {language} (messages.js): {missing}"


def _routes(app: Any) -> list[APIRoute]:
    """Every route of the app, included routers' too."""
    found, pending = [], list(app.routes)
    while pending:
        route = pending.pop()
        nested = getattr(route, "original_router", None)
        if nested is not None:
            pending.extend(nested.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    assert len(found) > 50
    return found


def test_the_routes_the_console_calls_are_not_machine_facing(api_client: TestClient) -> None:
    """A console page that starts calling a machine-facing module makes its errors words."""
    called = set()
    for script in CONSOLE_JS.rglob("*.js"):
        called.update(re.findall(r"/api/v1/[a-z0-9_./-]*", script.read_text(encoding="utf-8")))
    assert len(called) > 15
    for route in _routes(api_client.app):
        module = route.endpoint.__module__.replace(".", "/") + ".py"
        static = route.path.split("{", 1)[0].rstrip("/")
        if module in MACHINE_FACING and any(
            path.rstrip("/.") == static or path.startswith(static + "/") for path in called
        ):
            pytest.fail(f"the console calls {route.path}, in {module}: word its errors")


def _failing_requests(route: APIRoute) -> list[dict[str, Any]]:
    """Requests to `route` that fail: unknown ids, a body of the wrong shape."""
    path = re.sub(r"\{[a-z_]*id\}", "987654", route.path)
    path = re.sub(r"\{[a-z_]+\}", "no-such-thing", path)
    requests = []
    for method in sorted(route.methods or ()):
        if method in ("HEAD", "OPTIONS"):
            continue
        requests.append({"method": method, "url": path, "params": {"limit": "many"}})
        if method in ("POST", "PUT", "PATCH"):
            requests.append({"method": method, "url": path, "json": {"not_a_field": [1]}})
            requests.append({"method": method, "url": path, "data": {"note": "x" * 6000}})
    return requests


def assert_worded(body: dict[str, Any], where: str) -> None:
    code = body.get("code")
    assert code, f"{where}: no code in {body}"
    for language, keys in CATALOGUES.items():
        assert f"apierror.{code}" in keys, f"{where}: {code} has no words in {language}"
        for error in body.get("params", {}).get("errors", []) if code == "invalid" else []:
            assert f"invalid.{error['type']}" in keys, (
                f"{where}: the validation error {error['type']} has no words in {language}"
            )


def test_every_error_a_route_answers_carries_a_worded_code(
    api_client: TestClient, accounts: Accounts
) -> None:
    people = {
        "nobody": {},
        "admin": accounts.headers("admin"),
        "grid worker": accounts.headers("school_worker"),
    }
    answered = set()
    for route in _routes(api_client.app):
        module = route.endpoint.__module__.replace(".", "/") + ".py"
        if module in MACHINE_FACING and route.name not in PERSON_FACING_ROUTES:
            continue
        if route.path.startswith("/api/v1/live"):
            continue  # the live stream's errors are close codes, tested in test_live_and_stats
        for request in _failing_requests(route):
            for who, headers in people.items():
                response = api_client.request(**request, headers=headers)
                if response.status_code < 400 or "json" not in response.headers.get(
                    "content-type", ""
                ):
                    continue
                answered.add((response.status_code, response.json().get("code")))
                assert_worded(response.json(), f"{who}: {request['method']} {request['url']}")
    codes = {code for _, code in answered}
    # The probe reached each kind: not logged in, no role, not found, invalid.
    assert {"not_authenticated", "role_required", "invalid"} <= codes, answered
    assert any(status == 404 for status, _ in answered), answered
    # What people reach names its fault: none answers only a machine's http_<status>.
    assert not {code for code in codes if code.startswith("http_")}, answered
    assert "incident_not_found" in codes, answered


def test_an_unknown_route_and_a_wrong_method_are_worded_too(api_client: TestClient) -> None:
    assert_worded(api_client.get("/api/v1/no-such-route").json(), "unknown route")
    assert_worded(api_client.delete("/api/v1/taxonomy").json(), "wrong method")


# Calls that name a validation error's code, worded as invalid.<code>: the argument's position.
VALIDATION_CODED = {"PydanticCustomError": 0, "_at": 1, "ConfigProblem": 3}


def _custom_codes(path: Path) -> list[str]:
    """The codes of the validation errors our own validators (and camera-file loading) raise
    in `path`."""
    codes = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            position = VALIDATION_CODED.get(str(name))
            if position is None or len(node.args) <= position:
                continue
            code = node.args[position]
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                codes.append(code.value)
    return codes


def test_every_code_our_validators_raise_has_words() -> None:
    """A validator that raised a plain ValueError was worded "invalid value" and no more; ours
    raise a PydanticCustomError with a code and parameters, which the console words."""
    codes = {
        code
        for folder in ("contract", "api")
        for path in sorted((REPO / folder).rglob("*.py"))
        for code in _custom_codes(path)
    }
    assert {"zone_unknown", "polygon_edges_cross", "time_window_half", "yaml_invalid"} <= codes
    for language, keys in CATALOGUES.items():
        missing = sorted(code for code in codes if f"invalid.{code}" not in keys)
        assert not missing, f"validation codes without words in {language}: {missing}"


def test_a_camera_files_own_checks_answer_with_codes_and_the_field(
    api_client: TestClient, accounts: Accounts
) -> None:
    path, admin = "/api/v1/cameras/school-no1-gate", accounts.headers("admin")
    bow_tie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    fields = api_client.patch(
        path,
        json={"timezone": "Mars/Base", "zones": [{"name": "gate_path", "polygon": bow_tie}]},
        headers=admin,
    )
    assert fields.status_code == 422, fields.text
    assert_worded(fields.json(), "field validators")
    assert fields.json()["params"]["errors"] == [
        {"field": "timezone", "type": "timezone_unknown", "params": {"timezone": "Mars/Base"}},
        {"field": "zones.0.polygon", "type": "polygon_edges_cross", "params": {"at": "(0.5, 0.5)"}},
    ]
    # A check across fields (a rule's zone must be one of the camera's) names the rule's field.
    rule = {"kind": "intrusion", "zone": "nowhere", "classes": ["person"]}
    across = api_client.patch(path, json={"rules": [rule]}, headers=admin)
    assert across.status_code == 422, across.text
    assert_worded(across.json(), "model validator")
    (error,) = across.json()["params"]["errors"]
    assert (error["field"], error["type"]) == ("rules.0.zone", "zone_unknown")
    assert (error["params"]["zone"], error["params"]["known"]) == ("nowhere", "gate_path")
    assert "rules.0.zone: unknown zone 'nowhere'" in str(across.json()["detail"])


def test_a_suppressions_time_window_names_the_missing_end(
    api_client: TestClient, accounts: Accounts
) -> None:
    body = {
        "camera_id": "school-no1-gate",
        "rule": "intrusion",
        "zone": "gate_path",
        "object_class": "person",
        "region": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
        "starts_at_time": "22:00",
    }
    answer = api_client.post("/api/v1/suppressions", json=body, headers=accounts.headers("admin"))
    assert answer.status_code == 422, answer.text
    assert_worded(answer.json(), "suppression")
    (error,) = answer.json()["params"]["errors"]
    assert (error["field"], error["type"]) == ("ends_at_time", "time_window_half")
