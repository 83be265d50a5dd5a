"""Object detection models behind one small interface: PyTorch weights, their ONNX export, or
the OpenVINO IR converted from that export (FP32, or INT8 when it passed the accuracy gate)."""

from __future__ import annotations

import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import supervision as sv

# Ultralytics may otherwise try to fetch fonts, weights or update checks at run time.
os.environ.setdefault("YOLO_OFFLINE", "1")

Backend = Literal["pytorch", "onnx", "openvino", "openvino-int8"]
OPENVINO_BACKENDS = ("openvino", "openvino-int8")


class ObjectDetector(Protocol):
    """Anything that turns BGR images into detections.

    `version` names the weights (a digest prefix), `backend` how they are run; together with
    `name` they are recorded with every incident.
    """

    name: str
    version: str
    backend: str
    class_names: dict[int, str]

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections: ...

    def detect_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        confidence: float,
        classes: list[int] | None = None,
    ) -> list[sv.Detections]: ...


class BatchDetector(ABC):
    """What the detectors here share: a label for logs, and one frame through `detect_batch`."""

    name: str
    version: str
    backend: str

    @property
    def label(self) -> str:
        """Name, version and backend in one string for logs."""
        return f"{self.name} ({self.version}, {self.backend})"

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        """Detections for one BGR frame."""
        return self.detect_batch([image], confidence=confidence, classes=classes)[0]

    @abstractmethod
    def detect_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        confidence: float,
        classes: list[int] | None = None,
    ) -> list[sv.Detections]:
        """Detections for several BGR frames, one per frame, in order."""


def class_ids_of(
    detector: ObjectDetector, names: Iterable[str], *, camera_id: str, model_name: str
) -> list[int]:
    """The model's class ids for class names, sorted; raises ValueError naming the camera, the
    model and the first class it does not know."""
    by_name = {name: class_id for class_id, name in detector.class_names.items()}
    wanted = list(names)
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ValueError(f"{camera_id}: model {model_name} has no class {unknown[0]!r}")
    return sorted({by_name[name] for name in wanted})


OPENVINO_FLOAT_PRECISION = "f32"
"""The precision of OpenVINO's floating-point layers (INFERENCE_PRECISION_HINT), in models run
and in the INT8 accuracy gate's scores (stored with the verdict as `float_precision`)."""


def openvino_cpu_config(threads: int | None, hint: str = "LATENCY") -> dict[str, Any]:
    """OpenVINO CPU plugin settings for a model compiled for one detection thread.

    `threads` is how many cores one inference may use (INFERENCE_NUM_THREADS; None: every
    core); `hint` is PERFORMANCE_HINT. Inference threads are not pinned to cores: the plugin
    pins every compiled model's threads from the first core on, so the models of two detection
    threads with a core each ran on the same core, and a worker's inferences used one core of
    two (46 inferences/s with one thread, 46 with two; 87 unpinned, in one run).

    Floating-point layers run in FP32 (INFERENCE_PRECISION_HINT "f32"): on a CPU with AMX or
    AVX512-BF16 the plugin's default is BF16, so an "FP32" model is not FP32 there and an INT8
    model's float layers (its detection head, kept out of quantization) lose the precision they
    were kept for. Measured on such a Xeon, the demo clip's intrusion visits: BF16 recall 0.95
    and INT8 with a BF16 head 0.91, against 1.00 for ONNX Runtime FP32.
    """
    config: dict[str, Any] = {
        "PERFORMANCE_HINT": hint,
        "ENABLE_CPU_PINNING": False,
        "INFERENCE_PRECISION_HINT": OPENVINO_FLOAT_PRECISION,
    }
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_export_path(weights: Path, weights_sha256: str) -> Path:
    """Where the ONNX export of `weights` lives: beside them, named by their digest.

    The digest in the name ties the export to exactly those weights, so new weights never run
    through a stale export.

    Example:
        >>> onnx_export_path(Path("/data/yolov8n.pt"), "f59b3d833e2f" + "0" * 52)
        PosixPath('/data/yolov8n-f59b3d833e2f.onnx')
    """
    return weights.with_name(f"{weights.stem}-{weights_sha256[:12]}.onnx")


