"""What a partnership summary says, computed in the database from real answers, on SQLite and PostgreSQL.

Every expectation is worked out by hand from the small data sets written out in each test.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.summary import (
    AnswerCount,
    OrganisationInfo,
    ResponseCount,
    SplitReason,
    SummaryRules,
    SuppressionReason,
    SuppressionScope,
    SurveyData,
    SurveySummary,
    Weighting,
    compare,
    summarise,
)
from storage.answers import record_answer, record_comment, submit_response
from storage.db import transaction
from storage.invitations import invite
from storage.organisations import ensure_organisation, ensure_partnership
from storage.people import upsert_person
from storage.summaries import previous_round, survey_comments, survey_summary
from storage.surveys import create_survey
from storage.tables import Survey, SurveyState
from tests.conftest import FIXED_NOW, Database

LEVELS = ["emerging", "developing", "maturing", "thriving"]


def _matrix(version: str = "1.0", vision_title: str = "Shared vision") -> Framework:
    return Framework.model_validate(
        {
            "id": "mini-matrix",
            "title": "Mini matrix",
            "version": version,
            "source": "test",
            "description": "A maturity matrix with a score check-in",
            "scale": {
                "kind": "levels",
                "levels": [
                    {"id": level, "value": value, "label": level.title()}
                    for value, level in enumerate(LEVELS, start=1)
                ],
            },
            "domains": [
                {
                    "id": "vision",
                    "title": "Ambition and vision",
                    "elements": [
                        {
                            "id": row,
                            "title": title,
                            "descriptors": {level: f"{row} at {level}" for level in LEVELS},
                        }
                        for row, title in (("vision", vision_title), ("plans", "Joint plans"))
                    ]
                    + [{"id": "digital", "title": "Digital", "in_development": True}],
                },
                {
                    "id": "check-in",
                    "title": "Check-in",
                    "scale": {
                        "kind": "score",
                        "min": -5,
                        "max": 5,
                        "min_label": "Not at all",
                        "max_label": "Fully",
                    },
                    "elements": [
                        {"id": eid, "title": eid.replace("-", " ").capitalize(), "text": f"How is {eid}?"}
                        for eid in ("steady", "boundary", "lone-outlier")
                    ],
                },
            ],
        }
    )


MATRIX = _matrix()
ROADMAP = Framework.model_validate(
    {
        "id": "mini-roadmap",
        "title": "Mini roadmap",
        "version": "1.0",
        "source": "test",
        "description": "Outcomes in two workstreams",
        "scale": load_directory().frameworks["ics-development-roadmap"].scale.model_dump(),
        "domains": [
            {
                "id": "architecture",
                "title": "ICB Architecture",
                "elements": [
                    {"id": eid, "title": eid.title(), "text": f"{eid} outcome", "group": group}
                    for eid, group in (
                        ("board", "Governance"),
                        ("committees", "Governance"),
                        ("budget", "Finance"),
                        ("contracts", "Finance"),
                    )
                ]
                + [{"id": "inequalities", "title": "Inequalities", "in_development": True}],
            }
        ],
    }
)

KINDS = {
    "Leeds Teaching Hospitals": "NHS trust",
    "Leeds Community Healthcare": "NHS trust",
    "Leeds City Council": "council",
    "Forum Central": "VCSE",
    "Carers Leeds": "VCSE",
    "BOB ICB": "ICB",
}

NO_ROW = ...
"""In a crowd's answer list: this person has no row for the element at all."""


@dataclass
class Respondent:
    name: str
    organisation: str | None
    answers: dict[str, Any] = field(default_factory=dict)
    """Element id to value; None records a skip."""
    comments: dict[str, str] = field(default_factory=dict)
    invited: bool = True
    starts: bool = True
    submits: bool = True


def crowd(organisation: str | None, prefix: str, answers: dict[str, list[Any]]) -> list[Respondent]:
    """One respondent per position of the answer lists, all in the same organisation."""
    size = len(next(iter(answers.values())))
    return [
        Respondent(
            f"{prefix}{index}",
            organisation,
            {eid: values[index] for eid, values in answers.items() if values[index] is not NO_ROW},
        )
        for index in range(size)
    ]


