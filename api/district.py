"""The district's handling policy: departments, routing, handling levels and deadlines.

A deadline is the end of a state's time limit. An event code may have its own limits (CJ/T 315:
exposed garbage one working day, an illegal building 15 working days), in natural minutes or in
the district's working hours or days, shortened for the urgency tiers 紧急 and 特急; a state the
code names no limit for keeps the simple default, minutes by severity (`deadlines_minutes`).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.models import Department, RoutingRule
from api.taxonomy import EMPTY_TAXONOMY, Taxonomy
from api.worktime import DEFAULT_TIMEZONE, WorkingCalendar
from contract.loading import load_yaml_model
from contract.problems import ConfigError
from contract.rules import RULE_KINDS, GroupingConfig
from contract.vocabulary import Category, OrganisationKind, Severity

LEVELS = ("community", "town", "district")
OPEN_STATES = ("reported", "verifying", "confirmed", "dispatched", "handling", "resolved")
# Where an event's life ends: done, not a real problem, folded into another event, or an alert
# nobody verified before it expired (intake: verify).
FINAL_STATES = ("closed", "false_alarm", "merged", "expired")
# Rules that raise incidents: the camera files' rule kinds, a custom model's class alarm, and a
# camera's own tamper alarm (ONVIF events).
INCIDENT_RULES = (*RULE_KINDS, "custom_model", "camera_tamper", "gb28181_alarm")
Level = Literal["community", "town", "district"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DepartmentConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Department identifier.")
    name: str = Field(min_length=1, description="Display name.")
    grid: str | None = Field(default=None, description="Grid (region) the department serves.")


class RoutingConfig(_Strict):
    category: Category = Field(description="Event category.")
    owner_kind: OrganisationKind | None = Field(
        default=None, description="Camera owner kind; empty for any owner or source."
    )
    department: str = Field(description="Department that handles it.")


class Urgency(StrEnum):
    """The urgency tiers of city-management cases (CJ/T 315)."""

    general = "general"
    urgent = "urgent"
    extra_urgent = "extra_urgent"

    @property
    def name_zh(self) -> str:
        return URGENCY_NAMES_ZH[self]


URGENCY_NAMES_ZH = {Urgency.general: "一般", Urgency.urgent: "紧急", Urgency.extra_urgent: "特急"}


class LimitUnit(StrEnum):
    minutes = "minutes"
    working_hours = "working_hours"
    working_days = "working_days"


class TimeLimit(_Strict):
    limit: float = Field(gt=0, description="How long the state may last, in `unit`.")
    unit: LimitUnit = Field(
        description="minutes: natural time; working_hours, working_days: the district's"
        " working time (working_time), which skips nights, weekends and public holidays."
    )

    @property
    def counts_working_time(self) -> bool:
        return self.unit is not LimitUnit.minutes

    def ends(self, since: datetime, calendar: WorkingCalendar) -> datetime:
        """When the limit started at `since` (aware) runs out."""
        if self.unit is LimitUnit.working_hours:
            return calendar.add_working_hours(since, self.limit)
        if self.unit is LimitUnit.working_days:
            return calendar.add_working_days(since, self.limit)
        return since + timedelta(minutes=self.limit)


class CodeTimeLimit(TimeLimit):
    """An event code's limit on one state, for a general (一般) event, and optionally its own
    limit for the urgent tiers; without one a tier scales the limit by urgency.factors."""

    urgent: TimeLimit | None = Field(default=None, description="Limit of an urgent (紧急) event.")
    extra_urgent: TimeLimit | None = Field(
        default=None, description="Limit of an extra-urgent (特急) event."
    )

    def for_urgency(self, urgency: Urgency, factors: dict[Urgency, float]) -> TimeLimit:
        explicit = None if urgency is Urgency.general else getattr(self, urgency.value)
        if explicit is not None:
            return TimeLimit(limit=explicit.limit, unit=explicit.unit)
        return TimeLimit(limit=self.limit * factors.get(urgency, 1.0), unit=self.unit)


_HOURS = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")


class WorkingTimeConfig(_Strict):
    timezone: str = Field(
        default=DEFAULT_TIMEZONE, description="IANA time zone the working hours are in."
    )
    hours: list[str] = Field(
        default=["08:30-12:00", "13:30-17:30"],
        min_length=1,
        description="Working hours of a working day, 'HH:MM-HH:MM' local time, in order.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

    @field_validator("hours")
    @classmethod
    def _periods(cls, value: list[str]) -> list[str]:
        for period in value:
            if not _HOURS.match(period):
                raise ValueError(f"{period!r} is not 'HH:MM-HH:MM'")
        return value

    @model_validator(mode="after")
    def _calendar_valid(self) -> WorkingTimeConfig:
        self.calendar  # noqa: B018 - builds it, so that bad hours fail when the file loads
        return self

    @cached_property
    def calendar(self) -> WorkingCalendar:
        periods = tuple(
            (_parse_time(start), _parse_time(end))
            for start, end in (period.split("-") for period in self.hours)
        )
        return WorkingCalendar(ZoneInfo(self.timezone), periods)


def _parse_time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time(hours, minutes)


DEFAULT_URGENCY = {
    Severity.low: Urgency.general,
    Severity.medium: Urgency.general,
    Severity.high: Urgency.urgent,
    Severity.critical: Urgency.extra_urgent,
}


class UrgencyConfig(_Strict):
    by_severity: dict[Severity, Urgency] = Field(
        default=DEFAULT_URGENCY, description="Urgency tier of an event by its severity."
    )
    factors: dict[Urgency, float] = Field(
        default={Urgency.general: 1.0, Urgency.urgent: 0.5, Urgency.extra_urgent: 0.25},
        description="Share of an event code's limit a tier leaves, unless the code names the"
        " tier's own limit.",
    )

    @field_validator("factors")
    @classmethod
    def _shares(cls, value: dict[Urgency, float]) -> dict[Urgency, float]:
        for urgency, factor in value.items():
            if not 0 < factor <= 1:
                raise ValueError(f"{urgency.value}: {factor} is not in (0, 1]")
        return value


class Intake(StrEnum):
    """How a video incident comes in: a case at once, or an alert an operator verifies first."""

    file = "file"
    verify = "verify"


class IntakeConfig(_Strict):
    category: Category = Field(description="Event category the entry is for.")
    rule: str | None = Field(
        default=None,
        description="Rule kind (e.g. loitering, custom_model); empty for every rule of the"
        " category. An entry with a rule beats one without.",
    )
    intake: Intake = Field(
        description="file: the incident files a case at once (routed, with a deadline);"
        " verify: it waits in the alert queue for an operator's verdict, which files the case."
    )
    expire_after_minutes: int | None = Field(
        default=None,
        gt=0,
        description="verify only: an alert nobody verified within this many minutes expires"
        " (state expired, with the reason in its history); empty: it waits until verified.",
    )

    @model_validator(mode="after")
    def _expiry_for_alerts(self) -> IntakeConfig:
        if self.expire_after_minutes is not None and self.intake is not Intake.verify:
            raise ValueError("expire_after_minutes: only alerts that wait (intake: verify) expire")
        return self


class DistrictPolicy(_Strict):
    departments: list[DepartmentConfig] = Field(description="Departments that handle events.")
    routing: list[RoutingConfig] = Field(description="Category (and owner kind) to department.")
    levels: dict[Severity, Level] = Field(description="Initial handling level by severity.")
    deadlines_minutes: dict[str, dict[Severity, int]] = Field(
        description="Minutes each open state may last, by severity: the default when the"
        " event code has no limit of its own for the state."
    )
    time_limits: dict[str, dict[str, CodeTimeLimit]] = Field(
        default={},
        description="Limits per event code (taxonomy) and open state, e.g. 0102: handling:"
        " {limit: 1, unit: working_days}.",
    )
    working_time: WorkingTimeConfig = Field(
        default=WorkingTimeConfig(),
        description="Working hours and time zone that working-hour and working-day limits count.",
    )
    urgency: UrgencyConfig = Field(
        default=UrgencyConfig(), description="Urgency tiers (一般/紧急/特急) and what they shorten."
    )
    grouping: dict[Category, GroupingConfig] = Field(
        default={},
        description=(
            "How repeats of one situation fold into one event, by category; a category left out"
            " groups with the defaults (30 min window, dispatched events do not absorb)."
        ),
    )
    intake: list[IntakeConfig] = Field(
        default=[],
        description="Whether a video incident files a case at once or waits for an operator's"
        " verification, per category and optionally rule kind; unnamed ones file at once.",
    )
    taxonomy: Taxonomy = Field(
        default=EMPTY_TAXONOMY,
        description="Event codes; read from their own file (settings.taxonomy_file) at start.",
    )

    def route(
        self, category: str, owner_kind: str | None, event_code: str | None = None
    ) -> str | None:
        """The department for an event of `category` from an owner of `owner_kind`: the
        owner's own routing first, then the event type's department, then the category's."""
        for rule in self.routing:
            if rule.category == category and rule.owner_kind == owner_kind and owner_kind:
                return rule.department
        event_type = self.taxonomy.get(event_code)
        if event_type is not None:
            return event_type.department
        for rule in self.routing:
            if rule.category == category and rule.owner_kind is None:
                return rule.department
        return None

    def category_department(self, category: str) -> str | None:
        """The department the category alone routes to (its routing entry for any owner)."""
        for rule in self.routing:
            if rule.category == category and rule.owner_kind is None:
                return rule.department
        return None

    def routed_by(
        self,
        category: str,
        owner_kind: str | None,
        event_code: str | None,
        department_id: str | None,
    ) -> str | None:
        """Why `department_id` handles an event of `category` when it is not the category's own
        department: "owner" (the camera owner's routing entry), "event_code" (the event type's
        department in the taxonomy) or "dispatch" (a person chose it). None when they agree or
        nobody handles it yet."""
        if department_id is None or department_id == self.category_department(category):
            return None
        if department_id != self.route(category, owner_kind, event_code):
            return "dispatch"
        for rule in self.routing:
            if rule.category == category and rule.owner_kind == owner_kind and owner_kind:
                return "owner"
        return "event_code"

    def grouping_for(self, category: str) -> GroupingConfig:
        """The district's grouping of repeats for events of `category`."""
        return self.grouping.get(Category(category)) or GroupingConfig()

    def intake_for(self, category: str, rule: str | None) -> IntakeConfig | None:
        """The intake entry of a video incident of `category` raised by rule kind `rule`: the
        one for the category and rule, else for the category; None: it files a case at once."""
        for entry in self.intake:
            if entry.category == category and entry.rule is not None and entry.rule == rule:
                return entry
        for entry in self.intake:
            if entry.category == category and entry.rule is None:
                return entry
        return None

    def level_for(self, severity: str) -> str:
        return self.levels.get(Severity(severity), "community")

    def urgency_for(self, severity: str) -> Urgency:
        """The urgency tier of an event of `severity` (ValueError if not a severity)."""
        return self.urgency.by_severity.get(Severity(severity), Urgency.general)

    def time_limit(self, state: str, severity: str, event_code: str | None) -> TimeLimit | None:
        """How long an event may stay in `state`: its code's own limit for the state, for its
        urgency tier, else the severity's minutes; None when the state has no limit."""
        own = self.time_limits.get(event_code or "", {}).get(state)
        if own is not None:
            return own.for_urgency(self.urgency_for(severity), self.urgency.factors)
        minutes = self.deadlines_minutes.get(state, {}).get(Severity(severity))
        return TimeLimit(limit=minutes, unit=LimitUnit.minutes) if minutes else None

    def deadline(
        self, state: str, severity: str, since: datetime, event_code: str | None = None
    ) -> datetime | None:
        """When an event that entered `state` at `since` (aware) is overdue; None: no limit."""
        limit = self.time_limit(state, severity, event_code)
        return limit.ends(since, self.working_time.calendar) if limit else None


