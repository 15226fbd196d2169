"""The audit committee maturity matrix YAML says what the seed says: nothing invented, nothing dropped."""

from __future__ import annotations

import re

from frameworks.schema import LevelsScale
from tests.frameworks.fidelity import (
    assert_nothing_invented,
    assert_nothing_missed,
    load_builtin,
    normalise,
    seeds_dir,
)

FRAMEWORK_ID = "audit-committee-maturity"
SEED = "audit-committee-maturity-matrix.txt"

_NUMBERED_ROW = re.compile(r"^\s*\d+\.\s")
_LEVEL_HEADING = re.compile(r"^(\d+)\s+([A-Z][A-Z ]*?)(?:\s+\((.+)\))?$")


def _seed_text() -> str:
    return (seeds_dir() / SEED).read_text(encoding="utf-8")


def _seed_rows(seed_text: str) -> list[list[str]]:
    """The tab cells of every numbered row of the matrix: the key element, then its descriptors."""
    return [
        [cell.strip() for cell in line.split("\t")]
        for line in seed_text.splitlines()
        if _NUMBERED_ROW.match(line) and "\t" in line
    ]


def _seed_levels(seed_text: str) -> list[tuple[int, str, str | None]]:
    """(value, label, words in brackets) for each column heading of the 'PROGRESS LEVELS' row."""
    header = next(line for line in seed_text.splitlines() if line.startswith("PROGRESS LEVELS"))
    levels = []
    for cell in header.split("\t")[1:]:
        match = _LEVEL_HEADING.match(cell.strip())
        assert match, f"unreadable level heading {cell!r}"
        levels.append((int(match.group(1)), match.group(2), match.group(3)))
    return levels


def test_audit_committee_maturity_invents_no_text() -> None:
    assert_nothing_invented(load_builtin(FRAMEWORK_ID), _seed_text())


def test_audit_committee_maturity_keeps_every_question_of_the_seed() -> None:
    rows = _seed_rows(_seed_text())
    descriptors = [cell for row in rows for cell in row[1:] if cell]
    assert len(descriptors) >= 25, f"the extractor found only {len(descriptors)} descriptor cells"
    assert_nothing_missed(load_builtin(FRAMEWORK_ID), descriptors)


def test_audit_committee_maturity_keeps_the_source_levels_with_unique_labels() -> None:
    framework = load_builtin(FRAMEWORK_ID)
    assert framework.source == SEED
    scale = framework.scale
    assert isinstance(scale, LevelsScale)

    seed_levels = _seed_levels(_seed_text())
    assert (
        [level.value for level in scale.levels]
        == [value for value, _, _ in seed_levels]
        == [2, 3, 4, 5, 6, 7]
    )
    for level, (value, label, bracketed) in zip(scale.levels, seed_levels, strict=True):
        assert level.label.casefold().startswith(label.casefold()), f"level {value}: {level.label!r}"
        assert level.description == bracketed, f"level {value}: description {level.description!r}"

    labels = [level.label.casefold() for level in scale.levels]
    assert len(set(labels)) == len(labels), f"level labels must be unique: {labels}"
    assert scale.levels[-1].label != "Exemplar", "level 7 must be told apart from level 6"
    assert any("EXEMPLAR" in note and "unique" in note for note in framework.notes), (
        "a note must explain why the second EXEMPLAR label was changed"
    )


def test_audit_committee_maturity_puts_each_descriptor_in_its_source_column() -> None:
    framework = load_builtin(FRAMEWORK_ID)
    scale = framework.scale
    assert isinstance(scale, LevelsScale)
    rows = _seed_rows(_seed_text())

    assert len(framework.domains) == 1
    elements = framework.domains[0].elements
    assert len(elements) == len(rows) == 5
    for element, row in zip(elements, rows, strict=True):
        name = re.sub(r"^\d+\.\s*", "", row[0])
        assert element.title.casefold() == name.casefold(), f"{element.id}: title {element.title!r}"
        assert len(element.descriptors) == 6
        assert [normalise(element.descriptors[level.id]) for level in scale.levels] == [
            normalise(cell) for cell in row[1:]
        ], f"{element.id}: descriptors out of column order"
    assert any("capital" in note for note in framework.notes), "a note must record the change of case"