async def run_round(
    db: Database,
    framework: Framework,
    respondents: list[Respondent],
    *,
    now: datetime,
    partnership: str = "Leeds place",
    title: str = "Leeds place round",
) -> int:
    """Create a survey for the partnership and record every respondent's answers through storage."""
    async with transaction(db.sessions) as session:
        place = await ensure_partnership(session, partnership, kind="place")
        survey = await create_survey(session, framework, now=now, title=title, partnership_id=place.id)
        for someone in respondents:
            person = await upsert_person(
                session, teams_user_id=f"29:{someone.name}", name=someone.name, now=now
            )
            if someone.organisation is not None:
                org = await ensure_organisation(
                    session, someone.organisation, kind=KINDS[someone.organisation]
                )
                person.organisation_id = org.id
            else:
                person.organisation_id = None
            session.add(person)
            if someone.invited:
                await invite(session, survey.id, [person.id], now=now)
            if not someone.starts:
                continue
            for element_id, value in someone.answers.items():
                await record_answer(
                    session,
                    survey,
                    person,
                    element_id,
                    value,
                    now=now,
                    comment=someone.comments.get(element_id),
                    framework=framework,
                )
            for element_id, text in someone.comments.items():
                if element_id not in someone.answers:
                    await record_comment(
                        session, survey, person, element_id, text, now=now, framework=framework
                    )
            if someone.submits:
                await submit_response(session, survey, person, now=now)
        return survey.id


async def summary_of(db: Database, survey_id: int, now: datetime, **rules: Any) -> SurveySummary:
    async with transaction(db.sessions) as session:
        return await survey_summary(session, survey_id, rules=SummaryRules(**rules), now=now)


def element(summary: SurveySummary, element_id: str):  # type: ignore[no-untyped-def]
    return next(e for d in summary.domains for e in d.elements if e.element_id == element_id)


def domain(summary: SurveySummary, domain_id: str):  # type: ignore[no-untyped-def]
    return next(d for d in summary.domains if d.domain_id == domain_id)


def counts(figures) -> list[int]:  # type: ignore[no-untyped-def]
    return figures.counts


# Levels ----------------------------------------------------------------------------------------------


async def test_matrix_rows_lead_with_the_median_and_an_even_split_lands_half_way(
    database: Database, now: datetime
) -> None:
    people = crowd(
        "Leeds Teaching Hospitals", "lth", {"vision": [1, 2, 2, 2], "plans": [1, 1, None, 2]}
    ) + crowd("Leeds City Council", "lcc", {"vision": [3, 3, 4, 4], "plans": [4, 4, 4, None]})
    for someone, note in zip(people[:3], ("Board minutes", "Away day", "Not yet agreed"), strict=True):
        someone.comments["digital"] = note
    survey_id = await run_round(database, MATRIX, people, now=now)

    summary = await summary_of(database, survey_id, now, weighting="respondent")

    vision = element(summary, "vision")
    assert summary.respondents == 8
    assert vision.overall.n == 8
    assert counts(vision.overall) == [1, 3, 2, 2]
    assert vision.overall.median == 2.5  # 1,2,2,[2,3],3,4,4
    assert vision.overall.median_label == "Developing–Maturing"
    assert vision.overall.mean == pytest.approx(21 / 8)
    assert (vision.overall.spread.q1, vision.overall.spread.q3) == (2.0, 3.25)
    assert vision.overall.spread.sd == pytest.approx((7.875 / 7) ** 0.5)
    assert [(o.name, o.median, o.median_label) for o in vision.organisations] == [
        ("Leeds City Council", 3.5, "Maturing–Thriving"),
        ("Leeds Teaching Hospitals", 2.0, "Developing"),
    ]
    assert vision.organisation_spread.range_steps == 1.5
    assert not vision.divergence.split  # IQR 1.25 levels, organisations 1.5 levels apart

    plans = element(summary, "plans")
    assert (plans.overall.n, plans.overall.skipped) == (6, 2)  # skips are counted, never in n
    assert plans.overall.median == 3.0  # 1,1,[2,4],4,4: nobody chose Maturing, the median is there
    assert plans.overall.median_label == "Maturing"
    assert plans.divergence.iqr_steps == 2.75
    assert plans.divergence.organisation_gap_steps == 3.0
    assert plans.divergence.reasons == [SplitReason.WIDE_IQR, SplitReason.ORGANISATIONS_APART]
    assert [h.element_id for h in summary.highlights.divergences] == ["plans"]

    digital = element(summary, "digital")
    assert not digital.scored
    assert (digital.overall, digital.headline, digital.divergence) == (None, None, None)
    assert (digital.respondents, digital.comments) == (3, 3)

    pooled = domain(summary, "vision")
    assert counts(pooled.overall) == [3, 4, 2, 5]
    assert (pooled.overall.n, pooled.overall.skipped) == (14, 2)
    assert pooled.overall.median == 2.5
    assert pooled.overall.mean == pytest.approx(37 / 14)
    assert pooled.split_elements == 1
    assert pooled.comments == 3


