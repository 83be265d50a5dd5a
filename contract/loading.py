"""Configuration files read into contract models: camera files and other YAML documents."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from contract.camera import CameraConfig
from contract.problems import ConfigError, ConfigProblem, problems_from_validation


def load_camera_file(path: Path) -> CameraConfig:
    """Load and validate one camera YAML file; raises ConfigError naming file, field and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            [ConfigProblem(path, "", f"cannot read: {err.strerror}", "file_unreadable")]
        ) from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(err, "problem", None) or str(err)
        place = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
        raise ConfigError(
            [ConfigProblem(path, where, f"not valid YAML: {reason}", "yaml_invalid", place)]
        ) from err
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        raise ConfigError(
            [
                ConfigProblem(
                    path, "(file)", f"expected a mapping of fields, got {kind}", "not_a_mapping"
                )
            ]
        )
    try:
        return CameraConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(path, err)) from err


def camera_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their *.yaml / *.yml files, sorted; files pass through."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def read_cameras(
    paths: Iterable[Path],
) -> tuple[list[tuple[Path, CameraConfig]], list[ConfigProblem]]:
    """Every valid camera file under `paths` with its camera, and the problems of the others
    (file, field, reason): one bad file refuses that camera only. A camera id used again is
    refused in the later file."""
    cameras: list[tuple[Path, CameraConfig]] = []
    problems: list[ConfigProblem] = []
    seen: dict[str, Path] = {}
    for path in camera_files(paths):
        try:
            camera = load_camera_file(path)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        if camera.id in seen:
            problems.append(
                ConfigProblem(
                    path,
                    "id",
                    f"camera id {camera.id!r} is already used in {seen[camera.id]}",
                    "camera_id_used",
                    {"id": camera.id, "file": seen[camera.id].name},
                )
            )
            continue
        seen[camera.id] = path
        cameras.append((path, camera))
    return cameras, problems


def load_cameras(paths: Iterable[Path]) -> list[CameraConfig]:
    """Load every camera file under `paths`; raises one ConfigError listing all problems."""
    cameras, problems = read_cameras(paths)
    if problems:
        raise ConfigError(problems)
    return [camera for _, camera in cameras]


_Model = TypeVar("_Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[_Model]) -> _Model:
    """A YAML file validated as `model`; raises ConfigError naming the file, field and reason."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError([ConfigProblem(path, "", f"cannot be read: {err}")]) from err
    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(path, err)) from err
