"""Consensus (Delphi) rounds in the database: opening one on a round, who is invited, and the partner's
own first answers. A consensus round is a survey like any other (`SurveyKind.CONSENSUS`), started in the
same channel or chat, tenant and partnership as the round it revisits (`parent_survey_id`), with a
snapshot holding only the elements asked again and the first round's context frozen in `first_round`.

What it counts in its summary (agreement before and after, stability) is `storage.summaries`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.schema import Framework
from frameworks.summary import ConsensusHidden, FirstRound
from storage.invitations import invite
from storage.outbox_summaries import answered_since
from storage.summaries import answered
from storage.surveys import create_survey, why_hidden
from storage.tables import (
    Answer,
    ProcessedActivity,
    Response,
    Survey,
    SurveyKind,
    SurveyState,
    stored_id,
    table_of,
)

__all__ = [
    "FirstRoundContext",
    "HiddenConsensus",
    "changed_since",
    "consensus_made_by",
    "first_answers",
    "first_round_context",
    "first_round_of",
    "hidden_consensus",
    "open_consensus_of",
    "open_consensus_round",
    "respondents",
    "share_results",
]

TITLE_LIMIT = 200
"""`Survey.title`'s length."""


def first_round_of(survey: Survey) -> FirstRound | None:
    """A consensus round's frozen first-round context, validated on the way out (None for a round)."""
    if survey.kind != SurveyKind.CONSENSUS or survey.first_round is None:
        return None
    return FirstRound.model_validate(survey.first_round)


async def respondents(session: AsyncSession, *, survey_id: int) -> list[int]:
    """The people who answered a round: at least one answer that is not a skip (`answered`, the rule
    every k counts by), so those who only skipped are not asked to reconsider."""
    a, r = table_of(Answer), table_of(Response)
    query = (
        sa.select(r.c.person_id)
        .select_from(r.join(a, a.c.response_id == r.c.id))
        .where(r.c.survey_id == survey_id, answered(a))
        .group_by(r.c.person_id)
        .order_by(r.c.person_id)
    )
    return [person_id for (person_id,) in await session.execute(query)]


async def open_consensus_of(session: AsyncSession, *, parent_id: int) -> Survey | None:
    """The consensus round on this round still taking answers (or a draft), if there is one."""
    query = (
        sa.select(Survey)
        .where(
            col(Survey.parent_survey_id) == parent_id,
            col(Survey.kind) == SurveyKind.CONSENSUS,
            col(Survey.state).in_([SurveyState.OPEN, SurveyState.DRAFT]),
        )
        .order_by(col(Survey.id).desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def consensus_made_by(session: AsyncSession, claim: str) -> Survey | None:
    """The consensus round a `consensus` command opened for this activity in an earlier delivery."""
    activities = table_of(ProcessedActivity)
    result = await session.execute(
        sa.select(Survey)
        .join(activities, activities.c.made_survey_id == col(Survey.id))
        .where(activities.c.key == claim, col(Survey.kind) == SurveyKind.CONSENSUS)
    )
    return result.scalar_one_or_none()


async def open_consensus_round(
    session: AsyncSession,
    parent: Survey,
    framework: Framework,
    first: FirstRound,
    *,
    now: datetime,
    created_by_id: int | None,
) -> tuple[Survey, list[int]]:
    """Open a consensus round on `parent`: its scope copied (tenant, channel or chat, team, partnership),
    `framework` the elements asked again, and everyone who answered the parent invited. Returns the
    survey and the people invited (the caller queues their invitations)."""
    title = f"{parent.title}: consensus round"
    if len(title) > TITLE_LIMIT:
        title = parent.title[: TITLE_LIMIT - len(": consensus round") - 1] + "…: consensus round"
    survey = await create_survey(
        session,
        framework,
        now=now,
        title=title,
        partnership_id=parent.partnership_id,
        created_by_id=created_by_id,
        state=SurveyState.OPEN,
        conversation_id=parent.conversation_id,
        tenant_id=parent.tenant_id,
        team_id=parent.team_id,
    )
    survey.kind = SurveyKind.CONSENSUS
    survey.parent_survey_id = parent.id
    survey.first_round = FirstRound.model_validate(first.model_dump()).model_dump(mode="json")
    session.add(survey)
    await session.flush()
    people = await respondents(session, survey_id=stored_id(parent.id))
    await invite(session, stored_id(survey.id), people, now=now)
    return survey, people


async def first_answers(session: AsyncSession, *, survey_id: int, person_id: int) -> dict[str, str]:
    """One person's answers to a round, by element (values only: skips and comments alone are none)."""
    query = (
        sa.select(col(Answer.element_id), col(Answer.value))
        .join(Response, col(Response.id) == col(Answer.response_id))
        .where(
            col(Response.survey_id) == survey_id,
            col(Response.person_id) == person_id,
            col(Answer.value).is_not(None),
        )
    )
    return {element_id: value for element_id, value in await session.execute(query) if value is not None}


@dataclass(frozen=True)
class FirstRoundContext:
    """What a partner's question in a consensus round shows above the choices: the first round as
    everyone sees it, and the partner's own first answers."""

    first_round: FirstRound
    own: dict[str, str] = field(default_factory=dict)


async def first_round_context(
    session: AsyncSession, survey: Survey, *, person_id: int
) -> FirstRoundContext | None:
    """None for a round; for a consensus round, its first round and this person's answers to it."""
    first = first_round_of(survey)
    if first is None:
        return None
    own = await first_answers(session, survey_id=first.parent_survey_id, person_id=person_id)
    return FirstRoundContext(first, own)


@dataclass(frozen=True)
class HiddenConsensus:
    """A consensus round whose results partners and channels may not see yet, and why."""

    survey: Survey
    why: ConsensusHidden


async def hidden_consensus(session: AsyncSession, *, survey_id: int, now: datetime) -> HiddenConsensus | None:
    """The survey and why, when it is a consensus round whose results are hidden from partners and
    channels (`storage.surveys.why_hidden`: still taking answers, or closed and not shared); else None."""
    survey = await session.get(Survey, survey_id)
    why = why_hidden(survey, now) if survey is not None else None
    return HiddenConsensus(survey, why) if survey is not None and why is not None else None


def share_results(survey: Survey, *, now: datetime) -> bool:
    """Share a closed consensus round's results with partners and channels; False (nothing changed)
    when they already are. The caller has checked it is a consensus round that takes no more answers."""
    if survey.results_shared_at is not None:
        return False
    survey.results_shared_at = now
    return True


async def changed_since(session: AsyncSession, *, survey_id: int, since: datetime) -> bool:
    """Whether a consensus round has news for a weekly post: answers changed, it closed, or a lead
    shared its results, since then."""
    survey = await session.get(Survey, survey_id)
    if survey is not None and any(
        when is not None and when > since for when in (survey.closed_at, survey.results_shared_at)
    ):
        return True
    return await answered_since(session, survey_id=survey_id, since=since)
