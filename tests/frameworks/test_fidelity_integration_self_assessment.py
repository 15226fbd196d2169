"""The integration self-assessment YAML says what the seed says: nothing invented, nothing dropped."""

from __future__ import annotations

import re

from frameworks.schema import ScoreScale
from tests.frameworks.fidelity import (
    assert_nothing_invented,
    assert_nothing_missed,
    load_builtin,
    normalise,
    seeds_dir,
)

FRAMEWORK_ID = "integration-self-assessment"
SEED = "integration-self-assessment.txt"

_HEADING = re.compile(r"^\s*(\d+)\.\s+(\S.*?)\s*$")
_SCORE_CELLS = 10
"""A question row carries eleven -5..+5 cells, so at least ten tabs, even when the cells are garbled."""


def _seed_text() -> str:
    return (seeds_dir() / SEED).read_text(encoding="utf-8")


def _seed_questions(seed_text: str) -> list[str]:
    """The text before the first tab of every line carrying score cells, garbled rows included."""
    questions = []
    for line in seed_text.splitlines():
        if line.count("\t") < _SCORE_CELLS:
            continue
        question = line.split("\t", 1)[0].strip()
        if question:  # a line of score cells alone belongs to the question above it
            questions.append(question)
    return questions


def _seed_headings(seed_text: str) -> list[tuple[int, str]]:
    return [
        (int(match.group(1)), match.group(2))
        for line in seed_text.splitlines()
        if "\t" not in line and (match := _HEADING.match(line))
    ]


def test_integration_self_assessment_invents_no_text() -> None:
    assert_nothing_invented(load_builtin(FRAMEWORK_ID), _seed_text())


def test_integration_self_assessment_keeps_every_question_of_the_seed() -> None:
    questions = _seed_questions(_seed_text())
    assert len(questions) >= 30, f"the extractor found only {len(questions)} question rows"
    assert_nothing_missed(load_builtin(FRAMEWORK_ID), questions)


def test_integration_self_assessment_keeps_the_eight_sections_in_order_and_the_empty_ones_explained() -> None:
    framework = load_builtin(FRAMEWORK_ID)
    assert framework.source == SEED

    headings = _seed_headings(_seed_text())
    assert [number for number, _ in headings] == list(range(1, 9))
    assert [domain.title for domain in framework.domains] == [title for _, title in headings]
    assert [len(domain.elements) for domain in framework.domains] == [0, 7, 0, 9, 6, 7, 0, 3]

    for domain in framework.domains:
        if domain.elements:
            assert domain.empty_note is None, f"{domain.id} has questions and an empty_note"
        else:
            note = (domain.empty_note or "").casefold()
            assert "no questions" in note, f"{domain.id}: the empty_note must say the source has none"
            assert "later" in note, f"{domain.id}: the empty_note must say a lead can add questions later"

    enablers = framework.domains[7]
    assert enablers.lead_in == "Are you integrating resources for:"
    assert all(domain.lead_in is None for domain in framework.domains[:7])

    assert isinstance(framework.scale, ScoreScale)
    assert (framework.scale.min, framework.scale.max) == (-5, 5)
    assert any("not the source" in normalise(note) for note in framework.notes), (
        "a note must say the end labels are the product's, not the source's"
    )


def test_integration_self_assessment_repairs_the_garbled_and_the_split_rows() -> None:
    framework = load_builtin(FRAMEWORK_ID)
    repaired = {repair.where.rsplit(".", 2)[-2]: repair for repair in framework.repairs}
    assert {"open-communication", "right-information-to-right-people"} <= set(repaired)

    assert repaired["open-communication"].corrected == "Is there open communication?"
    assert "\n" in repaired["right-information-to-right-people"].original, (
        "the split row's repair must join the seed's two lines"
    )
    # assert_nothing_missed accepts a seed row found inside a repair's original, so check here that
    # every repaired text really is in the element the repair names.
    for element_id, repair in repaired.items():
        found = framework.element(element_id)
        assert found is not None, f"repair at {repair.where!r} names no element"
        _, element = found
        assert normalise(repair.corrected) in normalise(element.text or ""), (
            f"{element_id}: repair not applied"
        )
