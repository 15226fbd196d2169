"""What a weekly summary post reads when it is built: its subscription, the channel's reach, and
whether anything was answered since the last post."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.surveys import Reach
from storage.tables import Answer, ConversationReference, Response, SummarySubscription


async def subscription_by_id(session: AsyncSession, *, subscription_id: int) -> SummarySubscription | None:
    return await session.get(SummarySubscription, subscription_id)


async def subscription_reach(session: AsyncSession, *, subscription: SummarySubscription) -> Reach:
    """A channel's post shows what a command typed in that channel may see (storage.surveys.Reach)."""
    reference = await session.get(ConversationReference, subscription.conversation_reference_id)
    if reference is None:
        return Reach(tenant_id=None, place_id=None)  # sees nothing
    return Reach(tenant_id=reference.tenant_id, place_id=reference.conversation_id)


async def answered_since(session: AsyncSession, *, survey_id: int, since: datetime) -> bool:
    """Whether any answer of the survey changed after `since`."""
    latest = await session.scalar(
        sa.select(sa.func.max(col(Answer.updated_at)))
        .join(Response, col(Response.id) == col(Answer.response_id))
        .where(col(Response.survey_id) == survey_id)
    )
    return latest is not None and latest > since
