"""`gridwatch run` waits for its API as long as the API is starting, and no longer than it lives:
a slow first start on a busy machine is not a failed one."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from bench.harness import free_port
from gridwatch.cli import _wait_healthy

# Answers /healthz only after `delay` seconds, as an API busy with its imports and migrations.
SLOW_SERVER = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *arguments):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_a_slow_start_is_waited_for_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(port), "3"])
    try:
        with caplog.at_level(logging.INFO, logger="gridwatch"):
            healthy = _wait_healthy(
                f"http://127.0.0.1:{port}/healthz", server, threading.Event(), report_every_s=1
            )
        assert healthy
        assert any("still starting" in record.getMessage() for record in caplog.records)
    finally:
        server.kill()
        server.wait()


def test_an_api_that_exits_is_not_waited_for() -> None:
    failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert not _wait_healthy(f"http://127.0.0.1:{free_port()}/healthz", failed, threading.Event())
    assert failed.returncode == 3