def next_level(level: str) -> str | None:
    index = LEVELS.index(level) if level in LEVELS else 0
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


class PolicyError(ValueError):
    """The district policy file is invalid. Not retried."""


def load_policy(path: Path) -> DistrictPolicy:
    try:
        policy = load_yaml_model(path, DistrictPolicy)
    except ConfigError as err:
        raise PolicyError(str(err.problems[0])) from err
    known = {department.id for department in policy.departments}
    for index, rule in enumerate(policy.routing):
        if rule.department not in known:
            raise PolicyError(f"{path}: routing.{index}.department: unknown {rule.department!r}")
    seen: set[tuple[str, str | None]] = set()
    for index, entry in enumerate(policy.intake):
        if entry.rule is not None and entry.rule not in INCIDENT_RULES:
            raise PolicyError(
                f"{path}: intake.{index}.rule: unknown rule kind {entry.rule!r}"
                f" (one of {', '.join(INCIDENT_RULES)})"
            )
        key = (entry.category.value, entry.rule)
        if key in seen:
            raise PolicyError(
                f"{path}: intake.{index}: a second entry for {entry.category.value}"
                f"{f' / {entry.rule}' if entry.rule else ''}"
            )
        seen.add(key)
    for state in policy.deadlines_minutes:
        if state not in OPEN_STATES:
            raise PolicyError(f"{path}: deadlines_minutes.{state}: not an open state")
    for code, states in policy.time_limits.items():
        if not re.fullmatch(r"[0-9]{4}", code):
            raise PolicyError(f"{path}: time_limits.{code}: not an event code (four digits)")
        for state in states:
            if state not in OPEN_STATES:
                raise PolicyError(f"{path}: time_limits.{code}.{state}: not an open state")
    return policy


def check_time_limits(policy: DistrictPolicy, path: Path | None) -> None:
    """Every event code with limits must be in the policy's taxonomy; raises PolicyError."""
    known = policy.taxonomy.events
    for code in policy.time_limits:
        if code not in known:
            raise PolicyError(f"{path}: time_limits.{code}: not an event code in the taxonomy")


DEFAULT_POLICY = DistrictPolicy(departments=[], routing=[], levels={}, deadlines_minutes={})


def store_policy(session: Session, policy: DistrictPolicy) -> None:
    """Upsert departments and replace the routing table with the policy's."""
    for entry in policy.departments:
        department = session.get(Department, entry.id) or Department(id=entry.id)
        department.name, department.grid_id = entry.name, entry.grid
        session.add(department)
    session.flush()
    session.execute(delete(RoutingRule))
    for rule in policy.routing:
        session.add(
            RoutingRule(
                category=rule.category.value,
                organisation_kind=rule.owner_kind.value if rule.owner_kind else None,
                department_id=rule.department,
            )
        )
    session.flush()


def department_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Department.id)))
