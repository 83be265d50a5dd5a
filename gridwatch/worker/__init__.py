"""The worker: camera adapters feed detection pipelines; incidents go to the outbox and the API.

One module per role: `settings` (environment), `assemble` (configuration becomes running
objects), `capture` (camera readers, health), `scheduling` (detection threads, clip encoding)
and `runner` (the run loop).
"""

from gridwatch.worker.assemble import (
    CameraAssembly,
    DetectorPool,
    assemble_worker,
    build_pipeline,
    stream_options,
)
from gridwatch.worker.capture import CameraReader, CameraStats, health_report
from gridwatch.worker.runner import WatchedCamera, Worker
from gridwatch.worker.scheduling import ClipEncoder, DetectionThreads
from gridwatch.worker.settings import WorkerSettings, usable_cores

__all__ = [
    "CameraAssembly",
    "CameraReader",
    "CameraStats",
    "ClipEncoder",
    "DetectionThreads",
    "DetectorPool",
    "WatchedCamera",
    "Worker",
    "WorkerSettings",
    "assemble_worker",
    "build_pipeline",
    "health_report",
    "stream_options",
    "usable_cores",
]
