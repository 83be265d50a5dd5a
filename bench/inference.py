"""Inference latency of the detection model on the demo footage, per frame, on this machine.

Usage: python bench/inference.py [--frames N] [--imgsz 640]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.camera import default_data_dir
from detectors.model import YoloDetector
from detectors.pipeline import CameraPipeline
from detectors.rules import ZoneIntrusion
from detectors.zones import Zone
from gridwatch.assets import ensure_all
from gridwatch.machine import describe
from ingest.sources import FileSource


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--imgsz", type=int, default=640)
    arguments = parser.parse_args()

    assets = ensure_all(default_data_dir())
    detector = YoloDetector(assets["yolov8n.pt"], imgsz=arguments.imgsz)
    source = FileSource(
        "bench", assets["vtest.avi"], detect_fps=2, loop=True, realtime=False,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    frames = [source.read() for _ in range(arguments.frames + 5)]
    source.close()
    images = [frame.image for frame in frames if frame is not None]

    for image in images[:5]:  # warm-up: first calls build kernels and caches
        detector.detect(image, confidence=0.4, classes=[0])
    model_ms = []
    for image in images[5:]:
        started = time.perf_counter()
        detector.detect(image, confidence=0.4, classes=[0])
        model_ms.append((time.perf_counter() - started) * 1000)

    zone = Zone("all", ((0, 0), (1, 0), (1, 1), (0, 1)))
    pipeline = CameraPipeline(
        "bench", detector, [zone], [ZoneIntrusion(zone, {"person"}, min_frames=3)],
        classes=["person"], confidence=0.4,
    )  # fmt: skip
    pipeline_ms = []
    for frame in frames[5:]:
        assert frame is not None
        started = time.perf_counter()
        pipeline.process(frame.image, now=frame.timestamp)
        pipeline_ms.append((time.perf_counter() - started) * 1000)

    print(f"machine: {describe()}")
    print(f"model: {detector.name} ({detector.version}), input {arguments.imgsz}px, CPU, PyTorch")
    print(f"frames: {len(model_ms)} of the demo clip (768x576), sampled at 2 fps")
    print(
        f"inference per frame: median {statistics.median(model_ms):.1f} ms, "
        f"p95 {percentile(model_ms, 0.95):.1f} ms, "
        f"throughput {1000 / statistics.mean(model_ms):.1f} frames/s"
    )
    print(
        f"full pipeline per frame (model + tracker + rule + evidence): "
        f"median {statistics.median(pipeline_ms):.1f} ms, "
        f"p95 {percentile(pipeline_ms, 0.95):.1f} ms; "
        f"{pipeline.stats.incidents} incidents"
    )


if __name__ == "__main__":
    main()
