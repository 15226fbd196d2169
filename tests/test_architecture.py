"""The house rules of issue 13, read from the source (nothing is imported): they fail fast and say where.

Each failure lists every violation as `path:line: reason`. Types and import layers: `make lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "dialogs", "storage", "frameworks")
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 300
# `# type: ignore` must name what it ignores: `# type: ignore[code]`.
BARE_TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?!\[)")


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield path


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _report(violations: list[str]) -> str:
    return f"{len(violations)} violation(s):\n" + "\n".join(violations)


def oversized(path: Path) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and classes over MAX_CLASS_LINES lines (decorators included)."""
    text = path.read_text(encoding="utf-8")
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{_where(path, 1)}: module has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            size = node.end_lineno - start + 1
            if size > MAX_CLASS_LINES:
                limit = f"(at most {MAX_CLASS_LINES})"
                found.append(f"{_where(path, node.lineno)}: class {node.name} has {size} lines {limit}")
    return found


def bare_type_ignores(path: Path) -> list[str]:
    """`# type: ignore` without an error code hides every error on its line, including the next one."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if BARE_TYPE_IGNORE.search(line):
            found.append(f"{_where(path, number)}: bare '# type: ignore' (name it: '# type: ignore[code]')")
    return found


def private_imports(path: Path) -> list[str]:
    """`from module import _name` across modules of the project: a name others need is public."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source.split(".")[0] not in PACKAGES:
            continue
        for alias in node.names:
            if _is_private(alias.name):
                found.append(f"{_where(path, node.lineno)}: imports private name {alias.name} from {source}")
        if any(_is_private(part) for part in source.split(".")):
            found.append(f"{_where(path, node.lineno)}: imports from private module {source}")
    return found


def missing_all(path: Path) -> list[str]:
    """A package's __init__.py names its public surface in `__all__`: a reader sees what the room offers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign | ast.AugAssign)
            else []
        )
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
            return []
    return [f"{_where(path, 1)}: package defines no __all__ (name its public surface)"]


def _violations(check: Callable[[Path], list[str]]) -> list[str]:
    return [violation for path in _sources() for violation in check(path)]


def _package_inits() -> Iterator[Path]:
    return (path for path in _sources() if path.name == "__init__.py")


def test_no_module_over_600_lines_and_no_class_over_300() -> None:
    violations = _violations(oversized)
    assert not violations, _report(violations)


def test_every_type_ignore_names_its_error_code() -> None:
    violations = _violations(bare_type_ignores)
    assert not violations, _report(violations)


def test_no_private_name_is_imported_from_another_module() -> None:
    violations = _violations(private_imports)
    assert not violations, _report(violations)


def test_every_package_names_its_public_surface_in_dunder_all() -> None:
    violations = [violation for path in _package_inits() for violation in missing_all(path)]
    assert not violations, _report(violations)


# The checks themselves: each one catches what it is meant to and nothing else.


def _write(tmp_path: Path, relative: str, text: str) -> Path:
    path = ROOT / relative
    assert not path.exists()
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def test_the_checks_catch_what_they_are_meant_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    big_class = "class Big:\n" + "    x = 1\n" * MAX_CLASS_LINES
    module = _write(tmp_path, "storage/sample.py", big_class + "\n" * (MAX_MODULE_LINES - MAX_CLASS_LINES))
    assert oversized(module) == [
        f"storage/sample.py:1: module has {MAX_MODULE_LINES + 1} lines (at most {MAX_MODULE_LINES})",
        f"storage/sample.py:1: class Big has {MAX_CLASS_LINES + 1} lines (at most {MAX_CLASS_LINES})",
    ]
    ignores = _write(tmp_path, "bot/ignores.py", "a = 1  # type: ignore\nb = 2  # type: ignore[assignment]\n")
    assert bare_type_ignores(ignores) == [
        "bot/ignores.py:1: bare '# type: ignore' (name it: '# type: ignore[code]')"
    ]
    privates = _write(
        tmp_path,
        "bot/rooms/importer.py",
        "from bot.rooms.other import _hidden, public, __version__\n"
        "from ._helpers import shown\n"
        "from .sibling import _said\n"
        "from json import _default_decoder\n",
    )
    assert private_imports(privates) == [
        "bot/rooms/importer.py:1: imports private name _hidden from bot.rooms.other",
        "bot/rooms/importer.py:2: imports from private module bot.rooms._helpers",
        "bot/rooms/importer.py:3: imports private name _said from bot.rooms.sibling",
    ]
    bare_init = _write(tmp_path, "dialogs/__init__.py", '"""The partner\'s conversation."""\n')
    named_init = _write(tmp_path, "storage/__init__.py", '__all__ = ["db"]\n')
    assert missing_all(bare_init) == [
        "dialogs/__init__.py:1: package defines no __all__ (name its public surface)"
    ]
    assert missing_all(named_init) == []
