"""Reading framework YAML files, with errors that name the file and the YAML path at fault.

A broken file must never take the bot down: `load_directory` reports it and carries on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from frameworks.schema import Framework

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent
"""The seed frameworks ship inside the package, next to this module."""


class FrameworkFileError(Exception):
    """A framework file that cannot be used, with every problem found in it."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass
class Catalogue:
    """The frameworks that loaded, by id, and the files that did not."""

    frameworks: dict[str, Framework] = field(default_factory=dict)
    errors: list[FrameworkFileError] = field(default_factory=list)

    def get(self, framework_id: str) -> Framework | None:
        return self.frameworks.get(framework_id)


def load_framework(path: Path) -> Framework:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameworkFileError(path, [f"cannot read: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise FrameworkFileError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise FrameworkFileError(path, ["the top level must be a mapping with id, title, domains…"])
    try:
        return Framework.model_validate(raw)
    except ValidationError as exc:
        raise FrameworkFileError(path, [_describe(error, raw) for error in exc.errors()]) from exc


def load_directory(directory: Path = BUILTIN_DIR, catalogue: Catalogue | None = None) -> Catalogue:
    """Load every `*.yaml` in the directory, adding to `catalogue` when given (ids must stay unique)."""
    catalogue = catalogue if catalogue is not None else Catalogue()
    if not directory.is_dir():
        catalogue.errors.append(FrameworkFileError(directory, ["not a directory of framework files"]))
        return catalogue
    for path in sorted(directory.glob("*.yaml")):
        try:
            framework = load_framework(path)
        except FrameworkFileError as exc:
            log.error("framework file skipped: %s", exc)
            catalogue.errors.append(exc)
            continue
        if framework.id in catalogue.frameworks:
            error = FrameworkFileError(path, [f"id {framework.id!r} is already used by another file"])
            log.error("framework file skipped: %s", error)
            catalogue.errors.append(error)
            continue
        catalogue.frameworks[framework.id] = framework
    return catalogue


def _describe(error: Any, raw: dict[str, Any]) -> str:
    """Turn a pydantic error location into a YAML path, with ids beside list indexes."""
    parts: list[str] = []
    node: Any = raw
    for key in error["loc"]:
        if isinstance(key, int):
            ident = node[key].get("id") if isinstance(node, list) and isinstance(node[key], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]" + (f"({ident})" if ident else "")]
            node = node[key] if isinstance(node, list) and key < len(node) else None
        elif key in ("levels", "score", "status") and isinstance(node, dict) and node.get("kind") == key:
            continue  # the discriminated union adds the scale kind to the location
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    message = error["msg"].removeprefix("Value error, ")
    if not parts:  # whole-framework checks already name their YAML path in the message
        return message
    return ".".join(parts) + f": {message}"
