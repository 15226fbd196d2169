"""An action's element is found in the survey's own framework by id, by title or by words unique to one
title; anything else is refused naming the nearest elements, so a typo is fixed in one go."""

from __future__ import annotations

from bot.leads.actions import match_element
from frameworks.loader import load_directory
from storage.tables import Survey

PLACE = load_directory().frameworks["place-partnership-maturity"]
SURVEY = Survey(
    title="Place 2026",
    framework_id=PLACE.id,
    framework_version=PLACE.version,
    framework_snapshot=PLACE.model_dump(mode="json"),
)


def test_an_element_is_found_by_id_title_or_words_of_one_title() -> None:
    assert match_element(SURVEY, "enabler-data") == ("enabler-data", "Enabler – Data")
    assert match_element(SURVEY, "VISION") == ("vision", "Vision")
    assert match_element(SURVEY, "needs assessment") == (
        "health-and-care-needs-assessment",
        "Health and Care Needs Assessment",
    )


def test_a_typo_or_an_ambiguous_name_is_refused_with_the_near_matches() -> None:
    typo = match_element(SURVEY, "visoin")
    assert isinstance(typo, str)
    assert "No element of" in typo
    assert "Vision (vision)" in typo
    ambiguous = match_element(SURVEY, "enabler")
    assert isinstance(ambiguous, str)
    assert "could be more than one element" in ambiguous
    assert "Enabler – Data (enabler-data)" in ambiguous
    assert "Enabler – OD (enabler-od)" in ambiguous
