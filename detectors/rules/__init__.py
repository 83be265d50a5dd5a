"""Incident rules: small pure classes that take detections (or the picture) and the clock, and
return hits. None reads the time itself; tests drive it.

Every module of this package is imported here, so each registers the builder of its rule kind
(`detectors.rules.registry`) without being listed.
"""

import importlib
import pkgutil

from detectors.rules.base import DwellTimer, FrameRule, Rule, RuleHit
from detectors.rules.dwell import Crowd, Fall, IllegalParking, Loitering
from detectors.rules.intrusion import ZoneIntrusion
from detectors.rules.line_crossing import Line, LineCrossing
from detectors.rules.registry import RuleSite, build_rule, builder_for
from detectors.rules.tamper import Tamper

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Crowd",
    "DwellTimer",
    "Fall",
    "FrameRule",
    "IllegalParking",
    "Line",
    "LineCrossing",
    "Loitering",
    "Rule",
    "RuleHit",
    "RuleSite",
    "Tamper",
    "ZoneIntrusion",
    "build_rule",
    "builder_for",
]
