"""INT8 quantization of the OpenVINO IR, and the accuracy gate that decides whether it is used.

NNCF post-training quantization (`nncf.quantize`) calibrates the FP32 IR on real frames: the
demo clip by default, or a district's own footage (`gridwatch assets quantize --frames DIR`).
The INT8 IR is written beside the FP32 one (`detectors.model.openvino_ir_path(..., int8=True)`)
and then scored by `gridwatch eval`'s labelled sets (tests/data: the clip and the photos)
against the FP32 IR. It passes when neither precision nor recall falls by more than
`GATE_TOLERANCE` on any set; the verdict is stored beside the model as `accuracy-gate.json`,
and `backend: auto` runs the INT8 IR only when it passed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors.model import (
    ACCURACY_GATE_FILE,
    OPENVINO_FLOAT_PRECISION,
    ObjectDetector,
    file_sha256,
    open_detector,
    openvino_ir_path,
)

log = logging.getLogger(__name__)

GATE_TOLERANCE = 0.03
"""The most INT8 may lose against FP32 in precision or in recall, on any labelled set."""

LABELLED_SETS = Path(__file__).resolve().parents[1] / "tests" / "data"
"""`gridwatch eval`'s labelled sets: the demo clip's intrusion visits, and the photos."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class QuantizationError(Exception):
    """Calibration frames missing or unreadable, or NNCF failed; the FP32 IR is untouched."""