# Scores ----------------------------------------------------------------------------------------------


async def test_a_score_is_split_when_a_third_of_ratings_fall_outside_the_three_point_band(
    database: Database, now: datetime
) -> None:
    people = crowd(
        None,
        "u",
        {
            "steady": [0, 1, 1, 1, 2, 2],
            "boundary": [-4, 0, 0, 0, 0, 4],
            "lone-outlier": [0, 0, 0, 0, 0, 5],
        },
    )
    survey_id = await run_round(database, MATRIX, people, now=now)

    summary = await summary_of(database, survey_id, now)

    steady, boundary, lone = (element(summary, e) for e in ("steady", "boundary", "lone-outlier"))
    assert (steady.overall.median, steady.overall.median_label) == (1.0, "+1")
    assert (steady.divergence.outside, steady.divergence.split) == (0, False)
    assert (boundary.divergence.outside, boundary.divergence.outside_share) == (2, pytest.approx(1 / 3))
    assert boundary.divergence.reasons == [SplitReason.OUTSIDE_BAND]
    assert lone.divergence.outside == 1
    assert not lone.divergence.split  # one rating outside is an outlier, not a split partnership
    labels = [(b.label, b.count) for b in steady.overall.buckets(domain(summary, "check-in").scale)]
    assert labels[4:8] == [("-1", 0), ("0", 1), ("+1", 3), ("+2", 2)]
    assert counts(steady.overall) == [0, 0, 0, 0, 0, 1, 3, 2, 0, 0, 0]
    # The unassigned are one group: shown as such, and the only vote under organisation weighting.
    assert [o.name for o in steady.organisations] == ["Unassigned"]
    assert steady.headline.weighting is Weighting.ORGANISATION
    assert steady.headline.votes == 1


async def test_organisations_three_points_apart_on_a_score_are_split(
    database: Database, now: datetime
) -> None:
    people = crowd("Leeds Teaching Hospitals", "lth", {"steady": [2, 2, 3]}) + crowd(
        "Leeds City Council", "lcc", {"steady": [-1, -1, 0]}
    )
    survey_id = await run_round(database, MATRIX, people, now=now)

    steady = element(await summary_of(database, survey_id, now), "steady")

    assert steady.divergence.organisation_gap_steps == 3.0
    assert SplitReason.ORGANISATIONS_APART in steady.divergence.reasons


# Statuses --------------------------------------------------------------------------------------------


