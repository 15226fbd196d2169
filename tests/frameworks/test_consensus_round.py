"""A lead revisits the elements partners split on: which are asked again, what partners are shown of the
first round, and how agreement before and after is judged. Every figure is worked out by hand."""

from __future__ import annotations

from collections.abc import Mapping

from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.summary import (
    AnswerCount,
    Chosen,
    ConsensusRule,
    FirstRound,
    ResponseCount,
    SummaryRules,
    SurveyData,
    SurveySummary,
    Unknown,
    choose_elements,
    compare_rounds,
    consensus_framework,
    first_round,
    scirocco,
    summarise,
)
from tests.conftest import FIXED_NOW

PLACE = load_directory().frameworks["place-partnership-maturity"]
LEVELS = ["emerging", "developing", "maturing", "thriving"]
RULES = SummaryRules()


def _summary(
    framework: Framework, counts: Mapping[str, list[int]], *, survey_id: int = 1, people: int = 7
) -> SurveySummary:
    """A round where `counts` gives, per element, how many chose each level (all unassigned)."""
    answers = [
        AnswerCount(element_id, None, LEVELS[index], False, count, 0)
        for element_id, per_level in counts.items()
        for index, count in enumerate(per_level)
        if count
    ]
    data = SurveyData(
        survey_id=survey_id,
        title=f"Round {survey_id}",
        framework=framework,
        created_at=FIXED_NOW,
        answers=answers,
        responses=[ResponseCount(None, people, people, people)],
        organisations={},
    )
    return summarise(data, RULES, now=FIXED_NOW)


# Round 1: vision [3, 0, 1, 3] — sorted steps 0,0,0,2,3,3,3: median maturing, Q1 0, Q3 3, IQR 3 ≥ 2: split.
# enabler-data [2, 2, 0, 3] — 0,0,1,1,3,3,3: median developing, Q1 0.5, Q3 3, IQR 2.5: split.
# culture [0, 3, 4, 0] — IQR 1: not split. trust [1, 1, 0, 0]: 2 answers, below k: not shown.
FIRST = {
    "vision": [3, 0, 1, 3],
    "enabler-data": [2, 2, 0, 3],
    "culture": [0, 3, 4, 0],
    "trust": [1, 1, 0, 0],
}


def test_a_consensus_round_asks_again_the_split_elements_and_those_the_lead_adds() -> None:
    summary = _summary(PLACE, FIRST)

    chosen = choose_elements(summary, PLACE, ["culture", "Vision"])

    assert chosen.split == ["vision", "enabler-data"]
    assert chosen.added == ["culture"]  # vision was split already: not "added"
    assert chosen.unknown == []
    assert chosen.element_ids == {"vision", "enabler-data", "culture"}


def test_element_names_match_by_id_title_or_words_and_unknown_ones_get_near_matches() -> None:
    summary = _summary(PLACE, FIRST)

    chosen = choose_elements(summary, PLACE, ["common-narrative", "Enabler – OD", "narative", "enabler"])

    assert chosen.added == ["enabler-od", "common-narrative"]  # framework order
    assert chosen.unknown[0] == Unknown("narative", ["Common Narrative (common-narrative)"])
    ambiguous = chosen.unknown[1]
    assert ambiguous.name == "enabler"
    assert ambiguous.near == [
        "Enabler – Data (enabler-data)",
        "Enabler – OD (enabler-od)",
        "Enabler – Workforce (enabler-workforce)",
    ]  # Enabler – Digital is in development: never asked


def test_nothing_is_chosen_when_partners_agree_and_the_lead_adds_nothing() -> None:
    summary = _summary(PLACE, {"culture": [0, 3, 4, 0]})

    assert choose_elements(summary, PLACE) == Chosen()


def test_the_consensus_framework_keeps_only_the_chosen_elements_in_their_domains() -> None:
    subset = consensus_framework(PLACE, ["culture", "vision", "enabler-data"])

    assert [(d.id, [e.id for e in d.elements]) for d in subset.domains] == [
        ("ambition-and-vision", ["vision", "enabler-data"]),
        ("system-leadership", ["culture"]),
    ]
    assert subset.scale == PLACE.scale
    assert subset.id == PLACE.id


