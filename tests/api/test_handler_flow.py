"""A department handler's own steps: sending an event back (退回), passing it to another
department (改派), and the done list (已办); and who asked a grid worker to verify."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import report_incident
from tests.api.test_lifecycle import act
from tests.conftest import Accounts


def _dispatched(client: TestClient, accounts: Accounts) -> int:
    event_id = int(report_incident(client)["id"])  # the school's camera: education bureau
    for action in ("confirm", "dispatch"):
        response = act(client, accounts, "district_operator", event_id, action)
        assert response.status_code == 200, response.text
    return event_id


def _ids(client: TestClient, accounts: Accounts, user: str, **query: object) -> list[int]:
    response = client.get("/api/v1/events", headers=accounts.headers(user), params=query)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_handler_sends_an_event_back_with_a_reason(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = _dispatched(api_client, accounts)
    unexplained = act(api_client, accounts, "education_handler", event_id, "send_back")
    assert unexplained.status_code == 422
    assert unexplained.json() == {
        "detail": "note: say why (send_back needs a reason)",
        "code": "note_required",
        "params": {"action": "send_back"},
    }
    back = act(
        api_client, accounts, "education_handler", event_id, "send_back", note="不属于本部门职责"
    )
    assert back.status_code == 200, back.text
    detail = back.json()
    assert (detail["status"], detail["department_id"], detail["dispatched_at"]) == (
        "confirmed",
        None,
        None,
    )
    step = detail["history"][-1]
    assert (step["action"], step["note"], step["details"]) == (
        "send_back",
        "不属于本部门职责",
        {"from_department_id": "education-bureau"},
    )
    # Out of the queue, into the done list, still readable, no longer theirs to act on.
    assert event_id not in _ids(api_client, accounts, "education_handler", status="dispatched")
    assert _ids(api_client, accounts, "education_handler", done=True) == [event_id]
    seen = api_client.get(
        f"/api/v1/events/{event_id}", headers=accounts.headers("education_handler")
    ).json()
    assert seen["actions"] == []
    again = act(api_client, accounts, "education_handler", event_id, "accept")
    assert again.status_code == 403
    # The command center dispatches it again, naming a department this time.
    assert act(api_client, accounts, "district_operator", event_id, "dispatch").status_code == 422
    redo = act(
        api_client,
        accounts,
        "district_operator",
        event_id,
        "dispatch",
        department_id="urban-management-bureau",
    )
    assert redo.json()["status"] == "dispatched"
    assert event_id in _ids(api_client, accounts, "urban_handler", status="dispatched")


def test_a_handler_passes_an_event_to_another_department(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = _dispatched(api_client, accounts)
    assert act(api_client, accounts, "education_handler", event_id, "accept").status_code == 200
    for form, status in (
        ({"note": "路面问题"}, 422),  # no department named
        ({"note": "路面问题", "department_id": "nope"}, 422),
        ({"note": "路面问题", "department_id": "education-bureau"}, 422),  # its own
        ({"department_id": "urban-management-bureau"}, 422),  # no reason
    ):
        response = act(api_client, accounts, "education_handler", event_id, "reassign", **form)
        assert response.status_code == status, (form, response.text)
    moved = act(
        api_client,
        accounts,
        "education_handler",
        event_id,
        "reassign",
        note="路面问题，属城管",
        department_id="urban-management-bureau",
    )
    assert moved.status_code == 200, moved.text
    detail = moved.json()
    assert (detail["status"], detail["department_id"]) == ("dispatched", "urban-management-bureau")
    assert detail["history"][-1]["details"] == {
        "from_department_id": "education-bureau",
        "department_id": "urban-management-bureau",
    }
    assert detail["deadline_at"] is not None
    assert _ids(api_client, accounts, "urban_handler", status=["dispatched"]) == [event_id]
    assert _ids(api_client, accounts, "education_handler", done=True) == [event_id]
    assert _ids(api_client, accounts, "education_handler", status=["dispatched", "handling"]) == [
        event_id
    ]  # readable (done list), but not theirs:
    steal = act(api_client, accounts, "education_handler", event_id, "accept")
    assert steal.status_code == 403
    # The new department takes it on; a grid worker may not pass events on.
    assert act(api_client, accounts, "urban_handler", event_id, "accept").status_code == 200
    worker = act(
        api_client, accounts, "school_worker", event_id, "reassign", note="x", department_id="x"
    )
    assert worker.status_code in (403, 404)


def test_the_done_list_holds_what_left_the_handlers_hands(
    api_client: TestClient, accounts: Accounts
) -> None:
    waiting, handled = _dispatched(api_client, accounts), _dispatched(api_client, accounts)
    act(api_client, accounts, "education_handler", waiting, "accept")
    act(api_client, accounts, "education_handler", handled, "accept")
    act(api_client, accounts, "education_handler", handled, "resolve", note="已处理")
    assert _ids(api_client, accounts, "education_handler", done=True) == [handled]
    assert _ids(api_client, accounts, "urban_handler", done=True) == []


def test_the_assignee_sees_who_asked_and_when(api_client: TestClient, accounts: Accounts) -> None:
    event_id = int(report_incident(api_client)["id"])
    worker_id = accounts.user_id("school_worker")
    act(api_client, accounts, "west_operator", event_id, "verify", assignee_id=worker_id)
    [item] = [
        item
        for item in api_client.get(
            "/api/v1/events", headers=accounts.headers("school_worker")
        ).json()["items"]
        if item["id"] == event_id
    ]
    assert (item["assignee"], item["assigned_by"]) == ("school_worker", "west_operator")
    assert item["assigned_at"] is not None


def test_lists_sort_by_deadline_and_pick_the_callers_assignments(
    api_client: TestClient, accounts: Accounts
) -> None:
    low = int(report_incident(api_client, severity="low")["id"])
    high = int(report_incident(api_client, severity="critical", zone="playground")["id"])
    worker_id = accounts.user_id("school_worker")
    act(api_client, accounts, "west_operator", low, "verify", assignee_id=worker_id)
    newest = _ids(api_client, accounts, "school_worker")
    by_deadline = _ids(api_client, accounts, "school_worker", sort="deadline")
    assert set(newest) == set(by_deadline) == {low, high}
    page = api_client.get(
        "/api/v1/events", headers=accounts.headers("school_worker"), params={"sort": "deadline"}
    ).json()["items"]
    deadlines = [item["deadline_at"] for item in page]
    assert deadlines == sorted(deadlines)
    assert _ids(api_client, accounts, "school_worker", assigned_to_me=True) == [low]
    bad = api_client.get(
        "/api/v1/events", headers=accounts.headers("school_worker"), params={"sort": "x"}
    )
    assert bad.status_code == 422


def test_a_departments_figures_leave_out_what_it_passed_on(
    api_client: TestClient, accounts: Accounts
) -> None:
    event_id = _dispatched(api_client, accounts)
    act(
        api_client,
        accounts,
        "education_handler",
        event_id,
        "reassign",
        note="属城管",
        department_id="urban-management-bureau",
    )

    def backlog(user: str) -> int:
        response = api_client.get("/api/v1/stats", headers=accounts.headers(user))
        assert response.status_code == 200, response.text
        return int(response.json()["events"])

    assert (backlog("education_handler"), backlog("urban_handler")) == (0, 1)
