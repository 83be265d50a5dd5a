"""Several API processes on one PostgreSQL database: every operator gets every alert in scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from api.db import make_engine
from api.fanout import ROLL_CALL_S, PostgresFanout
from api.live import Audience, LiveHub, ViewerScope
from api.settings import Settings
from tests.conftest import (
    PASSWORD,
    LiveServer,
    _postgres_database,
    run_coroutine,
    seed_accounts,
)
from tests.factories import incident_form, incident_metadata, jpeg

pytestmark = pytest.mark.postgres


@pytest.fixture
def shared_postgres(postgres_server: str) -> Iterator[str]:
    yield from _postgres_database(postgres_server)


def test_an_alert_posted_to_one_api_process_reaches_operators_on_another(
    shared_postgres: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(shared_postgres, evidence_dir=tmp_path / "shared-evidence")
    first = LiveServer(settings).start()
    second = LiveServer(settings).start()
    try:
        seed_accounts(first.app, names=("district_operator", "east_operator"))
        tokens = {
            name: httpx.post(
                f"{second.url}/api/v1/auth/token", data={"username": name, "password": PASSWORD}
            ).json()["access_token"]
            for name in ("district_operator", "east_operator")
        }

        async def scenario() -> tuple[dict, list[dict]]:
            url = second.url.replace("http://", "ws://") + "/api/v1/live/ws"

            def bearer(name: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[name]}"}

            async with (
                websockets.connect(url, additional_headers=bearer("district_operator")) as district,
                websockets.connect(url, additional_headers=bearer("east_operator")) as east,
            ):
                await district.recv()
                await east.recv()
                snapshot = jpeg()
                metadata = incident_metadata(snapshot)  # the school camera: west street
                async with httpx.AsyncClient() as client:
                    response = await client.post(
                        f"{first.url}/api/v1/incidents",
                        headers={"Authorization": "Bearer test-worker-token"},
                        **incident_form(metadata, snapshot),
                    )
                    assert response.status_code == 201
                message = json.loads(await asyncio.wait_for(district.recv(), timeout=10))
                east_messages = []
                with contextlib.suppress(TimeoutError):
                    east_messages.append(json.loads(await asyncio.wait_for(east.recv(), timeout=1)))
                return message, east_messages

        message, east_messages = run_coroutine(scenario())
        assert message["type"] == "event.created"
        assert message["event"]["camera_id"] == "school-no1-gate"
        assert east_messages == []  # out of the east operator's region
        assert second.app.state.fanout.received >= 1
    finally:
        first.stop()
        second.stop()


def test_alerts_reach_this_process_while_its_listener_is_not_listening(
    shared_postgres: str,
) -> None:
    """After a database restart the listener takes a moment to LISTEN again; an alert published
    meanwhile would never come back to this process, so it is delivered here directly. Once
    the listener listens, each alert arrives once, through the database."""
    engine = make_engine(shared_postgres)
    hub = LiveHub()
    fanout = PostgresFanout(engine, hub)  # not started: its listener is not listening
    hub.relay = fanout.send
    audience = Audience(grid_id=None, grid_path="/D01/", department_id=None, organisation_id=None)

    async def received(event_id: int) -> list[dict]:
        hub.bind(asyncio.get_running_loop())
        with hub.subscription(ViewerScope(role="admin")) as subscription:
            hub.publish({"type": "event.created", "event_id": event_id}, audience)
            messages = []
            with contextlib.suppress(TimeoutError):
                while True:
                    text = await asyncio.wait_for(subscription.next(), timeout=1.5)
                    assert text is not None
                    messages.append(json.loads(text))
            return messages

    assert run_coroutine(received(1)) == [{"type": "event.created", "event_id": 1}]
    fanout.start()
    try:
        assert fanout.listening.wait(10)
        assert run_coroutine(received(2)) == [{"type": "event.created", "event_id": 2}]
        assert fanout.received == 1
    finally:
        fanout.stop()
        engine.dispose()


def test_alerts_are_shaped_only_while_an_operator_is_connected_to_some_process(
    shared_postgres: str,
) -> None:
    """A process learns when the first operator connects to another process, before that
    operator's hello, and when the last one leaves; one that starts while an operator is
    connected elsewhere learns it from its roll call before it trusts that nobody watches."""
    engine = make_engine(shared_postgres)
    hubs = [LiveHub(), LiveHub(), LiveHub()]
    fanouts = [PostgresFanout(engine, hub) for hub in hubs]
    for hub, fanout in zip(hubs, fanouts, strict=True):
        hub.relay = fanout.send
        hub.watched_elsewhere = fanout.watched_elsewhere
        hub.on_watchers = fanout.announce
    here, there, later = hubs

    def eventually(condition: Callable[[], bool], within_s: float = 10) -> bool:
        deadline = time.monotonic() + within_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    async def watching() -> tuple[bool, bool]:
        there.bind(asyncio.get_running_loop())
        with there.subscription(ViewerScope(role="admin")):
            # What an API process does before its answer to the operator's connection.
            seen = eventually(here.watched, within_s=1)
            fanouts[2].start()
            assert fanouts[2].settled.wait(10)
            seen_by_later = later.watched()
        return seen, seen_by_later

    try:
        for fanout in fanouts[:2]:
            fanout.start()
            assert fanout.settled.wait(10)
        assert here.watched() is False and there.watched() is False
        assert run_coroutine(watching()) == (True, True)
        assert eventually(lambda: not here.watched() and not later.watched())
    finally:
        for fanout in fanouts:
            fanout.stop()
        engine.dispose()


def test_a_roll_call_is_answered_at_once_not_after_the_listeners_wait(
    shared_postgres: str,
) -> None:
    """A process with an operator connected answers a starting process's roll call as soon as
    it hears it: the starting one trusts silence after ROLL_CALL_S, and an answer held back
    until the end of the listener's one-second wait for notices could come after that, so that
    the new process shaped no alert for the operator until the next heartbeat (10 s)."""
    engine = make_engine(shared_postgres)
    watched, starting = LiveHub(), LiveHub()
    fanout = PostgresFanout(engine, watched)
    watched.relay, watched.on_watchers = fanout.send, fanout.announce
    answered: list[float] = []  # seconds from a roll call to its answer

    async def connected() -> None:
        watched.bind(asyncio.get_running_loop())
        with watched.subscription(ViewerScope(role="admin")):
            for _ in range(6):  # each start meets the watcher's listener at another moment
                newcomer = PostgresFanout(engine, starting)
                newcomer.start()
                try:
                    assert newcomer.listening.wait(10)  # its roll call is out
                    asked = time.monotonic()
                    while not newcomer._viewers and time.monotonic() - asked < ROLL_CALL_S:
                        await asyncio.sleep(0.005)
                    answered.append(time.monotonic() - asked)
                    while not newcomer.settled.is_set():
                        await asyncio.sleep(0.01)
                    assert newcomer.watched_elsewhere()
                finally:
                    newcomer.stop()

    try:
        fanout.start()
        assert fanout.settled.wait(10)
        run_coroutine(connected())
        # Held back, an answer came after 0-1 s (the rest of the wait), here after milliseconds.
        assert max(answered) < ROLL_CALL_S / 4, answered
    finally:
        fanout.stop()
        engine.dispose()
