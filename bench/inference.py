"""Inference latency of the detection model on the demo footage, per frame, on this machine,
through each backend in one run: PyTorch, ONNX Runtime FP32, OpenVINO FP32 and OpenVINO INT8,
with the ratio of each to ONNX Runtime FP32 and the INT8 accuracy gate's figures.

Usage: python bench/inference.py [--frames N] [--imgsz 640] [--backends onnx,openvino,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.camera import default_data_dir
from detectors.model import ACCURACY_GATE_FILE, YoloDetector
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
    parser.add_argument("--backends", default="pytorch,onnx,openvino,openvino-int8")
    arguments = parser.parse_args()

    assets = ensure_all(default_data_dir())
    source = FileSource(
        "bench", assets["vtest.avi"], detect_fps=2, loop=True, realtime=False,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    frames = [source.read() for _ in range(arguments.frames + 5)]
    source.close()
    images = [frame.image for frame in frames if frame is not None]

    print(f"machine: {describe()}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(
        f"frames: {len(images) - 5} of the demo clip (768x576), sampled at 2 fps, "
        "one at a time, the backends taking turns"
    )
    detectors: dict[str, YoloDetector] = {}
    for backend in arguments.backends.split(","):
        detector = YoloDetector(assets["yolov8n.pt"], imgsz=arguments.imgsz, backend=backend)  # type: ignore[arg-type]
        detectors[backend] = detector
        for image in images[:5]:  # warm-up: first calls build kernels and caches
            detector.detect(image, confidence=0.4, classes=[0])
    # The backends take turns frame by frame, so that other load on a shared machine falls on
    # every backend alike rather than on whichever ran while it lasted.
    timings: dict[str, list[float]] = {backend: [] for backend in detectors}
    for image in images[5:]:
        for backend, detector in detectors.items():
            started = time.perf_counter()
            detector.detect(image, confidence=0.4, classes=[0])
            timings[backend].append((time.perf_counter() - started) * 1000)

    some = next(iter(detectors.values()))
    print(f"model: {some.name} ({some.version}), input {arguments.imgsz}px, CPU")
    reference = statistics.mean(timings["onnx"]) if "onnx" in timings else None
    for backend, model_ms in timings.items():
        ratio = (
            f", x{reference / statistics.mean(model_ms):.2f} ONNX Runtime FP32" if reference else ""
        )
        print(
            f"  {backend:<14} median {statistics.median(model_ms):6.1f} ms, "
            f"p95 {percentile(model_ms, 0.95):6.1f} ms, "
            f"{1000 / statistics.mean(model_ms):5.1f} frames/s{ratio}"
        )

    if "openvino-int8" in detectors:
        gate_file = detectors["openvino-int8"].model_file / ACCURACY_GATE_FILE
        gate = json.loads(gate_file.read_text(encoding="utf-8"))
        verdict = "passed" if gate["passed"] else "FAILED"
        print(f"accuracy gate ({gate_file.name}, measured {gate['measured_at']}): {verdict}")
        for name, scores in gate["sets"].items():
            fp32, int8 = scores["fp32"], scores["int8"]
            print(
                f"  {name}: FP32 precision {fp32['precision']:.2f} recall {fp32['recall']:.2f}; "
                f"INT8 precision {int8['precision']:.2f} recall {int8['recall']:.2f}"
            )

    fastest = min(timings, key=lambda backend: statistics.mean(timings[backend]))
    detector = detectors[fastest]
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
    print(
        f"full pipeline per frame on {fastest} (model + tracker + rule + evidence): "
        f"median {statistics.median(pipeline_ms):.1f} ms, "
        f"p95 {percentile(pipeline_ms, 0.95):.1f} ms; "
        f"{pipeline.stats.incidents} incidents"
    )


if __name__ == "__main__":
    main()
