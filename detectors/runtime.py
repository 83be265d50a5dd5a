"""The exported detection model run without torch or ultralytics: the ONNX export through ONNX
Runtime, or its OpenVINO IR (FP32 or INT8), with the pre- and post-processing in numpy and
OpenCV. This is what a worker runs; PyTorch and ultralytics are needed only to export.

The processing is ultralytics' own for YOLOv8-style detection heads, so an export scores here
as it scores through `ultralytics.YOLO.predict`:

- letterbox (`ultralytics.data.augment.LetterBox` with `auto=True`, as ultralytics runs a
  dynamic export): scale the longer side to `imgsz` keeping the aspect ratio (bilinear), pad
  each side to a multiple of the stride (32) with grey 114, centred;
- the model's output (1, 4 + classes, anchors): centre x, centre y, width, height in input
  pixels, then one score per class;
- non-maximum suppression per class (`ultralytics.utils.nms.non_max_suppression`: the best
  class per anchor above the confidence, IoU 0.7, at most 300 boxes) by OpenCV's
  `cv2.dnn.NMSBoxesBatched`;
- boxes scaled back to the frame and clipped to it.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import supervision as sv
import yaml

from detectors.model import BatchDetector, openvino_cpu_config

ExportBackend = Literal["onnx", "openvino", "openvino-int8"]

IOU_THRESHOLD = 0.7
"""Ultralytics' `predict` default: boxes of one class overlapping more than this are one."""
MAX_DETECTIONS = 300
MAX_CANDIDATES = 30000
"""Ultralytics' `max_nms`: the most boxes, best first, that go into suppression."""
PAD_VALUE = 114
STRIDE = 32


class ExportError(Exception):
    """An exported model file is missing, unreadable or not a detection model."""


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted to the model's input: `scale` (input px per frame px) and the
    padding added on the left and on top, in input pixels."""

    scale: float
    pad_left: int
    pad_top: int


def letterbox_size(height: int, width: int, imgsz: int, stride: int = STRIDE) -> tuple[int, int]:
    """The model input's (height, width) for a frame: the longer side `imgsz`, each side
    padded up to a multiple of `stride`.

    Example:
        >>> letterbox_size(576, 768, 640)
        (480, 640)
        >>> letterbox_size(1080, 1920, 640)
        (384, 640)
    """
    scale = min(imgsz / height, imgsz / width)
    new_h, new_w = round(height * scale), round(width * scale)
    pad_h, pad_w = (imgsz - new_h) % stride, (imgsz - new_w) % stride
    return new_h + pad_h, new_w + pad_w


def letterbox(image: np.ndarray, imgsz: int, stride: int = STRIDE) -> tuple[np.ndarray, Letterbox]:
    """A BGR frame (H, W, 3) uint8 resized and padded to `letterbox_size`, still BGR uint8,
    and how to map boxes back."""
    height, width = image.shape[:2]
    scale = min(imgsz / height, imgsz / width)
    new_h, new_w = round(height * scale), round(width * scale)
    pad_w = ((imgsz - new_w) % stride) / 2
    pad_h = ((imgsz - new_h) % stride) / 2
    if (new_h, new_w) != (height, width):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    if top or bottom or left or right:
        image = cv2.copyMakeBorder(
            image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        )
    return image, Letterbox(scale, left, top)


def to_tensor(boxed: Sequence[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 frames as the model's float input: RGB, NCHW, in [0, 1]."""
    batch = np.stack(boxed)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255)


