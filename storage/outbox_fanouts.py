"""A fan-out's rows together: whether any is still to be sent, and how they went (for the lead's report).

Rows of one fan-out carry its id in `payload["fanout"]`. Senders finishing its last rows at once take
`lock_fanout` first, so that the later one sees the earlier's commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.outbox import SKIPPED_NOTE
from storage.tables import OutboxKind, OutboxMessage, OutboxState, Survey

_DUE_STATES = (OutboxState.PENDING, OutboxState.RETRYING)


@dataclass(frozen=True)
class FanoutTally:
    """How a finished fan-out went: counts and failure reasons, never names."""

    kind: OutboxKind
    survey_id: int | None
    title: str | None
    """The payload's `title`, else its survey's title, else None."""
    sent: int = 0
    skipped: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    """Failed rows by reason (the part of `last_error` before its colon)."""


def _fanout_of(column: Any) -> Any:
    return column["fanout"].as_string()


async def lock_fanout(session: AsyncSession, *, fanout: str) -> None:
    """On PostgreSQL, a per-fan-out advisory lock until the transaction ends; SQLite already runs one
    writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"fanout:{fanout}"))))


async def remaining_in_fanout(session: AsyncSession, *, fanout: str) -> bool:
    """Whether any row of this fan-out is still to be sent.

    Portable JSON (JSON_EXTRACT on SQLite, ->> on PostgreSQL) with no index: the state filter keeps
    it to rows not yet done, and it stops at the first.
    """
    found = await session.scalar(
        sa.select(OutboxMessage.id)
        .where(col(OutboxMessage.state).in_(_DUE_STATES), _fanout_of(OutboxMessage.payload) == fanout)
        .limit(1)
    )
    return found is not None


async def fanout_tally(session: AsyncSession, *, fanout: str) -> FanoutTally | None:
    """Counts of the fan-out's rows by outcome; None when it has no rows."""
    in_fanout = _fanout_of(OutboxMessage.payload) == fanout
    first = (
        await session.execute(
            sa.select(OutboxMessage.kind, OutboxMessage.survey_id, OutboxMessage.payload)
            .where(in_fanout)
            .limit(1)
        )
    ).first()
    if first is None:
        return None
    kind, survey_id, payload = first
    outcomes = await session.execute(
        sa.select(OutboxMessage.state, OutboxMessage.activity_id, OutboxMessage.last_error).where(in_fanout)
    )
    sent = skipped = 0
    failures: Counter[str] = Counter()
    for state, activity_id, last_error in outcomes:
        if state == OutboxState.FAILED:
            failures[(last_error or "").split(":", 1)[0]] += 1
        elif activity_id is None and last_error == SKIPPED_NOTE:
            skipped += 1
        else:
            sent += 1
    title = payload.get("title")
    if title is None and survey_id is not None:
        title = await session.scalar(sa.select(Survey.title).where(Survey.id == survey_id))
    return FanoutTally(kind, survey_id, title, sent=sent, skipped=skipped, failures=failures)
