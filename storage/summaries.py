"""The counting behind partnership summaries, done in SQL: answers by element, organisation and value,
comment counts, response rates. `frameworks.summary` turns the counts into statistics and decides what
may be shown; nothing here returns a row per answer, and nothing here returns who said what.

Every query takes several survey ids at once, so a round and the round before it cost the same round
trips as one survey. The SQL is plain GROUP BY / UNION ALL, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.summary import (
    AnswerCount,
    ConsensusHidden,
    ConsensusSummary,
    FirstRound,
    LeadComments,
    OrganisationInfo,
    ResponseCount,
    SummaryRules,
    SurveyData,
    SurveySummary,
    compare_rounds,
    hidden_round,
    lead_comments,
    summarise,
    with_consensus,
)
from storage.surveys import Reach, SnapshotCache, is_accepting_answers, why_hidden
from storage.tables import (
    Answer,
    Invitation,
    Organisation,
    Partnership,
    Person,
    Response,
    Survey,
    SurveyKind,
    SurveyState,
    stored_id,
    table_of,
)

_answers = table_of(Answer)
_responses = table_of(Response)
_invitations = table_of(Invitation)
_people = table_of(Person)
_surveys = table_of(Survey)


def answered(answers: sa.FromClause) -> sa.ColumnElement[bool]:
    """`frameworks.summary.is_answer` in SQL, for the k rules counted in queries: not a skip."""
    return sa.not_(answers.c.skipped)


AGGREGATE_WORK_MEM = "32MB"


async def _hashed(
    session: AsyncSession, query: sa.Select[*tuple[Any, ...]]
) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    """Run a big GROUP BY with room for a hash table on PostgreSQL.

    The planner guesses ~100,000 groups where there are ~7,000 (it cannot know which values go with which
    element and organisation), decides a hash table would not fit the default 4 MB `work_mem` and sorts
    instead: two rounds of 400,000 answers took 1.7-2.0 s sorted, 0.75 s hashed. The setting is raised for
    this statement only (never lowered) and put back after it; if the statement fails, the transaction
    is rolled back and the setting with it."""
    if session.get_bind().dialect.name != "postgresql":
        return (await session.execute(query)).all()
    current, low = (await session.execute(_WORK_MEM, {"wanted": AGGREGATE_WORK_MEM})).one()
    if not low:
        return (await session.execute(query)).all()
    await session.execute(_SET_WORK_MEM, {"value": AGGREGATE_WORK_MEM})
    rows = (await session.execute(query)).all()
    await session.execute(_SET_WORK_MEM, {"value": current})
    return rows


_WORK_MEM = sa.text(
    "SELECT current_setting('work_mem'), pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(:wanted)"
)
_SET_WORK_MEM = sa.text("SELECT set_config('work_mem', :value, true)")
"""`true`: for the current transaction only, like SET LOCAL."""


async def answer_counts(
    session: AsyncSession, survey_ids: Collection[int], *, submitted_only: bool = False
) -> dict[int, list[AnswerCount]]:
    """Answer rows counted by survey, element, the respondent's organisation (as frozen on the response),
    value and skip, with how many of them carry a comment."""
    a, r = _answers, _responses
    query = (
        sa.select(
            r.c.survey_id,
            a.c.element_id,
            r.c.organisation_id,
            a.c.value,
            a.c.skipped,
            sa.func.count().label("n"),
            sa.func.count(a.c.comment).label("comments"),
        )
        .select_from(a.join(r, r.c.id == a.c.response_id))
        .where(r.c.survey_id.in_(list(survey_ids)))
        .group_by(r.c.survey_id, a.c.element_id, r.c.organisation_id, a.c.value, a.c.skipped)
    )
    if submitted_only:
        query = query.where(r.c.submitted_at.is_not(None))
    counts: dict[int, list[AnswerCount]] = defaultdict(list)
    for survey_id, element_id, organisation_id, value, skipped, n, comments in await _hashed(session, query):
        counts[survey_id].append(
            AnswerCount(element_id, organisation_id, value, bool(skipped), int(n), int(comments))
        )
    return counts


async def target_counts(
    session: AsyncSession, survey_ids: Collection[int], *, submitted_only: bool = False
) -> dict[int, list[AnswerCount]]:
    """The targets given (where partners want to be), counted as `answer_counts` counts answers: by
    survey, element, the respondent's organisation and target value. Only answers carry targets."""
    if not survey_ids:
        return {}
    a, r = _answers, _responses
    query = (
        sa.select(
            r.c.survey_id, a.c.element_id, r.c.organisation_id, a.c.target_value, sa.func.count().label("n")
        )
        .select_from(a.join(r, r.c.id == a.c.response_id))
        .where(r.c.survey_id.in_(list(survey_ids)), a.c.target_value.is_not(None), answered(a))
        .group_by(r.c.survey_id, a.c.element_id, r.c.organisation_id, a.c.target_value)
    )
    if submitted_only:
        query = query.where(r.c.submitted_at.is_not(None))
    counts: dict[int, list[AnswerCount]] = defaultdict(list)
    for survey_id, element_id, organisation_id, target, n in await _hashed(session, query):
        counts[survey_id].append(AnswerCount(element_id, organisation_id, target, False, int(n), 0))
    return counts


