"""Claiming inbound activity ids so a redelivered activity is recognised and not processed twice, and
keeping each claimed turn's replies until they went out, so a redelivery can still send them."""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import ProcessedActivity
from storage.upsert import insert

_TABLE = ProcessedActivity.__table__  # type: ignore[attr-defined]


def activity_key(channel_id: str, conversation_id: str, activity_id: str) -> str:
    return hashlib.sha256(f"{channel_id}\x1f{conversation_id}\x1f{activity_id}".encode()).hexdigest()


async def claim_activity(session: AsyncSession, key: str, *, now: datetime) -> bool:
    """True the first time a key is claimed; False for a redelivery (in this or another instance)."""
    statement = insert(session, _TABLE).values(key=key, received_at=now).on_conflict_do_nothing()
    result = await session.execute(statement.returning(_TABLE.c.key))
    return result.first() is not None


async def owe_replies(session: AsyncSession, key: str, replies: str) -> None:
    """Keep a claimed turn's replies (JSON) with its claim, in the turn's transaction. Compressed: a
    question card is ~6.5 KB of JSON and compresses to about a fifth."""
    await session.execute(
        sa.update(_TABLE).where(_TABLE.c.key == key).values(replies=zlib.compress(replies.encode()))
    )


async def owed_replies(session: AsyncSession, key: str) -> str | None:
    """The replies a claimed turn stored and nobody confirmed sent; None when nothing is owed."""
    result = await session.execute(sa.select(_TABLE.c.replies).where(_TABLE.c.key == key))
    stored = result.scalar_one_or_none()
    return zlib.decompress(stored).decode() if stored is not None else None


async def replies_sent(session: AsyncSession, key: str) -> None:
    """The claimed turn's replies went out: a later redelivery sends nothing."""
    await session.execute(
        sa.update(_TABLE).where(_TABLE.c.key == key, _TABLE.c.replies.is_not(None)).values(replies=None)
    )


async def purge_claims(session: AsyncSession, *, before: datetime) -> int:
    """Drop claims, and any replies kept with them, older than any retry could be (Teams retries
    within minutes)."""
    result = await session.execute(sa.delete(_TABLE).where(_TABLE.c.received_at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]
