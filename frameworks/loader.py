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

from frameworks.schema import Framework, problems_beyond_fields

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent
"""The seed frameworks ship inside the package, next to this module."""


class FrameworkFileError(Exception):
    """A framework file that cannot be used, with every problem found in it."""

    def __init__(self, path: Path, problems: list[str], framework_id: str | None = None) -> None:
        self.path = path
        self.problems = problems
        self.framework_id = framework_id
        """The id the file gives itself, when it gives one (it may be what is wrong)."""
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass
class Catalogue:
    """The frameworks that loaded, by id, and the files that did not."""

    frameworks: dict[str, Framework] = field(default_factory=dict)
    errors: list[FrameworkFileError] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)
    """The file each framework was loaded from, by id."""

    def get(self, framework_id: str) -> Framework | None:
        return self.frameworks.get(framework_id)


@dataclass(frozen=True)
class FileCheck:
    """One file as `frameworks validate` reports it: the framework, if it loads, and every problem."""

    path: Path
    framework: Framework | None
    problems: list[str]


def load_framework(path: Path) -> Framework:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameworkFileError(path, [f"cannot read: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise FrameworkFileError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise FrameworkFileError(path, ["the top level must be a mapping with id, title, domains…"])
    framework_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        return Framework.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [line for error in errors for line in _describe(error, raw).splitlines()]
        if all(error["loc"] for error in errors):  # field errors kept the whole-framework checks from running
            problems += [problem for problem in problems_beyond_fields(raw) if problem not in problems]
        raise FrameworkFileError(path, problems, framework_id) from exc


def load_directory(
    directory: Path = BUILTIN_DIR, catalogue: Catalogue | None = None, *, log_skipped: bool = True
) -> Catalogue:
    """Load every `*.yaml` in the directory, adding to `catalogue` when given (ids must stay unique)."""
    catalogue = catalogue if catalogue is not None else Catalogue()
    if not directory.is_dir():
        catalogue.errors.append(FrameworkFileError(directory, ["not a directory of framework files"]))
        return catalogue
    for path in sorted(directory.glob("*.yaml")):
        try:
            framework = load_framework(path)
        except FrameworkFileError as exc:
            if log_skipped:
                log.error("framework file skipped: %s", exc)
            catalogue.errors.append(exc)
            continue
        if framework.id in catalogue.frameworks:
            problem = f"id {framework.id!r} is already used by {catalogue.sources[framework.id]}"
            error = FrameworkFileError(path, [problem], framework.id)
            if log_skipped:
                log.error("framework file skipped: %s", error)
            catalogue.errors.append(error)
            continue
        catalogue.frameworks[framework.id] = framework
        catalogue.sources[framework.id] = path
    return catalogue


def check_files(paths: list[Path], loaded: Catalogue) -> list[FileCheck]:
    """Every problem of each file, and ids that clash: with a framework the bot loads from another file
    (`loaded`: the built-in ones and FRAMEWORKS_DIR; the loader would skip this file), or with an
    earlier file of `paths`."""
    checks = []
    seen: dict[str, Path] = {}
    for path in paths:
        framework: Framework | None = None
        try:
            framework = load_framework(path)
        except FrameworkFileError as exc:
            problems, framework_id = list(exc.problems), exc.framework_id
        else:
            problems, framework_id = [], framework.id
        if framework_id is not None:
            problems += _clash(framework_id, path, loaded, seen)
            seen.setdefault(framework_id, path)
        checks.append(FileCheck(path, framework, problems))
    return checks


def _clash(framework_id: str, path: Path, loaded: Catalogue, seen: dict[str, Path]) -> list[str]:
    source = loaded.sources.get(framework_id)
    if source is not None and source.resolve() != path.resolve():
        where = f"the built-in framework {source}" if source.parent == BUILTIN_DIR else str(source)
        return [
            f"id {framework_id!r} is already used by {where}: the bot would skip this file "
            "(choose another id, or replace that file)"
        ]
    if framework_id in seen and seen[framework_id].resolve() != path.resolve():
        return [f"id {framework_id!r} is also used by {seen[framework_id]}, checked above"]
    return []


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
    message = str(error["msg"]).removeprefix("Value error, ")
    if not parts:  # whole-framework checks already name their YAML path in the message
        return message
    return ".".join(parts) + f": {message}"
