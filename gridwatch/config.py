"""Camera configuration files: the pydantic models, loading and error reporting."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detectors.catalog import DEFAULT_MODEL, MODELS
from detectors.schedule import DAY_NAMES, Schedule, TimeWindow
from ingest.errors import mask_credentials

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


class ScheduleConfig(_Strict):
    """When a rule is armed, in the camera's time zone. Empty windows: all day."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        min_length=1,
        description=(
            "Days on which the rule is armed; a window past midnight belongs to its start day."
        ),
    )
    windows: list[str] = Field(
        default=[],
        description=(
            'Local time windows "HH:MM-HH:MM"; an end at or before the start crosses midnight.'
        ),
    )

    @field_validator("windows")
    @classmethod
    def _windows_parse(cls, value: list[str]) -> list[str]:
        for window in value:
            parse_window(window)
        return value

    def build(self, timezone: str) -> Schedule:
        return Schedule(
            windows=tuple(parse_window(window) for window in self.windows),
            days=frozenset(DAY_NAMES.index(day) for day in self.days),
            timezone=timezone,
        )


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_window(text: str) -> TimeWindow:
    """'22:00-06:00' as a TimeWindow; raises ValueError saying what is wrong."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"time window {text!r} is not HH:MM-HH:MM")
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    end = time(0, 0) if end_h == 24 else time(end_h, end_m)
    if end_h == 24 and end_m:
        raise ValueError(f"time window {text!r} ends after 24:00")
    return TimeWindow(time(start_h, start_m), end)


class _RuleBase(_Strict):
    schedule: ScheduleConfig | None = Field(
        default=None, description="When the rule is armed; always when left out."
    )
    severity: Severity = Field(default=Severity.medium, description="Grid-event severity.")
    cooldown_s: float = Field(
        default=300, ge=0, description="Seconds before the same track (or zone) may fire again."
    )


class _ZoneRuleBase(_RuleBase):
    zone: str = Field(description="Name of the zone this rule watches.")
    anchor: Literal["center", "bottom_center"] = Field(
        default="bottom_center",
        description="Point of the box tested against the zone: its centre or its foot point.",
    )


class IntrusionRuleConfig(_ZoneRuleBase):
    kind: Literal["intrusion"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes that count as intruders."
    )
    min_frames: int = Field(
        default=3, ge=1, le=1000, description="Consecutive sampled frames inside before it fires."
    )
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")


class LoiteringRuleConfig(_ZoneRuleBase):
    kind: Literal["loitering"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes that can loiter."
    )
    dwell_s: float = Field(default=60, gt=0, description="Seconds in the zone before it fires.")
    grace_s: float = Field(
        default=3, ge=0, description="Absences shorter than this do not restart the clock."
    )
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")


class CrowdRuleConfig(_ZoneRuleBase):
    kind: Literal["crowd"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes counted in the crowd."
    )
    min_people: int = Field(
        default=10, ge=1, le=10000, description="At least this many in the zone at once."
    )
    hold_s: float = Field(default=30, ge=0, description="Seconds the crowd must stay.")
    grace_s: float = Field(
        default=3, ge=0, description="Dips below min_people shorter than this are ignored."
    )
    cooldown_s: float = Field(
        default=600, ge=0, description="Seconds before this zone may fire again."
    )
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")


class LineCrossingRuleConfig(_RuleBase):
    kind: Literal["line_crossing"] = Field(description="Rule kind.")
    line: str = Field(description="Name of the line (camera `lines`) this rule watches.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes counted crossing."
    )
    direction: Literal["in", "out", "both"] = Field(
        default="both",
        description=(
            "Crossings that fire: 'in' is from the right-hand to the left-hand side looking"
            " from the line's first point to its second, 'out' the other way."
        ),
    )
    margin: float = Field(
        default=0.01, ge=0, le=0.2,
        description="Distance from the line (normalised) an object must pass to count a side.",
    )  # fmt: skip
    cooldown_s: float = Field(
        default=60, ge=0, description="Seconds before the same track may fire again."
    )
    anchor: Literal["center", "bottom_center"] = Field(
        default="bottom_center", description="Point of the box that must cross the line."
    )
    severity: Severity = Field(default=Severity.low, description="Grid-event severity.")
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")


class IllegalParkingRuleConfig(_ZoneRuleBase):
    kind: Literal["illegal_parking"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["car", "truck", "bus", "motorcycle"],
        min_length=1,
        description="Vehicle classes watched.",
    )
    max_stay_s: float = Field(
        default=120, gt=0, description="Seconds a vehicle may stand still in the zone."
    )
    max_movement: float = Field(
        default=0.03, gt=0, le=0.5,
        description="How far (normalised) a vehicle may shift and still count as standing still.",
    )  # fmt: skip
    grace_s: float = Field(
        default=5, ge=0, description="Missed detections shorter than this are ignored."
    )
    cooldown_s: float = Field(
        default=1800, ge=0, description="Seconds before the same vehicle may fire again."
    )
    read_plate: bool = Field(default=True, description="Read the number plate when legible.")
    severity: Severity = Field(default=Severity.low, description="Grid-event severity.")
    category: Category = Field(
        default=Category.urban_management, description="Grid-event category."
    )


class FallRuleConfig(_ZoneRuleBase):
    kind: Literal["fall"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["Fall"], min_length=1, description="Classes that mean a fallen person."
    )
    hold_s: float = Field(
        default=3, ge=0, description="Seconds a person must stay down before it fires."
    )
    grace_s: float = Field(
        default=1.5, ge=0, description="Flickers to standing shorter than this are ignored."
    )
    anchor: Literal["center", "bottom_center"] = Field(
        default="center", description="Point of the box tested against the zone."
    )
    severity: Severity = Field(default=Severity.critical, description="Grid-event severity.")
    category: Category = Field(
        default=Category.health_emergency, description="Grid-event category."
    )


class TamperRuleConfig(_RuleBase):
    kind: Literal["tamper"] = Field(description="Rule kind.")
    hold_s: float = Field(
        default=5, ge=0, description="Seconds the view must stay tampered before it fires."
    )
    defocus_ratio: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Sharpness below this share of the reference: defocused.",
    )
    min_similarity: float = Field(
        default=0.45, gt=-1, lt=1, description="Correlation with the reference below this: moved."
    )
    cooldown_s: float = Field(default=600, ge=0, description="Seconds before it may fire again.")
    severity: Severity = Field(default=Severity.high, description="Grid-event severity.")
    category: Category = Field(default=Category.device_fault, description="Grid-event category.")


RuleConfig = Annotated[
    IntrusionRuleConfig
    | LoiteringRuleConfig
    | CrowdRuleConfig
    | LineCrossingRuleConfig
    | IllegalParkingRuleConfig
    | FallRuleConfig
    | TamperRuleConfig,
    Field(discriminator="kind"),
]
RULE_KINDS = (
    "intrusion", "loitering", "crowd", "line_crossing", "illegal_parking", "fall", "tamper",
)  # fmt: skip


class DetectConfig(_Strict):
    fps: float = Field(default=2, gt=0, le=30, description="Frames per second given to detection.")
    model: str = Field(
        default=DEFAULT_MODEL,
        description=f"Detection model: {', '.join(MODELS)} (fall-yolov8 for fall rules).",
    )
    backend: Literal["auto", "onnx", "pytorch"] = Field(
        default="auto",
        description="How the model runs: ONNX Runtime, PyTorch, or auto (ONNX when exported).",
    )
    confidence: float = Field(
        default=0.4, gt=0, lt=1, description="Minimum detector confidence for a detection."
    )
    imgsz: int = Field(default=640, ge=160, le=1920, description="Model input size in pixels.")
    classes: list[str] = Field(
        default=[], description="Classes to detect and draw besides those the rules watch."
    )

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32")
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r} (models: {', '.join(MODELS)})")
        return value


class MotionConfig(_Strict):
    enabled: bool = Field(default=True, description="Skip the model on frames where nothing moved.")
    min_changed: float = Field(
        default=0.002, ge=0, le=1,
        description="Share of the picture that must change to run the model.",
    )  # fmt: skip
    full_check_s: float = Field(
        default=10, gt=0,
        description="Run the model at least this often, so objects that stopped are confirmed.",
    )  # fmt: skip


class PolygonConfig(_Strict):
    name: str = Field(pattern=SLUG, description="Name of the region.")
    polygon: list[NormalisedPoint] = Field(
        min_length=3, description="Polygon vertices in normalised image coordinates."
    )


class LineConfig(_Strict):
    name: str = Field(pattern=SLUG, description="Line name, unique within the camera.")
    points: list[NormalisedPoint] = Field(
        min_length=2, max_length=2, description="Start and end, in normalised image coordinates."
    )


class EvidenceConfig(_Strict):
    pre_roll_s: float = Field(
        default=3, ge=0, le=30, description="Seconds of video kept from before the incident."
    )
    post_roll_s: float = Field(
        default=3, ge=0, le=30,
        description="Seconds of video after the incident; it is reported when they have passed.",
    )  # fmt: skip
    clip: bool = Field(default=True, description="Attach an H.264 clip to each incident.")


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


class CustomModelConfig(_Strict):
    model: str = Field(pattern=SLUG, description="Name of a model registered in the API.")
    min_frames: int = Field(default=2, ge=1, le=1000, description="Consecutive frames seen.")
    confidence: float = Field(default=0.4, gt=0, lt=1, description="Minimum confidence.")
    cooldown_s: float = Field(default=300, ge=0, description="Seconds before a class fires again.")


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
    custom_models: list[CustomModelConfig] = Field(
        default=[],
        description="The district's own models (registered in the API) run beside `detect`;"
        " each class mapped to an event code raises that event.",
    )
    camera_events: bool = Field(
        default=True,
        description="onvif:// cameras: raise a device_fault incident when the camera itself"
        " reports tampering (its PullPoint events).",
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA time zone of the camera; rule schedules use it."
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="The motion gate in front of the model."
    )
    privacy_masks: list[PolygonConfig] = Field(
        default=[], description="Regions blacked out before detection and in all evidence."
    )
    evidence: EvidenceConfig = Field(
        default_factory=EvidenceConfig, description="Snapshot and clip of each incident."
    )
    zones: list[ZoneConfig] = Field(default=[], description="Named regions of the image.")
    lines: list[LineConfig] = Field(default=[], description="Named lines for line_crossing rules.")
    rules: list[RuleConfig] = Field(default=[], description="Incident rules run on this camera.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

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
        line_names = [line.name for line in self.lines]
        model = MODELS[self.detect.model]
        for index, rule in enumerate(self.rules):
            zone = getattr(rule, "zone", None)
            if zone is not None and zone not in names:
                known = ", ".join(names) or "none defined"
                raise ValueError(f"rules.{index}.zone: unknown zone {zone!r} (zones: {known})")
            if isinstance(rule, LineCrossingRuleConfig) and rule.line not in line_names:
                known = ", ".join(line_names) or "none defined"
                raise ValueError(f"rules.{index}.line: unknown line {rule.line!r} (lines: {known})")
            unknown = [
                name for name in getattr(rule, "classes", []) if name not in model.class_names
            ]
            if unknown:
                raise ValueError(
                    f"rules.{index}.classes: {unknown[0]!r} is not a class the detector knows"
                    f" (model {model.name})"
                )
        unknown = [name for name in self.detect.classes if name not in model.class_names]
        if unknown:
            raise ValueError(
                f"detect.classes: {unknown[0]!r} is not a class model {model.name} knows"
            )
        return self

    def schedule(self, rule: RuleConfig) -> Schedule:
        """The rule's schedule in this camera's time zone (always armed when it has none)."""
        if rule.schedule is None:
            return Schedule(timezone=self.timezone)
        return rule.schedule.build(self.timezone)

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
    # Only the variables named are looked up, one at a time: copying the whole environment
    # races with the capture threads that set FFmpeg's options variable while they open.
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = env.get(name)
        if value is None and name == "GRIDWATCH_DATA_DIR":
            value = str(default_data_dir())
        if value is None:
            raise ConfigError(
                [ConfigProblem(None, "source", f"environment variable {name} is not set")]
            )
        return value

    return _ENV_REFERENCE.sub(replace, source)


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


_Model = TypeVar("_Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[_Model]) -> _Model:
    """A YAML file validated as `model`; raises ConfigError naming the file, field and reason."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError([ConfigProblem(path, "", f"cannot be read: {err}")]) from err
    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(path, err)) from err
