"""The grid-event lifecycle through the API: who may do what, in which state, with history."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import report_incident
from tests.conftest import Accounts
from tests.factories import jpeg


def act(client: TestClient, accounts: Accounts, user: str, event_id: int, action: str, **form):  # type: ignore[no-untyped-def]
    photos = form.pop("photos", None)
    files = [("photos", (f"p{i}.jpg", photo, "image/jpeg")) for i, photo in enumerate(photos or [])]
    return client.post(
        f"/api/v1/events/{event_id}/actions/{action}",
        headers=accounts.headers(user),
        data={key: str(value) for key, value in form.items()},
        files=files or None,
    )


def test_an_incident_goes_round_the_closed_loop(api_client: TestClient, accounts: Accounts) -> None:
    event = report_incident(api_client)  # school camera, public safety, severity high
    event_id = event["id"]
    assert (event["status"], event["department_id"], event["level"]) == (
        "reported",
        "education-bureau",
        "town",
    )
    assert event["deadline_at"] is not None

    worker_id = accounts.user_id("school_worker")
    first_photo = jpeg(shade=40)
    steps = [
        ("west_operator", "verify", {"assignee_id": worker_id}, "verifying"),
        ("school_worker", "confirm", {"note": "at the gate", "photos": [first_photo]}, "confirmed"),
        ("west_operator", "dispatch", {}, "dispatched"),
        ("education_handler", "accept", {}, "handling"),
        ("education_handler", "resolve", {"note": "guard posted"}, "resolved"),
        ("school_worker", "rework", {"note": "gate still open"}, "handling"),
        ("education_handler", "resolve", {"note": "gate locked"}, "resolved"),
        ("school_worker", "close", {"note": "checked", "photos": [jpeg(shade=90)]}, "closed"),
    ]  # fmt: skip
    for user, action, form, expected in steps:
        response = act(api_client, accounts, user, event_id, action, **form)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == expected

    detail = api_client.get(f"/api/v1/events/{event_id}", headers=accounts.headers("admin")).json()
    assert detail["assignee"] == "school_worker"
    assert detail["reworks"] == 1
    assert detail["dispatched_at"] and detail["closed_at"]
    assert detail["deadline_at"] is None  # closed: no clock runs
    trail = [
        (step["actor"], step["action"], step["from_status"], step["to_status"])
        for step in detail["history"]
    ]
    assert trail[0] == ("worker:edge-1", "report", None, "reported")
    assert trail[1:] == [
        (f"user:{user}", action, before, after)
        for (user, action, _, after), before in zip(
            steps, ["reported"] + [s[3] for s in steps[:-1]], strict=True
        )
    ]
    assert detail["history"][-1]["details"] == {"closure": "on_site_check"}
    assert detail["history"][6]["details"] == {"rework": 1}
    resolve = detail["history"][5]["details"]
    assert resolve["on_time"] is True and resolve["deadline_at"] is not None
    assert [a["filename"] for a in detail["attachments"]] == ["p0.jpg", "p0.jpg"]
    photo = api_client.get(
        detail["attachments"][0]["url"], headers=accounts.headers("school_worker")
    )
    assert photo.status_code == 200 and photo.content == first_photo
    assert detail["actions"] == ["comment"]


def test_rules_of_the_lifecycle_are_enforced(api_client: TestClient, accounts: Accounts) -> None:
    event_id = report_incident(api_client)["id"]

    def status_of(user: str, action: str, **form) -> int:  # type: ignore[no-untyped-def]
        return act(api_client, accounts, user, event_id, action, **form).status_code

    assert status_of("education_handler", "confirm") == 403  # wrong role
    assert status_of("west_operator", "operator_close", note="x") == 409  # wrong state
    assert status_of("west_operator", "close") == 403  # only the on-site check closes
    assert status_of("west_operator", "reject") == 422  # a rejection needs a reason
    assert status_of("west_operator", "teleport") == 404
    assert status_of("east_operator", "confirm") == 404  # not in their region
    assert status_of("urban_handler", "accept") == 404
    assert status_of("west_operator", "verify", assignee_id=accounts.user_id("east_worker")) == 422
    assert status_of("west_operator", "reject", note="a shadow") == 200
    assert status_of("west_operator", "confirm") == 409  # false alarms stay closed


def test_dispatch_to_another_department_and_escalation(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = report_incident(api_client, severity="low")["id"]
    assert act(api_client, accounts, "district_operator", event_id, "confirm").status_code == 200
    bad = act(api_client, accounts, "district_operator", event_id, "dispatch", department_id="nope")
    assert bad.status_code == 422
    dispatched = act(
        api_client,
        accounts,
        "district_operator",
        event_id,
        "dispatch",
        department_id="public-security-bureau",
    ).json()
    assert dispatched["department_id"] == "public-security-bureau"
    assert dispatched["level"] == "community"
    up = act(
        api_client, accounts, "district_operator", event_id, "escalate", note="needs the street"
    ).json()
    assert (up["level"], up["escalations"], up["status"]) == ("town", 1, "dispatched")
    act(api_client, accounts, "district_operator", event_id, "escalate")
    top = act(api_client, accounts, "district_operator", event_id, "escalate")
    assert top.status_code == 409


def test_merge_folds_a_duplicate_into_the_open_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    first = report_incident(api_client)["id"]
    # Another zone seeing the same thing: not grouped, but a duplicate an operator may merge.
    second = report_incident(api_client, track_id=8, zone="playground")["id"]
    candidates = api_client.get(
        f"/api/v1/events/{second}/merge-candidates", headers=accounts.headers("west_operator")
    ).json()
    assert [c["event"]["id"] for c in candidates] == [first]
    assert candidates[0]["distance_m"] == 0.0
    merged = act(
        api_client,
        accounts,
        "west_operator",
        second,
        "merge",
        into_event_id=first,
        note="same people",
    )
    assert merged.status_code == 200
    assert (merged.json()["status"], merged.json()["merged_into_id"]) == ("merged", first)
    assert (
        act(
            api_client, accounts, "west_operator", first, "merge", into_event_id=first, note="x"
        ).status_code
        == 422
    )


def test_photos_are_checked(api_client: TestClient, accounts: Accounts) -> None:
    event_id = report_incident(api_client)["id"]
    not_image = act(
        api_client, accounts, "school_worker", event_id, "comment", photos=[b"%PDF-1.4 pretend"]
    )
    assert not_image.status_code == 415
    assert "not a JPEG, PNG or WebP" in not_image.json()["detail"]
    many = act(api_client, accounts, "school_worker", event_id, "comment", photos=[jpeg()] * 7)
    assert many.status_code == 422
    detail = api_client.get(f"/api/v1/events/{event_id}", headers=accounts.headers("admin")).json()
    assert detail["attachments"] == [] and [s["action"] for s in detail["history"]] == ["report"]


def _resolved(client: TestClient, accounts: Accounts) -> int:
    event_id: int = report_incident(client)["id"]
    for user, action in [
        ("west_operator", "confirm"),
        ("west_operator", "dispatch"),
        ("education_handler", "accept"),
        ("education_handler", "resolve"),
    ]:
        assert act(client, accounts, user, event_id, action).status_code == 200, action
    return event_id


def test_only_the_on_site_check_closes_a_handled_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = _resolved(api_client, accounts)

    def attempt(user: str, action: str, **form):  # type: ignore[no-untyped-def]
        return act(api_client, accounts, user, event_id, action, **form)

    no_photo = attempt("school_worker", "close", note="looks fine")
    assert no_photo.status_code == 422
    assert "at least one photo" in no_photo.json()["detail"]
    assert attempt("west_operator", "close", photos=[jpeg()]).status_code == 403
    assert attempt("education_handler", "close", photos=[jpeg()]).status_code == 403
    assert attempt("east_worker", "close", photos=[jpeg()]).status_code == 404  # not their cell
    assert attempt("education_handler", "operator_close", note="done").status_code == 403
    assert attempt("west_operator", "rework").status_code == 422  # a rework needs a reason

    sent_back = attempt("school_worker", "rework", note="bin still full", photos=[jpeg()])
    assert (sent_back.json()["status"], sent_back.json()["reworks"]) == ("handling", 1)
    assert attempt("education_handler", "resolve", note="emptied").status_code == 200
    closed = attempt("school_worker", "close", photos=[jpeg(shade=200)])
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    step = closed.json()["history"][-1]
    assert (step["action"], step["details"]) == ("close", {"closure": "on_site_check"})
    assert closed.json()["attachments"][-1]["history_id"] == step["id"]


def test_an_operator_closes_a_handled_event_only_with_a_reason(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = _resolved(api_client, accounts)
    silent = act(api_client, accounts, "west_operator", event_id, "operator_close")
    assert silent.status_code == 422 and "needs a reason" in silent.json()["detail"]
    closed = act(
        api_client, accounts, "west_operator", event_id, "operator_close",
        note="grid worker on leave; the school sent a photo of the fixed gate",
    )  # fmt: skip
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    step = closed.json()["history"][-1]
    assert (step["action"], step["actor"], step["details"]) == (
        "operator_close", "user:west_operator", {"closure": "operator"},
    )  # fmt: skip
    assert step["note"].startswith("grid worker on leave")
