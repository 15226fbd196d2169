"""Conversation references: where the bot may post later (1:1 invitations, channel summaries).

In a Teams channel each thread is a conversation of its own, `19:…@thread.tacv2;messageid=<root post>`;
the channel is the part before `;messageid=`. A reference is kept per channel, never per thread, so
every thread and new post of a channel finds the same row, and a proactive post goes to the channel
itself (a new post), not into the thread it happened to be asked from.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import ConversationReference, table_of
from storage.upsert import insert

_THREAD = re.compile(r";messageid=.*$", re.IGNORECASE | re.DOTALL)


def place_of(conversation_id: str) -> str:
    """The channel (or chat) a conversation id belongs to: a thread's id without `;messageid=…`."""
    return _THREAD.sub("", conversation_id)


def _channel_reference(reference: dict[str, Any], place: str) -> dict[str, Any]:
    """The reference addressed to the channel itself: its id, and no message to reply to."""
    stored = {key: value for key, value in reference.items() if key != "activityId"}
    conversation = stored.get("conversation")
    if isinstance(conversation, dict):
        stored["conversation"] = {**conversation, "id": place}
    return stored


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
    place = place_of(conversation_id)
    table = table_of(ConversationReference)
    fields = {
        "service_url": service_url,
        "reference": _channel_reference(reference, place),
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
        .values(conversation_id=place, created_at=now, **fields)
        .on_conflict_do_update(index_elements=[table.c.conversation_id], set_=refreshed)
    )
    return await reference_for(session, place)  # type: ignore[return-value]


async def reference_for(session: AsyncSession, conversation_id: str) -> ConversationReference | None:
    """The reference of the channel or chat a conversation (or any thread of it) belongs to."""
    result = await session.execute(
        sa.select(ConversationReference)
        .where(col(ConversationReference.conversation_id) == place_of(conversation_id))
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
