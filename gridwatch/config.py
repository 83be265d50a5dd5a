"""Camera configuration files: the pydantic models, loading and error reporting."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detectors.coco import COCO_CLASS_NAMES

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https", "onvif", "file")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationConfig(_Strict):
    id: str = Field(pattern=SLUG, description="Stable identifier of the owning organisation.")
    name: str = Field(min_length=1, description="Display name, e.g. 'No.1 Primary School'.")
    kind: OrganisationKind = Field(
        description="Owner kind: education, health, urban_management, ..."
    )


class Location(_Strict):
    lat: float = Field(ge=-90, le=90, description="Latitude in degrees (WGS 84).")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees (WGS 84).")


NormalisedPoint = Annotated[
    tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]],
    Field(description="A point [x, y] in normalised image coordinates, 0..1 from the top left."),
]


class ZoneConfig(_Strict):
    name: str = Field(pattern=SLUG, description="Zone name, unique within the camera.")
    polygon: list[NormalisedPoint] = Field(
        min_length=3, description="Polygon vertices in normalised image coordinates."
    )


class IntrusionRuleConfig(_Strict):
    kind: Literal["intrusion"] = Field(description="Rule kind.")
    zone: str = Field(description="Name of the zone this rule watches.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes that count as intruders."
    )
    min_frames: int = Field(
        default=3, ge=1, le=1000, description="Consecutive sampled frames inside before it fires."
    )
    cooldown_s: float = Field(
        default=300, ge=0, description="Seconds before the same track may fire this rule again."
    )
    anchor: Literal["center", "bottom_center"] = Field(
        default="bottom_center",
        description="Point of the box tested against the zone: its centre or its foot point.",
    )
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")
    severity: Severity = Field(default=Severity.medium, description="Grid-event severity.")


RuleConfig = Annotated[IntrusionRuleConfig, Field(discriminator="kind")]
RULE_KINDS = ("intrusion",)


class DetectConfig(_Strict):
    fps: float = Field(default=2, gt=0, le=30, description="Frames per second given to detection.")
    confidence: float = Field(
        default=0.4, gt=0, lt=1, description="Minimum detector confidence for a detection."
    )
    imgsz: int = Field(default=640, ge=160, le=1920, description="Model input size in pixels.")

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32")
        return value


class FilePlaybackConfig(_Strict):
    loop: bool = Field(default=True, description="Start the recording again when it ends.")
    realtime: bool = Field(
        default=True,
        description="Play at the recording's own pace, as a live camera, not as fast as possible.",
    )


class StreamConfig(_Strict):
    """How a live camera (rtsp, http) is reached and watched."""

    transport: Literal["tcp", "udp"] = Field(
        default="tcp",
        description=(
            "RTSP transport: tcp passes NAT and firewalls and loses nothing; udp has less"
            " latency on a clean LAN."
        ),
    )
    sub_source: str | None = Field(
        default=None,
        description=(
            "Address of the camera's lower-resolution sub stream. When set, detection reads it"
            " and `source` (the main stream) is kept for evidence. ${VAR} is replaced as in"
            " `source`."
        ),
    )
    open_timeout_s: float = Field(
        default=5, gt=0, le=60, description="Seconds allowed for connecting to the camera."
    )
    read_timeout_s: float = Field(
        default=5, gt=0, le=120, description="A connected camera silent this long is lost."
    )
    max_backoff_s: float = Field(
        default=30, ge=1, le=3600, description="Longest wait between reconnection attempts."
    )
    stale_after_s: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Newest-frame age in seconds past which the camera is degraded; default: the"
            " larger of 2 s and three detection intervals."
        ),
    )

    @field_validator("sub_source")
    @classmethod
    def _sub_source_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            scheme = urlsplit(value).scheme.lower()
            if scheme not in ("rtsp", "rtsps", "http", "https"):
                raise ValueError(f"scheme {scheme or '(none)'!r} is not a live stream's scheme")
        return value


class CameraConfig(_Strict):
    id: str = Field(pattern=SLUG, description="Stable camera identifier, unique in the district.")
    name: str = Field(min_length=1, description="Display name shown to operators.")
    organisation: OrganisationConfig = Field(description="The camera's owner.")
    source: str = Field(
        description=(
            "Stream address: rtsp://, rtsps://, http(s)://, onvif://host:port or file:// ."
            " ${VAR} is replaced from the environment, so credentials stay out of the file."
        )
    )
    location: Location = Field(description="Where the camera stands; decides its grid.")
    enabled: bool = Field(default=True, description="Disabled cameras are not watched.")
    detect: DetectConfig = Field(default_factory=DetectConfig, description="Detection settings.")
    playback: FilePlaybackConfig = Field(
        default_factory=FilePlaybackConfig, description="Playback of file:// recordings."
    )
    stream: StreamConfig = Field(
        default_factory=StreamConfig, description="Connection settings of live cameras."
    )
    zones: list[ZoneConfig] = Field(default=[], description="Named regions of the image.")
    rules: list[RuleConfig] = Field(default=[], description="Incident rules run on this camera.")

    @field_validator("source")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.lower()
        if scheme not in SOURCE_SCHEMES:
            raise ValueError(
                f"scheme {scheme or '(none)'!r} is not one of {', '.join(SOURCE_SCHEMES)}"
            )
        return value

    @model_validator(mode="after")
    def _rules_fit_zones(self) -> CameraConfig:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"zones: duplicate zone name {duplicates[0]!r}")
        for index, rule in enumerate(self.rules):
            if rule.zone not in names:
                known = ", ".join(names) or "none defined"
                raise ValueError(f"rules.{index}.zone: unknown zone {rule.zone!r} (zones: {known})")
            unknown = [name for name in rule.classes if name not in COCO_CLASS_NAMES]
            if unknown:
                raise ValueError(
                    f"rules.{index}.classes: {unknown[0]!r} is not a class the detector knows"
                )
        return self

    def resolved_source(self, environ: Mapping[str, str] | None = None) -> str:
        """The source with ${VAR} references replaced; raises ConfigError naming a missing one."""
        return expand_source(self.source, environ)

    def detect_source(self, environ: Mapping[str, str] | None = None) -> str:
        """The address detection reads: the sub stream when one is configured, else `source`."""
        return expand_source(self.stream.sub_source or self.source, environ)

    def masked_source(self) -> str:
        """The source as it may be shown or logged: credentials replaced by ***."""
        return mask_credentials(self.source)


def default_data_dir() -> Path:
    """Where fetched assets (model weights, the demo clip) live unless overridden."""
    return Path(os.environ.get("GRIDWATCH_DATA_DIR", Path.home() / ".cache" / "gridwatch" / "data"))


def expand_source(source: str, environ: Mapping[str, str] | None = None) -> str:
    env = dict(os.environ if environ is None else environ)
    env.setdefault("GRIDWATCH_DATA_DIR", str(default_data_dir()))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                [ConfigProblem(None, "source", f"environment variable {name} is not set")]
            )
        return env[name]

    return _ENV_REFERENCE.sub(replace, source)


def mask_credentials(url: str) -> str:
    """Replace the user-info part of a URL by *** so it can be logged."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"***@{host}").geturl()


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a configuration file."""

    path: Path | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = str(self.path) if self.path else "<config>"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class ConfigError(Exception):
    """Configuration could not be loaded; carries every problem found. Not retried."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def problems_from_validation(path: Path | None, error: ValidationError) -> list[ConfigProblem]:
    """Each validation error as file, field path and reason."""
    problems = []
    for item in error.errors():
        parts = list(item["loc"])
        # A rule's kind picks its model; pydantic puts that tag in the path ("rules.0.intrusion").
        if len(parts) > 2 and parts[0] == "rules" and parts[2] in RULE_KINDS:
            del parts[2]
        location = ".".join(str(part) for part in parts)
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        if item["type"] not in ("missing", "extra_forbidden") and isinstance(
            given, str | int | float
        ):
            message = f"{message} (got {given!r})"
        # A model-level validator names the field inside its own message ("rules.0.zone: ...").
        if not location and ": " in message:
            location, message = message.split(": ", 1)
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        problems.append(ConfigProblem(path, location or "(file)", message))
    return problems


def load_camera_file(path: Path) -> CameraConfig:
    """Load and validate one camera YAML file; raises ConfigError naming file, field and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([ConfigProblem(path, "", f"cannot read: {err.strerror}")]) from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(err, "problem", None) or str(err)
        raise ConfigError([ConfigProblem(path, where, f"not valid YAML: {reason}")]) from err
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        raise ConfigError(
            [ConfigProblem(path, "(file)", f"expected a mapping of fields, got {kind}")]
        )
    try:
        return CameraConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(path, err)) from err


def camera_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their *.yaml / *.yml files, sorted; files pass through."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def load_cameras(paths: Iterable[Path]) -> list[CameraConfig]:
    """Load every camera file under `paths`; raises one ConfigError listing all problems."""
    cameras: list[CameraConfig] = []
    problems: list[ConfigProblem] = []
    seen: dict[str, Path] = {}
    for path in camera_files(paths):
        try:
            camera = load_camera_file(path)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        if camera.id in seen:
            problems.append(
                ConfigProblem(
                    path, "id", f"camera id {camera.id!r} is already used in {seen[camera.id]}"
                )
            )
            continue
        seen[camera.id] = path
        cameras.append(camera)
    if problems:
        raise ConfigError(problems)
    return cameras