async def test_a_roadmap_check_in_counts_statuses_and_lists_at_risk_outcomes_by_workstream(
    database: Database, now: datetime
) -> None:
    people = crowd(
        "BOB ICB",
        "icb",
        {
            "board": ["delivered", "delivered", "on-track", "at-risk"],
            "committees": ["at-risk", "at-risk", "on-track", "delivered"],
            "budget": ["at-risk", "on-track", "not-started", "not-started"],
            "contracts": ["on-track", "at-risk", "delivered", "not-started"],
        },
    )
    survey_id = await run_round(database, ROADMAP, people, now=now)

    summary = await summary_of(database, survey_id, now)

    board, committees, budget, contracts = (
        element(summary, e) for e in ("board", "committees", "budget", "contracts")
    )
    assert (board.headline.status_label, board.headline.concern_share, board.at_risk) == (
        "Delivered",
        0.25,
        False,
    )
    assert not board.divergence.split  # a single at-risk rating
    assert (committees.headline.status, committees.at_risk) == ("at-risk", True)
    assert committees.divergence.reasons == [SplitReason.STATUS_MIX]  # two and two
    assert budget.headline.status == "not-started"
    assert budget.headline.concern_share == 0.5  # of the two ratings with a RAG colour
    assert budget.at_risk
    assert contracts.headline.status == "at-risk"  # a four-way tie goes to the most worrying colour
    assert contracts.headline.concern_share == pytest.approx(1 / 3)
    assert board.overall.median is None  # statuses are categories: no median, no mean

    statuses = summary.statuses
    assert {b.key: b.count for b in statuses.answers} == {
        "delivered": 4,
        "on-track": 4,
        "at-risk": 5,
        "not-started": 3,
        "out-of-scope": 0,
    }
    assert {b.key: b.count for b in statuses.outcomes if b.count} == {
        "delivered": 1,
        "at-risk": 2,
        "not-started": 1,
    }
    assert [(w.label, [e.element_id for e in w.elements]) for w in statuses.at_risk] == [
        ("Governance", ["committees"]),
        ("Finance", ["budget", "contracts"]),
    ]
    assert [h.element_id for h in summary.highlights.at_risk] == ["committees", "budget", "contracts"]
    assert not element(summary, "inequalities").scored


# Weighting -------------------------------------------------------------------------------------------


async def test_small_vcse_partner_is_not_swamped_by_a_large_trust(database: Database, now: datetime) -> None:
    people = (
        crowd("Leeds Teaching Hospitals", "lth", {"vision": ["maturing"] * 9})
        + crowd("Leeds City Council", "lcc", {"vision": ["developing"] * 3})
        + crowd("Forum Central", "fc", {"vision": ["emerging"] * 3})
    )
    survey_id = await run_round(database, MATRIX, people, now=now)

    by_person = element(await summary_of(database, survey_id, now, weighting="respondent"), "vision")
    by_org = element(await summary_of(database, survey_id, now, weighting="organisation"), "vision")

    assert (by_person.headline.weighting, by_person.headline.votes) == (Weighting.RESPONDENT, 15)
    assert (by_person.headline.median_label, by_person.headline.mean) == ("Maturing", pytest.approx(36 / 15))
    assert (by_org.headline.weighting, by_org.headline.votes) == (Weighting.ORGANISATION, 3)
    assert (by_org.headline.median_label, by_org.headline.mean) == ("Developing", 2.0)
    assert by_org.overall == by_person.overall  # the respondents' figures are always there too
    assert by_org.divergence.reasons == [SplitReason.ORGANISATIONS_APART]  # Maturing vs Emerging
    # Each type here is a single organisation, so no type is shown: it would only name the organisation.
    assert by_org.kinds == []
    assert {(n.scope, n.reason, n.count) for n in by_org.suppressed} == {
        (SuppressionScope.KINDS, SuppressionReason.FEW_ORGANISATIONS, 3)
    }


# Anonymity -------------------------------------------------------------------------------------------