def clip_frames(clip: Path, *, count: int = 100) -> list[np.ndarray]:
    """`count` BGR frames spread evenly over a video file (the demo clip for calibration).

    Raises QuantizationError naming the file when it cannot be read.
    """
    capture = cv2.VideoCapture(str(clip))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not capture.isOpened() or total <= 0:
        capture.release()
        raise QuantizationError(f"{clip}: not a readable video")
    frames = []
    step = max(1, total // count)
    for index in range(0, total, step):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
        if ok:
            frames.append(image)
        if len(frames) == count:
            break
    capture.release()
    return frames


def directory_frames(directory: Path, *, count: int = 300) -> list[np.ndarray]:
    """Up to `count` BGR images (JPEG, PNG, BMP) from a directory of a district's own footage.

    Raises QuantizationError naming the directory when it holds no image, or naming the file
    that cannot be decoded.
    """
    if not directory.is_dir():
        raise QuantizationError(f"{directory}: no such directory of calibration frames")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise QuantizationError(
            f"{directory}: no calibration frames (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    frames = []
    for path in files[:count]:
        image = cv2.imread(str(path))
        if image is None:
            raise QuantizationError(f"{path}: not a readable image")
        frames.append(image)
    return frames


def model_input(image: np.ndarray, *, imgsz: int = 640) -> np.ndarray:
    """One BGR frame as the model sees it: ultralytics' letterbox to `imgsz` (grey padding),
    RGB, CHW, float32 in [0, 1], with a batch axis: shape (1, 3, imgsz, imgsz)."""
    from ultralytics.data.augment import LetterBox

    boxed = np.asarray(LetterBox(new_shape=(imgsz, imgsz), auto=False)(image=image))
    tensor = boxed[..., ::-1].transpose(2, 0, 1)[None]
    return np.ascontiguousarray(tensor, dtype=np.float32) / 255.0


QUANTIZATION_RECIPE = 2
"""Version of how `quantize_ir` makes an INT8 IR (its ignored scope, preset and NNCF options),
stored with each verdict. Set-up quantizes again when a stored verdict names another recipe
(or none): that verdict was earned by an INT8 IR made some other way. Raise it with any change
to the recipe. 1: the whole detection head kept in FP32; 2: its 3x3 convolutions quantized."""


def _head_ignored_scope(model: Any) -> Any:
    """What stays in FP32 in the detection head (the last `/model.N/` module): the 1x1
    convolutions that give box distributions and class logits (`cv2.*.2`, `cv3.*.2`), the DFL
    box decoding, the box arithmetic and the class sigmoids. The head's 3x3 convolutions
    (`cv2.*.0`, `cv2.*.1`, `cv3.*.0`, `cv3.*.1`, most of its work, at 80x80 for stride 8) are
    quantized like the rest of the model.

    Measured on a 2-core AMD EPYC (AVX512-VNNI, no AMX), yolov8n at 640 px, the variants
    taking turns frame by frame against ONNX Runtime FP32 at 52.7 ms a frame (median; load
    average 1.9 to 4.2): this scope 17.0 ms (x3.0) with the gate's scores unchanged from FP32
    (demo clip precision 0.85 recall 1.00, photos 0.92 and 0.80); the whole head in FP32
    (recipe 1) 25.8 ms (x2.0), the same scores. bench/inference.py: 15.2 ms against 45.3 ms.
    Quantizing the 1x1 output convolutions too (ultralytics' scope) bought no time (17.4 ms)
    and lost a visit of the demo clip (recall 0.95, failing the gate), as it did on a Xeon
    (precision 0.85 to 0.68, recall 1.00 to 0.95). With this scope, NNCF's PERFORMANCE preset
    (recall 0.95), `fast_bias_correction=False` (0.91) and 300 calibration frames instead of
    100 (0.95) each failed the gate.
    """
    import nncf

    indices = [
        int(match.group(1))
        for op in model.get_ops()
        if (match := re.search(r"/model\.(\d+)/", op.get_friendly_name()))
    ]
    if not indices:
        return nncf.IgnoredScope(types=["Sigmoid"], validate=False)
    head = max(indices)
    return nncf.IgnoredScope(
        patterns=[rf".*/model\.{head}/(?!cv[23]\.\d+/cv[23]\.\d+\.[01]/)"],
        types=["Sigmoid"],
        validate=False,
    )


def quantize_ir(fp32_ir: Path, int8_ir: Path, frames: Sequence[np.ndarray]) -> Path:
    """Quantize the FP32 IR in `fp32_ir` to INT8 in `int8_ir`, calibrated on `frames`.

    Written to a `.partial` directory and renamed into place. Raises QuantizationError when
    there are no frames or NNCF fails.
    """
    import nncf
    import openvino

    if not frames:
        raise QuantizationError(f"{int8_ir.name}: no calibration frames")
    core = openvino.Core()
    model = core.read_model(str(next(fp32_ir.glob("*.xml"))))
    partial = int8_ir.with_name(int8_ir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        quantized = nncf.quantize(
            model,
            nncf.Dataset(list(frames), model_input),
            subset_size=len(frames),
            preset=nncf.QuantizationPreset.MIXED,
            ignored_scope=_head_ignored_scope(model),
        )
        openvino.save_model(quantized, str(partial / f"{int8_ir.name}.xml"), compress_to_fp16=False)
    except Exception as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise QuantizationError(f"{fp32_ir.name}: INT8 quantization failed: {err}") from err
    shutil.copyfile(fp32_ir / "metadata.yaml", partial / "metadata.yaml")
    shutil.rmtree(int8_ir, ignore_errors=True)
    partial.rename(int8_ir)
    return int8_ir


@dataclass
class GateResult:
    """INT8 against FP32 on each labelled set: precision and recall of each, and the verdict."""

    passed: bool
    tolerance: float
    sets: dict[str, dict[str, dict[str, float]]]  # set -> "fp32"|"int8" -> precision, recall
    calibration: str
    calibration_frames: int
    quantize_s: float
    measured_at: str
    machine: str
    notes: list[str] = field(default_factory=list)
    float_precision: str = OPENVINO_FLOAT_PRECISION  # OpenVINO's float layers, as scored
    recipe: int = QUANTIZATION_RECIPE  # how the INT8 IR was made

    def summary(self) -> str:
        lines = [
            f"accuracy gate: {'passed' if self.passed else 'FAILED'} "
            f"(INT8 within {self.tolerance:.2f} of FP32 precision and recall)"
        ]
        for name, scores in self.sets.items():
            fp32, int8 = scores["fp32"], scores["int8"]
            lines.append(
                f"  {name}: FP32 precision {fp32['precision']:.2f} recall {fp32['recall']:.2f}; "
                f"INT8 precision {int8['precision']:.2f} recall {int8['recall']:.2f}"
            )
        return "\n".join(lines + [f"  {note}" for note in self.notes])


def score_on_labelled_sets(
    detector: ObjectDetector, assets: dict[str, Path], labelled: Path = LABELLED_SETS
) -> dict[str, dict[str, float]]:
    """Precision and recall of `detector` on every labelled set in `labelled` (the clip sets
    through the intrusion rule, the photo sets by objects counted)."""
    from gridwatch.evaluation import evaluate_clip, evaluate_photos, ultralytics_photo

    scores: dict[str, dict[str, float]] = {}
    for labels in sorted(labelled.glob("*.json")):
        document = json.loads(labels.read_text(encoding="utf-8"))
        if "photos" in document:
            photos = {
                photo["asset"]: assets.get(photo["asset"]) or ultralytics_photo(photo["asset"])
                for photo in document["photos"]
            }
            result = evaluate_photos(labels, photos, detector, confidence=0.4)
            scores[labels.stem] = {"precision": result.precision, "recall": result.recall}
        else:
            run = evaluate_clip(labels, assets[document["clip"]], detector)
            scores[labels.stem] = {"precision": run.score.precision, "recall": run.score.recall}
    return scores


def quantize_and_gate(
    weights: Path,
    assets: dict[str, Path],
    *,
    frames: Sequence[np.ndarray],
    calibration: str,
    labelled: Path = LABELLED_SETS,
    tolerance: float = GATE_TOLERANCE,
) -> GateResult:
    """Make the INT8 IR of `weights` from its FP32 IR, score both on the labelled sets, and
    store the verdict beside the INT8 IR (`accuracy-gate.json`, written atomically).

    `calibration` names where the frames came from (stored with the verdict).
    """
    from gridwatch.assets import ensure_openvino_ir
    from gridwatch.machine import describe

    digest = file_sha256(weights)
    fp32_ir = ensure_openvino_ir(weights)
    int8_ir = openvino_ir_path(weights, digest, int8=True)
    (int8_ir / ACCURACY_GATE_FILE).unlink(missing_ok=True)  # no verdict for a model being remade
    started = time.perf_counter()
    log.info("quantizing %s to INT8 on %d frames of %s", fp32_ir.name, len(frames), calibration)
    quantize_ir(fp32_ir, int8_ir, frames)
    quantize_s = time.perf_counter() - started
    # Scored as workers run them (detectors.runtime, static input shape), not through
    # ultralytics.
    fp32 = score_on_labelled_sets(
        open_detector(weights, digest, backend="openvino"), assets, labelled
    )
    int8 = score_on_labelled_sets(
        open_detector(weights, digest, backend="openvino-int8"), assets, labelled
    )
    sets = {name: {"fp32": fp32[name], "int8": int8[name]} for name in fp32}
    passed = bool(sets) and all(
        scores["int8"][measure] >= scores["fp32"][measure] - tolerance
        for scores in sets.values()
        for measure in ("precision", "recall")
    )
    result = GateResult(
        passed=passed,
        tolerance=tolerance,
        sets=sets,
        calibration=calibration,
        calibration_frames=len(frames),
        quantize_s=round(quantize_s, 1),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=describe(),
        notes=[] if sets else [f"no labelled sets in {labelled}: INT8 not trusted"],
    )
    gate = int8_ir / ACCURACY_GATE_FILE
    partial = gate.with_name(gate.name + ".partial")
    partial.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    partial.replace(gate)
    return result
