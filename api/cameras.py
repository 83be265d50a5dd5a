"""Cameras as the API keeps them: one model with the camera files, credentials encrypted at rest."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.grids import locate_grid
from api.models import Camera, Organisation
from api.problems import field_errors
from api.security import CredentialCipher
from contract.addresses import mask_credentials
from contract.camera import CameraConfig
from contract.problems import problems_from_validation


class CameraRejected(ValueError):
    """A camera registration that does not validate; `problems` say field and why. Not retried."""

    def __init__(self, problems: list[str], errors: list[dict[str, Any]] | None = None):
        self.problems = problems
        # Each problem as {"field", "type", "params"} (pydantic's error type), for the console.
        self.errors = errors or []
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
    seal_addresses(camera, config, cipher)
    camera.lat, camera.lon = config.location.lat, config.location.lon
    camera.enabled = config.enabled
    camera.retired_at = None
    camera.watch_priority = {
        **config.priority.model_dump(mode="json"),
        "timezone": config.timezone,
    }
    grid = locate_grid(session, config.location.lon, config.location.lat)
    camera.grid_id = grid.id if grid else None
    camera.updated_at = datetime.now(UTC)
    session.add(camera)
    session.flush()
    return camera


def seal_addresses(camera: Camera, config: CameraConfig, cipher: CredentialCipher) -> None:
    """Keep every address of `config` (ADDRESS_FIELDS) as written, with its credentials or
    ${VAR} references, only encrypted; the camera's `config` holds them masked."""
    addresses = config.addresses()
    camera.source_display = config.masked_source()
    camera.source_encrypted = cipher.encrypt(addresses.pop("source"))
    camera.addresses_encrypted = cipher.encrypt(json.dumps(addresses)) if addresses else None
    camera.config = config.masked().model_dump(mode="json")


def stored_addresses(camera: Camera, cipher: CredentialCipher) -> dict[str, str]:
    """Every address of the camera as written (ADDRESS_FIELDS, by dotted path), decrypted.
    A row written before an address field was encrypted still holds it in `config`."""
    addresses = {
        path: value
        for path, value in CameraConfig.model_validate(camera.config).addresses().items()
        if path != "source" and camera.addresses_encrypted is None
    }
    addresses["source"] = (
        cipher.decrypt(camera.source_encrypted)
        if camera.source_encrypted
        else camera.config["source"]
    )
    if camera.addresses_encrypted:
        addresses.update(json.loads(cipher.decrypt(camera.addresses_encrypted)))
    return addresses


def full_config(camera: Camera, cipher: CredentialCipher) -> CameraConfig:
    """The camera's configuration with its real addresses, for workers only."""
    stored = CameraConfig.model_validate(camera.config)
    return stored.with_addresses(stored_addresses(camera, cipher))


def seal_stored_addresses(session: Session, cipher: CredentialCipher) -> int:
    """Encrypt the addresses that rows written before their field was encrypted hold in clear
    (a sub stream's); returns how many cameras changed. Not committed."""
    sealed = 0
    for camera in session.scalars(select(Camera).where(Camera.addresses_encrypted.is_(None))):
        config = full_config(camera, cipher)
        if set(config.addresses()) != {"source"}:
            seal_addresses(camera, config, cipher)
            sealed += 1
    return sealed


def validate_registration(document: dict[str, Any], organisation: Organisation) -> CameraConfig:
    """A registration (a camera file's fields, the organisation given apart) as a CameraConfig."""
    owner = {"id": organisation.id, "name": organisation.name, "kind": organisation.kind}
    try:
        return CameraConfig.model_validate({**document, "organisation": owner})
    except ValidationError as err:
        problems = problems_from_validation(None, err)
        errors = [
            {**worded, "field": problem.field}
            for problem, worded in zip(problems, field_errors(err.errors(), skip=0), strict=True)
        ]
        raise CameraRejected([f"{p.field}: {p.reason}" for p in problems], errors) from err


def merged_document(
    camera: Camera, cipher: CredentialCipher, changes: dict[str, Any]
) -> dict[str, Any]:
    """The stored configuration with `changes` applied (a shallow merge, as JSON merge-patch).

    An address that comes back as the API showed it (masked) stays the stored one: a form that
    sends the whole camera back does not overwrite a password with ***.
    """
    document = copy.deepcopy(
        {key: value for key, value in camera.config.items() if key != "organisation"}
    )
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    for path, stored in stored_addresses(camera, cipher).items():
        *parents, name = path.split(".")
        holder: Any = document
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(name) == mask_credentials(stored):
            holder[name] = stored
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
