"""A consensus round in the database, on SQLite and PostgreSQL: opened on a round in its scope, those who
answered invited, each partner's own first answers, and agreement before and after in both summaries.

Seven partners p0..p6 answer round 1 (p7 only skips). By hand, levels emerging..thriving:
    vision        p0-p2 emerging, p3 maturing, p4-p6 thriving: [3, 0, 1, 3], IQR 3: split
    enabler-data  p0-p1 emerging, p2-p3 developing, p4-p6 thriving: [2, 2, 0, 3], IQR 2.5: split
    culture       p0-p2 developing, p3-p6 maturing: [0, 3, 4, 0]: agreed (the lead adds it)
The consensus round:
    vision        p0 developing, p1-p5 maturing, p6 thriving: [0, 1, 5, 1], IQR 0: agreed.
                  Changed: p0, p1, p2 (emerging), p4, p5 (thriving): 5 of 7.
    enabler-data  p0-p2 emerging, p3-p6 thriving: [3, 0, 0, 4], IQR 3: still split. Changed: p2, p3: 2 of 7.
    culture       p0, p1 developing: 2 answers, below k: nothing shown, no verdict.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from frameworks.loader import load_directory
from frameworks.summary import (
    ConsensusHidden,
    SummaryRules,
    choose_elements,
    consensus_framework,
    first_round,
)
from storage.answers import record_answer
from storage.consensus import (
    changed_since,
    first_round_context,
    hidden_consensus,
    open_consensus_of,
    open_consensus_round,
    respondents,
    share_results,
)
from storage.db import transaction
from storage.organisations import ensure_partnership
from storage.people import upsert_person
from storage.summaries import comment_texts, latest_round, previous_round, survey_summary
from storage.surveys import (
    Reach,
    close_survey,
    create_survey,
    get_survey,
    invited_people,
    open_survey,
    why_hidden,
)
from storage.tables import Person, Survey, SurveyKind
from tests.conftest import FIXED_NOW, Database

PLACE = load_directory().frameworks["place-partnership-maturity"]
RULES = SummaryRules()
E, D, M, T = "emerging", "developing", "maturing", "thriving"
FIRST = {
    "vision": [E, E, E, M, T, T, T],
    "enabler-data": [E, E, D, D, T, T, T],
    "culture": [D, D, D, M, M, M, M],
}
SECOND = {
    "vision": [D, M, M, M, M, M, T],
    "enabler-data": [E, E, E, T, T, T, T],
    "culture": [D, D],
}
REASONS = {0: "No shared plan yet", 3: "Agreed at the board", 5: "Only the NHS knows it"}


async def _people(db: Database) -> list[Person]:
    async with transaction(db.sessions) as session:
        return [
            await upsert_person(session, teams_user_id=f"29:p{i}", name=f"P{i}", now=FIXED_NOW)
            for i in range(8)
        ]


async def _first_round(db: Database, people: list[Person]) -> int:
    async with transaction(db.sessions) as session:
        place = await ensure_partnership(session, "Anytown place", kind="place")
        survey = await create_survey(
            session,
            PLACE,
            now=FIXED_NOW,
            title="Anytown round 1",
            partnership_id=place.id,
            conversation_id="19:general@thread.tacv2;messageid=1",
            tenant_id="t1",
            team_id="19:team",
        )
        for element_id, values in FIRST.items():
            for index, value in enumerate(values):
                comment = REASONS.get(index) if element_id == "vision" else None
                await record_answer(
                    session, survey, people[index], element_id, value, now=FIXED_NOW, comment=comment
                )
        await record_answer(session, survey, people[7], "vision", None, now=FIXED_NOW, comment="Not sure")
        return survey.id or 0


async def _open_consensus(db: Database, parent_id: int, added: list[str]) -> Survey:
    later = FIXED_NOW + timedelta(days=7)
    async with transaction(db.sessions) as session:
        parent = await get_survey(session, parent_id)
        summary = await survey_summary(session, parent_id, rules=RULES, now=later)
        chosen = choose_elements(summary, PLACE, added)
        first = first_round(summary, chosen, await comment_texts(session, parent_id), RULES)
        survey, _ = await open_consensus_round(
            session,
            parent,
            consensus_framework(PLACE, chosen.element_ids),
            first,
            now=later,
            created_by_id=None,
        )
        return survey


async def test_a_consensus_round_copies_the_rounds_scope_and_invites_only_those_who_answered(
    database: Database,
) -> None:
    people = await _people(database)
    parent_id = await _first_round(database, people)

    survey = await _open_consensus(database, parent_id, ["culture"])

    async with transaction(database.sessions) as session:
        stored = await get_survey(session, survey.id or 0)
        parent = await get_survey(session, parent_id)
        invited = await invited_people(session, survey_id=stored.id or 0)
        assert sorted(invited) == sorted(p.id for p in people[:7])  # p7 only skipped
        assert await respondents(session, survey_id=parent_id) == sorted(p.id or 0 for p in people[:7])
        assert stored.kind == SurveyKind.CONSENSUS
        assert stored.parent_survey_id == parent_id
        assert (stored.tenant_id, stored.conversation_id, stored.team_id) == (
            parent.tenant_id,
            parent.conversation_id,
            parent.team_id,
        )
        assert stored.partnership_id == parent.partnership_id
        assert stored.title == "Anytown round 1: consensus round"
        snapshot = [(d["id"], [e["id"] for e in d["elements"]]) for d in stored.framework_snapshot["domains"]]
        assert snapshot == [
            ("ambition-and-vision", ["vision", "enabler-data"]),
            ("system-leadership", ["culture"]),
        ]
        found = await open_consensus_of(session, parent_id=parent_id)
        assert found is not None
        assert found.id == stored.id
        # A consensus round is not a round of the partnership's framework: `results partnership …`
        # and the next round's comparison still see round 1.
        reach = Reach(tenant_id="t1", place_id="19:general@thread.tacv2")
        assert await latest_round(session, parent.partnership_id or 0, PLACE.id, reach=reach) == parent_id
        assert await previous_round(session, stored) is None


async def test_a_partner_sees_the_frozen_first_round_and_their_own_first_answers(database: Database) -> None:
    people = await _people(database)
    parent_id = await _first_round(database, people)
    survey = await _open_consensus(database, parent_id, [])

    async with transaction(database.sessions) as session:
        stored = await get_survey(session, survey.id or 0)
        context = await first_round_context(session, stored, person_id=people[3].id or 0)
        parent = await get_survey(session, parent_id)
        assert await first_round_context(session, parent, person_id=people[3].id or 0) is None

    assert context is not None
    assert context.own == {"vision": M, "enabler-data": D, "culture": M}
    vision = context.first_round.element("vision")
    assert vision is not None
    assert vision.counts == [3, 0, 1, 3]
    # 3 commented with an answer and p7 with a skip: 4 people, k = 3: shown, sorted, unattributed.
    assert vision.reasons == [
        "Agreed at the board",
        "No shared plan yet",
        "Not sure",
        "Only the NHS knows it",
    ]
    assert [e.element_id for e in context.first_round.elements] == ["vision", "enabler-data"]


async def _answered_consensus(db: Database) -> tuple[int, int]:
    """Round 1, its consensus round (culture added) answered as SECOND says, still open: (parent, it)."""
    people = await _people(db)
    parent_id = await _first_round(db, people)
    survey = await _open_consensus(db, parent_id, ["culture"])
    async with transaction(db.sessions) as session:
        stored = await get_survey(session, survey.id or 0)
        for element_id, values in SECOND.items():
            for index, value in enumerate(values):
                await record_answer(session, stored, people[index], element_id, value, now=LATER)
    return parent_id, survey.id or 0


LATER = FIXED_NOW + timedelta(days=8)


async def test_both_summaries_show_agreement_before_and_after_once_the_round_closes_and_is_shared(
    database: Database,
) -> None:
    parent_id, survey_id = await _answered_consensus(database)

    async with transaction(database.sessions) as session:
        running = await survey_summary(session, parent_id, rules=RULES, now=LATER)
        own = await survey_summary(session, survey_id, rules=RULES, now=LATER)
    assert running.consensus is not None
    assert running.consensus.open
    assert running.consensus.hidden is ConsensusHidden.TAKING_ANSWERS
    assert running.consensus.elements == []  # nothing of it is shown while it takes answers
    assert running.consensus.asked == 3
    assert own.consensus is not None
    assert own.consensus.open
    assert own.changes is None

    async with transaction(database.sessions) as session:
        await close_survey(session, await get_survey(session, survey_id), now=LATER)
    async with transaction(database.sessions) as session:
        waiting = await survey_summary(session, parent_id, rules=RULES, now=LATER)
        for_lead = await survey_summary(session, parent_id, rules=RULES, now=LATER, lead_view=True)
    # Closed, the lead has not shared it: the round still shows only why, except to a lead in 1:1.
    assert waiting.consensus is not None
    assert (waiting.consensus.hidden, waiting.consensus.elements) == (ConsensusHidden.NOT_SHARED, [])
    assert for_lead.consensus is not None
    assert for_lead.consensus.hidden is ConsensusHidden.NOT_SHARED
    assert len(for_lead.consensus.elements) == 3

    async with transaction(database.sessions) as session:
        assert share_results(await get_survey(session, survey_id), now=LATER)
    async with transaction(database.sessions) as session:
        assert not share_results(await get_survey(session, survey_id), now=LATER)  # once is enough
        closed = await survey_summary(session, parent_id, rules=RULES, now=LATER)
        own = await survey_summary(session, survey_id, rules=RULES, now=LATER)
        rows = (await session.execute(sa.select(sa.func.count()).select_from(Survey))).scalar_one()
    assert rows == 2
    for summary in (closed, own):
        consensus = summary.consensus
        assert consensus is not None
        assert not consensus.open
        assert consensus.hidden is None
        assert (consensus.parent_survey_id, consensus.consensus_survey_id) == (parent_id, survey_id)
        vision, data, culture = consensus.elements
        assert (vision.before.split, vision.after.split, vision.reached) == (True, False, True)
        assert (vision.answered_both, vision.changed) == (7, 5)
        assert (data.before.split, data.after.split, data.reached) == (True, True, False)
        assert (data.answered_both, data.changed) == (7, 2)
        assert culture.added
        assert (culture.before.split, culture.after.split, culture.reached) == (False, None, None)
        assert (culture.answered_both, culture.changed) == (None, None)


async def test_a_consensus_rounds_results_wait_for_its_close_then_for_the_lead(database: Database) -> None:
    """The one rule (`why_hidden`) as a partner meets it, and what a weekly post counts as news."""
    parent_id, survey_id = await _answered_consensus(database)
    week_ago = LATER - timedelta(days=7)

    async with transaction(database.sessions) as session:
        parent = await get_survey(session, parent_id)
        assert why_hidden(parent, LATER) is None  # an ordinary round is never hidden
        assert await hidden_consensus(session, survey_id=parent_id, now=LATER) is None
        hidden = await hidden_consensus(session, survey_id=survey_id, now=LATER)
        assert hidden is not None
        assert (hidden.survey.id, hidden.why) == (survey_id, ConsensusHidden.TAKING_ANSWERS)
        await close_survey(session, hidden.survey, now=LATER)

    async with transaction(database.sessions) as session:
        hidden = await hidden_consensus(session, survey_id=survey_id, now=LATER + timedelta(days=1))
        assert hidden is not None
        assert hidden.why is ConsensusHidden.NOT_SHARED
        # The close is news to a post a week old; a day later, nothing new until the lead shares.
        assert await changed_since(session, survey_id=survey_id, since=week_ago)
        assert not await changed_since(session, survey_id=survey_id, since=LATER + timedelta(hours=1))
        share_results(hidden.survey, now=LATER + timedelta(days=2))

    async with transaction(database.sessions) as session:
        assert await hidden_consensus(session, survey_id=survey_id, now=LATER + timedelta(days=2)) is None
        assert await changed_since(session, survey_id=survey_id, since=LATER + timedelta(days=1))
        survey = await get_survey(session, survey_id)
        await open_survey(session, survey, now=LATER + timedelta(days=3))

    async with transaction(database.sessions) as session:
        # Reopened, it takes answers again: hidden, and what it shows next is shared afresh.
        reopened = await get_survey(session, survey_id)
        assert reopened.results_shared_at is None
        assert why_hidden(reopened, LATER + timedelta(days=3)) is ConsensusHidden.TAKING_ANSWERS
