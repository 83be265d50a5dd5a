"""The OpenVINO backend: the IR converted at set-up from the ONNX export, on real frames."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from contract.camera import DetectConfig
from detectors.model import (
    ACCURACY_GATE_FILE,
    OPENVINO_FLOAT_PRECISION,
    YoloDetector,
    best_backend,
    file_sha256,
    int8_gate_passed,
    open_detector,
    openvino_ir_path,
)
from detectors.runtime import ExportedDetector
from gridwatch.evaluation import evaluate_clip
from gridwatch.quantize import (
    GATE_TOLERANCE,
    QUANTIZATION_RECIPE,
    QuantizationError,
    directory_frames,
    quantize_ir,
)
from gridwatch.worker.assemble import DetectorPool
from tests.detectors.test_real_accuracy import DATA, frame_at, iou


@pytest.fixture(scope="module")
def onnx_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["yolov8n.pt"], backend="onnx")


@pytest.fixture(scope="module")
def openvino_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["yolov8n.pt"], backend="openvino")


def test_set_up_converts_the_export_to_an_ir_named_by_the_weights_digest(
    assets: dict[str, Path],
) -> None:
    weights = assets["yolov8n.pt"]
    ir = assets["yolov8n.openvino"]
    assert ir == openvino_ir_path(weights, file_sha256(weights))
    assert {path.suffix for path in ir.iterdir()} >= {".xml", ".bin", ".yaml"}
    assert not ir.with_name(ir.name + ".partial").exists()


def test_openvino_finds_what_onnx_runtime_finds_on_demo_frames(
    onnx_detector: YoloDetector, openvino_detector: YoloDetector, demo_clip: Path
) -> None:
    assert openvino_detector.backend == "openvino"
    assert openvino_detector.version == onnx_detector.version
    assert openvino_detector.class_names == onnx_detector.class_names
    for index in (100, 300, 600):
        image = frame_at(demo_clip, index)
        from_onnx = onnx_detector.detect(image, confidence=0.4, classes=[0])
        from_openvino = openvino_detector.detect(image, confidence=0.4, classes=[0])
        assert len(from_onnx) >= 3
        # The same FP32 graph: the same people, boxes within rounding.
        assert len(from_openvino) == len(from_onnx)
        for box in from_openvino.xyxy:
            assert max(iou(box, other) for other in from_onnx.xyxy) > 0.95
        assert np.allclose(
            np.sort(from_openvino.confidence), np.sort(from_onnx.confidence), atol=0.02
        )


def test_openvino_with_fewer_threads_finds_the_same(
    openvino_detector: YoloDetector, assets: dict[str, Path], demo_clip: Path
) -> None:
    one_core = YoloDetector(assets["yolov8n.pt"], backend="openvino", threads=1)
    image = frame_at(demo_clip, 300)
    alone = one_core.detect(image, confidence=0.4, classes=[0])
    assert len(alone) == len(openvino_detector.detect(image, confidence=0.4, classes=[0]))


@pytest.mark.slow
def test_a_camera_on_openvino_raises_the_demo_incidents(demo_clip: Path) -> None:
    from contract.camera import default_data_dir

    detector = DetectorPool(default_data_dir()).get(DetectConfig(backend="openvino"))
    assert detector.backend == "openvino"
    run = evaluate_clip(DATA / "vtest_east_road.json", demo_clip, detector)
    # The same bounds as through ONNX Runtime (recall 1.00, precision 0.88 measured).
    assert run.score.recall >= 0.9, run.score.summary()
    assert run.score.precision >= 0.8, run.score.summary()
    assert {incident.model_backend for incident in run.incidents} == {"openvino"}


@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
def test_float_layers_run_in_fp32_whatever_the_cpu_offers(
    backend: str, assets: dict[str, Path]
) -> None:
    """On a CPU with AMX or AVX512-BF16 the OpenVINO CPU plugin runs float layers in BF16 unless
    told otherwise: the FP32 model, and the INT8 model's head kept out of quantization, must be
    compiled in FP32, as the accuracy gate scored them."""
    from openvino import Type

    weights = assets["yolov8n.pt"]
    detector = open_detector(weights, file_sha256(weights), backend=backend)  # type: ignore[arg-type]
    assert isinstance(detector, ExportedDetector)
    compiled = detector._compile((1, detector.imgsz, detector.imgsz))
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == Type.f32


def test_set_up_stores_the_int8_accuracy_gate_beside_the_model(
    assets: dict[str, Path],
) -> None:
    weights = assets["yolov8n.pt"]
    digest = file_sha256(weights)
    int8 = assets["yolov8n.openvino-int8"]
    assert int8 == openvino_ir_path(weights, digest, int8=True)
    gate = json.loads((int8 / ACCURACY_GATE_FILE).read_text())
    assert set(gate["sets"]) == {"photos", "vtest_east_road"}
    within = all(
        scores["int8"][measure] >= scores["fp32"][measure] - gate["tolerance"]
        for scores in gate["sets"].values()
        for measure in ("precision", "recall")
    )
    assert gate["passed"] is within and gate["tolerance"] == GATE_TOLERANCE
    assert gate["calibration"] == "vtest.avi" and gate["calibration_frames"] >= 50
    assert gate["float_precision"] == OPENVINO_FLOAT_PRECISION == "f32"
    assert gate["recipe"] == QUANTIZATION_RECIPE
    # auto runs FP32 whatever the gate says; INT8 is chosen per camera.
    assert best_backend(weights, digest) == "openvino"


def test_int8_quantizes_the_heads_3x3_convolutions_and_keeps_its_outputs_in_fp32(
    assets: dict[str, Path],
) -> None:
    """In the INT8 IR set-up makes, the detection head's 3x3 convolutions (most of its work)
    take quantized inputs and INT8 weights like the rest of the model; the 1x1 convolutions
    that give box distributions and class logits, and the DFL's, stay FP32 (quantizing them
    cost a visit of the demo clip)."""
    import openvino

    int8 = assets["yolov8n.openvino-int8"]
    model = openvino.Core().read_model(str(int8 / f"{int8.name}.xml"))
    head: dict[str, bool] = {}
    for op in model.get_ordered_ops():
        name = op.get_friendly_name()
        if op.get_type_name() != "Convolution" or "/model.22/" not in name:
            continue
        weights = op.input(1).get_source_output().get_node()
        while weights.get_input_size() > 0:  # the dequantizing Multiply and Convert
            weights = weights.input(0).get_source_output().get_node()
        activations = op.input(0).get_source_output().get_node()
        quantized = activations.get_type_name() == "FakeQuantize"
        assert quantized is (weights.get_output_element_type(0) == openvino.Type.i8), name
        head[name.removeprefix("/model.22/").partition("/Conv")[0]] = quantized
    branches = [f"{kind}.{level}" for kind in ("cv2", "cv3") for level in range(3)]
    assert {name for name, quantized in head.items() if quantized} == {
        f"{branch}/{branch}.{layer}/conv" for branch in branches for layer in (0, 1)
    }
    assert {name for name, quantized in head.items() if not quantized} == {
        f"{branch}/{branch}.2" for branch in branches
    } | {"dfl/conv"}


def test_auto_runs_fp32_openvino_and_leaves_int8_to_the_camera(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    weights = tmp_path / "yolov8n.pt"
    shutil.copyfile(assets["yolov8n.pt"], weights)
    digest = file_sha256(weights)
    assert best_backend(weights, digest) == "pytorch"  # nothing made beside these weights
    shutil.copytree(assets["yolov8n.openvino"], openvino_ir_path(weights, digest))
    assert best_backend(weights, digest) == "openvino"
    int8 = openvino_ir_path(weights, digest, int8=True)
    int8.mkdir()
    assert best_backend(weights, digest) == "openvino"  # no verdict yet
    for passed in (False, True):
        verdict = {"passed": passed, "float_precision": OPENVINO_FLOAT_PRECISION}
        (int8 / ACCURACY_GATE_FILE).write_text(json.dumps(verdict))
        assert int8_gate_passed(weights, digest) is passed
        assert best_backend(weights, digest) == "openvino"


@pytest.mark.slow
def test_int8_calibrated_on_a_directory_of_frames_still_finds_the_people(
    assets: dict[str, Path], demo_clip: Path, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in (50, 250, 450, 650):
        cv2.imwrite(str(frames / f"{index}.jpg"), frame_at(demo_clip, index))
    weights = tmp_path / "yolov8n.pt"
    shutil.copyfile(assets["yolov8n.pt"], weights)
    digest = file_sha256(weights)
    int8 = quantize_ir(
        assets["yolov8n.openvino"],
        openvino_ir_path(weights, digest, int8=True),
        directory_frames(frames),
    )
    graph = (int8 / f"{int8.name}.xml").read_text()
    assert "FakeQuantize" in graph  # INT8 quantizers are in the graph
    assert not int8.with_name(int8.name + ".partial").exists()
    detector = YoloDetector(weights, backend="openvino-int8", weights_sha256=digest)
    fp32 = YoloDetector(assets["yolov8n.pt"], backend="openvino")
    image = frame_at(demo_clip, 300)
    found = detector.detect(image, confidence=0.4, classes=[0])
    reference = fp32.detect(image, confidence=0.4, classes=[0])
    assert abs(len(found) - len(reference)) <= 1
    assert np.median([max(iou(box, other) for other in reference.xyxy) for box in found.xyxy]) > 0.8


def test_bad_calibration_frames_are_named(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match=f"{tmp_path}: no calibration frames"):
        directory_frames(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(QuantizationError, match=r"broken\.jpg: not a readable image"):
        directory_frames(tmp_path)
    with pytest.raises(QuantizationError, match="missing: no such directory"):
        directory_frames(tmp_path / "missing")


def runtime_input_shapes(detector: ExportedDetector, image: np.ndarray) -> list[tuple[int, ...]]:
    """The (N, H, W) of the letterboxed frames the runtime was given for one detect() call."""
    shapes: list[tuple[int, ...]] = []
    infer = detector.infer

    def recorded(boxed: Any) -> np.ndarray:
        shapes.append(np.stack(boxed).shape[:3])
        return infer(boxed)

    detector.infer = recorded  # type: ignore[method-assign]
    detector.detect(image, confidence=0.4, classes=[0])
    return shapes


@pytest.mark.parametrize("backend", ["onnx", "openvino", "openvino-int8"])
def test_imgsz_changes_the_input_tensor_of_every_backend(
    backend: str, assets: dict[str, Path], demo_clip: Path
) -> None:
    image = frame_at(demo_clip, 300)  # 768x576
    pool = DetectorPool(assets["yolov8n.pt"].parent)
    sides = {}
    for imgsz in (640, 512, 416):
        detector = pool.get(DetectConfig(backend=backend, imgsz=imgsz))  # type: ignore[arg-type]
        assert isinstance(detector, ExportedDetector) and detector.backend == backend
        shapes = runtime_input_shapes(detector, image)
        assert shapes, backend
        height, width = shapes[-1][1:]
        # The longer side is imgsz, the aspect ratio kept (768x576 -> 640x480, 416x320).
        assert max(height, width) == imgsz, (backend, imgsz, shapes)
        assert (height, width) == (math.ceil(imgsz * 3 / 4 / 32) * 32, imgsz)
        sides[imgsz] = len(detector.detect(image, confidence=0.4, classes=[0]))
    assert all(found >= 2 for found in sides.values()), sides


def test_quantize_command_names_bad_calibration_input(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from gridwatch.cli import app

    empty = tmp_path / "frames"
    empty.mkdir()
    result = CliRunner().invoke(app, ["assets", "quantize", "--frames", str(empty)])
    assert result.exit_code == 1
    assert f"{empty}: no calibration frames" in result.output
    result = CliRunner().invoke(app, ["assets", "quantize", "--model", "yolov9"])
    assert result.exit_code == 2 and "--model: unknown model 'yolov9'" in result.output