async def response_counts(
    session: AsyncSession, survey_ids: Collection[int]
) -> dict[int, list[ResponseCount]]:
    """Invited, started and completed by survey and organisation.

    A respondent counts under the organisation frozen on their response (even when that is none); an
    invitee who has not started, under their current organisation. People who answered without an
    invitation count as started, not invited."""
    ids = list(survey_ids)
    i, r, p = _invitations, _responses, _people
    joined = i.join(p, p.c.id == i.c.person_id).outerjoin(
        r, sa.and_(r.c.survey_id == i.c.survey_id, r.c.person_id == i.c.person_id)
    )
    invited = (
        sa.select(
            i.c.survey_id.label("survey_id"),
            sa.case((r.c.id.is_(None), p.c.organisation_id), else_=r.c.organisation_id).label("org"),
            sa.literal(1).label("invited"),
            sa.case((r.c.id.is_(None), 0), else_=1).label("started"),
            sa.case((r.c.submitted_at.is_(None), 0), else_=1).label("completed"),
        )
        .select_from(joined)
        .where(i.c.survey_id.in_(ids))
    )
    uninvited = sa.select(
        r.c.survey_id.label("survey_id"),
        r.c.organisation_id.label("org"),
        sa.literal(0).label("invited"),
        sa.literal(1).label("started"),
        sa.case((r.c.submitted_at.is_(None), 0), else_=1).label("completed"),
    ).where(
        r.c.survey_id.in_(ids),
        ~sa.exists().where(i.c.survey_id == r.c.survey_id, i.c.person_id == r.c.person_id),
    )
    people = sa.union_all(invited, uninvited).subquery()
    query = sa.select(
        people.c.survey_id,
        people.c.org,
        sa.func.sum(people.c.invited),
        sa.func.sum(people.c.started),
        sa.func.sum(people.c.completed),
    ).group_by(people.c.survey_id, people.c.org)
    counts: dict[int, list[ResponseCount]] = defaultdict(list)
    for survey_id, org, n_invited, n_started, n_completed in await session.execute(query):
        counts[survey_id].append(ResponseCount(org, int(n_invited), int(n_started), int(n_completed)))
    return counts


async def organisations_by_id(session: AsyncSession, ids: Collection[int]) -> dict[int, OrganisationInfo]:
    if not ids:
        return {}
    result = await session.execute(
        sa.select(col(Organisation.id), col(Organisation.name), col(Organisation.kind)).where(
            col(Organisation.id).in_(list(ids))
        )
    )
    found = (OrganisationInfo(stored_id(org_id), name, kind) for org_id, name, kind in result)
    return {info.id: info for info in found}


async def comment_texts(
    session: AsyncSession, survey_id: int, *, submitted_only: bool = False
) -> list[tuple[str, str]]:
    """(element id, comment) pairs: no person, no organisation, no time, in no meaningful order."""
    a, r = _answers, _responses
    query = (
        sa.select(a.c.element_id, a.c.comment)
        .select_from(a.join(r, r.c.id == a.c.response_id))
        .where(r.c.survey_id == survey_id, a.c.comment.is_not(None))
    )
    if submitted_only:
        query = query.where(r.c.submitted_at.is_not(None))
    return [(element_id, comment) for element_id, comment in await session.execute(query)]


