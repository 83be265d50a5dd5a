"""Every rule kind is declared once and complete: a builder, an event code, labels, a schema."""

from __future__ import annotations

from typing import Any

import pytest

from api.taxonomy import load_taxonomy
from contract.camera import CameraConfig
from contract.rules import RULE_CONFIGS, RULE_KINDS, RuleConfigBase
from detectors.rules import Line, RuleSite, build_rule, builder_for
from detectors.schedule import ALWAYS
from detectors.zones import Zone
from tests.conftest import REPO

TAXONOMY = REPO / "camera_configs" / "district" / "taxonomy.yaml"
SITE = RuleSite(
    zones={"yard": Zone("yard", ((0, 0), (1, 0), (1, 1), (0, 1)))},
    lines={"gate": Line("gate", (0.0, 0.5), (1.0, 0.5))},
    schedule=ALWAYS,
)


def minimal(config_class: type[RuleConfigBase]) -> RuleConfigBase:
    """The smallest valid configuration of a kind: its required fields only."""
    document: dict[str, Any] = {"kind": config_class.rule_kind()}
    if "zone" in config_class.model_fields:
        document["zone"] = "yard"
    if "line" in config_class.model_fields:
        document["line"] = "gate"
    return config_class.model_validate(document)


def test_the_kinds_are_the_registered_configuration_models() -> None:
    assert set(RULE_KINDS) == set(RULE_CONFIGS) >= {
        "intrusion", "loitering", "crowd", "line_crossing", "illegal_parking", "fall", "tamper",
    }  # fmt: skip
    assert all(RULE_CONFIGS[kind].rule_kind() == kind for kind in RULE_KINDS)


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_each_kind_has_a_builder_that_builds_its_rule(kind: str) -> None:
    config = minimal(RULE_CONFIGS[kind])
    assert builder_for(type(config)) is not None
    rule = build_rule(config, SITE)
    assert rule.kind == kind


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_each_kind_has_an_event_code_in_the_shipped_taxonomy(kind: str) -> None:
    taxonomy = load_taxonomy(TAXONOMY)
    assert taxonomy.rules[kind] in taxonomy.events


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_each_kind_has_labels_and_a_described_form(kind: str) -> None:
    config_class = RULE_CONFIGS[kind]
    assert config_class.label_en and config_class.label_zh
    schema = CameraConfig.model_json_schema()
    rules = schema["properties"]["rules"]["items"]
    assert rules["discriminator"]["propertyName"] == "kind"
    definition = schema["$defs"][rules["discriminator"]["mapping"][kind].rsplit("/", 1)[1]]
    assert definition["title"] == config_class.label_en
    assert definition["x-label-zh"] == config_class.label_zh
    assert definition["description"]
    for name, field in definition["properties"].items():
        assert field.get("title") and field.get("description"), name


def test_a_kind_without_a_builder_is_named() -> None:
    class UnbuiltRuleConfig(RuleConfigBase):
        """Declared in a test only."""

    with pytest.raises(LookupError, match="no builder"):
        builder_for(UnbuiltRuleConfig)
