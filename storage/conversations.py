"""Conversation references: where the bot may post later (1:1 invitations, channel summaries).

In a Teams channel each thread is a conversation of its own, `19:…@thread.tacv2;messageid=<root post>`;
the channel is the part before `;messageid=`. A reference is kept per channel, never per thread, so
every thread and new post of a channel finds the same row, and a proactive post goes to the channel
itself (a new post), not into the thread it happened to be asked from.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import ConversationReference, table_of
from storage.upsert import dialect_of, insert_for

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
) -> int:
    """Insert or refresh, and return the row's id. The service URL can change between turns, so the
    latest always wins; a detail given as None keeps what was stored."""
    place = place_of(conversation_id)
    result = await session.execute(
        _save_statement(dialect_of(session)),
        {
            "reference_place": place,
            "reference_service_url": service_url,
            "reference_json": _channel_reference(reference, place),
            "reference_type": conversation_type,
            "reference_tenant": tenant_id,
            "reference_team": team_id,
            "reference_bot": bot_id,
            "reference_person": person_id,
            "reference_now": now,
        },
    )
    return int(result.scalar_one())


_KEPT_WHEN_NONE = ("conversation_type", "tenant_id", "team_id", "bot_id", "person_id")


@functools.cache
def _save_statement(dialect: str) -> Any:
    """Built once per database kind: every turn and every new 1:1 chat of a fan-out saves a reference,
    and building the statement each time cost about as much as running it."""
    table = table_of(ConversationReference)
    statement = insert_for(dialect, table).values(
        conversation_id=sa.bindparam("reference_place"),
        service_url=sa.bindparam("reference_service_url"),
        reference=sa.bindparam("reference_json"),
        conversation_type=sa.bindparam("reference_type"),
        tenant_id=sa.bindparam("reference_tenant"),
        team_id=sa.bindparam("reference_team"),
        bot_id=sa.bindparam("reference_bot"),
        person_id=sa.bindparam("reference_person"),
        created_at=sa.bindparam("reference_now"),
        updated_at=sa.bindparam("reference_now"),
    )
    refreshed = {name: statement.excluded[name] for name in ("service_url", "reference", "updated_at")}
    kept = {name: sa.func.coalesce(statement.excluded[name], table.c[name]) for name in _KEPT_WHEN_NONE}
    return statement.on_conflict_do_update(
        index_elements=[table.c.conversation_id], set_={**refreshed, **kept}
    ).returning(table.c.id)


async def reference_for(session: AsyncSession, conversation_id: str) -> ConversationReference | None:
    """The reference of the channel or chat a conversation (or any thread of it) belongs to."""
    result = await session.execute(
        sa.select(ConversationReference)
        .where(col(ConversationReference.conversation_id) == place_of(conversation_id))
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
