"""Where partners want to be, summarised: each element's and domain's target headline beside the current
one, the gap between them, and the biggest gaps partners agree on. Figures worked out by hand.

Three organisations answer a four-level matrix (Emerging 1 … Thriving 4), k = 3: the Trust (5 people),
the Council (3) and a VCSE partner (1). The VCSE partner is below k, and hiding it alone would let it be
worked out from the totals, so the Council is hidden with it (complementary suppression): the Trust is
shown, and under organisation weighting the hidden pool (Council + VCSE) casts two votes with its median.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from frameworks.schema import Framework
from frameworks.summary import (
    AnswerCount,
    OrganisationInfo,
    ResponseCount,
    SummaryRules,
    SurveyData,
    SurveySummary,
    Weighting,
    biggest_agreed_gaps,
    summarise,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TRUST, COUNCIL, VCSE = 1, 2, 3
ORGANISATIONS = {
    TRUST: OrganisationInfo(TRUST, "Anytown NHS Trust", "NHS trust"),
    COUNCIL: OrganisationInfo(COUNCIL, "Anytown Council", "Local authority"),
    VCSE: OrganisationInfo(VCSE, "Anytown Voluntary Action", "VCSE"),
}
LEVELS = ["emerging", "developing", "maturing", "thriving"]
MATRIX = Framework.model_validate(
    {
        "id": "mini-matrix",
        "title": "Mini matrix",
        "version": "1.0",
        "source": "test",
        "description": "Three rows and a check-in",
        "scale": {
            "kind": "levels",
            "levels": [{"id": lv, "value": n, "label": lv.title()} for n, lv in enumerate(LEVELS, 1)],
        },
        "domains": [
            {
                "id": "working-together",
                "title": "Working together",
                "elements": [
                    {"id": row, "title": row.title(), "descriptors": {lv: f"{row} {lv}" for lv in LEVELS}}
                    for row in ("vision", "plans", "data")
                ],
            },
            {
                "id": "delivery",
                "title": "Delivery",
                "scale": {
                    "kind": "status",
                    "statuses": [
                        {"id": "on-track", "label": "On track", "rag": "green"},
                        {"id": "at-risk", "label": "At risk", "rag": "amber"},
                    ],
                },
                "elements": [{"id": "board", "title": "Board", "text": "The board is appointed"}],
            },
        ],
    }
)
# (element, organisation): the levels answered now, and the levels wanted in 12 months, person by person
NOW_AND_WANTED: dict[tuple[str, int], tuple[list[int], list[int]]] = {
    ("vision", TRUST): ([1, 1, 1, 1, 2], [2, 2, 2, 2, 3]),
    ("vision", COUNCIL): ([3, 3, 4], [4, 4, 4]),
    ("vision", VCSE): ([4], [4]),
    ("plans", TRUST): ([2] * 5, [3] * 5),
    ("plans", COUNCIL): ([2] * 3, [3] * 3),
    ("plans", VCSE): ([2], [3]),
    ("data", TRUST): ([1] * 5, [4] * 5),
    ("data", COUNCIL): ([1] * 3, [4] * 3),
    ("data", VCSE): ([1], [4]),
}


def _counted(index: int) -> list[AnswerCount]:
    rows = []
    for (element, org), levels in NOW_AND_WANTED.items():
        for level, n in Counter(levels[index]).items():
            rows.append(AnswerCount(element, org, LEVELS[level - 1], False, n, 0))
    return rows


def _data(target_months: int | None = 12) -> SurveyData:
    status = [
        AnswerCount("board", org, "on-track", False, n, 0) for org, n in ((TRUST, 5), (COUNCIL, 3), (VCSE, 1))
    ]
    return SurveyData(
        survey_id=1,
        title="Anytown place 2026",
        framework=MATRIX,
        created_at=NOW,
        answers=_counted(0) + status,
        responses=[
            ResponseCount(TRUST, 5, 5, 5),
            ResponseCount(COUNCIL, 3, 3, 3),
            ResponseCount(VCSE, 1, 1, 1),
        ],
        organisations=ORGANISATIONS,
        target_months=target_months,
        targets=_counted(1) if target_months else (),
    )


def _summary(weighting: Weighting, target_months: int | None = 12) -> SurveySummary:
    return summarise(_data(target_months), SummaryRules(k=3, weighting=weighting), now=NOW)


def test_by_organisation_the_hidden_pool_votes_twice_for_now_and_for_the_target() -> None:
    summary = _summary(Weighting.ORGANISATION)
    assert summary.target_months == 12
    vision = summary.domains[0].elements[0]
    assert [org.name for org in vision.organisations] == ["Anytown NHS Trust"]  # the others are pooled
    # now: Trust 1 (of 1,1,1,1,2), pool 3.5 (of 3,3,4,4) twice -> median of 1, 3.5, 3.5 = 3.5
    assert vision.headline is not None
    assert vision.headline.median == pytest.approx(3.5)
    # target: Trust 2 (of 2,2,2,2,3), pool 4 (of 4,4,4,4) twice -> median of 2, 4, 4 = 4
    assert vision.target is not None
    assert vision.target.headline is not None
    assert vision.target.headline.median == pytest.approx(4.0)
    assert vision.target.gap == pytest.approx(0.5)
    assert vision.target.n == 9
    # the targets' IQR: 2,2,2,2,3,4,4,4,4 -> q1 2, q3 4: two levels apart, so split on where to be
    assert vision.target.split is True
    plans, data = summary.domains[0].elements[1:]
    assert plans.target is not None
    assert (plans.target.gap, plans.target.split) == (pytest.approx(1.0), False)
    assert data.target is not None
    assert (data.target.gap, data.target.split) == (pytest.approx(3.0), False)


def test_a_domain_pools_its_elements_targets_as_it_pools_their_answers() -> None:
    domain = _summary(Weighting.ORGANISATION).domains[0]
    # now: Trust 1 (1 x9, 2 x6), pool 2 (1 x4, 2 x4, 3 x2, 4 x2) twice -> median of 1, 2, 2 = 2
    assert domain.headline is not None
    assert domain.headline.median == pytest.approx(2.0)
    # target: Trust 3 (2 x4, 3 x6, 4 x5), pool 4 (3 x4, 4 x8) twice -> median of 3, 4, 4 = 4
    assert domain.target is not None
    assert domain.target.headline is not None
    assert domain.target.headline.median == pytest.approx(4.0)
    assert domain.target.gap == pytest.approx(2.0)
    assert domain.target.split is None


def test_by_respondent_every_answer_and_every_target_counts_once() -> None:
    summary = _summary(Weighting.RESPONDENT)
    vision = summary.domains[0].elements[0]
    # now 1,1,1,1,2,3,3,4,4 -> 2; target 2,2,2,2,3,4,4,4,4 -> 3
    assert vision.target is not None
    assert vision.target.headline is not None
    assert (vision.headline.median if vision.headline else None, vision.target.headline.median) == (2.0, 3.0)
    assert vision.target.gap == pytest.approx(1.0)
    domain = summary.domains[0]
    # now: 1 x13, 2 x10, 3 x2, 4 x2 -> 14th of 27 is 2; target: 2 x4, 3 x10, 4 x13 -> 14th is 3
    assert domain.target is not None
    assert domain.target.gap == pytest.approx(1.0)


def test_the_biggest_agreed_gaps_leave_out_a_split_target_and_come_biggest_first() -> None:
    gaps = biggest_agreed_gaps(_summary(Weighting.ORGANISATION))
    assert [(g.element_id, g.now_median, g.target_median, g.gap) for g in gaps] == [
        ("data", 1.0, 4.0, 3.0),
        ("plans", 2.0, 3.0, 1.0),
    ]  # vision's target is split: partners do not agree where to be
    assert (gaps[0].now_label, gaps[0].target_label, gaps[0].domain_title) == (
        "Emerging",
        "Thriving",
        "Working together",
    )
    assert biggest_agreed_gaps(_summary(Weighting.ORGANISATION), limit=1)[0].element_id == "data"


def test_statuses_have_no_target_and_a_survey_without_targets_shows_none() -> None:
    summary = _summary(Weighting.ORGANISATION)
    assert summary.domains[1].target is None
    assert summary.domains[1].elements[0].target is None
    plain = _summary(Weighting.ORGANISATION, target_months=None)
    assert plain.target_months is None
    assert all(e.target is None for d in plain.domains for e in d.elements)
    assert biggest_agreed_gaps(plain) == []


def test_fewer_than_k_targets_show_nothing_but_a_note() -> None:
    data = _data()
    few = [row for row in data.targets if row.element_id != "plans"] + [
        AnswerCount("plans", TRUST, "thriving", False, 2, 0)
    ]
    summary = summarise(SurveyData(**{**data.__dict__, "targets": few}), SummaryRules(k=3), now=NOW)
    plans = summary.domains[0].elements[1]
    assert plans.target is not None
    assert (plans.target.headline, plans.target.gap, plans.target.n) == (None, None, None)
    assert [note.message for note in plans.target.suppressed] == [
        "Target not shown: fewer than 3 targets given."
    ]
