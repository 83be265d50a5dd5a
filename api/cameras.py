"""Cameras and their owners as the API keeps them, imported from camera configuration files."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.grids import locate_grid
from api.models import Camera, Organisation
from gridwatch.config import CameraConfig


def upsert_camera(session: Session, config: CameraConfig) -> Camera:
    """Create or update a camera (and its organisation) from its configuration."""
    owner = config.organisation
    organisation = session.get(Organisation, owner.id) or Organisation(id=owner.id)
    organisation.name, organisation.kind = owner.name, owner.kind.value
    session.add(organisation)

    camera = session.get(Camera, config.id) or Camera(id=config.id)
    camera.name = config.name
    camera.organisation_id = owner.id
    camera.source_display = config.masked_source()
    camera.lat, camera.lon = config.location.lat, config.location.lon
    camera.enabled = config.enabled
    # Stored without credentials: the source is kept as written, with ${VAR} references unexpanded.
    camera.config = config.model_copy(update={"source": config.masked_source()}).model_dump(
        mode="json"
    )
    grid = locate_grid(session, config.location.lon, config.location.lat)
    camera.grid_id = grid.id if grid else None
    session.add(camera)
    session.flush()
    return camera
