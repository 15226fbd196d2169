"""The ICS development roadmap framework is faithful to Annex 2 of the BOB ICS System Delivery Plan 2022.

The seed is a PDF converted to text. Its annex gives, for each workstream of three sections
("3. ICB Architecture", "4. ICS Development", "5. ICS Enablers"), bullet lists of outcomes under the
headings "Outcomes by <date>" and "Strategic Outlook for 2023"; three workstreams have a one-row table
saying "To be developed in Q1 22/23" instead. `read_annex` walks those sections line by line, so the
tests compare the framework with what the seed says rather than with a list copied by hand.

Markdown emphasis (`**bold**`, `*italic*`) is the conversion's markup: `normalise` drops it, and a
test checks that no marker in the seed sits between two letters, where dropping it would join words.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

import pytest

from frameworks.schema import Element, Framework
from tests.frameworks.fidelity import (
    apply_repairs,
    assert_nothing_invented,
    assert_nothing_missed,
    load_builtin,
    normalise,
    seeds_dir,
)

FRAMEWORK_ID = "ics-development-roadmap"
SEED = "ics-system-delivery-plan-2022.txt"

_SUMMARY = "2. ICS Development Roadmap Summary"
_FIRST_SECTION = "3. ICB Architecture"
_SECTION = re.compile(r"^\d+\. (?P<title>\S.*)$")
_WORKSTREAM_MARK = "Progress & outcomes"
_HEADING = re.compile(
    r"^(?:Outcomes by (?P<day>\d{1,2}) (?P<month>[A-Z][a-z]+) (?P<year>\d{4})|Strategic Outlook for \d{4})$"
)
_BULLET = re.compile(r"^- (?P<text>\S.*)$")
_SUB_ITEM = re.compile(r"^\s+- (?P<text>\S.*)$")
_CHART_CAPTION = re.compile(r"^BOB ICS Delivery Roadmap \(.+\)$")
_MONTHS = list(calendar.month_name)


def unbold(text: str) -> str:
    return text.replace("**", "")


def heading_due(heading: str) -> date | None:
    match = _HEADING.match(heading)
    assert match, f"not an outcome heading: {heading!r}"
    if match["day"] is None:
        return None
    return date(int(match["year"]), _MONTHS.index(match["month"]), int(match["day"]))


@dataclass
class Outcome:
    domain: str
    workstream: str
    heading: str
    lines: list[str]
    """The bullet, then its sub-items as "- item" lines; bold markers dropped, nothing else touched."""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def due(self) -> date | None:
        return heading_due(self.heading)


@dataclass
class Workstream:
    domain: str
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    development_note: str | None = None


@dataclass
class Annex:
    sections: list[str] = field(default_factory=list)
    workstreams: list[Workstream] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)
    """Lines under an outcome heading that are neither bullets nor chart captions."""


def read_annex(seed_text: str) -> Annex:
    """Walk the annex's workstream sections, from "3. ICB Architecture" after its summary to the end."""
    lines = seed_text.splitlines()
    stripped = [line.strip() for line in lines]
    start = stripped.index(_FIRST_SECTION, stripped.index(_SUMMARY))
    name_lines = set()
    for index in range(start, len(lines)):
        if stripped[index] == _WORKSTREAM_MARK:
            name_lines.add(max(i for i in range(start, index) if stripped[i]))

    annex = Annex()
    section: str | None = None
    workstream: Workstream | None = None
    heading: str | None = None
    index = start
    while index < len(lines):
        raw, line = lines[index], stripped[index]
        index += 1
        if not line or line == _WORKSTREAM_MARK:
            continue
        if index - 1 in name_lines:
            assert section is not None
            workstream = Workstream(section, line)
            annex.workstreams.append(workstream)
            heading = None
            continue
        section_match = _SECTION.match(raw)
        if section_match:
            section = section_match["title"]
            annex.sections.append(section)
            workstream = heading = None
            continue
        cells = [cell.strip() for cell in raw.split("\t")]
        if len(cells) > 1 and all(_HEADING.match(cell) for cell in cells):
            # A table with one column per heading: its only row says the outcomes are still to be written.
            assert workstream is not None
            while not stripped[index]:
                index += 1
            notes = [cell.strip() for cell in lines[index].split("\t") if cell.strip()]
            assert len(notes) == 1, f"unexpected table row under {workstream.name}: {lines[index]!r}"
            workstream.development_note = notes[0]
            index += 1
            heading = None
            continue
        if _HEADING.match(line):
            heading = line
            continue
        if heading is None:
            continue
        assert workstream is not None
        assert section is not None
        bullet, sub_item = _BULLET.match(raw), _SUB_ITEM.match(raw)
        if bullet:
            text = unbold(bullet["text"]).strip()
            workstream.outcomes.append(Outcome(section, workstream.name, heading, [text]))
        elif sub_item:
            assert workstream.outcomes, f"sub-item without a bullet: {raw!r}"
            workstream.outcomes[-1].lines.append("- " + unbold(sub_item["text"]).strip())
        else:
            if not _CHART_CAPTION.match(line):
                annex.prose.append(line)
            heading = None
    return annex


