"""Where a batch of outbox rows goes: each a query for the whole batch, never one per row."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import ConversationReference, Person


async def teams_users(
    session: AsyncSession, *, person_ids: Collection[int]
) -> dict[int, tuple[str, str | None]]:
    """person id → (Teams user id, tenant id)."""
    if not person_ids:
        return {}
    found = await session.execute(
        sa.select(col(Person.id), col(Person.teams_user_id), col(Person.tenant_id)).where(
            col(Person.id).in_(person_ids)
        )
    )
    return {pid: (user, tenant) for pid, user, tenant in found.all() if pid is not None}


async def personal_chats(
    session: AsyncSession, *, person_ids: Collection[int]
) -> dict[int, ConversationReference]:
    """Each person's latest 1:1 chat with the bot, by person id."""
    if not person_ids:
        return {}
    chats = await session.scalars(
        sa.select(ConversationReference)
        .where(col(ConversationReference.person_id).in_(person_ids))
        .where(col(ConversationReference.conversation_type) == "personal")
        .order_by(col(ConversationReference.updated_at))
    )
    return {chat.person_id: chat for chat in chats if chat.person_id is not None}


async def references_by_id(
    session: AsyncSession, *, ids: Collection[int]
) -> dict[int, ConversationReference]:
    """Stored conversations (channels, group chats…) by id."""
    if not ids:
        return {}
    found = await session.scalars(
        sa.select(ConversationReference).where(col(ConversationReference.id).in_(ids))
    )
    return {ref.id: ref for ref in found if ref.id is not None}
