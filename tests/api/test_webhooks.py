"""Webhooks: admins register them; every event change reaches a real receiver, signed, once per
delivery id, through receivers that are down, failing or refusing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from tests.api.helpers import report_incident
from tests.api.integration_helpers import (
    Receiver,
    create_webhook,
    deliveries,
    drain,
    eventually,
    running_api,
)
from tests.api.test_lifecycle import act
from tests.conftest import Accounts, free_port

SECRET = "receiver-secret-0123456789"


@pytest.fixture
def manual_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The API with its delivery loop off: tests run it by hand, as if time had passed."""
    with running_api(settings_factory(database_url, outbox_poll_s=0)) as client:
        yield client


@pytest.fixture
def admin(manual_client: TestClient) -> dict[str, str]:
    return Accounts(manual_client).headers("admin")


def test_admins_manage_webhooks_and_the_secret_is_shown_once(
    manual_client: TestClient, admin: dict[str, str]
) -> None:
    client = manual_client
    operator = Accounts(client).headers("district_operator")
    body: dict[str, Any] = {"url": "https://receiver.example/hook", "categories": ["fire_hazard"]}
    assert client.post("/api/v1/webhooks", headers=operator, json=body).status_code == 403
    assert client.get("/api/v1/webhooks", headers=operator).status_code == 403

    created = create_webhook(client, admin, url=body["url"], categories=body["categories"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["categories"] == ["fire_hazard"] and created["event_types"] == []
    hook_id = created["id"]

    listed = client.get("/api/v1/webhooks", headers=admin).json()
    fetched = client.get(f"/api/v1/webhooks/{hook_id}", headers=admin).json()
    changed = client.patch(
        f"/api/v1/webhooks/{hook_id}",
        headers=admin,
        json={
            "enabled": False,
            "secret": "a-new-secret-0123456789",
            "event_types": ["event.created"],
        },
    )
    assert changed.status_code == 200, changed.text
    for answer in (*listed, fetched, changed.json()):
        assert "secret" not in answer and "secret_encrypted" not in answer
    assert (changed.json()["enabled"], changed.json()["event_types"]) == (False, ["event.created"])

    refused = client.post(
        "/api/v1/webhooks", headers=admin, json={"url": "ftp://x.example/", "secret": "short"}
    )
    assert refused.status_code == 422
    masked = create_webhook(client, admin, url="https://user:pw@receiver.example/hook")
    assert masked["url"] == "https://***@receiver.example/hook"

    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 404


def test_deliveries_are_signed_and_sent_by_the_delivery_loop(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(database_url, outbox_poll_s=0.05)
    receiver = Receiver(SECRET).start()
    try:
        with running_api(settings) as client:
            accounts = Accounts(client)
            admin = accounts.headers("admin")
            hook = create_webhook(client, admin, url=receiver.url, secret=SECRET)
            # Filtered out: only urban management events go to this one.
            create_webhook(
                client, admin, url=receiver.url, secret=SECRET, categories=["urban_management"]
            )
            event = report_incident(client)
            act(client, accounts, "west_operator", event["id"], "confirm")

            created, updated = receiver.wait_for(2)
            assert all(item.signature_ok for item in (created, updated))
            assert created.headers["x-gridwatch-event"] == "event.created"
            assert updated.headers["x-gridwatch-event"] == "event.updated"
            assert created.headers["content-type"] == "application/json"
            change = updated.json()
            assert change["delivery_id"] == updated.delivery_id
            assert (change["type"], change["action"]) == ("event.updated", "confirm")
            assert (change["before"]["status"], change["event"]["status"]) == (
                "reported",
                "confirmed",
            )
            assert created.json()["before"] is None
            assert change["event"]["incident"]["id"] == event["incident"]["id"]
            assert created.json()["event"]["incident"]["camera_id"] == "school-no1-gate"
            assert "snapshot_path" not in created.json()["event"]["incident"]

            eventually(
                lambda: all(
                    d["status"] == "delivered" for d in deliveries(client, admin, hook["id"])
                )
            )
            log = deliveries(client, admin, hook["id"])
            assert len(log) == 2
            attempt = log[0]["attempt_log"][0]
            assert (attempt["attempt"], attempt["outcome"], attempt["status_code"]) == (
                1,
                "delivered",
                204,
            )
            assert attempt["duration_ms"] >= 0
    finally:
        receiver.stop()
    assert len(receiver.received) == 2  # nothing for the filtered webhook


def test_a_receiver_down_then_up_gets_every_event_exactly_once(
    manual_client: TestClient, admin: dict[str, str]
) -> None:
    client = manual_client
    accounts = Accounts(client)
    receiver = Receiver(SECRET, port=free_port())  # not listening yet
    hook = create_webhook(client, admin, url=receiver.url, secret=SECRET)
    events = [report_incident(client, track_id=i, zone=f"zone-{i}")["id"] for i in range(3)]
    act(client, accounts, "west_operator", events[0], "reject", note="a shadow")

    dispatcher = client.app.state.integrations.dispatcher  # type: ignore[attr-defined]
    assert dispatcher.run_once() == 4
    log = deliveries(client, admin, hook["id"])
    assert {d["status"] for d in log} == {"pending"}
    tried = [d for d in log if d["attempt_log"]]
    # The first failure stands for the batch: the rest go back untried, not a timeout each.
    assert len(tried) == 1
    assert tried[0]["attempt_log"][0]["outcome"] == "retry"
    assert "cannot reach the receiver" in tried[0]["attempt_log"][0]["error"]
    assert tried[0]["next_attempt_at"] is not None

    receiver.start()
    try:
        drain(client)
        assert drain(client) == 0
    finally:
        receiver.stop()
    log = deliveries(client, admin, hook["id"])
    assert {d["status"] for d in log} == {"delivered"}
    counts = Counter(item.delivery_id for item in receiver.received)
    assert set(counts) == {d["delivery_id"] for d in log}
    assert set(counts.values()) == {1}
    assert all(item.signature_ok for item in receiver.received)
    sent = sorted((item.json()["event"]["id"], item.json()["type"]) for item in receiver.received)
    assert sent == sorted(
        [(event_id, "event.created") for event_id in events] + [(events[0], "event.updated")]
    )


def test_5xx_and_429_are_retried_and_4xx_fails_after_recording(
    manual_client: TestClient, admin: dict[str, str]
) -> None:
    client = manual_client
    retried = Receiver(SECRET, statuses=(503, 429, 500)).start()
    refusing = Receiver(SECRET, statuses=(400,)).start()
    try:
        flaky = create_webhook(client, admin, url=retried.url, secret=SECRET)
        broken = create_webhook(client, admin, url=refusing.url, secret=SECRET)
        report_incident(client)
        drain(client)
    finally:
        retried.stop()
        refusing.stop()

    (delivered,) = deliveries(client, admin, flaky["id"])
    assert delivered["status"] == "delivered"
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in delivered["attempt_log"]] == [
        (1, "retry", 503),
        (2, "retry", 429),
        (3, "retry", 500),
        (4, "delivered", 204),
    ]
    assert len({item.delivery_id for item in retried.received}) == 1  # the same id every time

    (failed,) = deliveries(client, admin, broken["id"])
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["attempt_log"][0]["status_code"] == 400
    assert failed["last_error"].startswith("HTTP 400")
    assert len(refusing.received) == 1
    summary = client.get(f"/api/v1/webhooks/{broken['id']}", headers=admin).json()
    assert (summary["pending"], summary["failed"]) == (0, 1)

    # Fixed receiver: an admin redelivers it, under the same delivery id.
    fixed = Receiver(SECRET, port=refusing.port).start()
    try:
        path = f"/api/v1/webhooks/{broken['id']}/deliveries/{failed['delivery_id']}/redeliver"
        answer = client.post(path, headers=admin)
        assert answer.status_code == 202, answer.text
        assert client.post(path, headers=admin).status_code == 409  # already queued
        drain(client)
    finally:
        fixed.stop()
    assert [item.delivery_id for item in fixed.received] == [failed["delivery_id"]]
    (redelivered,) = deliveries(client, admin, broken["id"])
    assert redelivered["status"] == "delivered"
    assert [a["outcome"] for a in redelivered["attempt_log"]] == ["failed", "delivered"]


def test_a_paused_webhook_keeps_its_queue(manual_client: TestClient, admin: dict[str, str]) -> None:
    client = manual_client
    receiver = Receiver(SECRET).start()
    try:
        hook = create_webhook(client, admin, url=receiver.url, secret=SECRET)
        client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"enabled": False})
        report_incident(client)  # queued only for enabled webhooks: none
        client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"enabled": True})
        event = report_incident(client, track_id=2, zone="playground")
        client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"enabled": False})
        assert drain(client) == 0  # paused: waits
        client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"enabled": True})
        drain(client)
    finally:
        receiver.stop()
    assert [item.json()["event"]["id"] for item in receiver.received] == [event["id"]]


