"""What is wrong with a configuration: each problem as file, field path and reason."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contract.addresses import mask_credentials
from contract.rules import RULE_KINDS


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a configuration file: where, why in English, and why as a code with
    its parameters (pydantic's error type, or ours) for a screen to word in its reader's
    language."""

    path: Path | None
    field: str
    reason: str
    code: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        where = str(self.path) if self.path else "<config>"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class ConfigError(Exception):
    """Configuration could not be loaded; carries every problem found. Not retried."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def problems_from_validation(path: Path | None, error: ValidationError) -> list[ConfigProblem]:
    """Each validation error as file, field path and reason."""
    problems = []
    for item in error.errors():
        parts = list(item["loc"])
        # A rule's kind picks its model; pydantic puts that tag in the path ("rules.0.intrusion").
        if len(parts) > 2 and parts[0] == "rules" and parts[2] in RULE_KINDS:
            del parts[2]
        # A model's own validator names the field it is about in its context (contract.camera).
        named = (item.get("ctx") or {}).get("field")
        if isinstance(named, str) and named:
            parts = [*parts, *named.split(".")]
        location = ".".join(str(part) for part in parts)
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        if item["type"] not in ("missing", "extra_forbidden") and isinstance(
            given, str | int | float
        ):
            # An address is repeated masked: a problem is printed, logged and answered.
            shown = mask_credentials(given) if isinstance(given, str) and "://" in given else given
            message = f"{message} (got {shown!r})"
        # A model-level validator names the field inside its own message ("rules.0.zone: ...").
        if not location and ": " in message:
            location, message = message.split(": ", 1)
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        params = {
            key: value
            for key, value in (item.get("ctx") or {}).items()
            if key != "field" and isinstance(value, str | int | float | bool)
        }
        problems.append(
            ConfigProblem(path, location or "(file)", message, str(item["type"]), params)
        )
    return problems
