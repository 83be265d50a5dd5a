"""Inference latency of the detection model on the demo footage, per frame, on this machine,
through each backend and OpenVINO setting in one run, with the ratio of each to ONNX Runtime
FP32 and the INT8 accuracy gate's figures.

Variants (`--variants`, default all):
  pytorch, ultralytics-onnx, ultralytics-openvino, ultralytics-int8: through ultralytics'
      `predict` (`detectors.model.YoloDetector`), as the worker ran them before;
  onnx: ONNX Runtime FP32 without ultralytics (`detectors.runtime.ExportedDetector`), the
      reference of every ratio;
  openvino, int8: the OpenVINO IR, FP32 and INT8, as the worker runs them: static input
      shape, the letterboxed uint8 frame converted inside the model, LATENCY hint;
  openvino-numpy, int8-numpy: the same with the frame converted in numpy (float NCHW input);
  openvino-throughput, int8-throughput: PERFORMANCE_HINT THROUGHPUT;
  openvino-1thread, int8-1thread: INFERENCE_NUM_THREADS 1 (the worker's share with two
      detection threads on two cores);
  int8-512: INT8 at imgsz 512 (the gate measured 640).
Then frames/s with two detection threads at once (the worker's default on two cores), one
core each, for onnx and int8.

Usage: python bench/inference.py [--frames N] [--imgsz 640] [--variants onnx,int8,...]
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
from detectors.model import (
    ACCURACY_GATE_FILE,
    ObjectDetector,
    YoloDetector,
    file_sha256,
    onnx_export_path,
    openvino_ir_path,
)
from detectors.pipeline import CameraPipeline
from detectors.rules import ZoneIntrusion
from detectors.runtime import ExportedDetector
from detectors.zones import Zone
from gridwatch.assets import ensure_all
from gridwatch.machine import describe
from ingest.sources import FileSource


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


VARIANTS = (
    "pytorch", "ultralytics-onnx", "ultralytics-openvino", "ultralytics-int8",
    "onnx", "openvino", "int8", "openvino-numpy", "int8-numpy",
    "openvino-throughput", "int8-throughput", "openvino-1thread", "int8-1thread", "int8-512",
)  # fmt: skip


def variant(name: str, weights: Path, imgsz: int) -> ObjectDetector:
    """The detector a variant's name describes (see the module's docstring)."""
    through_ultralytics = {
        "pytorch": "pytorch", "ultralytics-onnx": "onnx", "ultralytics-openvino": "openvino",
        "ultralytics-int8": "openvino-int8",
    }  # fmt: skip
    if name in through_ultralytics:
        return YoloDetector(weights, imgsz=imgsz, backend=through_ultralytics[name])  # type: ignore[arg-type]
    digest = file_sha256(weights)
    if name == "onnx":
        return ExportedDetector(
            onnx_export_path(weights, digest), name=weights.stem, version=digest[:12],
            backend="onnx", imgsz=imgsz,
        )  # fmt: skip
    int8 = name.startswith("int8")
    setting = name.partition("-")[2]
    return ExportedDetector(
        openvino_ir_path(weights, digest, int8=int8), name=weights.stem, version=digest[:12],
        backend="openvino-int8" if int8 else "openvino",
        imgsz=512 if setting == "512" else imgsz,
        threads=1 if setting == "1thread" else None,
        performance_hint="THROUGHPUT" if setting == "throughput" else "LATENCY",
        preprocess_in_model=setting != "numpy",
    )  # fmt: skip


def two_threads(detector: ObjectDetector, images: list) -> float:
    """Frames per second with two threads calling `detector` at once, each on its half."""
    from concurrent.futures import ThreadPoolExecutor

    def run(part: list) -> None:
        for image in part:
            detector.detect(image, confidence=0.4, classes=[0])

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, [images[0::2], images[1::2]]))
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--variants", default=",".join(VARIANTS))
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
    detectors: dict[str, ObjectDetector] = {}
    for backend in arguments.variants.split(","):
        detector = variant(backend, assets["yolov8n.pt"], arguments.imgsz)
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
            f"  {backend:<20} median {statistics.median(model_ms):6.1f} ms, "
            f"p95 {percentile(model_ms, 0.95):6.1f} ms, "
            f"{1000 / statistics.mean(model_ms):5.1f} frames/s{ratio}"
        )

    if "onnx" in detectors and "int8" in detectors:
        print("two detection threads at once, one core each (frames/s, the worker's default):")
        for name in ("onnx", "int8"):
            detector = detectors[name]
            if isinstance(detector, ExportedDetector):
                detector = ExportedDetector(
                    detector.model_file, name=detector.name, version=detector.version,
                    backend=detector.backend, imgsz=detector.imgsz, threads=1,  # type: ignore[arg-type]
                )  # fmt: skip
                for image in images[:5]:
                    detector.detect(image, confidence=0.4, classes=[0])
            print(f"  {name:<20} {two_threads(detector, images[5:]):5.1f} frames/s")

    int8_detector = detectors.get("int8") or detectors.get("ultralytics-int8")
    if isinstance(int8_detector, ExportedDetector | YoloDetector):
        gate_file = Path(int8_detector.model_file) / ACCURACY_GATE_FILE
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
