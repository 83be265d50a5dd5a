"""The exported model run without torch or ultralytics (detectors/runtime.py): the same boxes as
ultralytics' `predict` on real frames, and a worker's imports that never reach PyTorch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from detectors.model import YoloDetector, file_sha256, open_detector
from detectors.runtime import ExportedDetector, letterbox
from gridwatch.worker.settings import usable_cores
from tests.conftest import REPO
from tests.detectors.test_real_accuracy import frame_at


@pytest.mark.parametrize("backend", ["onnx", "openvino", "openvino-int8"])
def test_the_runtime_finds_what_ultralytics_finds_on_demo_frames(
    backend: str, assets: dict[str, Path], demo_clip: Path
) -> None:
    weights = assets["yolov8n.pt"]
    ours = open_detector(weights, file_sha256(weights), backend=backend)  # type: ignore[arg-type]
    assert isinstance(ours, ExportedDetector) and ours.class_names[0] == "person"
    theirs = YoloDetector(weights, backend=backend)  # type: ignore[arg-type]
    image = frame_at(demo_clip, 300)
    # A portrait crop too: the letterbox pads the other side.
    for frame in (image, np.ascontiguousarray(image[:, :400])):
        found = ours.detect(frame, confidence=0.25)
        expected = theirs.detect(frame, confidence=0.25)
        assert len(found) == len(expected) >= 1
        assert (found.class_id == expected.class_id).all()
        # INT8: activations quantized on a 640x480 input here and 640x640 there move a box
        # edge by a few pixels and a score by a hundredth or two. With the head's 3x3
        # convolutions quantized too, the worst edge moved 3.1 px (a person 24 px wide, in
        # the portrait crop; 1.3 px with the head in FP32).
        pixels, score = (4.0, 0.02) if "int8" in backend else (1.0, 0.01)
        assert np.abs(found.xyxy - expected.xyxy).max() < pixels
        assert np.abs(found.confidence - expected.confidence).max() < score
        assert list(found.data["class_name"]) == list(expected.data["class_name"])


def test_the_letterbox_keeps_the_aspect_ratio_and_pads_to_the_stride() -> None:
    boxed, fit = letterbox(np.zeros((576, 768, 3), np.uint8), 640)
    assert boxed.shape == (480, 640, 3) and (fit.scale, fit.pad_left, fit.pad_top) == (
        640 / 768,
        0,
        0,
    )
    boxed, fit = letterbox(np.zeros((1080, 1920, 3), np.uint8), 640)
    assert boxed.shape == (384, 640, 3) and fit.pad_top == 12  # 360 rows of picture
    assert (boxed[:12] == 114).all() and (boxed[-12:] == 114).all()


def test_the_worker_imports_neither_torch_nor_ultralytics() -> None:
    probe = (
        "import sys, gridwatch.cli, gridwatch.worker.assemble, gridwatch.worker.runner, "
        "detectors.runtime, detectors.tracking\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.timing  # compares inference rates of one thread and two
@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores")
@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
def test_two_threads_sharing_a_detector_infer_at_once(
    backend: str, assets: dict[str, Path], demo_clip: Path
) -> None:
    """A worker's detection threads share one detector, one core each: their inferences must run
    side by side, not take turns (at the lock of a model compiled once, or on the one core that
    OpenVINO pins each model's inference to), so two threads run more inferences than one."""
    weights = assets["yolov8n.pt"]
    detector = open_detector(weights, file_sha256(weights), backend=backend, threads=1)  # type: ignore[arg-type]
    assert isinstance(detector, ExportedDetector)
    boxed, _ = letterbox(frame_at(demo_clip, 300), detector.imgsz)

    def inferences_per_second(threads: int, each: int = 40) -> float:
        ready = threading.Barrier(threads + 1)

        def infer() -> None:
            detector.infer([boxed])  # this thread's model compiled and warmed up
            ready.wait()
            for _ in range(each):
                detector.infer([boxed])

        running = [threading.Thread(target=infer) for _ in range(threads)]
        for thread in running:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        for thread in running:
            thread.join()
        return threads * each / (time.perf_counter() - started)

    # In turns, the best of each: other load falls on both alike.
    alone, together = 0.0, 0.0
    for _ in range(3):
        alone = max(alone, inferences_per_second(1))
        together = max(together, inferences_per_second(2))
    # Taking turns, two threads run as many as one; side by side, nearly twice as many.
    assert together > 1.3 * alone, f"one thread {alone:.1f}/s, two {together:.1f}/s"