def decode(
    output: np.ndarray,
    fit: Letterbox,
    frame_shape: tuple[int, int],
    *,
    confidence: float,
    classes: list[int] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output (4 + classes, anchors) as (xyxy in frame pixels (N, 4) float32,
    confidence (N,) float32, class id (N,) int), after per-class suppression, best first."""
    scores = output[4:]
    # The best score of every anchor first (a reduction along rows, fast), the class only of
    # the few anchors above the threshold: argmax over every anchor cost five times as much.
    best = scores.max(axis=0)
    keep = best > confidence
    class_id = scores[:, keep].argmax(axis=0)
    if classes is not None:
        wanted = np.isin(class_id, classes)
        keep[keep] = wanted
        class_id = class_id[wanted]
    if not keep.any():
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, int)
    boxes_xywh = output[:4, keep].T
    best = best[keep]
    if len(best) > MAX_CANDIDATES:
        top = np.argsort(-best)[:MAX_CANDIDATES]
        boxes_xywh, best, class_id = boxes_xywh[top], best[top], class_id[top]
    corner = boxes_xywh[:, :2] - boxes_xywh[:, 2:] / 2
    # OpenCV's stubs ask for sequences; it takes the arrays as they are.
    boxes: Any = np.concatenate([corner, boxes_xywh[:, 2:]], axis=1).astype(np.float64)
    confidences: Any = best.astype(np.float32)
    labels: Any = class_id.astype(np.int32)
    kept = cv2.dnn.NMSBoxesBatched(boxes, confidences, labels, confidence, IOU_THRESHOLD)
    chosen = np.asarray(kept, dtype=int).reshape(-1)
    chosen = chosen[np.argsort(-best[chosen], kind="stable")][:MAX_DETECTIONS]
    xyxy = np.concatenate([corner[chosen], corner[chosen] + boxes_xywh[chosen, 2:]], axis=1)
    xyxy[:, [0, 2]] -= fit.pad_left
    xyxy[:, [1, 3]] -= fit.pad_top
    xyxy /= fit.scale
    height, width = frame_shape
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return xyxy.astype(np.float32), best[chosen].astype(np.float32), class_id[chosen]


def parse_names(value: Any, source: Path) -> dict[int, str]:
    """Class names from an export's metadata: a dict, or its repr as ultralytics writes it."""
    names = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(names, dict) or not names:
        raise ExportError(f"{source}: metadata 'names' is not a mapping of class names")
    return {int(index): str(name) for index, name in names.items()}


class ExportedDetector(BatchDetector):
    """A detection model exported by ultralytics, run by ONNX Runtime or OpenVINO alone.

    Thread-safe: ONNX Runtime sessions run concurrently; with OpenVINO each thread compiles the
    model for itself, unpinned (see `openvino_cpu_config`), and runs its own infer request on it.
    A model compiled with the LATENCY hint has one stream, one graph behind a lock in the CPU
    plugin: detection threads sharing it took turns at that lock. OpenVINO compiles once per
    thread and input shape (a camera's frames all have one):
    a static shape, as ultralytics also runs INT8 on CPUs with AMX, where OpenVINO fails on a
    dynamic INT8 input.

    Args:
        model_file: The `.onnx` export, or the OpenVINO IR directory (`*_openvino_model`, with
            its `.xml`, `.bin` and `metadata.yaml`).
        name: The model's name (the weights' stem, e.g. "yolov8n").
        version: The weights' digest prefix that names exactly which model this is.
        backend: "onnx", "openvino" or "openvino-int8".
        imgsz: The longer side of the model's input in pixels (frames keep their aspect ratio).
        threads: Cores one inference may use (None: every core).
        performance_hint: OpenVINO's PERFORMANCE_HINT: "LATENCY" (one frame at a time, as the
            worker's detection threads call it) or "THROUGHPUT".
        preprocess_in_model: OpenVINO takes the letterboxed BGR uint8 frame as it is and
            converts it (colour order, layout, scaling to [0, 1]) inside the compiled model;
            False converts it in numpy as for ONNX Runtime (bench/inference.py compares both).

    Raises:
        ExportError: The file is missing or has no class names.

    Example:
        >>> detector = ExportedDetector(Path("/data/yolov8n-f59b3d833e2f.onnx"),
        ...                             name="yolov8n", version="f59b3d833e2f", backend="onnx")
        >>> detections = detector.detect(image, confidence=0.4, classes=[0])
    """

    def __init__(
        self,
        model_file: Path,
        *,
        name: str,
        version: str,
        backend: ExportBackend,
        imgsz: int = 640,
        threads: int | None = None,
        performance_hint: str = "LATENCY",
        preprocess_in_model: bool = True,
    ):
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.model_file = model_file
        self.name = name
        self.version = version
        self.backend: str = backend
        self.imgsz = imgsz
        self.threads = threads
        self.performance_hint = performance_hint
        self.preprocess_in_model = preprocess_in_model
        self._local = threading.local()
        self._lock = threading.Lock()
        self._first_inference = threading.Lock()
        if backend == "onnx":
            if not model_file.is_file():
                raise ExportError(f"ONNX export not found: {model_file}")
            try:
                import onnxruntime
            except ModuleNotFoundError as err:
                raise ModuleNotFoundError(
                    "backend 'onnx' needs ONNX Runtime (install gridwatch[worker,plates]); "
                    "'openvino' runs the same model with gridwatch[worker] alone"
                ) from err

            options = onnxruntime.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                # Sleep rather than spin between inferences: the cores go to decoding.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = onnxruntime.InferenceSession(
                str(model_file), options, providers=["CPUExecutionProvider"]
            )
            self._input_name = self._session.get_inputs()[0].name
            metadata = self._session.get_modelmeta().custom_metadata_map
            self.class_names = parse_names(metadata.get("names"), model_file)
        else:
            metadata_file = model_file / "metadata.yaml"
            graphs = sorted(model_file.glob("*.xml"))
            if not metadata_file.is_file() or not graphs:
                raise ExportError(f"OpenVINO IR not found: {model_file}")
            import openvino

            metadata = yaml.safe_load(metadata_file.read_text(encoding="utf-8")) or {}
            self.class_names = parse_names(metadata.get("names"), metadata_file)
            self._core = openvino.Core()
            self._graph = graphs[0]

    def detect_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        confidence: float,
        classes: list[int] | None = None,
    ) -> list[sv.Detections]:
        """Detections for several BGR frames (one per frame, in order); frames of one shape go
        through the model in one call."""
        results: list[sv.Detections | None] = [None] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(index)
        for indices in by_shape.values():
            fitted = [letterbox(images[index], self.imgsz) for index in indices]
            outputs = self.infer([boxed for boxed, _ in fitted])
            for position, index in enumerate(indices):
                xyxy, score, class_id = decode(
                    outputs[position], fitted[position][1], images[index].shape[:2],
                    confidence=confidence, classes=classes,
                )  # fmt: skip
                results[index] = sv.Detections(
                    xyxy=xyxy, confidence=score, class_id=class_id,
                    data={"class_name": np.array([self.class_names[c] for c in class_id])},
                )  # fmt: skip
        return [result for result in results if result is not None]

    def infer(self, boxed: Sequence[np.ndarray]) -> np.ndarray:
        """The raw output (batch, 4 + classes, anchors) for letterboxed BGR uint8 frames of one
        shape."""
        if self.backend == "onnx":
            return np.asarray(self._session.run(None, {self._input_name: to_tensor(boxed)})[0])
        frames = np.stack(boxed)
        request = self._request(frames.shape[:3])
        batch = frames if self.preprocess_in_model else to_tensor(boxed)
        request.infer({0: batch}, share_inputs=True)
        return np.asarray(request.get_output_tensor(0).data)

    def _request(self, shape: tuple[int, ...]) -> Any:
        """This thread's OpenVINO infer request for input batches of `shape` (N, H, W), on the
        model this thread compiled for that shape."""
        requests: dict[tuple[int, ...], Any] = getattr(self._local, "requests", None) or {}
        self._local.requests = requests
        if shape not in requests:
            compiled = self._compile(shape)
            # A request's first inference sets itself up for its shape; two at once (the
            # detection threads' first frames) left both threads waiting inside OpenVINO for
            # good on 2 cores. One at a time, on a blank batch, before any frame.
            with self._first_inference:
                request = compiled.create_infer_request()
                n, height, width = shape[0], shape[1], shape[2]
                blank = (
                    np.zeros((n, height, width, 3), np.uint8)
                    if self.preprocess_in_model
                    else np.zeros((n, 3, height, width), np.float32)
                )
                request.infer({0: blank})
            requests[shape] = request
        return requests[shape]

    def _openvino_config(self) -> dict[str, Any]:
        """The CPU plugin's settings for each compiled model."""
        return openvino_cpu_config(self.threads, self.performance_hint)

    def _compile(self, shape: tuple[int, ...]) -> Any:
        """The IR compiled anew for one input shape (N, H, W), for the calling thread alone (see
        the class's docstring); unless `preprocess_in_model` is False, taking the letterboxed BGR
        uint8 frames (NHWC) as they are: colour order, layout and scaling to [0, 1] run inside
        the model."""
        from openvino import Layout, Type
        from openvino.preprocess import ColorFormat, PrePostProcessor

        with self._lock:  # one compilation at a time: each takes every core it can
            model = self._core.read_model(str(self._graph))
            model.reshape([shape[0], 3, shape[1], shape[2]])
            config = self._openvino_config()
            if not self.preprocess_in_model:
                return self._core.compile_model(model, "CPU", config)
            steps = PrePostProcessor(model)
            steps.input().tensor().set_element_type(Type.u8).set_layout(
                Layout("NHWC")
            ).set_color_format(ColorFormat.BGR)
            steps.input().model().set_layout(Layout("NCHW"))
            steps.input().preprocess().convert_element_type(Type.f32).convert_color(
                ColorFormat.RGB
            ).scale(255.0)
            return self._core.compile_model(steps.build(), "CPU", config)
