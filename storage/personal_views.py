"""Each partner's own view when a round closes: who gets one, queued in the transaction that closes it.

One outbox row (OutboxKind.PERSONAL_VIEW) per person who answered (at least one answer that is not a
skip, `frameworks.summary.is_answer`), when the lead allows it (`Survey.share_results`, default on).
A consensus round sends none: its results stay the lead's to share (`results`, the weekly post).
The card itself is built when the row is sent (bot.outbox.personal_views).

Exactly once: the dedupe key names the survey, the person and the moment it closed, so the lead's
`close` and the deadline job closing the same round (or either run twice) queue one row. A round
reopened and closed again queues a view only for people who have none sent or on its way: those who
answered first while it was reopened, and anyone whose view was skipped because it was reopened before
it went (a reopened round shows no results, so nobody anchors on them).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from storage.conversations import reference_for
from storage.outbox import NewMessage, enqueue
from storage.summaries import answered
from storage.tables import (
    Answer,
    OutboxKind,
    OutboxMessage,
    Response,
    Survey,
    SurveyKind,
    stored_id,
    table_of,
)

_answers = table_of(Answer)
_responses = table_of(Response)


def gets_views(survey: Survey) -> bool:
    """Whether this survey's partners get their own views when it closes."""
    return survey.share_results and survey.kind != SurveyKind.CONSENSUS


async def answering_people(session: AsyncSession, *, survey_id: int) -> list[int]:
    """People with at least one answer to the survey that is not a skip, by id."""
    a, r = _answers, _responses
    query = (
        sa.select(r.c.person_id)
        .where(
            r.c.survey_id == survey_id,
            sa.exists().where(a.c.response_id == r.c.id, answered(a)),
        )
        .order_by(r.c.person_id)
    )
    return [person_id for (person_id,) in await session.execute(query)]


async def own_answers(session: AsyncSession, *, survey_id: int, person_id: int) -> dict[str, str]:
    """One person's answers to a survey, element id → token (skips and comment-only rows left out).
    Read only to show the person their own answers."""
    a, r = _answers, _responses
    query = (
        sa.select(a.c.element_id, a.c.value)
        .select_from(a.join(r, r.c.id == a.c.response_id))
        .where(r.c.survey_id == survey_id, r.c.person_id == person_id, a.c.value.is_not(None))
    )
    return {element_id: value for element_id, value in await session.execute(query)}


async def _already_viewed(session: AsyncSession, *, survey_id: int) -> set[int]:
    """People whose view was sent, is on its way, or failed for good: everyone but the skipped."""
    query = sa.select(col(OutboxMessage.person_id)).where(
        col(OutboxMessage.kind) == OutboxKind.PERSONAL_VIEW,
        col(OutboxMessage.survey_id) == survey_id,
        sa.not_(col(OutboxMessage.skipped)),
    )
    return {person_id for (person_id,) in await session.execute(query) if person_id is not None}


async def queue_personal_views(session: AsyncSession, survey: Survey, *, now: datetime, k: int) -> int:
    """Queue each answering partner's view of a round that has just closed; returns how many were new.
    None when the lead turned personal views off, or when fewer than `k` answered (then no partnership
    figure may be shown, so there is nothing to set their answers beside)."""
    if not gets_views(survey) or survey.closed_at is None:
        return 0
    survey_id = stored_id(survey.id)
    people = await answering_people(session, survey_id=survey_id)
    if len(people) < k:
        return 0
    viewed = await _already_viewed(session, survey_id=survey_id)
    payload: dict[str, Any] = {"tenant_id": survey.tenant_id}
    if survey.conversation_id:
        reference = await reference_for(session, survey.conversation_id)
        if reference is not None:  # a person with no 1:1 chat yet gets one, on the channel's connector
            payload["service_url"] = reference.service_url
    closed = survey.closed_at.isoformat()
    messages = [
        NewMessage(
            dedupe_key=f"personal-view:{survey_id}:{person_id}:{closed}",
            kind=OutboxKind.PERSONAL_VIEW,
            survey_id=survey_id,
            person_id=person_id,
            payload=payload,
        )
        for person_id in people
        if person_id not in viewed
    ]
    return await enqueue(session, messages, now=now)


async def queue_views_of_closed(
    session: AsyncSession, survey_ids: Collection[int], *, now: datetime, k: int
) -> int:
    """`queue_personal_views` for surveys the deadline job just closed."""
    if not survey_ids:
        return 0
    surveys = await session.scalars(
        sa.select(Survey)
        .where(col(Survey.id).in_(list(survey_ids)))
        .options(defer(Survey.framework_snapshot))  # type: ignore[arg-type]
        .execution_options(populate_existing=True)
    )
    queued = 0
    for survey in surveys:
        queued += await queue_personal_views(session, survey, now=now, k=k)
    return queued
