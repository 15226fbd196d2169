"""Weekly summaries as they were posted, so the next one can say what changed since.

A post is stored when it is composed, beside its outbox row; it counts as posted only once that row
is `sent` (Teams accepted it). A row that is composed again after a failed attempt replaces its
stored summary, so what is compared against is what the channel actually received.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.summary import SurveySummary
from storage.tables import OutboxMessage, OutboxState, SummaryPost, SummarySubscription


async def record_post(
    session: AsyncSession,
    *,
    outbox_message_id: int,
    subscription_id: int,
    summary: SurveySummary,
    now: datetime,
) -> None:
    """Keep the summary an outbox row is about to post (replacing an earlier attempt's)."""
    existing = await session.scalar(
        sa.select(SummaryPost).where(col(SummaryPost.outbox_message_id) == outbox_message_id)
    )
    post = existing or SummaryPost(
        outbox_message_id=outbox_message_id,
        subscription_id=subscription_id,
        survey_id=summary.survey_id,
        summary="",
    )
    post.survey_id = summary.survey_id
    post.summary = summary.model_dump_json()
    post.created_at = now
    session.add(post)
    await session.flush()


async def last_posted(
    session: AsyncSession,
    survey_id: int,
    *,
    subscription_id: int | None = None,
    conversation_reference_id: int | None = None,
) -> SurveySummary | None:
    """The latest summary of a survey that Teams accepted for a subscription, or for any subscription
    of a conversation (what its members last saw)."""
    query = (
        sa.select(col(SummaryPost.summary))
        .join(OutboxMessage, col(OutboxMessage.id) == col(SummaryPost.outbox_message_id))
        .where(col(SummaryPost.survey_id) == survey_id, col(OutboxMessage.state) == OutboxState.SENT)
        .order_by(col(OutboxMessage.sent_at).desc(), col(SummaryPost.id).desc())
        .limit(1)
    )
    if subscription_id is not None:
        query = query.where(col(SummaryPost.subscription_id) == subscription_id)
    if conversation_reference_id is not None:
        query = query.join(
            SummarySubscription,
            col(SummarySubscription.id) == col(SummaryPost.subscription_id),
        ).where(col(SummarySubscription.conversation_reference_id) == conversation_reference_id)
    body = await session.scalar(query)
    return SurveySummary.model_validate_json(body) if body is not None else None
