"""The words both sides use: owner kinds, event categories, severities, identifiers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, PlainSerializer


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


Instant = Annotated[AwareDatetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
"""A timezone-aware moment; JSON writes it in ISO 8601 with its offset (+00:00), not 'Z'."""

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Pattern of identifiers: cameras, organisations, zones, lines, models."""

SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https", "onvif", "file", "gb28181")
"""Schemes a camera's `source` may use."""


class OrganisationKind(StrEnum):
    """What kind of body owns a camera; decides routing and default categories."""

    education = "education"
    health = "health"
    urban_management = "urban_management"
    housing = "housing"
    park = "park"
    public = "public"
    public_security = "public_security"


class Category(StrEnum):
    """Grid-event categories the district's platform expects."""

    public_safety = "public_safety"
    urban_management = "urban_management"
    health_emergency = "health_emergency"
    fire_hazard = "fire_hazard"
    device_fault = "device_fault"


class Severity(StrEnum):
    """How urgent a grid event is."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class CameraStatus(StrEnum):
    """A camera's health as operators see it."""

    online = "online"
    degraded = "degraded"
    offline = "offline"
