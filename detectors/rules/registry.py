"""Which rule each rule kind's configuration builds: one builder per configuration class.

A rule module registers the builder of its kind with `@builds(TheRuleConfig)`; `build_rule` looks
the builder up by the configuration's class, so assembling a pipeline names no kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from contract.rules import RuleConfigBase
from detectors.rules.base import FrameRule, Rule
from detectors.schedule import Schedule
from detectors.zones import Zone

if TYPE_CHECKING:
    from detectors.rules.line_crossing import Line

RuleConfigT = TypeVar("RuleConfigT", bound=RuleConfigBase)
RuleBuilder = Callable[[Any, "RuleSite"], Rule | FrameRule]

_BUILDERS: dict[type[RuleConfigBase], RuleBuilder] = {}


class RuleCommon(TypedDict):
    """Keyword arguments every rule takes."""

    cooldown_s: float
    category: str
    severity: str
    schedule: Schedule


@dataclass(frozen=True)
class RuleSite:
    """What a rule is built against: the camera's zones and lines by name, the rule's schedule."""

    zones: Mapping[str, Zone]
    lines: Mapping[str, Line]
    schedule: Schedule

    def common(self, config: RuleConfigBase) -> RuleCommon:
        """The keyword arguments every rule takes, from `config` and this site's schedule."""
        return RuleCommon(
            cooldown_s=config.cooldown_s,
            category=config.category.value,
            severity=config.severity.value,
            schedule=self.schedule,
        )


def builds(
    config_class: type[RuleConfigT],
) -> Callable[[Callable[[RuleConfigT, RuleSite], Rule | FrameRule]], RuleBuilder]:
    """Register the decorated function as the builder of `config_class`'s rule kind.

    Raises TypeError when the kind already has a builder.

    Example:
        >>> @builds(IntrusionRuleConfig)
        ... def build_intrusion(config: IntrusionRuleConfig, site: RuleSite) -> ZoneIntrusion:
        ...     zone = site.zones[config.zone]
        ...     return ZoneIntrusion(zone, set(config.classes), **site.common(config))
    """

    def register(builder: Callable[[RuleConfigT, RuleSite], Rule | FrameRule]) -> RuleBuilder:
        if config_class in _BUILDERS:
            raise TypeError(f"{config_class.__name__} has two builders")
        _BUILDERS[config_class] = builder
        return builder

    return register


def builder_for(config_class: type[RuleConfigBase]) -> RuleBuilder:
    """The builder registered for `config_class`; raises LookupError when there is none."""
    try:
        return _BUILDERS[config_class]
    except KeyError:
        raise LookupError(f"no builder for {config_class.__name__} in detectors/rules/") from None


def build_rule(config: RuleConfigBase, site: RuleSite) -> Rule | FrameRule:
    """The running rule `config` asks for, built against `site`; raises LookupError for a kind
    with no builder and KeyError for a zone or line the site does not have."""
    return builder_for(type(config))(config, site)
