"""How often a worker renews its camera leases is a setting, checked against the lease time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from api.settings import Settings
from gridwatch.feed import ApiLeaseFeed
from gridwatch.worker.assemble import assemble_worker
from gridwatch.worker.settings import WorkerSettings
from tests.conftest import WORKER_TOKEN, LiveServer, free_port


def test_a_leasing_worker_renews_as_often_as_the_setting_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDWATCH_LEASE_RENEW_S", "2.5")
    settings = WorkerSettings(
        api_url=f"http://127.0.0.1:{free_port()}", outbox_path=tmp_path / "outbox.sqlite"
    )
    worker = assemble_worker(settings, None, capacity=4)
    try:
        assert worker.feed_interval_s == 2.5
        assert isinstance(worker.feed, ApiLeaseFeed) and worker.feed.renew_s == 2.5
    finally:
        worker.close()


@pytest.mark.parametrize(("renew_s", "warned"), [(2.0, False), (5.0, True)])
def test_renewing_no_faster_than_leases_expire_is_warned_of(
    renew_s: float,
    warned: bool,
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'api.db'}", lease_s=5)).start()
    feed = ApiLeaseFeed(server.url, WORKER_TOKEN, worker_name="edge", capacity=1, renew_s=renew_s)
    try:
        with caplog.at_level(logging.WARNING, logger="gridwatch.feed"):
            assert feed.poll() is not None
            feed.poll()
        assert feed.lease_s == 5
        warnings = [r for r in caplog.records if "GRIDWATCH_LEASE_RENEW_S" in r.getMessage()]
        assert len(warnings) == (1 if warned else 0)  # once, not at every renewal
    finally:
        feed.close()
        server.stop()