def _walk(node: Any, path: str = "") -> Any:
    """Every (path, dict) in a dumped model."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


async def test_a_partner_below_k_is_absent_everywhere_and_cannot_be_worked_out_from_the_totals(
    database: Database, now: datetime
) -> None:
    people = (
        crowd("Leeds Teaching Hospitals", "lth", {"vision": [3, 3, 3, 4, 4, 4]})
        + crowd("Leeds Community Healthcare", "lch", {"vision": [2, 3, 3, 3]})
        + crowd("Leeds City Council", "lcc", {"vision": [2, 2, 3]})
        + crowd("Forum Central", "fc", {"vision": [1, 1]})
        + [Respondent("carer", "Carers Leeds", starts=False)]
    )
    for someone in people[-3:-1]:
        someone.comments["vision"] = "Nobody asked the voluntary sector"
    survey_id = await run_round(database, MATRIX, people, now=now)

    summary = await summary_of(database, survey_id, now)
    async with transaction(database.sessions) as session:
        ids = {
            name: (await ensure_organisation(session, name)).id
            for name in ("Forum Central", "Carers Leeds", "Leeds City Council")
        }

    vision = element(summary, "vision")
    assert vision.overall.n == 15  # everyone's answers are in the overall figures
    # Forum Central (2 answers) is hidden. With the council shown, the overall minus the NHS trusts
    # minus the council would be Forum Central alone, so the council (3 answers) is hidden too.
    assert [o.name for o in vision.organisations] == [
        "Leeds Community Healthcare",
        "Leeds Teaching Hospitals",
    ]
    assert [(k.label, k.organisations, k.n) for k in vision.kinds] == [("NHS trust", 2, 10)]
    assert {(n.scope, n.reason, n.count) for n in vision.suppressed} == {
        (SuppressionScope.KINDS, SuppressionReason.FEW_RESPONDENTS, 1),
        (SuppressionScope.KINDS, SuppressionReason.FEW_ORGANISATIONS, 1),
        (SuppressionScope.ORGANISATIONS, SuppressionReason.FEW_RESPONDENTS, 1),
        (SuppressionScope.ORGANISATIONS, SuppressionReason.COMPLEMENTARY, 1),
    }
    shown = [counts(o) for o in vision.organisations]
    hidden_pool = [total - sum(parts) for total, *parts in zip(counts(vision.overall), *shown, strict=True)]
    assert sum(hidden_pool) == 5  # the council and Forum Central together: never fewer than k

    rate = summary.response_rate
    assert [o.name for o in rate.organisations] == ["Leeds Community Healthcare", "Leeds Teaching Hospitals"]
    assert (rate.overall.invited, rate.overall.started, rate.overall.completed) == (16, 15, 15)

    dumped = summary.model_dump(mode="json")
    text = json.dumps(dumped)
    for name in ("Forum Central", "Carers Leeds", "Leeds City Council", "VCSE", "council", "voluntary"):
        assert name not in text
    for path, node in _walk(dumped):
        if "organisation_id" in node:
            assert node["organisation_id"] not in ids.values(), path
        if "counts" in node and path.endswith("]") and ".organisations" in path:
            assert node["counts"] != [2, 0, 0, 0], path  # Forum Central's own answers


async def test_a_lone_vcse_partner_is_named_as_itself_but_never_shown_as_a_type(
    database: Database, now: datetime
) -> None:
    people = (
        crowd("Leeds Teaching Hospitals", "lth", {"vision": [3, 3, 4]})
        + crowd("Leeds Community Healthcare", "lch", {"vision": [2, 3, 3]})
        + crowd("Forum Central", "fc", {"vision": [1, 1, 2]})
    )
    survey_id = await run_round(database, MATRIX, people, now=now)

    vision = element(await summary_of(database, survey_id, now), "vision")

    assert [o.name for o in vision.organisations] == [
        "Forum Central",
        "Leeds Community Healthcare",
        "Leeds Teaching Hospitals",
    ]
    # The VCSE type would be Forum Central alone, and with the NHS trusts shown the rest of the
    # total would be too: so the trusts' type goes as well, and only organisations are shown.
    assert vision.kinds == []
    assert {(n.reason, n.count) for n in vision.suppressed if n.scope is SuppressionScope.KINDS} == {
        (SuppressionReason.FEW_ORGANISATIONS, 1),
        (SuppressionReason.COMPLEMENTARY, 1),
    }


async def test_nothing_is_shown_until_k_people_have_responded(database: Database, now: datetime) -> None:
    people = crowd("Leeds Teaching Hospitals", "lth", {"vision": [1, 4], "plans": [2, 2]})
    people[0].comments["vision"] = "We are miles apart"
    people.append(Respondent("waiting", "Leeds Teaching Hospitals", starts=False))
    survey_id = await run_round(database, MATRIX, people, now=now)

    summary = await summary_of(database, survey_id, now)
    async with transaction(database.sessions) as session:
        comments = await survey_comments(session, survey_id, rules=SummaryRules())

    assert summary.respondents is None
    assert (summary.response_rate.overall.invited, summary.response_rate.overall.started) == (3, None)
    assert all(e.overall is None and e.comments is None for d in summary.domains for e in d.elements)
    assert all(d.overall is None and d.organisations == [] for d in summary.domains)
    assert [n.scope for n in summary.suppressed] == [SuppressionScope.SURVEY]
    assert "Leeds Teaching Hospitals" not in summary.model_dump_json()
    assert comments.elements == []


async def test_comments_reach_the_lead_unattributed_and_never_the_channel(
    database: Database, now: datetime
) -> None:
    people = crowd("Leeds Teaching Hospitals", "lth", {"vision": [1, 2, 3], "plans": [2, NO_ROW, NO_ROW]})
    people[2].comments["vision"] = "Zebra crossing of minds"
    people[0].comments["vision"] = "Agreed at the board"
    people[1].comments["digital"] = "Done through the ICS digital matrix"
    people[0].comments["plans"] = "Only I answered this one"
    survey_id = await run_round(database, MATRIX, people, now=now)

    summary = await summary_of(database, survey_id, now)
    async with transaction(database.sessions) as session:
        comments = await survey_comments(session, survey_id, rules=SummaryRules())

    assert [(e.element_id, e.comments) for e in comments.elements] == [
        ("vision", ["Agreed at the board", "Zebra crossing of minds"])  # sorted, not in answering order
    ]
    for who in ("lth", "Leeds Teaching Hospitals"):  # no person, no organisation
        assert who not in comments.model_dump_json()
    assert (element(summary, "vision").comments, element(summary, "plans").comments) == (2, None)
    channel = summary.model_dump_json()
    for text in ("Zebra", "Agreed at the board", "digital matrix", "Only I answered"):
        assert text not in channel


async def test_response_rates_count_invited_started_and_completed_by_organisation(
    database: Database, now: datetime
) -> None:
    answers = {"vision": [2, 2, 2, 2]}
    trust = crowd("Leeds Teaching Hospitals", "lth", answers)
    trust[3].submits = False
    trust.append(Respondent("lth-new", "Leeds Teaching Hospitals", starts=False))
    council = crowd("Leeds City Council", "lcc", answers)
    council[3].submits = False
    unassigned = crowd(None, "u", {"vision": [3, 3, 3, 3]})
    unassigned[3].invited = False  # answered a forwarded card: started, never invited
    unassigned[3].submits = False
    survey_id = await run_round(database, MATRIX, trust + council + unassigned, now=now)
    async with transaction(database.sessions) as session:
        # Moving to the trust after starting: the answers stay with the council, as given.
        mover = await upsert_person(session, teams_user_id="29:lcc3", now=now)
        mover.organisation_id = (await ensure_organisation(session, "Leeds Teaching Hospitals")).id

    rate = (await summary_of(database, survey_id, now)).response_rate

    assert (rate.overall.invited, rate.overall.started, rate.overall.completed) == (12, 12, 9)
    assert [(o.name, o.invited, o.started, o.completed) for o in rate.organisations] == [
        ("Leeds City Council", 4, 4, 3),
        ("Leeds Teaching Hospitals", 5, 4, 3),
        ("Unassigned", 3, 4, 3),
    ]
    assert rate.organisations[1].started_share == 0.8


async def test_a_lead_can_count_only_submitted_responses(database: Database, now: datetime) -> None:
    people = crowd("Leeds Teaching Hospitals", "lth", {"vision": [1, 1, 1, 4, 4, 4]})
    for someone in people[3:]:
        someone.submits = False
    survey_id = await run_round(database, MATRIX, people, now=now)

    everyone = await summary_of(database, survey_id, now)
    submitted = await summary_of(database, survey_id, now, submitted_only=True)

    assert (everyone.respondents, element(everyone, "vision").overall.median) == (6, 2.5)
    assert (submitted.respondents, element(submitted, "vision").overall.median) == (3, 1.0)
    rate = submitted.response_rate.overall
    assert (rate.started, rate.completed) == (6, 3)  # response rates always count everyone


# Rounds ----------------------------------------------------------------------------------------------


async def test_the_second_round_shows_what_moved_since_the_first(database: Database, now: datetime) -> None:
    earlier = now - timedelta(days=180)
    first = await run_round(
        database,
        MATRIX,
        crowd("Leeds City Council", "lcc", {"vision": [1, 1, 2], "plans": [2, 2, 2]}),
        now=earlier,
        title="Leeds place spring",
    )
    async with transaction(database.sessions) as session:  # neither of these is Leeds' previous round
        bradford = await ensure_partnership(session, "Bradford place")
        await create_survey(session, MATRIX, now=earlier + timedelta(days=1), partnership_id=bradford.id)
        leeds = await ensure_partnership(session, "Leeds place")
        await create_survey(
            session, MATRIX, now=earlier + timedelta(days=2), partnership_id=leeds.id, state=SurveyState.DRAFT
        )
    renamed = _matrix(version="1.1", vision_title="A vision everyone owns")
    second = await run_round(
        database,
        renamed,
        crowd("Leeds City Council", "lcc", {"vision": [2, 3, 3], "plans": [2, 2, 3]}),
        now=now,
        title="Leeds place autumn",
    )
    async with transaction(database.sessions) as session:
        assert await previous_round(session, await session.get(Survey, second)) == first
        assert await previous_round(session, await session.get(Survey, first)) is None

    summary = await summary_of(database, second, now)

    changes = summary.changes
    assert (changes.previous_survey_id, changes.previous_title) == (first, "Leeds place spring")
    by_element = {c.element_id: c for c in changes.elements}
    assert (by_element["vision"].before_median, by_element["vision"].after_median) == (1.0, 3.0)
    assert by_element["vision"].shift == pytest.approx(2 / 3)
    assert by_element["vision"].moved
    assert (by_element["plans"].median_change, by_element["plans"].moved) == (0.0, False)
    assert by_element["plans"].mean_change == pytest.approx(1 / 3)
    vision_domain = next(c for c in changes.domains if c.domain_id == "vision")
    assert (vision_domain.before_median, vision_domain.after_median, vision_domain.moved) == (2.0, 2.5, True)
    assert [(m.element_id, m.title) for m in summary.highlights.movers] == [
        ("vision", "A vision everyone owns")
    ]
    assert summary.framework_version == "1.1"  # each round keeps the framework it was run with


async def test_a_stored_summary_round_trips_and_compares_like_the_previous_round(
    database: Database, now: datetime
) -> None:
    first = await run_round(
        database,
        MATRIX,
        crowd(None, "u", {"vision": [1, 2, 2], "steady": [0, 0, 1]}),
        now=now - timedelta(days=7),
    )
    async with transaction(database.sessions) as session:
        stored = (await survey_summary(session, first, rules=SummaryRules(), now=now)).model_dump_json()
    second = await run_round(
        database, MATRIX, crowd(None, "u", {"vision": [3, 3, 4], "steady": [-2, -2, 0]}), now=now
    )

    current = await summary_of(database, second, now)
    previous = SurveySummary.model_validate_json(stored)
    async with transaction(database.sessions) as session:
        against_stored = await survey_summary(
            session, second, rules=SummaryRules(), now=now, previous=previous
        )

    assert previous.model_dump_json() == stored
    assert compare(current, previous) == current.changes
    assert against_stored == current
    by_element = {c.element_id: c for c in current.changes.elements}
    assert (by_element["vision"].median_change, by_element["steady"].median_change) == (1.0, -2.0)
    assert [m.element_id for m in current.highlights.movers] == ["vision", "steady"]  # 1 of 3 > 2 of 10


async def test_a_summary_leaves_the_sessions_settings_as_it_found_them(
    database: Database, now: datetime
) -> None:
    """PostgreSQL's work_mem is raised for the one aggregation statement (SQLite has no such setting)."""
    survey_id = await run_round(database, MATRIX, crowd(None, "u", {"vision": [1, 2, 3]}), now=now)
    setting = sa.text("SHOW work_mem" if database.kind == "postgresql" else "PRAGMA cache_size")
    async with transaction(database.sessions) as session:
        before = (await session.execute(setting)).scalar_one()
        summary = await survey_summary(session, survey_id, rules=SummaryRules(), now=now)
        after = (await session.execute(setting)).scalar_one()
    assert element(summary, "vision").overall.n == 3
    assert after == before