def openvino_ir_path(weights: Path, weights_sha256: str, *, int8: bool = False) -> Path:
    """Where the OpenVINO IR of `weights` lives: a directory beside them, named by their digest.

    The directory holds the IR (`.xml` graph, `.bin` weights) and ultralytics' `metadata.yaml`
    (class names, stride); the INT8 one also holds `accuracy-gate.json`, the gate's verdict. The
    `_openvino_model` suffix is how ultralytics recognises the format.

    Example:
        >>> openvino_ir_path(Path("/data/yolov8n.pt"), "f59b3d833e2f" + "0" * 52, int8=True)
        PosixPath('/data/yolov8n-f59b3d833e2f-int8_openvino_model')
    """
    precision = "-int8" if int8 else ""
    return weights.with_name(f"{weights.stem}-{weights_sha256[:12]}{precision}_openvino_model")


ACCURACY_GATE_FILE = "accuracy-gate.json"


def stored_gate(int8_ir: Path) -> dict[str, Any] | None:
    """The accuracy-gate verdict stored in the INT8 IR folder `int8_ir`, or None when there is
    none, it cannot be read, or it was scored with other float precision than models now run
    with (`OPENVINO_FLOAT_PRECISION`): such a verdict says nothing of the models as run."""
    import json

    try:
        gate = json.loads((int8_ir / ACCURACY_GATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(gate, dict) or gate.get("float_precision") != OPENVINO_FLOAT_PRECISION:
        return None
    return gate


def int8_gate_passed(weights: Path, weights_sha256: str) -> bool:
    """Whether the INT8 IR of `weights` exists and its stored accuracy gate (see `stored_gate`)
    passed."""
    gate = stored_gate(openvino_ir_path(weights, weights_sha256, int8=True))
    return bool(gate and gate.get("passed"))


def best_backend(weights: Path, weights_sha256: str | None) -> Backend:
    """What `auto` runs: the FP32 OpenVINO IR, else the ONNX export, else PyTorch (each only
    when made at set-up and its runtime is installed).

    INT8 is chosen per camera (`backend: openvino-int8`), not by `auto`: its accuracy gate
    scores the labelled sets only, and on a frame unlike them (a person lying on their side,
    in a portrait picture) the INT8 model missed an intrusion that FP32 raised."""
    import importlib.util

    if weights_sha256 is None:
        return "pytorch"
    if (
        importlib.util.find_spec("openvino") is not None
        and (openvino_ir_path(weights, weights_sha256) / "metadata.yaml").is_file()
    ):
        return "openvino"
    if onnx_export_path(weights, weights_sha256).is_file():
        return "onnx"
    return "pytorch"


def open_detector(
    weights: Path,
    weights_sha256: str,
    *,
    backend: Backend,
    imgsz: int = 640,
    threads: int | None = None,
) -> ObjectDetector:
    """The model that `weights` name, run by `backend`.

    The exported backends ("onnx", "openvino", "openvino-int8") run the export beside the
    weights (`onnx_export_path`, `openvino_ir_path`) through `detectors.runtime`, without torch
    or ultralytics, and need only its file: the weights themselves may be absent (a worker-only
    box fetches the exports from the API). "pytorch" runs the weights through ultralytics.

    Raises:
        FileNotFoundError: The export or the weights are not there, naming the file and what
            makes it.
        ModuleNotFoundError: "pytorch" on a box without torch and ultralytics.
    """
    if backend == "pytorch":
        return YoloDetector(
            weights, imgsz=imgsz, backend="pytorch", threads=threads, weights_sha256=weights_sha256
        )
    from detectors.runtime import ExportedDetector, ExportError

    if backend == "onnx":
        model_file = onnx_export_path(weights, weights_sha256)
    else:
        model_file = openvino_ir_path(weights, weights_sha256, int8=backend == "openvino-int8")
    try:
        return ExportedDetector(
            model_file, name=weights.stem, version=weights_sha256[:12], backend=backend,
            imgsz=imgsz, threads=threads,
        )  # fmt: skip
    except ExportError as err:
        made_by = "assets quantize" if backend == "openvino-int8" else "assets fetch"
        raise FileNotFoundError(f"{err} (made by `gridwatch {made_by}`)") from err


class YoloDetector(BatchDetector):
    """An ultralytics YOLO model run on the CPU (or a GPU): `.pt` through PyTorch, its `.onnx`
    export through ONNX Runtime, or the OpenVINO IR converted from that export (FP32 or INT8).
    Every backend shares ultralytics' pre-processing (letterbox to `imgsz`, stride 32) and
    post-processing (non-maximum suppression), so only the runtime differs.

    Safe to call from several threads at once: each calling thread runs its own copy of the
    model (an ultralytics predictor keeps per-call state), so frames of different cameras can be
    inferred in parallel.

    Args:
        weights: Absolute path to the PyTorch weights; they name the model and its version.
        imgsz: Input size in pixels (the longer side; frames keep their aspect ratio).
        device: "cpu", or a CUDA device such as "0".
        backend: "pytorch"; "onnx" to run the export made by `gridwatch assets fetch`;
            "openvino" for the OpenVINO IR made from it, "openvino-int8" for its INT8
            quantization (`gridwatch assets quantize`).
        onnx_path: The export to run, when not at its usual place beside the weights.
        threads: Cores one ONNX Runtime or OpenVINO inference may use (intra-op threads,
            OpenVINO's INFERENCE_NUM_THREADS), None for the runtime's default of every core.
            Workers running several inferences at once give each a share of the cores; the
            ONNX Runtime threads then sleep rather than spin while they wait, so they leave
            the cores to decoding and to each other.
        weights_sha256: The weights' SHA-256 when the caller has it already.

    Example:
        >>> detector = YoloDetector(Path("/abs/path/yolov8n.pt"), backend="onnx")
        >>> detections = detector.detect(image, confidence=0.4, classes=[0])
    """

    def __init__(
        self,
        weights: Path,
        *,
        imgsz: int = 640,
        device: str = "cpu",
        backend: Backend = "pytorch",
        onnx_path: Path | None = None,
        threads: int | None = None,
        weights_sha256: str | None = None,
    ):
        try:
            from ultralytics import YOLO  # heavy import, kept out of module import time
        except ModuleNotFoundError as err:
            # A worker-only box (gridwatch[worker]) runs exported models alone.
            raise ModuleNotFoundError(
                f"{weights.name}: backend {backend!r} runs PyTorch weights through ultralytics,"
                " which this environment lacks (install gridwatch[server]); the exported"
                " backends (onnx, openvino, openvino-int8) do not need it"
            ) from err

        weights = weights.resolve()
        if not weights.is_file():
            raise FileNotFoundError(f"model weights not found: {weights}")
        self.weights = weights
        self.imgsz = imgsz
        self.device = device
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self.backend: str = backend
        self.name = weights.stem
        digest = weights_sha256 or file_sha256(weights)
        # The weights' digest names exactly which model produced an incident, whichever backend
        # runs it: the ONNX export is the same model.
        self.version = digest[:12]
        if backend == "onnx":
            model_file = (onnx_path or onnx_export_path(weights, digest)).resolve()
            if not model_file.is_file():
                raise FileNotFoundError(
                    f"ONNX export not found: {model_file} (made by `gridwatch assets fetch`)"
                )
        elif backend in OPENVINO_BACKENDS:
            model_file = openvino_ir_path(weights, digest, int8=backend == "openvino-int8")
            if not (model_file / "metadata.yaml").is_file():
                made_by = "assets quantize" if backend == "openvino-int8" else "assets fetch"
                raise FileNotFoundError(
                    f"OpenVINO IR not found: {model_file} (made by `gridwatch {made_by}`)"
                )
        else:
            model_file = weights
        self.model_file = model_file
        self._local = threading.local()
        model = self._thread_model()
        names = model.names
        if backend != "pytorch" and not names:
            names = YOLO(str(weights), task="detect").names
        self.class_names: dict[int, str] = dict(names)

    def detect_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        confidence: float,
        classes: list[int] | None = None,
    ) -> list[sv.Detections]:
        """Detections for several images in one model call (one per image, in order)."""
        if not images:
            return []
        results = self._thread_model().predict(
            list(images) if len(images) > 1 else images[0],
            imgsz=self.imgsz,
            conf=confidence,
            classes=classes,
            device=self.device,
            verbose=False,
        )
        return [sv.Detections.from_ultralytics(result) for result in results]

    def _thread_model(self) -> Any:
        """This thread's copy of the model, loaded on its first call."""
        model = getattr(self._local, "model", None)
        if model is None:
            from ultralytics import YOLO

            model = YOLO(str(self.model_file), task="detect")
            if self.backend == "onnx" and self.threads is not None:
                model.add_callback("on_predict_start", self._size_onnx_session)
            if self.backend in OPENVINO_BACKENDS:
                model.add_callback("on_predict_start", self._keep_input_size)
                if self.threads is not None:
                    model.add_callback("on_predict_start", self._size_openvino_model)
            self._local.model = model
        return model

    def _size_onnx_session(self, predictor: Any) -> None:
        """Give the ONNX Runtime session ultralytics made `self.threads` non-spinning threads.

        Ultralytics builds the session with the runtime's defaults and takes no options, so the
        session is replaced once, when a predictor is set up (on the first call, and again should
        ultralytics ever set one up anew).
        """
        backend: Any = getattr(predictor.model, "backend", None)
        session = getattr(backend, "session", None)
        if session is None or getattr(backend, "_gridwatch_sized", False):
            return
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads or 0
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        backend.session = onnxruntime.InferenceSession(
            str(self.model_file), options, providers=session.get_providers()
        )
        backend._gridwatch_sized = True

    def _size_openvino_model(self, predictor: Any) -> None:
        """Recompile the OpenVINO model ultralytics compiled with `self.threads` threads.

        As with ONNX Runtime, ultralytics compiles with the runtime's defaults (every core), so
        the compiled model is replaced once, when a predictor is set up.
        """
        backend: Any = getattr(predictor.model, "backend", None)
        if getattr(backend, "ov_compiled_model", None) is None:
            return
        if getattr(backend, "_gridwatch_sized", False):
            return
        from functools import partial

        import openvino

        core = openvino.Core()
        config = openvino_cpu_config(self.threads)
        backend.compile_model = partial(core.compile_model, device_name="CPU", config=config)
        graph = next(self.model_file.glob("*.xml"))
        backend.ov_compiled_model = backend.compile_model(core.read_model(graph))
        backend._gridwatch_sized = True

    def _keep_input_size(self, predictor: Any) -> None:
        """Letterbox to `self.imgsz`, keeping the aspect ratio, as on the other backends.

        On CPUs with AMX, ultralytics runs an INT8 IR with a dynamic input as a static one
        (reshaped and recompiled whenever the input shape changes, to avoid an OpenVINO crash)
        and then letterboxes every frame to the export's square 640 instead of the size asked
        for. A camera's frames all have one shape, so the IR is recompiled once per camera
        size; the letterbox is set back to `self.imgsz` with the frame's aspect ratio, as
        FP32 runs it, for this call and every later one.
        """
        model = predictor.model
        if model is None or getattr(model, "dynamic", True):
            return
        model.dynamic = True
        predictor.args.imgsz = self.imgsz
        predictor.imgsz = [self.imgsz, self.imgsz]
