"""A camera's configuration: what camera files hold, what the API stores, what workers receive."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from shapely.geometry import LineString, Polygon
from shapely.validation import explain_validity

from contract.addresses import mask_credentials, normalised_address, substitute_references
from contract.catalog import DEFAULT_MODEL, MODELS
from contract.problems import ConfigError, ConfigProblem
from contract.rules import LineCrossingRuleConfig, RuleConfig, ScheduleConfig
from contract.vocabulary import SLUG, SOURCE_SCHEMES, OrganisationKind

# Every field of a camera that holds an address (and so may hold credentials), by dotted
# path: each is kept encrypted at rest and shown masked (`CameraConfig.masked`).
ADDRESS_FIELDS = ("source", "stream.sub_source")


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


# Bounds on a camera's geometry: far above what a person draws (a zone has tens of vertices),
# far below what would make every worker's camera feed megabytes (each camera is sent whole).
MAX_POLYGON_VERTICES = 256
MAX_REGIONS = 32  # zones, privacy masks, lines and rules, each, per camera

# The smallest shapes a worker can use, in normalised units: a region must cover more than a
# pixel of a 1920x1080 picture, and a line be longer than a pixel, or no anchor can ever be
# found in it or be seen to cross it.
MIN_REGION_AREA = 1 / (1920 * 1080)
MIN_LINE_LENGTH = 1 / 1920


def _at(field: str, code: str, message: str, **params: str) -> PydanticCustomError:
    """A model-level validator's error about one field: its code and words as any field
    validator's, with the field's path in `field` (the error itself has no location; see
    contract.problems and api.problems, which take it from there)."""
    return PydanticCustomError(code, message, {"field": field, **params})


def _normalised(address: str) -> str:
    try:
        return normalised_address(address)
    except ValueError as err:
        raise PydanticCustomError("address_control_character", str(err)) from err


def usable_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """`points` if they outline a simple polygon with an area; a coded error saying why not.

    Shared by zones and privacy masks, so a camera file, the worker and the API's registration
    refuse the same shapes (a bow-tie whose edges cross, points all on one line).
    """
    shape = Polygon(points)
    if shape.convex_hull.area < MIN_REGION_AREA or (
        not shape.is_valid and (explain_validity(shape).startswith("Too few points"))
    ):
        raise PydanticCustomError(
            "polygon_no_area",
            "the polygon has no area ({area} of the picture): its points lie on one line or on"
            " top of each other",
            {"area": f"{shape.area:.2g}"},
        )
    if not shape.is_valid:
        # explain_validity names the fault and where: "Self-intersection[0.5 0.5]".
        fault = explain_validity(shape)
        if fault.startswith(("Self-intersection", "Ring Self-intersection")):
            at = fault.split("[", 1)[-1].strip("]").split()
            where = f"({float(at[0]):.3g}, {float(at[1]):.3g})" if len(at) == 2 else "?"
            raise PydanticCustomError(
                "polygon_edges_cross",
                "the polygon's edges cross at {at} (a bow-tie): list its points in order around"
                " its edge",
                {"at": where},
            )
        raise PydanticCustomError(
            "polygon_not_simple", "not a simple polygon: {fault}", {"fault": fault}
        )
    if shape.area < MIN_REGION_AREA:
        raise PydanticCustomError(
            "polygon_no_area",
            "the polygon has no area ({area} of the picture)",
            {"area": f"{shape.area:.2g}"},
        )
    return points


class ZoneConfig(_Strict):
    name: str = Field(pattern=SLUG, description="Zone name, unique within the camera.")
    polygon: list[NormalisedPoint] = Field(
        min_length=3,
        max_length=MAX_POLYGON_VERTICES,
        description="Polygon vertices in normalised image coordinates (3 to 256), in order around"
        " its edge; its edges may not cross.",
    )

    _usable = field_validator("polygon")(usable_polygon)


class DetectConfig(_Strict):
    fps: float = Field(default=2, gt=0, le=30, description="Frames per second given to detection.")
    model: str = Field(
        default=DEFAULT_MODEL,
        description=f"Detection model: {', '.join(MODELS)} (fall-yolov8 for fall rules).",
    )
    backend: Literal["auto", "openvino-int8", "openvino", "onnx", "pytorch"] = Field(
        default="auto",
        description=(
            "How the model runs: OpenVINO INT8 (only made when it passed the accuracy gate), "
            "OpenVINO FP32, ONNX Runtime, PyTorch, or auto (the first of these that was made at "
            "set-up)."
        ),
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
            raise PydanticCustomError(
                "multiple_of", "must be a multiple of {multiple_of}", {"multiple_of": 32}
            )
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in MODELS:
            raise PydanticCustomError(
                "model_unknown",
                "unknown model '{model}' (models: {models})",
                {"model": value, "models": ", ".join(MODELS)},
            )
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
        min_length=3,
        max_length=MAX_POLYGON_VERTICES,
        description="Polygon vertices in normalised image coordinates (3 to 256), in order around"
        " its edge; its edges may not cross.",
    )

    _usable = field_validator("polygon")(usable_polygon)


class LineConfig(_Strict):
    name: str = Field(pattern=SLUG, description="Line name, unique within the camera.")
    points: list[NormalisedPoint] = Field(
        min_length=2,
        max_length=2,
        description="Start and end, in normalised image coordinates; two distinct points.",
    )

    @field_validator("points")
    @classmethod
    def _has_length(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        length = LineString(points).length
        if length < MIN_LINE_LENGTH:
            raise PydanticCustomError(
                "line_no_length",
                "the line has no length ({length}): its start and end are the same point",
                {"length": f"{length:.2g}"},
            )
        return points


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
    key_frames_when_still: bool = Field(
        default=True,
        description=(
            "While the motion gate has found the scene still for a few seconds, decode only the"
            " stream's key frames (RTSP streams whose key frames come at most 2 s apart); every"
            " frame is decoded again from the first key frame that shows motion, which adds at"
            " most one key-frame interval to the first detection. Needs `motion.enabled`."
        ),
    )
    key_frames_at_detect_rate: bool = Field(
        default=True,
        description=(
            "Decode only the stream's key frames, motion or not, while they alone come at least"
            " as often as `detect.fps` asks (RTSP streams; e.g. a key frame a second at 1 detect"
            " fps): the model sees as many frames as it would, and the pictures between, which"
            " it would never see, are not decoded. A stream whose key frames come further apart"
            " is decoded in full."
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
            value = _normalised(value)
            scheme = urlsplit(value).scheme.lower()
            if scheme not in ("rtsp", "rtsps", "http", "https"):
                raise PydanticCustomError(
                    "source_scheme",
                    "scheme '{scheme}' is not a live stream's scheme ({schemes})",
                    {"scheme": scheme or "(none)", "schemes": "rtsp, rtsps, http, https"},
                )
        return value


class CustomModelConfig(_Strict):
    model: str = Field(pattern=SLUG, description="Name of a model registered in the API.")
    min_frames: int = Field(default=2, ge=1, le=1000, description="Consecutive frames seen.")
    confidence: float = Field(default=0.4, gt=0, lt=1, description="Minimum confidence.")
    cooldown_s: float = Field(default=300, ge=0, description="Seconds before a class fires again.")


class PriorityWindowConfig(ScheduleConfig):
    """A time of day (and days of the week) when the camera matters more, or less."""

    priority: int = Field(ge=0, le=100, description="The camera's priority in these windows.")


class WatchPriorityConfig(_Strict):
    """Which cameras are watched first when the workers cannot watch them all: the higher the
    priority now, in the camera's time zone, the sooner a worker with room takes it (a school
    gate at night before a square by day); equal priorities go to the camera dark longest."""

    base: int = Field(
        default=50, ge=0, le=100, description="Priority outside every window (0 to 100)."
    )
    windows: list[PriorityWindowConfig] = Field(
        default=[],
        max_length=MAX_REGIONS,
        description="Times with another priority; the first window that holds wins.",
    )


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
    priority: WatchPriorityConfig = Field(
        default_factory=WatchPriorityConfig,
        description="How soon a worker takes this camera when there are not enough workers.",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="The motion gate in front of the model."
    )
    privacy_masks: list[PolygonConfig] = Field(
        default=[],
        max_length=MAX_REGIONS,
        description="Regions blacked out before detection and in all evidence (at most 32).",
    )
    evidence: EvidenceConfig = Field(
        default_factory=EvidenceConfig, description="Snapshot and clip of each incident."
    )
    zones: list[ZoneConfig] = Field(
        default=[], max_length=MAX_REGIONS, description="Named regions of the image (at most 32)."
    )
    lines: list[LineConfig] = Field(
        default=[],
        max_length=MAX_REGIONS,
        description="Named lines for line_crossing rules (at most 32).",
    )
    rules: list[RuleConfig] = Field(
        default=[],
        max_length=MAX_REGIONS,
        description="Incident rules run on this camera (at most 32).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise PydanticCustomError(
                "timezone_unknown", "unknown time zone '{timezone}'", {"timezone": value}
            ) from err
        return value

    @field_validator("source")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        value = _normalised(value)
        scheme = urlsplit(value).scheme.lower()
        if scheme not in SOURCE_SCHEMES:
            raise PydanticCustomError(
                "source_scheme",
                "scheme '{scheme}' is not one of {schemes}",
                {"scheme": scheme or "(none)", "schemes": ", ".join(SOURCE_SCHEMES)},
            )
        return value

    @model_validator(mode="after")
    def _rules_fit_zones(self) -> CameraConfig:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise _at("zones", "zone_duplicate", "duplicate zone name '{zone}'", zone=duplicates[0])
        line_names = [line.name for line in self.lines]
        model = MODELS[self.detect.model]
        for index, rule in enumerate(self.rules):
            zone = getattr(rule, "zone", None)
            if zone is not None and zone not in names:
                known = ", ".join(names) or "none defined"
                raise _at(
                    f"rules.{index}.zone", "zone_unknown", "unknown zone '{zone}' (zones: {known})",
                    zone=zone, known=known,
                )  # fmt: skip
            if isinstance(rule, LineCrossingRuleConfig) and rule.line not in line_names:
                known = ", ".join(line_names) or "none defined"
                raise _at(
                    f"rules.{index}.line", "line_unknown", "unknown line '{line}' (lines: {known})",
                    line=rule.line, known=known,
                )  # fmt: skip
            unknown = [
                name for name in getattr(rule, "classes", []) if name not in model.class_names
            ]
            if unknown:
                raise _at(
                    f"rules.{index}.classes", "class_unknown",
                    "'{name}' is not a class the detector knows (model {model})",
                    name=unknown[0], model=model.name,
                )  # fmt: skip
        unknown = [name for name in self.detect.classes if name not in model.class_names]
        if unknown:
            raise _at(
                "detect.classes", "class_unknown",
                "'{name}' is not a class the detector knows (model {model})",
                name=unknown[0], model=model.name,
            )  # fmt: skip
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

    def addresses(self) -> dict[str, str]:
        """Every address the camera has (ADDRESS_FIELDS that are set), by dotted path."""
        found = {}
        for path in ADDRESS_FIELDS:
            value: object = self
            for name in path.split("."):
                value = getattr(value, name)
            if isinstance(value, str):
                found[path] = value
        return found

    def with_addresses(self, addresses: Mapping[str, str]) -> CameraConfig:
        """A copy with the addresses at these dotted paths (ADDRESS_FIELDS) replaced."""
        unknown = set(addresses) - set(ADDRESS_FIELDS)
        if unknown:
            raise ValueError(f"not an address field: {sorted(unknown)[0]}")
        stream = self.stream
        if "stream.sub_source" in addresses:
            stream = stream.model_copy(update={"sub_source": addresses["stream.sub_source"]})
        return self.model_copy(
            update={"source": addresses.get("source", self.source), "stream": stream}
        )

    def masked(self) -> CameraConfig:
        """A copy with every address's credentials replaced by ***, fit to be shown, exported
        or logged."""
        return self.with_addresses(
            {path: mask_credentials(value) for path, value in self.addresses().items()}
        )


def default_data_dir() -> Path:
    """Where fetched assets (model weights, the demo clip) live unless overridden."""
    return Path(os.environ.get("GRIDWATCH_DATA_DIR", Path.home() / ".cache" / "gridwatch" / "data"))


def expand_source(source: str, environ: Mapping[str, str] | None = None) -> str:
    """`source` with each ${VAR} replaced from `environ` (default: the process environment),
    percent-encoded where it lands in the user info or the query (a password with `#`, `/`,
    `?` or `@` stays a password: `contract.addresses.substitute_references`).

    Raises ConfigError naming the first variable that is not set; GRIDWATCH_DATA_DIR falls back
    to `default_data_dir()`.
    """
    # Only the variables named are looked up, one at a time: copying the whole environment
    # races with the capture threads that set FFmpeg's options variable while they open.
    env = os.environ if environ is None else environ

    def replace(name: str) -> str:
        value = env.get(name)
        if value is None and name == "GRIDWATCH_DATA_DIR":
            value = str(default_data_dir())
        if value is None:
            raise ConfigError(
                [ConfigProblem(None, "source", f"environment variable {name} is not set")]
            )
        return value

    return substitute_references(source, replace)
