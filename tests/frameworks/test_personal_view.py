"""A partner's own view of a closed round: their answers beside the partnership's, worked out by hand.

Four people in two organisations (two each) answer the mini matrix of the summary tests. Amina is the
partner whose view is built; every figure below is computed by hand from the answers written out here.
"""

from __future__ import annotations

from collections import Counter

from frameworks.summary import (
    AnswerCount,
    OrganisationInfo,
    ResponseCount,
    SummaryRules,
    SurveyData,
    summarise,
)
from frameworks.summary.personal import PersonalView, personal_view
from tests.conftest import FIXED_NOW
from tests.storage.test_summary_aggregation import MATRIX, ROADMAP

AMINA = {"vision": "emerging", "plans": "developing", "steady": "0", "boundary": "-4", "lone-outlier": "+5"}
OTHERS = [
    (
        {"vision": "maturing", "plans": "developing", "steady": "+2", "boundary": "+1", "lone-outlier": "+5"},
        1,
    ),
    ({"vision": "maturing", "plans": "maturing", "steady": "+2", "boundary": "+2"}, 2),
    ({"vision": "thriving", "plans": "maturing", "steady": "+2", "boundary": "+3"}, 2),
]
"""Each other person's answers and their organisation (Amina is in organisation 1)."""


def _data(people: list[tuple[dict[str, str], int]]) -> SurveyData:
    counted: Counter[tuple[str, int, str]] = Counter()
    for answers, organisation in people:
        for element_id, value in answers.items():
            counted[element_id, organisation, value] += 1
    started = Counter(organisation for _, organisation in people)
    return SurveyData(
        survey_id=12,
        title="Autumn round",
        framework=MATRIX,
        created_at=FIXED_NOW,
        answers=[AnswerCount(e, org, value, False, n, 0) for (e, org, value), n in counted.items()],
        responses=[ResponseCount(org, n, n, n) for org, n in started.items()],
        organisations={
            1: OrganisationInfo(1, "Anytown NHS Trust", "NHS trust"),
            2: OrganisationInfo(2, "Council", "Council"),
        },
        partnership_name="Anytown place",
    )


def _view(people: list[tuple[dict[str, str], int]], answers: dict[str, str]) -> PersonalView:
    return personal_view(summarise(_data(people), SummaryRules(), now=FIXED_NOW), answers)


def test_partner_sees_their_median_beside_the_partnerships_median_and_middle_half_per_domain() -> None:
    view = _view([(AMINA, 1), *OTHERS], AMINA)
    vision, check_in = view.domains
    # Amina's vision ratings: emerging (1), developing (2): median half-way, 1.5.
    assert (vision.you, vision.you_label, vision.ratings) == (1.5, "Emerging–Developing", 2)
    # Everyone: 1,2,2,3,3,3,3,4: median at the 3.5th order statistic (from 0), 3; Q1 at 1.75 -> 2;
    # Q3 at 5.25 -> 3.
    assert (vision.median, vision.median_label) == (3.0, "Maturing")
    assert (vision.q1_label, vision.q3_label) == ("Developing", "Maturing")
    # The check-in pools steady and boundary only: lone-outlier has two answers, below k = 3.
    # Amina: 0, -4 -> median -2. Everyone: -4,0,1,2,2,2,2,3 -> median 2, Q1 0 + 0.75 * 1 = 0.75, Q3 2.
    assert (check_in.you, check_in.you_label, check_in.ratings) == (-2.0, "-2", 2)
    assert (check_in.median_label, check_in.q1_label, check_in.q3_label) == ("+2", "+0.75", "+2")
    assert view.has_figures
    assert view.partnership_name == "Anytown place"


def test_the_three_elements_furthest_from_the_partnership_median_are_named_largest_first() -> None:
    view = _view([(AMINA, 1), *OTHERS], AMINA)
    # vision: emerging vs median maturing (1,3,3,4 -> 3): 2 steps below, 2/3 of the 4-level scale.
    # boundary: -4 vs median of -4,1,2,3 = 1.5: 5.5 below, 0.55 of the 10-point score.
    # steady: 0 vs median 2: 2 below, 0.2. plans: developing vs 2.5: 0.5 below, 1/6: fourth, left out.
    # lone-outlier: suppressed, so never compared however far off.
    assert [(d.element_id, d.steps, d.you_label, d.median_label) for d in view.differences] == [
        ("vision", -2.0, "Emerging", "Maturing"),
        ("boundary", -5.5, "-4", "+1.5"),
        ("steady", -2.0, "0", "+2"),
    ]
    assert round(view.differences[0].share, 4) == round(2 / 3, 4)


def test_an_answer_on_the_partnership_median_is_no_difference() -> None:
    agreeing = {"vision": "maturing", "plans": "developing", "steady": "+2", "boundary": "+1"}
    view = _view([(agreeing, 1), *OTHERS], agreeing)
    # vision: 3,3,3,4 -> 3 (none); plans: 2,2,3,3 -> 2.5 (0.5 below); steady: 2 (none); boundary:
    # 1,1,2,3 -> 1.5 (0.5 below, but 0.05 of the score against plans' 1/6).
    assert [(d.element_id, d.steps) for d in view.differences] == [("plans", -0.5), ("boundary", -0.5)]


def test_a_domain_with_too_few_answers_is_shown_without_any_figure() -> None:
    vision_only = [
        ({k: v for k, v in answers.items() if k in ("vision", "plans")}, org) for answers, org in OTHERS
    ]
    mine = {"vision": "emerging", "plans": "developing", "steady": "0", "boundary": "-4"}
    # Only Amina rated the check-in: one answer per element, below k = 3.
    people = [(mine, 1), *vision_only]
    view = _view(people, mine)
    vision, check_in = view.domains
    assert vision.shown
    assert not check_in.shown
    assert (check_in.you_label, check_in.median_label) == (None, None)
    assert all(d.element_id in ("vision", "plans") for d in view.differences)


def test_below_k_respondents_nothing_is_compared() -> None:
    view = _view([(AMINA, 1), OTHERS[0]], AMINA)
    assert view.respondents is None
    assert not view.has_figures
    assert view.differences == []
    assert [d.shown for d in view.domains] == [False, False]


def test_a_check_in_of_statuses_compares_their_most_common_status_and_ranks_no_difference() -> None:
    people = [
        {"board": "at-risk", "committees": "at-risk"},
        {"board": "on-track", "committees": "on-track"},
        {"board": "on-track", "committees": "delivered"},
    ]
    counted = Counter((element, value) for answers in people for element, value in answers.items())
    data = SurveyData(
        survey_id=3,
        title="Roadmap check-in",
        framework=ROADMAP,
        created_at=FIXED_NOW,
        answers=[AnswerCount(e, 1, value, False, n, 0) for (e, value), n in counted.items()],
        responses=[ResponseCount(1, 3, 3, 3)],
        organisations={1: OrganisationInfo(1, "Anytown NHS Trust", "NHS trust")},
    )
    view = personal_view(summarise(data, SummaryRules(), now=FIXED_NOW), people[0])
    (architecture,) = view.domains
    # Pooled: on track 3, at risk 2, delivered 1: on track is the most common. Hers: at risk twice.
    assert (architecture.you_label, architecture.median_label) == ("At risk", "On track")
    assert (architecture.q1_label, architecture.q3_label, architecture.ratings) == (None, None, 2)
    assert view.differences == []  # statuses have no distance to rank
