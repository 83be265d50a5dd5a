"""The district's handling policy: departments, routing, handling levels and deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.models import Department, RoutingRule
from api.taxonomy import EMPTY_TAXONOMY, Taxonomy
from gridwatch.config import Category, ConfigError, OrganisationKind, Severity, load_yaml_model

LEVELS = ("community", "town", "district")
OPEN_STATES = ("reported", "verifying", "confirmed", "dispatched", "handling", "resolved")
# Where an event's life ends: done, not a real problem, or folded into another event.
FINAL_STATES = ("closed", "false_alarm", "merged")
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


class DistrictPolicy(_Strict):
    departments: list[DepartmentConfig] = Field(description="Departments that handle events.")
    routing: list[RoutingConfig] = Field(description="Category (and owner kind) to department.")
    levels: dict[Severity, Level] = Field(description="Initial handling level by severity.")
    deadlines_minutes: dict[str, dict[Severity, int]] = Field(
        description="Minutes each open state may last, by severity."
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

    def level_for(self, severity: str) -> str:
        return self.levels.get(Severity(severity), "community")

    def deadline(self, state: str, severity: str, since: datetime) -> datetime | None:
        minutes = self.deadlines_minutes.get(state, {}).get(Severity(severity))
        return since + timedelta(minutes=minutes) if minutes else None


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
    for state in policy.deadlines_minutes:
        if state not in OPEN_STATES:
            raise PolicyError(f"{path}: deadlines_minutes.{state}: not an open state")
    return policy


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
