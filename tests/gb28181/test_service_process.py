"""`gridwatch gb28181` as it is run: a process of its own with its settings from the environment,
SIPp registering to it as the device, its reports reaching a live API, a stream INVITEd through
its control and counted in its metrics, and SIGTERM ending that stream with BYE."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, WORKER_TOKEN, LiveServer
from tests.gb28181.test_end_to_end_video import wait_for
from tests.gb28181.test_live_video import CHANNEL_ID
from tests.gb28181.test_sipp_device import DEVICE_ID, DOMAIN, PASSWORD, PLATFORM_ID, SCENARIOS

AUTH = {"Authorization": f"Bearer {WORKER_TOKEN}"}


def sip_port() -> int:
    """A port free for both UDP and TCP (the service listens on both)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free for both UDP and TCP")


def control_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        port: int = tcp.getsockname()[1]
        return port


def service_environment(**settings: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    return {**environment, "PYTHONPATH": str(REPO), **settings}


@pytest.fixture
def service_process(
    live_api: LiveServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, str, Path]]:
    """`python -m gridwatch gb28181` reporting to `live_api`: (the process, its SIP port, its
    control's URL, its log); killed at the end if the test left it running."""
    sip, control = sip_port(), control_port()
    log = tmp_path / "gb28181.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gridwatch", "gb28181"],
        env=service_environment(
            GRIDWATCH_GB28181_HOST="127.0.0.1", GRIDWATCH_GB28181_PORT=str(sip),
            GRIDWATCH_GB28181_SIP_ID=PLATFORM_ID, GRIDWATCH_GB28181_DOMAIN=DOMAIN,
            GRIDWATCH_GB28181_PASSWORD=PASSWORD, GRIDWATCH_GB28181_CONTROL_PORT=str(control),
            GRIDWATCH_API_URL=live_api.url, GRIDWATCH_WORKER_TOKEN=WORKER_TOKEN,
        ),
        stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=tmp_path,
    )  # fmt: skip
    url = f"http://127.0.0.1:{control}"

    def control_up() -> bool:
        try:
            return httpx.get(f"{url}/metrics", headers=AUTH, timeout=5).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # ended: fail below, with its log

    wait_for(control_up, 60, "the stream control", log)
    assert process.poll() is None, log.read_text()
    try:
        yield process, sip, url, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def metrics(url: str) -> dict[str, float]:
    answer = httpx.get(f"{url}/metrics", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in answer.text.splitlines()
        if line and not line.startswith("#")
    }


def test_the_service_process_registers_reports_streams_and_ends_with_bye(
    live_api: LiveServer,
    service_process: tuple[subprocess.Popen[bytes], int, str, Path],
    tmp_path: Path,
) -> None:
    service, port, control_url, log = service_process
    sipp = shutil.which("sipp")
    assert sipp, "SIPp missing: scripts/system-deps.sh installs sip-tester"
    messages = tmp_path / "sipp-messages.log"
    device = subprocess.Popen(
        [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register_and_wait.xml"), "-m", "1",
         "-oocsf", str(SCENARIOS / "device_media.xml"), "-d", "60000",
         "-i", "127.0.0.1", "-p", "0", "-s", DEVICE_ID, "-au", DEVICE_ID, "-ap", PASSWORD,
         "-key", "platform", PLATFORM_ID, "-key", "domain", DOMAIN, "-key", "sender", "true",
         "-timeout", "90s", "-nostdin", "-trace_msg", "-message_file", str(messages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    admin = live_api.admin_headers()
    try:
        # Registered with the digest, the catalog asked for and reported to the API.
        devices = wait_for(
            lambda: [
                d for d in httpx.get(f"{live_api.url}/api/v1/gb28181/devices", headers=admin,
                                     timeout=30).json()
                if d["id"] == DEVICE_ID and d["channels"] and d["online"]
            ],
            30, "the device and its catalog in the API", log,
        )  # fmt: skip
        assert CHANNEL_ID in {c["channel_id"] for c in devices[0]["channels"]}

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
            rtp.bind(("127.0.0.1", 0))
            stream = httpx.post(
                f"{control_url}/streams", headers=AUTH, timeout=30,
                json={"device_id": DEVICE_ID, "channel_id": CHANNEL_ID,
                      "media_host": "127.0.0.1", "media_port": rtp.getsockname()[1]},
            )  # fmt: skip
            assert stream.status_code == 200, stream.text
            counted = metrics(control_url)
            assert counted['gridwatch_gb28181_devices{state="online"}'] == 1
            assert counted["gridwatch_gb28181_streams"] == 1
            assert counted["gridwatch_gb28181_invites_total"] == 1
            assert counted["gridwatch_gb28181_challenges_total"] >= 1
            assert counted['gridwatch_gb28181_refused_total{reason="wrong_password"}'] == 0
            # A service manager's stop: the open stream is ended with BYE, then the process
            # exits cleanly.
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=30) == 0, log.read_text()[-3000:]
        assert "1 open streams ended with BYE" in log.read_text()
        wait_for(lambda: "BYE sip:" in messages.read_text(errors="replace"), 10,
                 "the BYE at the device", log)  # fmt: skip
    finally:
        if device.poll() is None:
            device.kill()
            device.wait()


def test_settings_refused_by_name() -> None:
    ended = subprocess.run(
        [sys.executable, "-m", "gridwatch", "gb28181"],
        env=service_environment(GRIDWATCH_GB28181_SIP_ID="3402000000200000001"),
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert ended.returncode == 2
    assert "GRIDWATCH_GB28181_SIP_ID" in ended.stderr and "20-digit" in ended.stderr
