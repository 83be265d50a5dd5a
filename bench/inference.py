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
  int8-512: INT8 at imgsz 512 (the gate measured 640);
  openvino-bf16, int8-bf16: float layers in BF16 (INFERENCE_PRECISION_HINT "bf16", the CPU
      plugin's own default on a CPU with AMX or AVX512-BF16; workers ask for f32).
Then frames/s with one detection thread and with two at once (the worker's default on two
cores), one core each, for onnx, openvino and int8, taking turns; the OpenVINO ones also as
workers ran them until each thread compiled its own unpinned model ("shared, pinned": one
model compiled for every thread, its inference pinned to a core).

Usage: python bench/inference.py [--frames N] [--imgsz 640] [--variants onnx,int8,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    "openvino-bf16", "int8-bf16",
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
    return (BF16Detector if setting == "bf16" else ExportedDetector)(
        openvino_ir_path(weights, digest, int8=int8), name=weights.stem, version=digest[:12],
        backend="openvino-int8" if int8 else "openvino",
        imgsz=512 if setting == "512" else imgsz,
        threads=1 if setting == "1thread" else None,
        performance_hint="THROUGHPUT" if setting == "throughput" else "LATENCY",
        preprocess_in_model=setting != "numpy",
    )  # fmt: skip


class BF16Detector(ExportedDetector):
    """The OpenVINO detector with its float layers in BF16, as the CPU plugin runs them by
    default where the CPU has AMX or AVX512-BF16."""

    def _openvino_config(self) -> dict[str, Any]:
        return {**super()._openvino_config(), "INFERENCE_PRECISION_HINT": "bf16"}


class SharedPinnedDetector(ExportedDetector):
    """The OpenVINO detector as workers ran it until each detection thread compiled its own
    unpinned model: one model compiled for every thread (one stream, its graph behind a lock),
    its inference threads pinned to cores."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared: dict[tuple[int, ...], Any] = {}
        self._sharing = threading.Lock()

    def _openvino_config(self) -> dict[str, Any]:
        return {**super()._openvino_config(), "ENABLE_CPU_PINNING": True}

    def _compile(self, shape: tuple[int, ...]) -> Any:
        with self._sharing:
            if shape not in self._shared:
                self._shared[shape] = super()._compile(shape)
            return self._shared[shape]


def threads_at_once(detector: ObjectDetector, images: list, threads: int) -> float:
    """Frames per second with `threads` threads calling `detector` at once, each on its share,
    each thread's first call (where OpenVINO compiles its model) left out."""
    from concurrent.futures import ThreadPoolExecutor

    ready = threading.Barrier(threads + 1)

    def run(part: list) -> None:
        detector.detect(part[0], confidence=0.4, classes=[0])
        ready.wait()
        for image in part[1:]:
            detector.detect(image, confidence=0.4, classes=[0])

    parts = [images[index::threads] for index in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        done = [pool.submit(run, part) for part in parts]
        ready.wait()
        started = time.perf_counter()
        for future in done:
            future.result()
        elapsed = time.perf_counter() - started
    return sum(len(part) - 1 for part in parts) / elapsed


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

    one_core: dict[str, ObjectDetector] = {}
    for name in ("onnx", "openvino", "int8"):
        detector = detectors.get(name)
        if not isinstance(detector, ExportedDetector):
            continue
        kinds = [(name, ExportedDetector)]
        if detector.backend != "onnx":
            kinds.append((f"{name} shared, pinned", SharedPinnedDetector))
        for label, kind in kinds:
            one_core[label] = kind(
                detector.model_file, name=detector.name, version=detector.version,
                backend=detector.backend, imgsz=detector.imgsz, threads=1,  # type: ignore[arg-type]
            )  # fmt: skip
    if one_core:
        print(
            "one core per detection thread (frames/s; two threads at once is the worker's "
            f"default on two cores), taking turns, {'/'.join(f'{v:.1f}' for v in os.getloadavg())}"
            " load average:"
        )
        rates: dict[str, dict[int, list[float]]] = {label: {1: [], 2: []} for label in one_core}
        for _ in range(2):
            for label, detector in one_core.items():
                for threads in (1, 2):
                    rates[label][threads].append(threads_at_once(detector, images[5:], threads))
        for label, by_threads in rates.items():
            alone, together = max(by_threads[1]), max(by_threads[2])
            print(
                f"  {label:<24} one thread {alone:5.1f}, two threads {together:5.1f} frames/s"
                f" (x{together / alone:.2f})"
            )

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
