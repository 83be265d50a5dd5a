"""The ONVIF camera simulator (ipycam) as a test host of its own, for the ingest tests.

ipycam binds every service to 0.0.0.0 with fixed ports (ONVIF 8080, RTSP 8554, WS-Discovery
3702), so it runs in a network namespace this helper creates, joined to ours by a veth pair:
the tests talk to it at its own address as they would to a camera on the LAN, multicast
discovery included, and nothing it binds is visible on this machine's addresses. Its addresses
come from 198.18.0.0/15, the range set aside for network tests, one /30 per test process.

The simulator's environment is built by scripts/onvif-sim.sh (once; later runs reuse it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO / "scripts" / "onvif-sim.sh"
SERVER_SCRIPT = Path(__file__).with_name("onvif_sim_server.py")
USER = "admin"
PASSWORD = "gw-Sim-pass:1"  # a colon in it, so percent-encoding in URLs is exercised
ONVIF_PORT = 8080
RTSP_PORT = 8554
NAME = "GridWatch-Sim"
WIDTH, HEIGHT, FPS = 640, 360, 5


@dataclass(frozen=True)
class Simulator:
    """A running simulated camera and how to reach it."""

    namespace: str
    host_ip: str  # our end of the veth pair
    camera_ip: str  # the camera's address
    onvif_port: int
    rtsp_port: int
    user: str
    password: str

    def url(self, user: str | None = None, password: str | None = None, query: str = "") -> str:
        user = self.user if user is None else user
        password = self.password if password is None else password
        secret = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"onvif://{secret}{self.camera_ip}:{self.onvif_port}{query}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _subnet() -> tuple[str, str]:
    # One /30 per process id, so concurrent test runs on one machine never share addresses.
    base = ipaddress.IPv4Address("198.18.0.0") + (os.getpid() % 8192) * 4
    return str(base + 1), str(base + 2)


def _stop_namespace(namespace: str) -> None:
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:  # ffmpeg encoders the simulator started and left behind
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "delete", namespace, check=False)


def build_environment() -> Path:
    """The simulator's virtual environment, built by scripts/onvif-sim.sh when missing."""
    done = subprocess.run(
        ["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/onvif-sim.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def running_simulator(clip: Path | None, log_path: Path) -> Iterator[Simulator]:
    """Start the simulator in a namespace of its own; tear both down afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the ONVIF simulator needs root and iproute2 (ip) for its network namespace")
    venv = build_environment()
    tag = f"gwo{os.getpid()}"
    namespace, host_link, camera_link = f"{tag}ns", f"{tag}h", f"{tag}n"
    host_ip, camera_ip = _subnet()
    _stop_namespace(namespace)  # a leftover of an earlier run with the same process id
    _ip("link", "delete", host_link, check=False)
    process: subprocess.Popen[str] | None = None
    try:
        _ip("netns", "add", namespace)
        _ip("link", "add", host_link, "type", "veth", "peer", "name", camera_link)
        _ip("link", "set", camera_link, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_link)
        _ip("link", "set", host_link, "up")
        _ip("-n", namespace, "addr", "add", f"{camera_ip}/30", "dev", camera_link)
        _ip("-n", namespace, "link", "set", camera_link, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        command = [
            "ip", "netns", "exec", namespace,
            "env", f"PATH={venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            str(venv / "bin" / "python"), str(SERVER_SCRIPT),
            "--ip", camera_ip, "--onvif-port", str(ONVIF_PORT), "--rtsp-port", str(RTSP_PORT),
            "--user", USER, "--password", PASSWORD, "--name", NAME,
            "--width", str(WIDTH), "--height", str(HEIGHT), "--fps", str(FPS),
        ]  # fmt: skip
        if clip is not None:
            command += ["--clip", str(clip)]
        log_file = log_path.open("w")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if readable else ""
        ready = json.loads(line) if line.startswith("{") else {"error": "no answer"}
        if "error" in ready:
            raise RuntimeError(
                f"the ONVIF simulator did not start ({ready['error']}):\n"
                + log_path.read_text()[-3000:]
            )
        yield Simulator(namespace, host_ip, camera_ip, ONVIF_PORT, RTSP_PORT, USER, PASSWORD)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        _stop_namespace(namespace)
        _ip("link", "delete", host_link, check=False)


class _Shared:
    """One simulator for every test module that asks, stopped when the last one is done."""

    simulator: Simulator | None = None
    users = 0
    stack: contextlib.ExitStack | None = None


def shared_simulator(clip: Path | None, log_path: Path) -> Iterator[Simulator]:
    """Generator for a session fixture: the shared simulator, started on first use."""
    if _Shared.simulator is None:
        stack = contextlib.ExitStack()
        _Shared.simulator = stack.enter_context(running_simulator(clip, log_path))
        _Shared.stack = stack
    _Shared.users += 1
    try:
        yield _Shared.simulator
    finally:
        _Shared.users -= 1
        if _Shared.users == 0 and _Shared.stack is not None:
            _Shared.stack.close()
            _Shared.simulator, _Shared.stack = None, None
