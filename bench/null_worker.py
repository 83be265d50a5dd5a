"""The worker process with a detector that finds nothing: real camera adapters, reconnection,
health reports and outbox, without the model's cost. The camera-flapping fault runs it, so
what it measures (recovery, memory, video-loss events) is the capture path's alone.

Usage: python bench/null_worker.py --cameras DIR [--health-interval 0.5] [--max-seconds N]
(GRIDWATCH_API_URL, GRIDWATCH_WORKER_TOKEN and GRIDWATCH_OUTBOX_PATH as for `gridwatch worker`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import supervision as sv

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.coco import COCO_CLASS_NAMES  # noqa: E402
from contract.loading import load_cameras  # noqa: E402
from gridwatch.feed import HealthReporter  # noqa: E402
from gridwatch.outbox import IncidentSender, Outbox  # noqa: E402
from gridwatch.worker.assemble import CameraAssembly  # noqa: E402
from gridwatch.worker.runner import Worker  # noqa: E402
from gridwatch.worker.settings import WorkerSettings  # noqa: E402


class NullDetector:
    """Detection that costs nothing and finds nothing."""

    name = "null"
    version = "0"
    class_names: ClassVar[dict[int, str]] = dict(enumerate(COCO_CLASS_NAMES))

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        return sv.Detections.empty()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=Path, required=True)
    parser.add_argument("--health-interval", type=float, default=0.5)
    parser.add_argument("--max-seconds", type=float, default=None)
    arguments = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = WorkerSettings()
    token = settings.worker_token.get_secret_value()
    outbox = Outbox(settings.outbox_path)
    sender = IncidentSender(outbox, settings.api_url, token, worker_name=settings.worker_name)
    reporter = HealthReporter(settings.api_url, token, worker_name=settings.worker_name)
    worker = Worker(
        load_cameras([arguments.cameras]), CameraAssembly(NullDetector()), outbox, sender,
        health_reporter=reporter, health_interval_s=arguments.health_interval,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    try:
        worker.run(max_seconds=arguments.max_seconds, drain_s=5)
    finally:
        sender.close()
        reporter.close()
        outbox.close()


if __name__ == "__main__":
    main()
