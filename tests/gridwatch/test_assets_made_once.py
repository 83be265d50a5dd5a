"""A derived model is made by one process at a time: others that find it missing wait for it
instead of making it again into the same place (and replacing it while it is being scored)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from detectors.model import (
    ACCURACY_GATE_FILE,
    OPENVINO_FLOAT_PRECISION,
    int8_gate_passed,
    openvino_ir_path,
)
from gridwatch import assets, quantize
from gridwatch.quantize import QUANTIZATION_RECIPE

STORED = {
    "passed": True,
    "float_precision": OPENVINO_FLOAT_PRECISION,
    "recipe": QUANTIZATION_RECIPE,
}


def test_int8_is_quantized_once_however_many_start_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "yolov8n.pt"
    weights.write_bytes(b"weights")
    target = openvino_ir_path(weights, assets.sha256_file(weights), int8=True)
    made: list[float] = []
    inside = threading.Semaphore(1)
    overlapped: list[str] = []

    def quantize_and_gate(model: Path, paths: Any, *, frames: Any, calibration: str) -> Any:
        if not inside.acquire(blocking=False):
            overlapped.append(calibration)
        time.sleep(0.3)  # the minutes of quantizing and scoring, shortened
        target.mkdir(exist_ok=True)
        (target / ACCURACY_GATE_FILE).write_text(json.dumps(STORED))
        made.append(time.monotonic())
        inside.release()
        return type("Result", (), {"summary": lambda self: "gate passed"})()

    monkeypatch.setattr(quantize, "quantize_and_gate", quantize_and_gate)
    monkeypatch.setattr(quantize, "clip_frames", lambda path: [])
    answers: list[Path] = []
    starters = [
        threading.Thread(
            target=lambda: answers.append(assets.ensure_int8(weights, {"vtest.avi": weights}))
        )
        for _ in range(4)
    ]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(timeout=30)

    assert answers == [target] * 4
    assert len(made) == 1 and overlapped == []
    # Once made, it is found without waiting on anyone.
    with assets.made_once(target):
        assert assets.ensure_int8(weights, {}) == target


@pytest.mark.parametrize(
    ("stored", "true_of_the_models_as_run"),
    [
        ({"passed": True, "recipe": QUANTIZATION_RECIPE}, False),
        ({"passed": True, "float_precision": "bf16", "recipe": QUANTIZATION_RECIPE}, False),
        ({"passed": True, "float_precision": OPENVINO_FLOAT_PRECISION}, True),
        ({"passed": True, "float_precision": OPENVINO_FLOAT_PRECISION, "recipe": 1}, True),
    ],
    ids=["no-float-precision", "bf16", "no-recipe", "recipe-1"],
)
def test_a_verdict_on_other_float_precision_or_another_recipe_is_made_again(
    stored: dict[str, Any],
    true_of_the_models_as_run: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verdict from before the float precision was fixed (none stored) or scored with BF16
    (the CPU plugin's default where the CPU has AMX) is not a verdict on the models as they run,
    and one earned by an INT8 IR made by an older recipe (none stored: the whole head in FP32)
    is not a verdict on the INT8 IR set-up makes now (it stays true of the IR beside it until
    that is made again): set-up quantizes and scores again, once, and the new verdict is kept."""
    weights = tmp_path / "yolov8n.pt"
    weights.write_bytes(b"weights")
    target = openvino_ir_path(weights, assets.sha256_file(weights), int8=True)
    target.mkdir()
    (target / ACCURACY_GATE_FILE).write_text(json.dumps(stored))
    assert int8_gate_passed(weights, assets.sha256_file(weights)) is true_of_the_models_as_run
    made: list[str] = []

    def quantize_and_gate(model: Path, paths: Any, *, frames: Any, calibration: str) -> Any:
        made.append(calibration)
        (target / ACCURACY_GATE_FILE).write_text(json.dumps(STORED))
        return type("Result", (), {"summary": lambda self: "gate passed"})()

    monkeypatch.setattr(quantize, "quantize_and_gate", quantize_and_gate)
    monkeypatch.setattr(quantize, "clip_frames", lambda path: [])
    assert assets.ensure_int8(weights, {"vtest.avi": weights}) == target
    assert assets.ensure_int8(weights, {"vtest.avi": weights}) == target
    assert made == ["vtest.avi"]
    assert int8_gate_passed(weights, assets.sha256_file(weights))
