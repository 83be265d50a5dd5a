"""Rule kinds: each kind's configuration model, declared once, with its labels.

A rule kind is a subclass of `RuleConfigBase` with a `kind: Literal["..."]` field and its labels
as class variables; defining it registers it. `RuleConfig` (the discriminated union cameras
validate against) and `RULE_KINDS` are built from the registered kinds. The detection rule that
runs it is built by a builder registered for the class in `detectors/rules/`, and its event code
is in the district's taxonomy.
"""

from __future__ import annotations

import re
from datetime import time
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from contract.vocabulary import Category, Severity

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = get_args(DayName)
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_window(text: str) -> tuple[time, time]:
    """'22:00-06:00' as (start, end) local times; raises ValueError saying what is wrong.

    An end at or before the start crosses midnight; '24:00' is midnight at the end of the day.

    Example:
        >>> parse_window("22:00-06:00")
        (datetime.time(22, 0), datetime.time(6, 0))
    """
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"time window {text!r} is not HH:MM-HH:MM")
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    end = time(0, 0) if end_h == 24 else time(end_h, end_m)
    if end_h == 24 and end_m:
        raise ValueError(f"time window {text!r} ends after 24:00")
    return time(start_h, start_m), end


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleConfig(_Strict):
    """When a rule is armed, in the camera's time zone. Empty windows: all day."""

    days: list[DayName] = Field(
        default=list(DAY_NAMES),
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
            try:
                parse_window(window)
            except ValueError as err:
                raise PydanticCustomError(
                    "time_window", "{reason}", {"window": window, "reason": str(err)}
                ) from err
        return value


_REGISTERED: dict[str, type[RuleConfigBase]] = {}


class GroupingConfig(_Strict):
    """How repeats of one situation (same camera, rule and zone) fold into one grid event."""

    window_s: float = Field(
        default=1800,
        ge=0,
        title="Grouping window (s)",
        description=(
            "Seconds after the situation was last seen in which a new incident of it joins its"
            " event as an occurrence instead of opening a new event; 0 never groups."
        ),
    )
    absorb_dispatched: bool = Field(
        default=False,
        title="Absorb after dispatch",
        description=(
            "Whether an event already dispatched to a department still absorbs repeats; by"
            " default a repeat after dispatch opens a new event."
        ),
    )


class RuleConfigBase(_Strict):
    """What every rule kind has: schedule, severity, cooldown and category.

    A subclass with a `kind` field is a rule kind: it names `label_en` and `label_zh`, and its
    docstring is its description in the published JSON schema.
    """

    label_en: ClassVar[str]
    label_zh: ClassVar[str]

    grouping: GroupingConfig | None = Field(
        default=None,
        description="Grouping of repeats for this rule; by default the district policy's.",
    )
    schedule: ScheduleConfig | None = Field(
        default=None, description="When the rule is armed; always when left out."
    )
    severity: Severity = Field(default=Severity.medium, description="Grid-event severity.")
    cooldown_s: float = Field(
        default=300, ge=0, description="Seconds before the same track (or zone) may fire again."
    )
    category: Category = Field(default=Category.public_safety, description="Grid-event category.")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("kind")
        if field is None:
            return
        (kind,) = get_args(field.annotation)
        if kind in _REGISTERED:
            raise TypeError(f"rule kind {kind!r} is declared twice")
        for label in ("label_en", "label_zh"):
            if not getattr(cls, label, None):
                raise TypeError(f"rule kind {kind!r} has no {label}")
        _REGISTERED[kind] = cls

    @classmethod
    def rule_kind(cls) -> str:
        """The kind this class configures, e.g. 'intrusion'."""
        return str(get_args(cls.model_fields["kind"].annotation)[0])

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        if "kind" in cls.model_fields:
            schema["title"] = cls.label_en
            schema["x-label-zh"] = cls.label_zh
        # Pydantic leaves the title off a field that refers to an enum; forms need one on each.
        for name, field_schema in schema.get("properties", {}).items():
            field_schema.setdefault("title", name.replace("_", " ").capitalize())
        return schema


class ZoneRuleConfigBase(RuleConfigBase):
    """A rule that watches one zone of the camera's image."""

    zone: str = Field(description="Name of the zone this rule watches.")
    anchor: Literal["center", "bottom_center"] = Field(
        default="bottom_center",
        description="Point of the box tested against the zone: its centre or its foot point.",
    )


class IntrusionRuleConfig(ZoneRuleConfigBase):
    """An object of a watched class inside the zone for a few consecutive frames."""

    label_en: ClassVar[str] = "Intrusion"
    label_zh: ClassVar[str] = "区域入侵"

    kind: Literal["intrusion"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes that count as intruders."
    )
    min_frames: int = Field(
        default=3, ge=1, le=1000, description="Consecutive sampled frames inside before it fires."
    )
    skip_stationary: bool = Field(
        default=True,
        description=(
            "After an object's first alert, raise none for it while the tracker marks it"
            " stationary (in place with no motion in its box for a minute: a poster, a statue)."
        ),
    )


class LoiteringRuleConfig(ZoneRuleConfigBase):
    """An object that stays in the zone longer than a set time."""

    label_en: ClassVar[str] = "Loitering"
    label_zh: ClassVar[str] = "徘徊逗留"

    kind: Literal["loitering"] = Field(description="Rule kind.")
    classes: list[str] = Field(
        default=["person"], min_length=1, description="Object classes that can loiter."
    )
    dwell_s: float = Field(default=60, gt=0, description="Seconds in the zone before it fires.")
    grace_s: float = Field(
        default=3, ge=0, description="Absences shorter than this do not restart the clock."
    )
    skip_stationary: bool = Field(
        default=True,
        description=(
            "After an object's first alert, raise none for it while the tracker marks it"
            " stationary (in place with no motion in its box for a minute: a poster, a statue)."
        ),
    )


class CrowdRuleConfig(ZoneRuleConfigBase):
    """Many people in the zone at once, for a while."""

    label_en: ClassVar[str] = "Crowd"
    label_zh: ClassVar[str] = "人员聚集"

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


class LineCrossingRuleConfig(RuleConfigBase):
    """An object crossing a named line, in one direction or both."""

    label_en: ClassVar[str] = "Line crossing"
    label_zh: ClassVar[str] = "越线"

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
    hold_frames: int = Field(
        default=2, ge=1, le=100,
        description="Sampled frames an object must stay on the new side for a crossing to count.",
    )  # fmt: skip
    hold_s: float = Field(
        default=0, ge=0, le=60,
        description="Seconds an object must stay on the new side for a crossing to count.",
    )  # fmt: skip
    cooldown_s: float = Field(
        default=60, ge=0, description="Seconds before the same track may fire again."
    )
    anchor: Literal["center", "bottom_center"] = Field(
        default="bottom_center", description="Point of the box that must cross the line."
    )
    severity: Severity = Field(default=Severity.low, description="Grid-event severity.")


class IllegalParkingRuleConfig(ZoneRuleConfigBase):
    """A vehicle standing still in a no-parking zone longer than allowed."""

    label_en: ClassVar[str] = "Illegal parking"
    label_zh: ClassVar[str] = "违章停车"

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


class FallRuleConfig(ZoneRuleConfigBase):
    """A person who has fallen and stays down."""

    label_en: ClassVar[str] = "Person fallen"
    label_zh: ClassVar[str] = "人员跌倒"

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


class TamperRuleConfig(RuleConfigBase):
    """The camera's view blocked, blacked out, defocused or moved."""

    label_en: ClassVar[str] = "Camera tampering"
    label_zh: ClassVar[str] = "摄像机遮挡破坏"

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


RULE_CONFIGS: dict[str, type[RuleConfigBase]] = dict(_REGISTERED)
"""Each rule kind's configuration model, by kind, in the order they are declared."""

RULE_KINDS: tuple[str, ...] = tuple(RULE_CONFIGS)

if TYPE_CHECKING:
    RuleConfig = RuleConfigBase
else:
    RuleConfig = Annotated[Union[tuple(RULE_CONFIGS.values())], Field(discriminator="kind")]  # noqa: UP007
