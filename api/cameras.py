"""Cameras as the API keeps them: one model with the camera files, credentials encrypted at rest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.grids import locate_grid
from api.models import Camera, Organisation
from api.security import CredentialCipher
from contract.camera import CameraConfig
from contract.problems import problems_from_validation


class CameraRejected(ValueError):
    """A camera registration that does not validate; `problems` say field and why. Not retried."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def upsert_camera(session: Session, config: CameraConfig, cipher: CredentialCipher) -> Camera:
    """Create or update a camera (and its organisation) from its configuration."""
    owner = config.organisation
    organisation = session.get(Organisation, owner.id) or Organisation(id=owner.id)
    organisation.name, organisation.kind = owner.name, owner.kind.value
    session.add(organisation)

    camera = session.get(Camera, config.id) or Camera(id=config.id, health={})
    camera.name = config.name
    camera.organisation_id = owner.id
    camera.source_display = config.masked_source()
    # The address as written (credentials or ${VAR} references) is kept only encrypted.
    camera.source_encrypted = cipher.encrypt(config.source)
    camera.lat, camera.lon = config.location.lat, config.location.lon
    camera.enabled = config.enabled
    camera.retired_at = None
    camera.config = config.model_copy(update={"source": config.masked_source()}).model_dump(
        mode="json"
    )
    grid = locate_grid(session, config.location.lon, config.location.lat)
    camera.grid_id = grid.id if grid else None
    camera.updated_at = datetime.now(UTC)
    session.add(camera)
    session.flush()
    return camera


def full_config(camera: Camera, cipher: CredentialCipher) -> CameraConfig:
    """The camera's configuration with its real address, for workers only."""
    source = (
        cipher.decrypt(camera.source_encrypted)
        if camera.source_encrypted
        else camera.config["source"]
    )
    return CameraConfig.model_validate({**camera.config, "source": source})


def validate_registration(document: dict[str, Any], organisation: Organisation) -> CameraConfig:
    """A registration (a camera file's fields, the organisation given apart) as a CameraConfig."""
    owner = {"id": organisation.id, "name": organisation.name, "kind": organisation.kind}
    try:
        return CameraConfig.model_validate({**document, "organisation": owner})
    except ValidationError as err:
        raise CameraRejected(
            [f"{p.field}: {p.reason}" for p in problems_from_validation(None, err)]
        ) from err


def merged_document(
    camera: Camera, cipher: CredentialCipher, changes: dict[str, Any]
) -> dict[str, Any]:
    """The stored configuration with `changes` applied (a shallow merge, as JSON merge-patch)."""
    document = {key: value for key, value in camera.config.items() if key != "organisation"}
    document["source"] = (
        cipher.decrypt(camera.source_encrypted) if camera.source_encrypted else document["source"]
    )
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def feed_version(cameras: list[Camera]) -> str:
    """A digest that changes whenever any camera a worker watches changes."""
    digest = hashlib.sha256()
    for camera in sorted(cameras, key=lambda c: c.id):
        digest.update(
            json.dumps([camera.id, camera.updated_at.isoformat(), camera.enabled]).encode()
        )
    return digest.hexdigest()[:32]


def active_cameras(session: Session) -> list[Camera]:
    return list(
        session.scalars(select(Camera).where(Camera.retired_at.is_(None)).order_by(Camera.id))
    )
