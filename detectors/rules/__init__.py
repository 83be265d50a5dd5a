"""Incident rules: small pure classes that take detections (or the picture) and the clock, and
return hits. None reads the time itself; tests drive it."""

from detectors.rules.base import DwellTimer, FrameRule, Rule, RuleHit
from detectors.rules.dwell import Crowd, Fall, IllegalParking, Loitering
from detectors.rules.intrusion import ZoneIntrusion
from detectors.rules.line_crossing import Line, LineCrossing
from detectors.rules.tamper import Tamper

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
    "Tamper",
    "ZoneIntrusion",
]
