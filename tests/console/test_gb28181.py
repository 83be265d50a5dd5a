"""The GB/T 28181 page: an admin accepts a device for a school and refuses an unknown one; the
school's owner sees its devices, refuses one channel and adopts the other as a camera.

Against the real API; the devices are reported as the SIP service reports them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import LiveServer
from tests.console.conftest import WORKER, Console

pytestmark = pytest.mark.browser

NVR = "34020000001320000007"
STRANGER = "34020000001320000666"
NEWCOMER = "34020000001320000008"  # registered with no password: the platform has none
GATE, EAST = "34020000001310000071", "34020000001310000072"


def report(server: LiveServer, device_id: str, body: dict) -> None:  # type: ignore[type-arg]
    response = httpx.put(
        f"{server.url}/api/v1/worker/gb28181/devices/{device_id}",
        json=body, headers={**WORKER, "X-GridWatch-Worker": "gb28181"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text


def test_admin_accepts_and_owner_adopts(
    open_console: Callable[..., Console], console_server: LiveServer
) -> None:
    report(console_server, NVR, {
        "online": True, "address": "10.20.0.7:5060",
        "last_keepalive_at": datetime.now(UTC).isoformat(),
        "info": {"name": "东门录像机", "manufacturer": "Hikvision", "model": "DS-7608NI-K2",
                 "firmware": "V4.30.085", "channel_count": 2},
        "channels": [
            {"channel_id": GATE, "name": "东门入口", "manufacturer": "Hikvision", "status": "ON",
             "civil_code": "340200"},
            {"channel_id": EAST, "name": "东门通道", "manufacturer": "Hikvision",
             "model": "DS-2CD3T46", "status": "OFF", "civil_code": "34020001",
             "longitude": 117.2834, "latitude": 31.8612},
        ],
    })  # fmt: skip
    report(console_server, STRANGER, {"online": False, "address": "10.20.0.66:5060",
                                       "authenticated": False})  # fmt: skip
    report(console_server, NEWCOMER, {"online": False, "address": "10.20.0.8:5060",
                                      "authenticated": False})  # fmt: skip

    admin = open_console("admin")
    admin.login("admin")
    page = admin.page
    page.click('nav.menu a[data-menu="gb28181"]')
    page.wait_for_selector(".gb-pending-table")
    assert page.inner_text(".gb28181 h1") == "国标 GB/T 28181 设备"  # Chinese by default
    stranger = page.locator(f'.gb-pending-table tr[data-device-id="{STRANGER}"]')
    assert "无密码" in stranger.inner_text()
    admin.screenshot("gb28181-admin-pending")
    stranger.locator("button.refuse-device").click()
    page.wait_for_selector(f'.gb-devices-table tr[data-device-id="{STRANGER}"]')
    # A device without a password here is accepted only with one of its own, which it then
    # registers with; the password is sent, never shown back.
    newcomer = page.locator(f'.gb-pending-table tr[data-device-id="{NEWCOMER}"]')
    newcomer.locator("button.accept-device").click()
    assert newcomer.locator("input[name=password]:invalid").count() == 1  # asked, not sent
    newcomer.locator("input[name=password]").fill("gate-nvr-2026")
    newcomer.locator("button.accept-device").click()
    page.wait_for_selector(f'.gb-devices-table tr[data-device-id="{NEWCOMER}"] .own-password')
    nvr = page.locator(f'.gb-pending-table tr[data-device-id="{NVR}"]')
    nvr.locator("input[name=organisation_id]").fill("no1-primary-school")
    nvr.locator("button.accept-device").click()
    page.wait_for_selector(f'.gb-devices-table tr[data-device-id="{NVR}"]')
    row = page.inner_text(f'.gb-devices-table tr[data-device-id="{NVR}"]')
    assert "Hikvision DS-7608NI-K2" in row and "V4.30.085" in row and "在线" in row
    assert page.locator(".gb-candidates-table tbody tr").count() == 2
    # The channel's state as the device gives it (ON), in words.
    channel = page.inner_text(f'.gb-candidates-table tr[data-channel-id="{GATE}"]')
    assert "在线" in channel and "ON" not in channel
    # Every field of the catalog the issue names: id, name, maker and model, civil code, state,
    # and the position where the device gives one (else fields to give it).
    east = f'.gb-candidates-table tr[data-channel-id="{EAST}"]'
    cells = page.eval_on_selector_all(f"{east} td", "cells => cells.map(c => c.innerText)")
    assert EAST in cells[0] and "东门通道" in cells[0] and cells[1] == NVR
    assert cells[2] == "Hikvision DS-2CD3T46" and cells[3] == "34020001" and cells[4] == "离线"
    assert cells[5].split() == ["纬度", "31.861200", "经度", "117.283400"]
    assert page.locator(f"{east} input[name=lat]").count() == 0
    gate_code = f'.gb-candidates-table tr[data-channel-id="{GATE}"] td.civil-code'
    assert page.inner_text(gate_code) == "340200"

    owner = open_console("school_owner")
    owner.login("school_owner")
    page = owner.page
    assert "gb28181" in owner.menu()
    page.click('nav.menu a[data-menu="gb28181"]')
    page.wait_for_selector(".gb-candidates-table")
    assert page.locator(".gb-pending").count() == 0  # admins decide on devices
    devices = page.eval_on_selector_all(
        ".gb-devices-table tbody tr", "rows => rows.map(r => r.dataset.deviceId)"
    )
    assert devices == [NVR]  # not the refused stranger: not the school's
    owner.screenshot("gb28181-owner-candidates")
    page.click(f'.gb-candidates-table tr[data-channel-id="{EAST}"] button.refuse-channel')
    page.wait_for_function(
        "() => document.querySelectorAll('.gb-candidates-table tbody tr').length === 1"
    )
    gate = page.locator(f'.gb-candidates-table tr[data-channel-id="{GATE}"]')
    gate.locator("input[name=lat]").fill("30.2551")  # the channel gives no position
    gate.locator("input[name=lon]").fill("120.1201")
    gate.locator("button.adopt-channel").click()
    page.wait_for_selector("form.camera-editor")  # on to zones and rules
    assert page.url.endswith(f"#/my-cameras/gb-{GATE}")

    token = httpx.post(
        f"{console_server.url}/api/v1/auth/token",
        data={"username": "school_owner", "password": "correct horse battery"},
    ).json()["access_token"]
    camera = httpx.get(
        f"{console_server.url}/api/v1/cameras/gb-{GATE}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert camera["source"] == f"gb28181://{NVR}/{GATE}"
    assert camera["organisation"]["id"] == "no1-primary-school"
    assert camera["location"] == {"lat": 30.2551, "lon": 120.1201}

    credentials = httpx.get(
        f"{console_server.url}/api/v1/worker/gb28181/credentials", headers=WORKER, timeout=30
    ).json()
    assert {"device_id": NEWCOMER, "admission": "accepted", "password": "gate-nvr-2026"} in (
        credentials
    )
