"""The integrated care self-test YAML says what the CCG plan says: nothing invented, nothing dropped."""

from __future__ import annotations

from frameworks.schema import ScoreScale
from tests.frameworks.fidelity import (
    assert_nothing_invented,
    assert_nothing_missed,
    load_builtin,
    normalise,
    seeds_dir,
)

FRAMEWORK_ID = "integrated-care-self-test"
SEED = "ccg-improvement-and-delivery-plan-2018-19.txt"
LEAD_IN = (
    "test ourselves against the following characteristics required and essential jobs of an integrated care"
    " system."
)


def _seed_text() -> str:
    return (seeds_dir() / SEED).read_text(encoding="utf-8")


def _seed_characteristics(seed_text: str) -> list[str]:
    """Every ✓ line between the 'test ourselves against' sentence and 'Model ICS Framework'."""
    characteristics: list[str] = []
    inside = False
    for line in seed_text.splitlines():
        if "test ourselves against" in line:
            inside = True
        elif inside and line.strip().startswith("Model ICS Framework"):
            break
        elif inside and "✓" in line:
            characteristics.append(line.split("✓", 1)[1].strip())
    return characteristics


def test_integrated_care_self_test_invents_no_text() -> None:
    assert_nothing_invented(load_builtin(FRAMEWORK_ID), _seed_text())


def test_integrated_care_self_test_keeps_every_question_of_the_seed() -> None:
    characteristics = _seed_characteristics(_seed_text())
    assert len(characteristics) == 10, f"the extractor found {len(characteristics)} characteristics"
    assert_nothing_missed(load_builtin(FRAMEWORK_ID), characteristics)


def test_integrated_care_self_test_asks_the_ten_characteristics_in_source_order() -> None:
    framework = load_builtin(FRAMEWORK_ID)
    assert framework.source == SEED
    assert normalise(LEAD_IN) in normalise(framework.description)

    assert isinstance(framework.scale, ScoreScale)
    assert (framework.scale.min, framework.scale.max) == (-5, 5)
    assert any("not the source" in normalise(note) for note in framework.notes), (
        "a note must say the end labels are the product's, not the source's"
    )

    assert len(framework.domains) == 1
    elements = framework.domains[0].elements
    assert len(elements) == 10
    for element in elements:
        assert element.text is not None
        assert "**" not in element.text, f"{element.id}: bold marks left in"
        assert "✓" not in element.text, f"{element.id}: tick left in"

    # In source order, each text is its whole ✓ bullet with the bold marks taken out (not spaced out).
    bullets = [normalise(text.replace("**", "")) for text in _seed_characteristics(_seed_text())]
    assert [normalise(element.text or "") for element in elements] == bullets
