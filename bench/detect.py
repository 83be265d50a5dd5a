"""Detection throughput on this machine: the model alone (PyTorch and ONNX, one frame or a batch
per call), the whole pipeline on the demo clip, what the motion gate saves, and the speed-up
over a plain `YOLO(...).predict()` loop per camera.

Frames are decoded before timing (the demo clip at the cameras' 2 fps, and a still scene: its
first frame with sensor grain). Figures alternate between the variants in rounds and report the
median round, because other work shares these CPUs.

Usage: python bench/detect.py [--imgsz 640] [--rounds 3] [--subset 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.camera import default_data_dir
from detectors.incident import Incident
from detectors.model import YoloDetector
from detectors.motion import MotionGate
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.rules import ZoneIntrusion
from detectors.zones import Zone
from gridwatch.assets import ensure_all
from gridwatch.machine import describe
from ingest.sources import FileSource

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The shipped school-gate camera's zone and rule.
GATE = Zone(
    "gate_path",
    ((0.0, 0.30), (0.55, 0.30), (0.75, 0.38), (1.0, 0.60), (1.0, 0.85), (0.60, 0.70),
     (0.30, 0.50), (0.0, 0.45)),
)  # fmt: skip


def clip_frames(path: Path) -> list[tuple[datetime, np.ndarray]]:
    source = FileSource("bench", path, detect_fps=2, loop=False, realtime=False, start_time=START)
    frames = []
    while (frame := source.read()) is not None:
        frames.append((frame.timestamp, frame.image))
    source.close()
    return frames


def still_frames(image: np.ndarray, count: int) -> list[tuple[datetime, np.ndarray]]:
    rng = np.random.default_rng(7)
    return [
        (
            START + timedelta(seconds=index / 2),
            np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8),
        )
        for index in range(count)
    ]


def rate(count: int, run: Callable[[], object]) -> float:
    """Frames per second of `run`, which handles `count` frames."""
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def rounds(variants: dict[str, Callable[[], float]], times: int) -> dict[str, float]:
    """Median of `times` rounds, the variants taking turns within each round."""
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(times):
        for name, variant in variants.items():
            results[name].append(variant())
    return {name: statistics.median(values) for name, values in results.items()}


def pipeline(detector: YoloDetector, *, gate: bool, defer: bool = True) -> CameraPipeline:
    return CameraPipeline(
        "bench", detector, [GATE], [ZoneIntrusion(GATE, {"person"}, min_frames=3)],
        classes=["person"], confidence=0.4, motion_gate=MotionGate() if gate else None,
        evidence=EvidenceSettings(defer_clip_encoding=defer),
    )  # fmt: skip


def run_pipeline(made: CameraPipeline, frames: list[tuple[datetime, np.ndarray]]) -> list[Incident]:
    incidents = []
    for taken_at, image in frames:
        incidents += made.process(image, now=taken_at)
    return incidents + made.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subset", type=int, default=40, help="frames per raw-model round")
    arguments = parser.parse_args()

    assets = ensure_all(default_data_dir())
    frames = clip_frames(assets["vtest.avi"])
    still = still_frames(frames[0][1], 120)
    images = [image for _, image in frames]
    subset = images[: arguments.subset]
    torch_model = YoloDetector(assets["yolov8n.pt"], imgsz=arguments.imgsz, backend="pytorch")
    onnx_model = YoloDetector(assets["yolov8n.pt"], imgsz=arguments.imgsz, backend="onnx")
    for model in (torch_model, onnx_model):  # warm-up: first calls build kernels and caches
        model.detect_batch(images[:4], confidence=0.4, classes=[0])
        for image in images[:3]:
            model.detect(image, confidence=0.4, classes=[0])

    def single(model: YoloDetector, chosen: list[np.ndarray]) -> Callable[[], float]:
        return lambda: rate(
            len(chosen), lambda: [model.detect(i, confidence=0.4, classes=[0]) for i in chosen]
        )

    def batched(model: YoloDetector, size: int) -> Callable[[], float]:
        chunks = [subset[i : i + size] for i in range(0, len(subset), size)]
        return lambda: rate(
            len(subset),
            lambda: [model.detect_batch(c, confidence=0.4, classes=[0]) for c in chunks],
        )

    raw = rounds(
        {
            "pytorch": single(torch_model, subset),
            "onnx": single(onnx_model, subset),
            "pytorch, 4 frames a call": batched(torch_model, 4),
            "onnx, 4 frames a call": batched(onnx_model, 4),
        },
        arguments.rounds,
    )

    def whole_clip(defer: bool) -> tuple[float, float, list[Incident]]:
        """(frames/s, share of the time spent in the model, incidents) over the whole clip."""
        made = pipeline(onnx_model, gate=False, defer=defer)
        incidents: list[Incident] = []
        model_s = 0.0
        started = time.perf_counter()
        for taken_at, image in frames:
            incidents += made.process(image, now=taken_at)
            model_s += made.stats.last_inference_ms / 1000
        incidents += made.flush()
        elapsed = time.perf_counter() - started
        return len(frames) / elapsed, model_s / elapsed, incidents

    deferred_fps, deferred_share, deferred = whole_clip(True)
    inline_fps, inline_share, _ = whole_clip(False)
    clip_s = rate(len(deferred), lambda: [incident.with_clip() for incident in deferred])

    gated_clip = pipeline(onnx_model, gate=True)
    run_pipeline(gated_clip, frames)
    gated_still = pipeline(onnx_model, gate=True)
    run_pipeline(gated_still, still)

    from ultralytics import YOLO  # the plain loop a camera would otherwise run

    plain = YOLO(str(assets["yolov8n.pt"]))
    plain.predict(images[0], imgsz=arguments.imgsz, verbose=False)

    def plain_loop(chosen: list[tuple[datetime, np.ndarray]]) -> Callable[[], float]:
        return lambda: rate(
            len(chosen),
            lambda: [plain.predict(i, imgsz=arguments.imgsz, verbose=False) for _, i in chosen],
        )

    def ours(chosen: list[tuple[datetime, np.ndarray]]) -> Callable[[], float]:
        return lambda: rate(
            len(chosen), lambda: run_pipeline(pipeline(onnx_model, gate=True), chosen)
        )

    part = frames[: arguments.subset]
    speed = rounds(
        {
            "plain, clip": plain_loop(part),
            "ours, clip": ours(part),
            "plain, still": plain_loop(still[: arguments.subset]),
            "ours, still": ours(still),
        },
        arguments.rounds,
    )

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {describe()}; load average at the end {load} (CPUs shared)")
    print(
        f"model: {onnx_model.name} ({onnx_model.version}), input {arguments.imgsz} px, CPU; "
        f"demo clip 768x576 at 2 fps: {len(frames)} frames; still scene: {len(still)} frames; "
        f"median of {arguments.rounds} rounds"
    )
    print("raw model throughput (frames/s, person class, decode excluded):")
    for name, value in raw.items():
        print(f"  {name:<28} {value:6.1f}")
    print(
        f"  ONNX vs PyTorch: x{raw['onnx'] / raw['pytorch']:.2f}; 4 frames a call vs one: "
        f"PyTorch x{raw['pytorch, 4 frames a call'] / raw['pytorch']:.2f}, "
        f"ONNX x{raw['onnx, 4 frames a call'] / raw['onnx']:.2f}"
    )
    print("whole demo clip, model on every frame (pipeline = mask, model, tracker, intrusion")
    print("rule, snapshot and clip of every incident; share = time in the model, measured in")
    print("the same run, so other work on these CPUs cancels out):")
    for name, fps, share in (
        ("clips encoded on the clip thread (worker)", deferred_fps, deferred_share),
        ("clips encoded inline", inline_fps, inline_share),
    ):
        print(f"  {name:<42} {fps:5.1f} frames/s; {share:.0%} of the time in the model")
    print(
        f"  {len(deferred)} incidents; encoding a clip takes {1000 / clip_s:.0f} ms "
        f"(annotate + H.264); target: pipeline at least 90% of the model's throughput"
    )
    for label, made in (("demo clip", gated_clip), ("still scene", gated_still)):
        stats = made.stats
        print(
            f"motion gate, {label}: model ran on {stats.inferred} of {stats.frames} frames "
            f"({stats.skipped} calls saved, {stats.skipped / stats.frames:.0%})"
        )
    print("speed-up over a plain YOLO('yolov8n.pt').predict() loop per camera (frames/s):")
    for label, key in (("demo clip", "clip"), ("still scene", "still")):
        base, fps = speed[f"plain, {key}"], speed[f"ours, {key}"]
        print(
            f"  {label}: plain loop {base:.1f}, pipeline (onnx, motion gate, tracking, rules,"
            f" evidence) {fps:.1f}: x{fps / base:.1f}"
        )


if __name__ == "__main__":
    main()
