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
from api.schemas import ClassCode, CustomModelPublic, Problem

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
