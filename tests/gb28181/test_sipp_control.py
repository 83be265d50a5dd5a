"""SIPp plays the device against the service and a live API on SQLite and PostgreSQL: alarms,
DeviceInfo, going silent, per-device passwords and an unknown device."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from gridwatch.api_client import ApiClient
from gridwatch.gb28181.reporting import ApiReporter
from tests.conftest import PASSWORD as ACCOUNT_PASSWORD
from tests.conftest import WORKER_TOKEN, LiveServer, seed_accounts
from tests.gb28181.test_sipp_device import (
    DEVICE_ID,
    PASSWORD,
    Clock,
    running,
    sipp,
    wait_until_sent,
)

GATE = "34020000001310000001"
HTTP = httpx.Client(timeout=30)  # generous: the machine may be loaded
ADOPT = {
    "id": "gb-gate",
    "zones": [{"name": "gate", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
    "rules": [{"kind": "intrusion", "zone": "gate", "classes": ["person"]}],
}


@pytest.fixture
def api(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[LiveServer]:
    """The API served on loopback over each database; video loss after 1 s dark."""
    server = LiveServer(settings_factory(database_url, video_loss_grace_s=1)).start()
    yield server
    server.stop()


@pytest.fixture
def reporter(api: LiveServer) -> Iterator[ApiReporter]:
    reporter = ApiReporter(ApiClient(api.url, WORKER_TOKEN, worker_name="gb28181", timeout=30))
    yield reporter
    reporter.close()


def login(api: LiveServer, username: str) -> dict[str, str]:
    seed_accounts(api.app, names=(username,))
    token = HTTP.post(
        f"{api.url}/api/v1/auth/token", data={"username": username, "password": ACCOUNT_PASSWORD}
    )
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def accept_and_adopt(api: LiveServer, admin: dict[str, str]) -> None:
    device_url = f"{api.url}/api/v1/gb28181/devices/{DEVICE_ID}"
    accepted = HTTP.put(
        f"{device_url}/admission",
        json={"admission": "accepted", "organisation_id": "no1-primary-school"},
        headers=admin,
    )
    assert accepted.status_code == 200, accepted.text
    adopted = HTTP.post(
        f"{device_url}/channels/{GATE}/camera",
        json=ADOPT, headers=login(api, "school_owner"),
    )  # fmt: skip
    assert adopted.status_code == 201, adopted.text


def test_alarm_info_and_silence_reach_the_api(api: LiveServer, reporter: ApiReporter) -> None:
    admin = api.admin_headers()
    with running(reporter) as service:
        sipp(service, "register_catalog.xml")
        wait_until_sent(reporter)
        device = service.devices[DEVICE_ID]
        assert device.info is not None
        assert (device.info.name, device.info.manufacturer, device.info.channel_count) == (
            "东门录像机", "Hikvision", 2)  # fmt: skip
        listed = HTTP.get(f"{api.url}/api/v1/gb28181/devices", headers=admin).json()[0]
        assert (listed["model"], listed["firmware"]) == ("DS-7608NI-K2", "V4.30.085 build 200916")
        assert listed["last_keepalive_at"] is not None
        accept_and_adopt(api, admin)

        sipp(service, "alarm.xml")  # an alarm answered 200; two malformed ones 400
        wait_until_sent(reporter)
        assert (service.stats.alarms, service.stats.bad_xml) == (1, 2)
        (recorded,) = reporter.alarms
        assert recorded.camera_id == "gb-gate" and recorded.grid_event_id is not None
        event = HTTP.get(f"{api.url}/api/v1/events/{recorded.grid_event_id}", headers=admin).json()
        assert (event["event_code"], event["severity"]) == ("0801", "critical")
        # AlarmTime without an offset is the platform's zone (Asia/Shanghai).
        assert event["incident"]["started_at"].startswith("2026-11-29T12:30:00")

        # Silent for three keep-alive intervals: offline, then the camera's video-loss event.
        clock = service.clock
        assert isinstance(clock, Clock)
        clock.offset = 60 * 3 + 5
        time.sleep(1.1)  # past the API's 1 s grace since the last keep-alive
        assert service.check_keepalives(clock()) == [DEVICE_ID]
        wait_until_sent(reporter)
        camera = HTTP.get(f"{api.url}/api/v1/cameras/gb-gate/health", headers=admin).json()
        assert camera["status"] == "offline" and "keep-alive" in camera["health"]["error"]
        page = HTTP.get(
            f"{api.url}/api/v1/events", params={"category": "device_fault"}, headers=admin
        ).json()
        assert [e["event_code"] for e in page["items"] if e["camera_id"] == "gb-gate"] == ["1002"]


def test_device_with_its_own_password(
    api: LiveServer, reporter: ApiReporter, caplog: pytest.LogCaptureFixture
) -> None:
    admin = api.admin_headers()
    own = "device-own-pass"
    given = HTTP.put(
        f"{api.url}/api/v1/gb28181/devices/{DEVICE_ID}/password",
        json={"password": own}, headers=admin,
    )  # fmt: skip
    assert given.status_code == 200, given.text
    reporter.refresh_credentials()
    wait_until_sent(reporter)
    with running(reporter) as service:
        # The platform's password is no longer this device's: 403, and not logged.
        sipp(service, "wrong_password.xml", password=PASSWORD)
        assert DEVICE_ID not in service.devices and service.stats.wrong_password == 1
        sipp(service, "register_catalog.xml", password=own)
        assert service.devices[DEVICE_ID].online
    assert own not in caplog.text and PASSWORD not in caplog.text


def test_unknown_device_is_listed_not_trusted_until_accepted_with_a_password(
    api: LiveServer, reporter: ApiReporter
) -> None:
    admin = api.admin_headers()
    with running(reporter, password="") as service:  # devices need passwords of their own
        sipp(service, "unknown_device.xml")
        assert DEVICE_ID not in service.devices and service.stats.no_password == 1
        wait_until_sent(reporter)
        (listed,) = HTTP.get(f"{api.url}/api/v1/gb28181/devices", headers=admin).json()
        assert (listed["id"], listed["admission"], listed["authenticated"]) == (
            DEVICE_ID, "pending", False)  # fmt: skip

        device_url = f"{api.url}/api/v1/gb28181/devices/{DEVICE_ID}"
        HTTP.put(f"{device_url}/admission", json={"admission": "refused"}, headers=admin)
        HTTP.put(f"{device_url}/password", json={"password": "refused-pass"}, headers=admin)
        reporter.refresh_credentials()
        wait_until_sent(reporter)
        sipp(service, "wrong_password.xml", password="refused-pass")  # right, but refused: 403
        assert DEVICE_ID not in service.devices

        HTTP.put(f"{device_url}/admission", json={"admission": "accepted"}, headers=admin)
        reporter.refresh_credentials()
        wait_until_sent(reporter)
        sipp(service, "register_catalog.xml", password="refused-pass")
        assert service.devices[DEVICE_ID].online
        wait_until_sent(reporter)
        (listed,) = HTTP.get(f"{api.url}/api/v1/gb28181/devices", headers=admin).json()
        assert listed["authenticated"] and listed["online"] and len(listed["channels"]) == 2


def test_malformed_device_info_is_answered_400_and_counted() -> None:
    body = (
        b"<Response><CmdType>DeviceInfo</CmdType><SN>2</SN>"
        b"<DeviceID>34020000001320000001</DeviceID><Channel>two</Channel></Response>"
    )
    datagram = (
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKe\r\n"
        f"From: <sip:{DEVICE_ID}@3402000000>;tag=a\r\nTo: <sip:x@x>\r\nCall-ID: c5\r\n"
        f"CSeq: 1 MESSAGE\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with running() as service:
        sipp(service, "register_catalog.xml")
        before = service.stats.bad_xml
        assert service.transport is not None
        port = service.transport.get_extra_info("sockname")[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(datagram, ("127.0.0.1", port))
            answer = sock.recv(65535).decode()
        assert answer.startswith("SIP/2.0 400 ")
        assert service.stats.bad_xml == before + 1
        assert service.devices[DEVICE_ID].info is not None  # the good answer stays