def test_a_webhook_changed_through_one_api_process_is_seen_by_the_next_event_of_another(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """Each process keeps the enabled webhooks in memory while their generation stays: a
    webhook added, paused, narrowed or removed through one process is what the other's very next
    incident is queued for (a removed one queued for would refuse the incident outright)."""
    settings = settings_factory(database_url, outbox_poll_s=0)
    with running_api(settings) as first, running_api(settings, accounts=False) as second:
        admin = Accounts(first).headers("admin")
        report_incident(second, zone="before_any_webhook")  # the second reads them: none
        hook_id = create_webhook(first, admin, url="https://receiver.example/hook")["id"]

        def queued() -> int:
            return len(deliveries(first, admin, hook_id))

        report_incident(second, zone="added")
        assert queued() == 1
        paused = first.patch(f"/api/v1/webhooks/{hook_id}", headers=admin, json={"enabled": False})
        assert paused.status_code == 200, paused.text
        report_incident(second, zone="paused")
        assert queued() == 1
        narrowed = first.patch(
            f"/api/v1/webhooks/{hook_id}",
            headers=admin,
            json={"enabled": True, "categories": ["fire_hazard"]},
        )
        assert narrowed.status_code == 200, narrowed.text
        report_incident(second, zone="narrowed")  # public_safety
        assert queued() == 1
        report_incident(second, zone="narrowed", category="fire_hazard", rule="fire")
        assert queued() == 2
        assert first.delete(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 204
        report_incident(second, zone="removed")
