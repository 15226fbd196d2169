"""Conversation references: where the bot may post later (1:1 invitations, channel summaries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import ConversationReference
from storage.upsert import insert


async def save_reference(
    session: AsyncSession,
    *,
    conversation_id: str,
    service_url: str,
    reference: dict[str, Any],
    now: datetime,
    conversation_type: str | None = None,
    tenant_id: str | None = None,
    team_id: str | None = None,
    bot_id: str | None = None,
    person_id: int | None = None,
) -> ConversationReference:
    """Insert or refresh; the service URL can change between turns, so the latest always wins."""
    table = ConversationReference.__table__  # type: ignore[attr-defined]
    fields = {
        "service_url": service_url,
        "reference": reference,
        "conversation_type": conversation_type,
        "tenant_id": tenant_id,
        "team_id": team_id,
        "bot_id": bot_id,
        "person_id": person_id,
        "updated_at": now,
    }
    refreshed = {k: v for k, v in fields.items() if v is not None}
    await session.execute(
        insert(session, table)
        .values(conversation_id=conversation_id, created_at=now, **fields)
        .on_conflict_do_update(index_elements=[table.c.conversation_id], set_=refreshed)
    )
    return await reference_for(session, conversation_id)  # type: ignore[return-value]


async def reference_for(session: AsyncSession, conversation_id: str) -> ConversationReference | None:
    result = await session.execute(
        sa.select(ConversationReference)
        .where(ConversationReference.conversation_id == conversation_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