@pytest.fixture(scope="module")
def seed_text() -> str:
    return (seeds_dir() / SEED).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def framework() -> Framework:
    return load_builtin(FRAMEWORK_ID)


@pytest.fixture(scope="module")
def annex(seed_text: str) -> Annex:
    return read_annex(seed_text)


def _source_rows(annex: Annex, framework: Framework) -> list[tuple[str, str, str | None]]:
    """(section, workstream, outcome text after repairs) in source order; None for an unwritten one."""
    rows: list[tuple[str, str, str | None]] = []
    for workstream in annex.workstreams:
        for outcome in workstream.outcomes:
            text = apply_repairs(framework, normalise(outcome.text), strict=False)
            rows.append((outcome.domain, workstream.name, text))
        if workstream.development_note:
            rows.append((workstream.domain, workstream.name, None))
    return rows


def _framework_rows(framework: Framework) -> list[tuple[str, str, str | None]]:
    return [
        (domain.title, element.group or "", normalise(element.text) if element.text else None)
        for domain, element in framework.iter_elements()
    ]


def _paired(annex: Annex, framework: Framework) -> list[tuple[Outcome, Element]]:
    """Each outcome of the seed with the element that asks about it (the order test proves the pairing)."""
    assert _framework_rows(framework) == _source_rows(annex, framework), "see the source order test"
    outcomes: list[Outcome | None] = []
    for workstream in annex.workstreams:
        outcomes += workstream.outcomes
        if workstream.development_note:
            outcomes.append(None)
    pairs = zip(outcomes, framework.iter_elements(), strict=True)
    return [(outcome, element) for outcome, (_, element) in pairs if outcome is not None]


def test_roadmap_invents_no_outcome(framework: Framework, seed_text: str) -> None:
    assert not re.search(r"[a-z]\*+[a-z]", seed_text), "an emphasis marker joins two words"
    assert_nothing_invented(framework, seed_text)


def test_roadmap_keeps_every_outcome_of_the_workstreams(framework: Framework, annex: Annex) -> None:
    fragments = [outcome.text for workstream in annex.workstreams for outcome in workstream.outcomes]
    fragments += [line for workstream in annex.workstreams for o in workstream.outcomes for line in o.lines]
    assert_nothing_missed(framework, fragments)


def test_roadmap_asks_each_outcome_once_in_source_order(framework: Framework, annex: Annex) -> None:
    assert _framework_rows(framework) == _source_rows(annex, framework)


def test_roadmap_milestones_are_dates_from_the_headings(framework: Framework, annex: Annex) -> None:
    pairs = _paired(annex, framework)
    assert len(pairs) == sum(len(workstream.outcomes) for workstream in annex.workstreams)
    for outcome, element in pairs:
        assert element.milestone is not None, element.id
        assert element.milestone.due == outcome.due, element.id
        if outcome.due is None:
            assert element.milestone.label.casefold() == outcome.heading.casefold(), element.id
        else:
            assert element.milestone.label == "By " + outcome.heading.removeprefix("Outcomes by "), element.id
    dues = {element.milestone.due for _, element in pairs if element.milestone}
    assert dues == {date(2022, 4, 1), date(2022, 7, 1), date(2023, 1, 1), None}