async def previous_round(session: AsyncSession, survey: Survey) -> int | None:
    """The id of the round before this one: the same partnership, framework and tenant, the latest survey
    created before it (the lower id first when two share a creation time). Drafts never ran, so they
    don't count; another tenant's round of a partnership with the same name is never compared. A
    consensus round is not a round of its own: it is compared with the round it revisits instead."""
    if survey.partnership_id is None or survey.kind == SurveyKind.CONSENSUS:
        return None
    s = _surveys
    earlier = sa.or_(
        s.c.created_at < survey.created_at,
        sa.and_(s.c.created_at == survey.created_at, s.c.id < survey.id),
    )
    query = (
        sa.select(s.c.id)
        .where(
            s.c.partnership_id == survey.partnership_id,
            s.c.framework_id == survey.framework_id,
            s.c.tenant_id.is_not_distinct_from(survey.tenant_id),
            s.c.state != SurveyState.DRAFT.value,
            s.c.kind == SurveyKind.ROUND.value,
            earlier,
        )
        .order_by(s.c.created_at.desc(), s.c.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def latest_round(
    session: AsyncSession, partnership_id: int, framework_id: str, *, reach: Reach
) -> int | None:
    """The id of a partnership's latest survey of a framework within reach (what a partnership summary
    shows there); a consensus round is shown in the summary of the round it revisits."""
    s = _surveys
    query = (
        sa.select(s.c.id)
        .where(
            reach.surveys(),
            s.c.partnership_id == partnership_id,
            s.c.framework_id == framework_id,
            s.c.state != SurveyState.DRAFT.value,
            s.c.kind == SurveyKind.ROUND.value,
        )
        .order_by(s.c.created_at.desc(), s.c.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def partnership_frameworks(session: AsyncSession, partnership_id: int, *, reach: Reach) -> list[str]:
    """The frameworks a partnership has run (not drafts) within reach, most recently started first."""
    s = _surveys
    query = (
        sa.select(s.c.framework_id, sa.func.max(s.c.created_at).label("latest"))
        .where(reach.surveys(), s.c.partnership_id == partnership_id, s.c.state != SurveyState.DRAFT.value)
        .group_by(s.c.framework_id)
        .order_by(sa.desc("latest"), s.c.framework_id)
    )
    return [framework_id for framework_id, _ in await session.execute(query)]


async def survey_data(
    session: AsyncSession,
    survey_ids: Collection[int],
    *,
    cache: SnapshotCache | None = None,
    submitted_only: bool = False,
) -> dict[int, SurveyData]:
    """Everything the summaries of these surveys need, in a handful of queries whatever their size.

    Frameworks come from each survey's stored snapshot (through the cache), never from the YAML."""
    cache = cache or SnapshotCache()
    ids = list(dict.fromkeys(survey_ids))
    surveys = [await cache.survey(session, survey_id) for survey_id in ids]
    answers = await answer_counts(session, ids, submitted_only=submitted_only)
    asked = [survey_id for survey_id, (survey, _) in zip(ids, surveys, strict=True) if survey.target_months]
    targets = await target_counts(session, asked, submitted_only=submitted_only)
    responses = await response_counts(session, ids)
    org_ids = {row.organisation_id for rows in answers.values() for row in rows}
    org_ids |= {row.organisation_id for rows in responses.values() for row in rows}
    organisations = await organisations_by_id(session, {org_id for org_id in org_ids if org_id is not None})
    partnership_ids = {survey.partnership_id for survey, _ in surveys if survey.partnership_id is not None}
    partnerships: dict[int, str] = {}
    if partnership_ids:
        result = await session.execute(
            sa.select(col(Partnership.id), col(Partnership.name)).where(
                col(Partnership.id).in_(list(partnership_ids))
            )
        )
        partnerships = {stored_id(pid): name for pid, name in result}
    return {
        survey_id: SurveyData(
            survey_id=survey_id,
            title=survey.title,
            framework=framework,
            created_at=survey.created_at,
            answers=answers.get(survey_id, []),
            responses=responses.get(survey_id, []),
            organisations=organisations,
            partnership_id=survey.partnership_id,
            partnership_name=partnerships.get(survey.partnership_id)
            if survey.partnership_id is not None
            else None,
            target_months=survey.target_months,
            targets=targets.get(survey_id, []),
        )
        for survey_id, (survey, framework) in zip(ids, surveys, strict=True)
    }


async def survey_summary(
    session: AsyncSession,
    survey_id: int,
    *,
    rules: SummaryRules,
    now: datetime,
    cache: SnapshotCache | None = None,
    previous: SurveySummary | None = None,
    with_previous: bool = True,
    lead_view: bool = False,
) -> SurveySummary:
    """A survey's summary, with the changes since `previous` (a stored summary) when given, else since
    the partnership's previous round of the framework, computed afresh; and its consensus round beside
    it: a consensus round's agreement before and after, or in a round, its latest consensus round's
    (only why it shows nothing, while its results are hidden: `storage.surveys.why_hidden`).
    `lead_view`: a lead's 1:1 chat, where a closed consensus round not yet shared shows its figures in
    the round too. `with_previous=False`: none of these."""
    cache = cache or SnapshotCache()
    previous_id = None
    linked: Survey | None = None
    if with_previous:
        survey, _ = await cache.survey(session, survey_id)
        if previous is None:
            previous_id = await previous_round(session, survey)
        linked = await _linked_round(session, survey)
    ids = [survey_id] if previous_id is None else [survey_id, previous_id]
    if linked is not None:
        ids.append(stored_id(linked.id))
    data = await survey_data(session, ids, cache=cache, submitted_only=rules.submitted_only)
    if previous_id is not None:
        previous = summarise(data[previous_id], rules, now=now)
    summary = summarise(data[survey_id], rules, now=now, previous=previous)
    if linked is None:
        return summary
    consensus = await _consensus(session, summary, linked, data, rules=rules, now=now, lead_view=lead_view)
    return with_consensus(summary, consensus)


async def _linked_round(session: AsyncSession, survey: Survey) -> Survey | None:
    """For a consensus round, the round it revisits; for a round, its latest consensus round (not a
    draft); None otherwise."""
    if survey.kind == SurveyKind.CONSENSUS:
        if survey.parent_survey_id is None:
            return None
        return await session.get(Survey, survey.parent_survey_id)
    s = _surveys
    query = (
        sa.select(s.c.id)
        .where(
            s.c.parent_survey_id == survey.id,
            s.c.kind == SurveyKind.CONSENSUS.value,
            s.c.state != SurveyState.DRAFT.value,
        )
        .order_by(s.c.created_at.desc(), s.c.id.desc())
        .limit(1)
    )
    child = (await session.execute(query)).scalar_one_or_none()
    if child is None:
        return None
    return await session.get(Survey, child)


async def _consensus(
    session: AsyncSession,
    summary: SurveySummary,
    linked: Survey,
    data: dict[int, SurveyData],
    *,
    rules: SummaryRules,
    now: datetime,
    lead_view: bool = False,
) -> ConsensusSummary | None:
    """The consensus section of `summary`: `linked` is its parent (it is a consensus round) or its
    consensus round. A round names a consensus round whose results are hidden without any figure (in a
    lead's 1:1 chat, figures once it has closed)."""
    if linked.kind == SurveyKind.CONSENSUS:
        consensus, parent_id = linked, summary.survey_id
        before = summary
    else:
        consensus, parent_id = None, stored_id(linked.id)
        before = summarise(data[parent_id], rules, now=now)
    row = consensus or await session.get(Survey, summary.survey_id)
    if row is None or row.first_round is None:
        return None
    first = FirstRound.model_validate(row.first_round)
    consensus_id = stored_id(row.id)
    why = why_hidden(row, now)
    if consensus is not None and why is not None and not (lead_view and why is ConsensusHidden.NOT_SHARED):
        return hidden_round(
            first, consensus_survey_id=consensus_id, title=consensus.title, rules=rules, why=why
        )
    after = summary if consensus is None else summarise(data[consensus_id], rules, now=now)
    changes = await rating_changes(session, consensus_id=consensus_id, parent_id=parent_id)
    return compare_rounds(
        before,
        after,
        first,
        changes,
        rules,
        consensus_survey_id=consensus_id,
        open=is_accepting_answers(row, now),
        hidden=why,
    )


async def rating_changes(
    session: AsyncSession, *, consensus_id: int, parent_id: int
) -> dict[str, tuple[int, int]]:
    """Per element of a consensus round: how many people rated it in both rounds, and how many of them
    changed their rating (counts only, never who)."""
    first, second = _answers.alias("first_answer"), _answers.alias("second_answer")
    r1, r2 = _responses.alias("first_response"), _responses.alias("second_response")
    joined = (
        r1.join(first, first.c.response_id == r1.c.id)
        .join(r2, sa.and_(r2.c.person_id == r1.c.person_id, r2.c.survey_id == consensus_id))
        .join(second, sa.and_(second.c.response_id == r2.c.id, second.c.element_id == first.c.element_id))
    )
    query = (
        sa.select(
            first.c.element_id,
            sa.func.count(),
            sa.func.sum(sa.case((first.c.value != second.c.value, 1), else_=0)),
        )
        .select_from(joined)
        .where(r1.c.survey_id == parent_id, first.c.value.is_not(None), second.c.value.is_not(None))
        .group_by(first.c.element_id)
    )
    return {
        element_id: (int(both), int(changed or 0))
        for element_id, both, changed in await session.execute(query)
    }


async def partnership_summary(
    session: AsyncSession,
    partnership_id: int,
    framework_id: str,
    *,
    rules: SummaryRules,
    now: datetime,
    reach: Reach,
    cache: SnapshotCache | None = None,
) -> SurveySummary | None:
    """The partnership's latest round of a framework within reach, compared with the round before; None
    before any."""
    latest = await latest_round(session, partnership_id, framework_id, reach=reach)
    if latest is None:
        return None
    return await survey_summary(session, latest, rules=rules, now=now, cache=cache)


async def survey_comments(
    session: AsyncSession, survey_id: int, *, rules: SummaryRules, cache: SnapshotCache | None = None
) -> LeadComments:
    """The lead-only comment texts of a survey, under the same anonymity rules as its summary."""
    data = await survey_data(session, [survey_id], cache=cache, submitted_only=rules.submitted_only)
    texts = await comment_texts(session, survey_id, submitted_only=rules.submitted_only)
    return lead_comments(data[survey_id], texts, rules)