# The anonymity rules hold for any data --------------------------------------------------------------


def _random_survey(seed: int) -> SurveyData:
    rng = random.Random(seed)
    kinds = ["NHS trust", "council", "VCSE", None]
    organisations = {
        org_id: OrganisationInfo(org_id, f"Organisation {org_id}", rng.choice(kinds))
        for org_id in range(1, 9)
    }
    answers: list[AnswerCount] = []
    responses: list[ResponseCount] = []
    for org in [*organisations, None]:
        size = rng.choice([0, 1, 2, 3, 4, 6, 12])
        responses.append(ResponseCount(org, size + rng.randint(0, 2), size, rng.randint(0, size)))
        for element_id in ("vision", "plans", "steady", "boundary"):
            values = LEVELS if element_id in ("vision", "plans") else ["-2", "0", "+1", "+3"]
            answered = rng.randint(0, size)
            for value in values:
                share = rng.randint(0, answered)
                answered -= share
                if share:
                    answers.append(AnswerCount(element_id, org, value, False, share, 0))
    return SurveyData(
        1, "Random", MATRIX, datetime(2026, 1, 1, tzinfo=UTC), answers, responses, organisations
    )


@pytest.mark.parametrize("seed", range(40))
def test_no_figure_shown_or_derivable_rests_on_fewer_than_k(seed: int) -> None:
    rules = SummaryRules(k=3, k_orgs=2)
    data = _random_survey(seed)
    summary = summarise(data, rules, now=data.created_at)
    kind_of = {org_id: info.kind for org_id, info in data.organisations.items()}
    for item in (e for d in summary.domains for e in d.elements if e.overall is not None):
        assert item.overall.n >= rules.k
        shown_orgs = {o.organisation_id: counts(o) for o in item.organisations}
        assert all(o.n >= rules.k for o in item.organisations)
        assert all(k.n >= rules.k and k.organisations >= rules.k_orgs for k in item.kinds)
        answering = {a.organisation_id for a in data.answers if a.element_id == item.element_id}
        # Overall minus the shown types: a pool of at least k answers from at least k_orgs organisations.
        rest = [
            a - sum(x) for a, *x in zip(counts(item.overall), *(counts(k) for k in item.kinds), strict=True)
        ]
        rest_orgs = answering - {o for o in answering if kind_of.get(o) in {k.kind for k in item.kinds}}
        assert sum(rest) == 0 or (sum(rest) >= rules.k and len(rest_orgs) >= rules.k_orgs)
        # Each shown type minus its shown organisations, and the rest minus theirs: empty or at least k.
        for kind in item.kinds:
            members = [c for o, c in shown_orgs.items() if kind_of.get(o) == kind.kind]
            pool = sum(counts(kind)) - sum(map(sum, members))
            assert pool == 0 or pool >= rules.k
        outside = [c for o, c in shown_orgs.items() if kind_of.get(o) not in {k.kind for k in item.kinds}]
        pool = sum(rest) - sum(map(sum, outside))
        assert pool == 0 or pool >= rules.k
    rate = summary.response_rate
    if rate.overall.started is not None:
        assert all(o.started >= rules.k for o in rate.organisations)
        hidden = rate.overall.started - sum(o.started for o in rate.organisations)
        groups = [row for row in data.responses if row.invited or row.started]
        hidden_groups = len(groups) - len(rate.organisations)
        assert hidden_groups == 0 or hidden >= rules.k