def test_the_first_round_shown_is_k_anonymous_and_its_reasons_unattributed() -> None:
    summary = _summary(PLACE, FIRST)
    chosen = Chosen(split=["vision", "enabler-data"], added=["culture", "trust"])
    comments = [
        ("vision", "We have no shared plan yet"),
        ("vision", "Agreed at the board in May"),
        ("vision", "  "),
        ("vision", "Only the NHS partners know it"),
        ("enabler-data", "Data sharing agreement signed"),
        ("enabler-data", "Still no shared record"),
        ("trust", "Trust is low"),
    ]

    shown = first_round(summary, chosen, comments, RULES, limit=2)

    assert isinstance(FirstRound.model_validate(shown.model_dump(mode="json")), FirstRound)
    assert [e.element_id for e in shown.elements] == ["vision", "enabler-data", "culture", "trust"]
    vision = shown.element("vision")
    assert vision is not None
    assert vision.labels == ["Emerging", "Developing", "Maturing", "Thriving"]
    assert vision.counts == [3, 0, 1, 3]
    # 3 people commented (the blank one is no reason): k = 3, so shown, sorted, the third counted.
    assert vision.reasons == ["Agreed at the board in May", "Only the NHS partners know it"]
    assert vision.more_reasons == 1
    data = shown.element("enabler-data")
    assert data is not None
    assert data.reasons == []
    assert data.more_reasons == 0
    trust = shown.element("trust")
    assert trust is not None
    assert trust.counts is None
    assert trust.added
    assert trust.reasons == []


def test_scirocco_agreement_counts_ratings_outside_the_best_band_containing_the_median() -> None:
    # 4 levels, 9 ratings 0,0,0,0,1,3,3,3,3: median step 1; bands 0-2 and 1-3 each leave 4 out: not agreed.
    assert scirocco([4, 1, 0, 4]) == (False, 4)
    # vision in round 1: median step 2; bands 0-2 and 1-3 each leave 3 out: fewer than 4, agreed.
    assert scirocco([3, 0, 1, 3]) == (True, 3)
    # A score scale -5..+5, ten ratings: -4 ×2, +1 ×3, +2 ×2, +3, +5 ×2. Steps 1,1,6,6,6,7,7,8,10,10:
    # median 6.5, so the band holds +1 and +2: 5..7 leaves 5 out, 6..8 leaves 4: not agreed.
    counts = [0, 2, 0, 0, 0, 0, 3, 2, 1, 0, 2]
    assert scirocco(counts) == (False, 4)
    assert scirocco([0, 0, 0]) is None
    assert scirocco([1, 5, 1]) == (True, 0)  # three points: every rating is in the band


def test_before_and_after_agreement_stability_and_the_verdict() -> None:
    before = _summary(PLACE, FIRST)
    chosen = Chosen(split=["vision", "enabler-data"], added=["culture"])
    shown = first_round(before, chosen, [], RULES)
    subset = consensus_framework(PLACE, chosen.element_ids)
    # Round 2: vision [0, 1, 5, 1] — 1,2,2,2,2,2,3: IQR 0, not split; bands leave 1 and 0 out.
    # enabler-data [3, 0, 0, 4] — 0,0,0,3,3,3,3: median thriving, Q1 0, Q3 3: split; band 1-3 leaves 3 out.
    # culture [0, 2, 5, 0]: not split.
    after = _summary(
        subset,
        {"vision": [0, 1, 5, 1], "enabler-data": [3, 0, 0, 4], "culture": [0, 2, 5, 0]},
        survey_id=2,
    )

    outcome = compare_rounds(
        before,
        after,
        shown,
        {"vision": (6, 4), "enabler-data": (7, 1), "culture": (2, 1)},
        RULES,
        consensus_survey_id=2,
    )

    vision, data, culture = outcome.elements
    assert (vision.before.split, vision.after.split) == (True, False)
    assert (vision.before.scirocco, vision.before.outside) == (True, 3)
    assert (vision.after.scirocco, vision.after.outside) == (True, 0)
    assert (vision.before.median_label, vision.after.median_label) == ("Maturing", "Maturing")
    assert (vision.answered_both, vision.changed, vision.reached) == (6, 4, True)
    assert (data.before.split, data.after.split, data.reached) == (True, True, False)
    assert (data.after.scirocco, data.after.outside, data.after.median_label) == (True, 3, "Thriving")
    assert (data.answered_both, data.changed) == (7, 1)
    assert culture.added
    assert culture.reached is True
    assert (culture.answered_both, culture.changed) == (None, None)  # 2 rated it twice: below k
    assert [e.element_id for e in outcome.still_split] == ["enabler-data"]
    assert [e.element_id for e in outcome.reached] == ["vision", "culture"]
    assert (outcome.parent_survey_id, outcome.consensus_survey_id, outcome.asked) == (1, 2, 3)


def test_the_scirocco_rule_can_give_the_verdict_instead() -> None:
    rules = SummaryRules(consensus_rule=ConsensusRule.SCIROCCO)
    before = _summary(PLACE, {"vision": [3, 0, 1, 3]})
    shown = first_round(before, Chosen(split=["vision"]), [], rules)
    after = _summary(consensus_framework(PLACE, ["vision"]), {"vision": [4, 1, 0, 4]}, survey_id=2, people=9)

    outcome = compare_rounds(before, after, shown, {}, rules, consensus_survey_id=2)

    (vision,) = outcome.elements
    assert (vision.after.scirocco, vision.after.outside, vision.reached) == (False, 4, False)
    assert outcome.rule is ConsensusRule.SCIROCCO
