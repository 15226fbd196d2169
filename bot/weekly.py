"""Weekly summaries: due subscriptions become outbox rows, and the summary is built when sent.

Claiming a subscription and queueing its post commit together, so with several instances exactly one
posts; the outbox then retries with backoff, and a post counts as sent only once Teams accepted it.
After downtime, one post covers every missed week.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import AsyncSession

from bot.summary_cards import render_summary, render_unchanged
from frameworks.summary import SummaryRules
from storage.outbox import NewMessage, enqueue
from storage.subscriptions import claim_due
from storage.summaries import survey_summary
from storage.tables import Answer, OutboxMessage, Response

KIND = "summary"


async def queue_due_summaries(session: AsyncSession, *, now: datetime) -> int:
    """Queue one post per subscription now owed; returns how many."""
    messages = [
        NewMessage(
            dedupe_key=f"summary:{claim.subscription.id}:{claim.due_at.isoformat()}",
            kind=KIND,
            survey_id=claim.subscription.survey_id,
            payload={
                "conversation_reference_id": claim.subscription.conversation_reference_id,
                "since": claim.previous_last_sent_at.isoformat() if claim.previous_last_sent_at else None,
            },
        )
        for claim in await claim_due(session, now=now)
        if claim.subscription.survey_id is not None
    ]
    return await enqueue(session, messages, now=now)


async def compose_summary(
    session: AsyncSession,
    message: OutboxMessage,
    *,
    rules: SummaryRules,
    now: datetime,
    chart_url: str | None = None,
) -> Activity | None:
    """The summary card, or a brief "no new answers" card when nothing changed since the last post."""
    if message.survey_id is None:
        return None
    summary = await survey_summary(session, message.survey_id, rules=rules, now=now)
    since_text = (message.payload or {}).get("since")
    since = datetime.fromisoformat(since_text) if since_text else None
    if since is not None and not await _answered_since(session, message.survey_id, since):
        return render_unchanged(summary, since)
    return render_summary(summary, chart_url=chart_url)


async def _answered_since(session: AsyncSession, survey_id: int, since: datetime) -> bool:
    latest = await session.scalar(
        sa.select(sa.func.max(Answer.updated_at))
        .join(Response, Response.id == Answer.response_id)  # type: ignore[arg-type]
        .where(Response.survey_id == survey_id)
    )
    return latest is not None and latest > since