def test_when_every_element_is_rated_alike_there_are_no_strengths_or_gaps() -> None:
    """A tie across the line is neither a strength nor a gap, so no element is named as both."""
    framework = load_directory().frameworks["audit-committee-maturity"]
    rules = SummaryRules()
    answers = [
        AnswerCount(element.id, None, "results", False, 4, 0) for _, element in framework.scored_elements
    ]
    data = SurveyData(1, "Tied", framework, FIXED_NOW, answers, [ResponseCount(None, 4, 4, 4)], {})
    summary = summarise(data, rules, now=FIXED_NOW)
    assert summary.highlights.strengths == []
    assert summary.highlights.gaps == []


def test_elements_tied_across_the_line_are_left_out_of_both_lists() -> None:
    framework = load_directory().frameworks["audit-committee-maturity"]
    ids = [element.id for _, element in framework.scored_elements]  # five elements: two each at most
    levels = ["maturity", "results", "results", "results", "basic"]
    answers = [AnswerCount(i, None, level, False, 4, 0) for i, level in zip(ids, levels, strict=True)]
    data = SurveyData(1, "Mixed", framework, FIXED_NOW, answers, [ResponseCount(None, 4, 4, 4)], {})
    summary = summarise(data, SummaryRules(), now=FIXED_NOW)
    assert [item.element_id for item in summary.highlights.strengths] == [ids[0]]
    assert [item.element_id for item in summary.highlights.gaps] == [ids[4]]