def test_roadmap_groups_are_the_source_workstreams_and_sections(framework: Framework, annex: Annex) -> None:
    assert annex.sections == ["ICB Architecture", "ICS Development", "ICS Enablers"]
    assert [domain.title for domain in framework.domains] == annex.sections
    assert [domain.id for domain in framework.domains] == [
        "icb-architecture",
        "ics-development",
        "ics-enablers",
    ]
    for domain in framework.domains:
        groups = list(dict.fromkeys(element.group for element in domain.elements))
        assert groups == [w.name for w in annex.workstreams if w.domain == domain.title], domain.id


def test_roadmap_shows_unwritten_workstreams_without_scoring_them(framework: Framework, annex: Annex) -> None:
    unwritten = {w.name: w.development_note for w in annex.workstreams if w.development_note}
    assert unwritten == {
        "Clinical & Professional Leadership": "To be developed in Q1 22/23",
        "Diversity & Inclusivity": "To be developed in Q1 22/23",
        "Tackling Inequalities": "To be developed in Q1 22/23",
    }
    for name, note in unwritten.items():
        elements = [element for _, element in framework.iter_elements() if element.group == name]
        assert len(elements) == 1, name
        (element,) = elements
        assert element.in_development, name
        assert element.text is None, name
        assert element.milestone is None, name
        assert element.development_note == note
    # An outcome the source leaves "TBC" is shown verbatim but never scored either.
    for outcome, element in _paired(annex, framework):
        assert element.in_development == outcome.text.startswith("TBC"), element.id
    assert len(framework.scored_elements) == len(framework.iter_elements()) - 4


def test_roadmap_counts_outcomes_per_domain_and_workstream(framework: Framework) -> None:
    per_domain = {domain.id: len(domain.elements) for domain in framework.domains}
    assert per_domain == {"icb-architecture": 43, "ics-development": 36, "ics-enablers": 49}
    per_workstream: dict[str, int] = {}
    for _, element in framework.iter_elements():
        per_workstream[element.group or ""] = per_workstream.get(element.group or "", 0) + 1
    assert per_workstream == {
        "ICB People & Operating Model": 17,
        "System Governance": 12,
        "ICB Technical / Function Integration": 5,
        "System Communication & Engagement": 9,
        "Provider Collaboratives": 13,
        "Place-based Partnership Development & Delegation": 4,
        "ICS Strategy Development and Public Engagement": 12,
        "System Financial Framework": 7,
        "Digital, Data & BI": 20,
        "Clinical & Professional Leadership": 1,
        "Diversity & Inclusivity": 1,
        "Tackling Inequalities": 1,
        "Assurance": 26,
    }


def test_roadmap_quotes_the_prose_it_does_not_ask_about(framework: Framework, annex: Annex) -> None:
    """A pointer or footnote under an outcome heading is no outcome, but a lead must still see it."""
    assert annex.prose, "the annex has a footnote and a pointer under outcome headings"
    notes = normalise(" ".join(framework.notes))
    for line in annex.prose:
        assert normalise(line) in notes, line
        if line.startswith("*"):
            # A footnote: it explains the outcome carrying its mark, and travels with it as guidance.
            marked = [e for _, e in framework.iter_elements() if e.text and re.search(r"\w\*", e.text)]
            assert len(marked) == 1
            assert marked[0].guidance
            assert normalise(marked[0].guidance) == normalise(line)


def test_roadmap_texts_carry_no_conversion_markup(framework: Framework) -> None:
    for _, element in framework.iter_elements():
        text = element.text or ""
        assert "**" not in text, element.id
        assert not (text.startswith("*") and text.rstrip().endswith("*")), (
            f"{element.id}: italic markers left in"
        )


def test_roadmap_status_scale_starts_with_the_sources_reporting_categories(
    framework: Framework, seed_text: str
) -> None:
    scale = framework.scale
    assert scale is not None
    assert scale.kind == "status"
    assert [s.id for s in scale.statuses] == [
        "delivered",
        "on-track",
        "at-risk",
        "not-started",
        "out-of-scope",
    ]
    assert [s.rag for s in scale.statuses] == ["blue", "green", "amber", "grey", "grey"]
    for status in scale.statuses[:3]:
        assert f"Activity {status.label.casefold()}" in seed_text, status.id
    assert all(status.description for status in scale.statuses)
