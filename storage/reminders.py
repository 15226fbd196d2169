"""Reminders: queued in the outbox for everyone invited who has not submitted, at most one a day each,
whether a lead typed `remind` or the survey's close is near (the automatic reminder, once per survey)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.conversations import reference_for
from storage.outbox import NewMessage, enqueue
from storage.surveys import survey_progress
from storage.tables import Invitation, OutboxKind, Survey, SurveyState, stored_id

log = logging.getLogger(__name__)

REMIND_GAP = timedelta(hours=23)
"""Nobody is reminded twice within a day, whether by a lead's `remind` or automatically."""


async def queue_reminders(
    session: AsyncSession, *, survey: Survey, now: datetime, payload: dict[str, Any], automatic: bool = False
) -> tuple[int, int]:
    """Queue a reminder for everyone invited who has not submitted, at most one a day each.
    Returns (queued, left alone because reminded within the day)."""
    survey_id = stored_id(survey.id)
    waiting = [row for row in await survey_progress(session, survey_id=survey_id) if not row.submitted]
    recent = set(
        (
            await session.execute(
                sa.select(col(Invitation.person_id)).where(
                    col(Invitation.survey_id) == survey_id,
                    col(Invitation.reminded_at) > now - REMIND_GAP,
                )
            )
        ).scalars()
    )
    due = [row.person_id for row in waiting if row.person_id not in recent]
    if not due:
        return 0, len(waiting)
    day = now.date().isoformat()
    fanout = f"remind:{survey.id}:{day}" + (":auto" if automatic else "")
    added = await enqueue(
        session,
        [
            NewMessage(
                dedupe_key=f"remind:{survey.id}:{person_id}:{day}",
                kind=OutboxKind.REMIND,
                survey_id=survey.id,
                person_id=person_id,
                payload={**payload, "fanout": fanout},
            )
            for person_id in due
        ],
        now=now,
    )
    await session.execute(
        sa.update(Invitation)
        .where(col(Invitation.survey_id) == survey_id, col(Invitation.person_id).in_(due))
        .values(reminded_at=now, reminder_count=col(Invitation.reminder_count) + 1)
    )
    return added, len(waiting) - len(due)


async def queue_due_reminders(session: AsyncSession, *, now: datetime, before: timedelta) -> int:
    """Automatic reminders, once per survey, `before` its close: to everyone who has not submitted
    (and was not reminded in the last day), through the chat the survey was started in."""
    due = (
        (
            await session.execute(
                sa.select(Survey).where(
                    col(Survey.state) == SurveyState.OPEN,
                    col(Survey.auto_reminded_at).is_(None),
                    col(Survey.closes_at) > now,
                    col(Survey.closes_at) <= now + before,
                )
            )
        )
        .scalars()
        .all()
    )
    queued = 0
    for survey in due:
        survey.auto_reminded_at = now
        reference = await reference_for(session, survey.conversation_id) if survey.conversation_id else None
        if reference is None:
            log.warning("survey %s has no chat to remind from; automatic reminder skipped", survey.id)
            continue
        payload: dict[str, Any] = {
            "service_url": reference.service_url,
            "tenant_id": reference.tenant_id,
            "title": survey.title,
            "report_to": reference.id,
        }
        added, _ = await queue_reminders(session, survey=survey, now=now, payload=payload, automatic=True)
        queued += added
    return queued
