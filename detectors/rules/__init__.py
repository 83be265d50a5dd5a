"""Incident rules: small pure classes that take detections and the clock, and return hits."""

from detectors.rules.base import Rule, RuleHit
from detectors.rules.intrusion import ZoneIntrusion

__all__ = ["Rule", "RuleHit", "ZoneIntrusion"]
