"""Claiming inbound activity ids so a redelivered activity is recognised and not processed twice."""

from __future__ import annotations

import hashlib
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


async def purge_claims(session: AsyncSession, *, before: datetime) -> int:
    """Drop claims older than any retry could be (Teams retries within minutes)."""
    result = await session.execute(sa.delete(_TABLE).where(_TABLE.c.received_at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]
