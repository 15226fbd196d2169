"""The place partnership maturity matrix says what the converted PDF says, row for row.

The seed is a PDF table converted to text: cells are tab-separated, descriptor cells open with an
HTML list tag, the level header row repeats on every page and some rows lost their label or slid
onto a neighbouring line. These tests read the raw seed generically (no hard-coded descriptors)
and hold the YAML to it.
"""

from __future__ import annotations

import re

import pytest

from frameworks.schema import Framework, LevelsScale
from tests.frameworks.fidelity import (
    assert_nothing_invented,
    assert_nothing_missed,
    load_builtin,
    normalise,
    seeds_dir,
)

FRAMEWORK_ID = "place-partnership-maturity"
SEED_NAME = "place-partnership-maturity-matrix.txt"

CELL_TAG = '<ul style="list-style-type: none">'
LEVEL_HEADER = re.compile(r"^An? (emerging|developing|maturing|thriving) place\b")
DOMAIN_HEADING = re.compile(r"^[A-Z][A-Za-z ]+:\s*(<[^>]+>\s*)?➤")
WORD = re.compile(r"[a-z0-9]+")

ROWS_IN_SOURCE = 23
"""21 rows with four descriptor cells plus Enabler – Digital and Quality, which have a label only."""


@pytest.fixture(scope="module")
def seed_text() -> str:
    return (seeds_dir() / SEED_NAME).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def framework() -> Framework:
    return load_builtin(FRAMEWORK_ID)


def seed_cells(seed_text: str) -> list[list[str]]:
    """Each line of the seed as its non-empty tab-separated cells, stripped."""
    return [[c.strip() for c in line.split("\t") if c.strip()] for line in seed_text.splitlines()]


def descriptor_rows(seed_text: str) -> list[list[str]]:
    """Every seed line's descriptor cells (the text after the list tag), one list per matrix row."""
    rows = []
    for cells in seed_cells(seed_text):
        row = [cell[len(CELL_TAG) :].strip() for cell in cells if cell.startswith(CELL_TAG)]
        if row:
            rows.append(row)
    return rows


def level_headers(seed_text: str) -> list[str]:
    """The level descriptions of the header row, however often the row repeats."""
    seen: dict[str, None] = {}
    for cells in seed_cells(seed_text):
        for cell in cells:
            if LEVEL_HEADER.match(cell):
                seen.setdefault(normalise(cell))
    return list(seen)


def row_labels(seed_text: str) -> list[str]:
    """Cells that label a matrix row: neither descriptor, level header nor domain heading list."""
    labels = []
    for cells in seed_cells(seed_text):
        for cell in cells:
            if cell.startswith(CELL_TAG) or LEVEL_HEADER.match(cell) or DOMAIN_HEADING.match(cell):
                continue
            labels.append(normalise(re.sub(r"<[^>]+>", " ", cell)))
    return labels


def label_words(label: str) -> list[str]:
    """A row label's words before its parenthetical note, for comparing with element titles."""
    return WORD.findall(label.split("(")[0].casefold())


def parenthetical(label: str) -> str | None:
    match = re.search(r"\((.+)\)", label)
    return match.group(1).strip() if match else None


def test_place_matrix_invents_no_text(framework: Framework, seed_text: str) -> None:
    assert_nothing_invented(framework, seed_text)


def test_place_matrix_keeps_every_descriptor_of_the_seed(framework: Framework, seed_text: str) -> None:
    fragments = [cell for row in descriptor_rows(seed_text) for cell in row] + level_headers(seed_text)
    assert len(fragments) == 21 * 4 + 4
    assert_nothing_missed(framework, fragments)


def test_place_matrix_keeps_each_seed_row_together_from_emerging_to_thriving(
    framework: Framework, seed_text: str
) -> None:
    scale = framework.scale
    assert isinstance(scale, LevelsScale)
    level_ids = [level.id for level in scale.levels]
    encoded = [
        [normalise(element.descriptors[level]) for level in level_ids]
        for _, element in framework.scored_elements
    ]
    seed_rows = [[normalise(cell) for cell in row] for row in descriptor_rows(seed_text)]
    assert all(len(row) == 4 for row in seed_rows), "a seed line does not hold exactly four cells"
    assert encoded == seed_rows, "rows are reordered, merged or have their cells in the wrong level"


def test_place_matrix_has_the_three_domains_in_source_order(framework: Framework) -> None:
    assert [domain.id for domain in framework.domains] == [
        "ambition-and-vision",
        "system-leadership",
        "design-and-delivery",
    ]
    assert [domain.title for domain in framework.domains] == [
        "Ambition and vision",
        "System leadership",
        "Design and delivery",
    ]


def test_place_matrix_scores_four_levels_from_emerging_to_thriving(
    framework: Framework, seed_text: str
) -> None:
    scale = framework.scale
    assert isinstance(scale, LevelsScale)
    assert [(level.id, level.value) for level in scale.levels] == [
        ("emerging", 1),
        ("developing", 2),
        ("maturing", 3),
        ("thriving", 4),
    ]
    assert [normalise(level.description or "") for level in scale.levels] == level_headers(seed_text)


def test_place_matrix_marks_digital_and_quality_as_still_in_development(
    framework: Framework, seed_text: str
) -> None:
    unfinished = {element.id: element for _, element in framework.iter_elements() if element.in_development}
    assert sorted(unfinished) == ["enabler-digital", "quality"]
    assert normalise(unfinished["enabler-digital"].development_note or "") == (
        "Completed via the ICS Digital Maturity Matrix."
    )
    for element in unfinished.values():
        assert not element.descriptors
        assert normalise(element.development_note or "") in normalise(seed_text)


def test_place_matrix_scores_every_other_element_on_all_four_levels(framework: Framework) -> None:
    assert len(framework.iter_elements()) == ROWS_IN_SOURCE
    assert len(framework.scored_elements) == ROWS_IN_SOURCE - 2
    for _, element in framework.scored_elements:
        assert list(element.descriptors) == ["emerging", "developing", "maturing", "thriving"], element.id


def test_place_matrix_names_an_element_after_every_labelled_row(framework: Framework, seed_text: str) -> None:
    titles = [WORD.findall(element.title.casefold()) for _, element in framework.iter_elements()]
    labels = row_labels(seed_text)
    assert len(labels) == ROWS_IN_SOURCE - 4, "four rows of the seed have no label"
    unmatched = [label for label in labels if label_words(label) not in titles]
    assert not unmatched, f"seed row labels with no element: {unmatched}"


def test_place_matrix_keeps_the_notes_on_row_labels(framework: Framework, seed_text: str) -> None:
    notes = [note for note in map(parenthetical, row_labels(seed_text)) if note]
    kept = [
        normalise(text)
        for _, element in framework.iter_elements()
        for text in (element.guidance, element.development_note)
        if text
    ]
    assert sorted(normalise(note) for note in notes) == sorted(kept)
