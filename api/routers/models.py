"""Bring-your-own models: admins register a district's own detection model and map its classes to
event codes; workers fetch it (checked by SHA-256) for the cameras that name it."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy import select

from api.auth import ALLOWED_ROLES, AdminDep, current_principal
from api.bodies import MULTIPART_OVERHEAD, BodyLimit
from api.deps import PolicyDep, SessionDep, SettingsDep
from api.models import CustomModel
from api.principal import Principal
from api.schemas import ClassCode, CustomModelPublic, ModelExportFile, ModelExportPublic, Problem
from contract.camera import default_data_dir
from contract.catalog import MODELS
from detectors.model import (
    ACCURACY_GATE_FILE,
    OPENVINO_BACKENDS,
    file_sha256,
    onnx_export_path,
    openvino_ir_path,
)

router = APIRouter(prefix="/api/v1/models", tags=["models"])

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _admin_or_worker(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.role != "admin" and "worker" not in principal.scopes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="models are for admins and workers (API tokens with the scope 'worker')",
        )
    return principal


ALLOWED_ROLES[_admin_or_worker] = frozenset(("admin", "worker"))
WEIGHTS_LIMIT = BodyLimit(
    lambda settings: settings.max_model_bytes + MULTIPART_OVERHEAD, "GRIDWATCH_MAX_MODEL_BYTES"
)
ReaderDep = Annotated[Principal, Depends(_admin_or_worker)]


def _public(model: CustomModel, request: Request, policy: PolicyDep) -> CustomModelPublic:
    codes = {}
    for class_name, code in model.class_codes.items():
        event = policy.taxonomy.check(code)
        codes[class_name] = ClassCode(
            code=event.code, category=event.category.value, severity=event.severity.value,
            name_en=event.name_en, name_zh=event.name_zh,
        )  # fmt: skip
    return CustomModelPublic(
        name=model.name,
        description=model.description,
        weights_sha256=model.weights_sha256,
        weights_url=str(request.url_for("model_weights", name=model.name)),
        class_names=list(model.class_names),
        class_codes=codes,
    )


_DIGESTS: dict[tuple[Path, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    """A file's SHA-256, hashed again only when its size or modification time changes."""
    status_ = path.stat()
    key = (path, status_.st_size, status_.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def _exports(data_dir: Path) -> list[tuple[str, str, dict[str, list[Path]]]]:
    """(model, weights digest, backend -> its files) for each catalogue model whose weights
    are in `data_dir`, with the exports `gridwatch assets fetch` made of them."""
    found = []
    for spec in MODELS.values():
        weights = data_dir / spec.weights
        if not weights.is_file():
            continue
        digest = _cached_sha256(weights)
        backends: dict[str, list[Path]] = {}
        onnx_file = onnx_export_path(weights, digest)
        if onnx_file.is_file():
            backends["onnx"] = [onnx_file]
        for backend in OPENVINO_BACKENDS:
            folder = openvino_ir_path(weights, digest, int8=backend == "openvino-int8")
            if (folder / "metadata.yaml").is_file():
                backends[backend] = sorted(p for p in folder.iterdir() if p.is_file())
        found.append((spec.name, digest, backends))
    return found


@router.get(
    "/exports",
    response_model=list[ModelExportPublic],
    summary="The catalogue models' exported files (ONNX, OpenVINO IR, INT8 with its accuracy "
    "gate) with their SHA-256, for workers that run them without PyTorch.",
)
def list_exports(request: Request, _caller: ReaderDep) -> list[ModelExportPublic]:
    data_dir = default_data_dir()
    answer = []
    for model, digest, backends in _exports(data_dir):
        gate = None
        files = []
        for backend, paths in backends.items():
            for path in paths:
                relative = path.relative_to(data_dir).as_posix()
                files.append(
                    ModelExportFile(
                        path=relative, sha256=_cached_sha256(path), size=path.stat().st_size,
                        url=str(request.url_for("model_export_file", file_path=relative)),
                    )
                )  # fmt: skip
                if backend == "openvino-int8" and path.name == ACCURACY_GATE_FILE:
                    try:
                        gate = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        gate = None
        answer.append(
            ModelExportPublic(
                model=model, weights_sha256=digest, backends=list(backends), int8_gate=gate,
                files=files,
            )
        )  # fmt: skip
    return answer


@router.get(
    "/exports/{file_path:path}",
    name="model_export_file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"model": Problem}},
    summary="One exported file listed by /exports (ETag is its SHA-256).",
)
def model_export_file(file_path: str, _caller: ReaderDep) -> Any:
    data_dir = default_data_dir()
    # Only a listed file is served: the path never reaches the file system otherwise.
    for _model, _digest, backends in _exports(data_dir):
        for paths in backends.values():
            for path in paths:
                if path.relative_to(data_dir).as_posix() == file_path:
                    return FileResponse(
                        path,
                        media_type="application/octet-stream",
                        headers={"ETag": f'"{_cached_sha256(path)}"'},
                    )
    raise HTTPException(404, detail=f"file_path: no exported model file {file_path!r}")


def _class_names(weights: Path) -> list[str]:
    """The classes the weights know, read by loading them: a file that does not load is refused."""
    import os

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    names = YOLO(str(weights), task="detect").names
    return [str(names[index]) for index in sorted(names)]


@router.post(
    "",
    response_model=CustomModelPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Problem}, 413: {"model": Problem}, 422: {"model": Problem}},
    summary="Register a model (ultralytics .pt) and map its classes to event codes (admins).",
    dependencies=[Depends(WEIGHTS_LIMIT)],
)
def register_model(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    admin: AdminDep,
    name: Annotated[str, Form(pattern=SLUG, description="What cameras call it.")],
    class_codes: Annotated[
        str, Form(description='JSON: class name -> event code, {"Fall": "0901"}.')
    ],
    weights: Annotated[UploadFile, File(description="The model's ultralytics weights (.pt).")],
    description: Annotated[str, Form(max_length=300)] = "",
) -> CustomModelPublic:
    from api.taxonomy import UnknownEventCode

    if session.get(CustomModel, name) is not None:
        raise HTTPException(409, detail=f"name: a model named {name!r} is registered")
    try:
        mapping = json.loads(class_codes)
    except json.JSONDecodeError as err:
        raise HTTPException(422, detail=f"class_codes: not valid JSON ({err.msg})") from err
    if (
        not isinstance(mapping, dict)
        or not mapping
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    ):
        raise HTTPException(422, detail="class_codes: a JSON object of class name -> event code")
    for class_name, code in mapping.items():
        try:
            policy.taxonomy.check(code)
        except UnknownEventCode as err:
            raise HTTPException(422, detail=f"class_codes.{class_name}: {err}") from err

    folder = settings.evidence_dir / "models"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".pt", delete=False) as stream:
        partial = Path(stream.name)
        while block := weights.file.read(1 << 20):
            size += len(block)
            if size > settings.max_model_bytes:
                partial.unlink(missing_ok=True)
                raise HTTPException(
                    413, detail=f"weights: larger than {settings.max_model_bytes} bytes"
                )
            digest.update(block)
            stream.write(block)
    try:
        names = _class_names(partial)
    except Exception as err:
        partial.unlink(missing_ok=True)
        raise HTTPException(
            422, detail=f"weights: not an ultralytics detection model ({err})"
        ) from err
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        partial.unlink(missing_ok=True)
        raise HTTPException(
            422,
            detail=f"class_codes: no class {unknown[0]!r} in the model ({', '.join(names)})",
        )
    target = folder / f"{digest.hexdigest()}.pt"
    partial.replace(target)
    model = CustomModel(
        name=name, weights_sha256=digest.hexdigest(),
        weights_path=target.relative_to(settings.evidence_dir).as_posix(),
        class_names=names, class_codes=mapping, description=description,
        registered_by=admin.actor,
    )  # fmt: skip
    session.add(model)
    session.commit()
    return _public(model, request, policy)


@router.get("", response_model=list[CustomModelPublic], summary="Registered models.")
def list_models(
    request: Request, session: SessionDep, policy: PolicyDep, _caller: ReaderDep
) -> list[CustomModelPublic]:
    models = session.scalars(select(CustomModel).order_by(CustomModel.name))
    return [_public(model, request, policy) for model in models]


@router.get(
    "/{name}/weights",
    name="model_weights",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"model": Problem}},
    summary="A registered model's weights (workers fetch them; ETag is the SHA-256).",
)
def model_weights(name: str, session: SessionDep, settings: SettingsDep, _caller: ReaderDep) -> Any:
    model = session.get(CustomModel, name)
    if model is None:
        raise HTTPException(404, detail=f"model {name} not found")
    return FileResponse(
        settings.evidence_dir / model.weights_path,
        media_type="application/octet-stream",
        headers={"ETag": f'"{model.weights_sha256}"'},
    )
