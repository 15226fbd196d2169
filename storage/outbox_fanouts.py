"""A fan-out's rows together: whether any is still to be sent, and how they went (for the lead's report).

Rows of one fan-out carry its id in the indexed `fanout` column (`ix_outbox_fanout`, with the state).
Senders finishing its last rows at once take
`lock_fanout` first, so that the later one sees the earlier's commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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


async def lock_fanout(session: AsyncSession, *, fanout: str) -> None:
    """On PostgreSQL, a per-fan-out advisory lock until the transaction ends; SQLite already runs one
    writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"fanout:{fanout}"))))


async def remaining_in_fanout(session: AsyncSession, *, fanout: str) -> bool:
    """Whether any row of this fan-out is still to be sent (an index probe on (fanout, state))."""
    found = await session.scalar(
        sa.select(col(OutboxMessage.id))
        .where(col(OutboxMessage.fanout) == fanout, col(OutboxMessage.state).in_(_DUE_STATES))
        .limit(1)
    )
    return found is not None


async def fanout_tally(session: AsyncSession, *, fanout: str) -> FanoutTally | None:
    """Counts of the fan-out's rows by outcome; None when it has no rows."""
    in_fanout = col(OutboxMessage.fanout) == fanout
    first = (
        await session.execute(
            sa.select(col(OutboxMessage.kind), col(OutboxMessage.survey_id), col(OutboxMessage.payload))
            .where(in_fanout)
            .limit(1)
        )
    ).first()
    if first is None:
        return None
    kind, survey_id, payload = first
    outcomes = await session.execute(
        sa.select(col(OutboxMessage.state), col(OutboxMessage.skipped), col(OutboxMessage.last_error)).where(
            in_fanout
        )
    )
    sent = skipped = 0
    failures: Counter[str] = Counter()
    for state, was_skipped, last_error in outcomes:
        if state == OutboxState.FAILED:
            failures[(last_error or "").split(":", 1)[0]] += 1
        elif was_skipped:
            skipped += 1
        else:
            sent += 1
    title = payload.get("title")
    if title is None and survey_id is not None:
        title = await session.scalar(sa.select(col(Survey.title)).where(col(Survey.id) == survey_id))
    return FanoutTally(kind, survey_id, title, sent=sent, skipped=skipped, failures=failures)
