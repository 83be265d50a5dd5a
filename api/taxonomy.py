"""The district's event taxonomy: coded event types (CJ/T 214 / GB/T 30428.2 style) and which
code each camera rule and each category of reported event carries."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.loading import load_yaml_model
from contract.problems import ConfigError
from contract.rules import RULE_KINDS
from contract.vocabulary import Category, Severity

# Rule kinds that open events without a camera rule: the API's own video-loss watch.
# Incidents that come from elsewhere than a camera rule: the API (video loss), the camera itself
# (its own tamper alarm), a district's own model (custom_model, coded by its class map).
API_RULE_KINDS = ("video_loss", "camera_tamper", "custom_model")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinorClass(_Strict):
    """An event type: the minor class whose code grid events carry."""

    code: str = Field(pattern=r"^[0-9]{4}$", description="Event code: major class + two digits.")
    name_zh: str = Field(min_length=1, description="Chinese name.")
    name_en: str = Field(min_length=1, description="English name.")
    category: Category = Field(description="Grid-event category it belongs to.")
    department: str = Field(description="Department (policy.yaml id) that handles it by default.")
    severity: Severity = Field(description="Default severity of an event reported by a person.")


class MajorClass(_Strict):
    code: str = Field(pattern=r"^[0-9]{2}$", description="Major class code, two digits.")
    name_zh: str = Field(min_length=1, description="Chinese name.")
    name_en: str = Field(min_length=1, description="English name.")
    minors: list[MinorClass] = Field(min_length=1, description="Its event types.")

    @model_validator(mode="after")
    def _minors_inside(self) -> MajorClass:
        for minor in self.minors:
            if not minor.code.startswith(self.code):
                raise ValueError(f"event code {minor.code} is not in class {self.code}")
        return self


class EventType(_Strict):
    """One event type with its major class, as the API serves it."""

    code: str
    name_zh: str
    name_en: str
    major_code: str
    major_name_zh: str
    major_name_en: str
    category: Category
    department: str
    severity: Severity


class Taxonomy(_Strict):
    classes: list[MajorClass] = Field(description="Major classes and their event types.")
    rules: dict[str, str] = Field(description="Event code of each camera rule kind.")
    category_defaults: dict[Category, str] = Field(
        description="Event code of a reported event that names only a category."
    )

    @cached_property
    def events(self) -> dict[str, EventType]:
        return {
            minor.code: EventType(
                code=minor.code,
                name_zh=minor.name_zh,
                name_en=minor.name_en,
                major_code=major.code,
                major_name_zh=major.name_zh,
                major_name_en=major.name_en,
                category=minor.category,
                department=minor.department,
                severity=minor.severity,
            )
            for major in self.classes
            for minor in major.minors
        }

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        seen: set[str] = set()
        for major in self.classes:
            if major.code in seen:
                raise ValueError(f"major class {major.code} appears twice")
            seen.add(major.code)
            for minor in major.minors:
                if minor.code in seen:
                    raise ValueError(f"event code {minor.code} appears twice")
                seen.add(minor.code)
        codes = {minor.code for major in self.classes for minor in major.minors}
        for kind in (*RULE_KINDS, *API_RULE_KINDS):
            if kind not in self.rules:
                raise ValueError(f"rules: rule kind {kind!r} has no event code")
        for kind, code in self.rules.items():
            if kind not in RULE_KINDS and kind not in API_RULE_KINDS:
                raise ValueError(f"rules.{kind}: not a rule kind")
            if code not in codes:
                raise ValueError(f"rules.{kind}: unknown event code {code!r}")
        for category in Category:
            default = self.category_defaults.get(category)
            if default is None:
                raise ValueError(f"category_defaults: category {category.value!r} has no code")
            if default not in codes:
                raise ValueError(
                    f"category_defaults.{category.value}: unknown event code {default!r}"
                )
        return self

    def get(self, code: str | None) -> EventType | None:
        return self.events.get(code) if code else None

    def for_rule(self, rule: str, category: str) -> str | None:
        """The event code an incident of rule kind `rule` carries."""
        return self.rules.get(rule) or self.for_category(category)

    def for_category(self, category: str) -> str | None:
        try:
            return self.category_defaults.get(Category(category))
        except ValueError:
            return None

    def check(self, code: str) -> EventType:
        """The event type of `code`; raises UnknownEventCode with the codes there are."""
        event_type = self.events.get(code)
        if event_type is None:
            raise UnknownEventCode(code, sorted(self.events))
        return event_type


EMPTY_TAXONOMY = Taxonomy.model_construct(classes=[], rules={}, category_defaults={})


class UnknownEventCode(ValueError):
    """A code that is not in the taxonomy. Not retried."""

    def __init__(self, code: str, known: list[str]):
        self.code = code
        super().__init__(
            f"event_code: unknown code {code!r}; codes are {', '.join(known)}"
            " (GET /api/v1/taxonomy)"
        )


class TaxonomyError(ValueError):
    """The taxonomy file is invalid. Not retried."""


def load_taxonomy(path: Path, departments: set[str] | None = None) -> Taxonomy:
    """Read and check the taxonomy; with `departments`, every default department must be one."""
    try:
        taxonomy = load_yaml_model(path, Taxonomy)
    except ConfigError as err:
        raise TaxonomyError(str(err.problems[0])) from err
    if departments is not None:
        for event_type in taxonomy.events.values():
            if event_type.department not in departments:
                raise TaxonomyError(
                    f"{path}: event {event_type.code}: department {event_type.department!r}"
                    " is not in the district policy"
                )
    return taxonomy
