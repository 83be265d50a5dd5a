"""The detection models a camera may name, with the classes each one knows.

Configuration is validated before any model is loaded, so the class names live here as data.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.coco import COCO_CLASS_NAMES


@dataclass(frozen=True)
class ModelSpec:
    """A model a camera can run.

    Attributes:
        name: What camera files call it (`detect.model`).
        weights: File name of its PyTorch weights in the data directory.
        class_names: Its classes, in the order the model numbers them.
        purpose: One line for operators choosing a model.
    """

    name: str
    weights: str
    class_names: tuple[str, ...]
    purpose: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolov8n",
            weights="yolov8n.pt",
            class_names=COCO_CLASS_NAMES,
            purpose="General objects (COCO, 80 classes): people, vehicles, animals.",
        ),
        ModelSpec(
            name="fall-yolov8",
            weights="fall-yolov8.pt",
            class_names=("Normal", "Fall"),
            purpose="People, each classed as standing/sitting (Normal) or fallen (Fall).",
        ),
    )
}

DEFAULT_MODEL = "yolov8n"
