"""The persistent outbox: proactive messages are rows first, sends second.

A request to invite or remind someone adds a row (once: the dedupe key is unique). Senders claim
due rows under a lease, send, and record the outcome. PostgreSQL claims with
`SELECT … FOR UPDATE SKIP LOCKED`, so instances never block on or share a row; SQLite claims under
its single write lock (BEGIN IMMEDIATE), which is equally exclusive. A live sender renews the leases
of the rows it holds; one that dies leaves them claimed only until the lease runs out, then another
picks them up.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import OutboxKind, OutboxMessage, OutboxState, stored_id, table_of
from storage.upsert import insert

_TABLE = table_of(OutboxMessage)
_DUE_STATES = (OutboxState.PENDING, OutboxState.RETRYING)
ERROR_LIMIT = 500
SKIPPED_NOTE = "skipped: nothing to send any more"
"""The note on a row done without a send (`mark_skipped`)."""


@dataclass(frozen=True)
class NewMessage:
    dedupe_key: str
    """Unique per intended message, e.g. `invite:7:42`; asking again for the same key adds nothing."""
    kind: OutboxKind
    survey_id: int | None = None
    person_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


async def enqueue(session: AsyncSession, messages: Iterable[NewMessage], *, now: datetime) -> int:
    """Add messages not already in the outbox; returns how many were new."""
    rows = [
        {
            "dedupe_key": m.dedupe_key,
            "kind": m.kind,
            "survey_id": m.survey_id,
            "person_id": m.person_id,
            "payload": m.payload,
            "fanout": m.payload.get("fanout"),
            "state": OutboxState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for m in messages
    ]
    if not rows:
        return 0
    statement = (
        insert(session, _TABLE).values(rows).on_conflict_do_nothing(index_elements=[_TABLE.c.dedupe_key])
    )
    result = await session.execute(statement.returning(_TABLE.c.id))
    return len(result.all())


async def claim_due(
    session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    """Claim up to `limit` due rows for `worker` until `now + lease`, oldest first: rows being retried,
    then new ones.

    One statement per due state, so that each walks the (state, next_attempt_at) index in order and
    stops after `limit` rows; with both states in one `IN`, the databases sorted every due row for
    each claim, so a fan-out's CPU per invitation grew with its size (fanout.py: 7.59 ms at 2,000
    invitations, 11.31 ms at 10,000)."""
    claimed: list[OutboxMessage] = []
    for state in (OutboxState.RETRYING, OutboxState.PENDING):
        if len(claimed) < limit:
            claimed += await _claim_in(
                session, state, worker=worker, now=now, lease=lease, limit=limit - len(claimed)
            )
    return sorted(claimed, key=lambda m: (m.next_attempt_at, stored_id(m.id)))


async def _claim_in(
    session: AsyncSession, state: OutboxState, *, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    due = (
        sa.select(col(OutboxMessage.id))
        .where(
            col(OutboxMessage.state) == state,
            col(OutboxMessage.next_attempt_at) <= now,
            sa.or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now),
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(due.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(OutboxMessage)
    )
    claimed = await session.scalars(
        statement, execution_options={"populate_existing": True, "synchronize_session": False}
    )
    return list(claimed)


async def mark_sent(
    session: AsyncSession, *, message_id: int, now: datetime, activity_id: str | None
) -> None:
    await _finish(
        session, message_id, state=OutboxState.SENT, sent_at=now, activity_id=activity_id, last_error=None
    )


async def mark_failed(session: AsyncSession, *, message_id: int, error: str) -> None:
    """Failed for good (e.g. the person blocked the bot): never retried."""
    await _finish(session, message_id, state=OutboxState.FAILED, last_error=error[:ERROR_LIMIT])


async def mark_retry(session: AsyncSession, *, message_id: int, error: str, retry_at: datetime) -> None:
    await _finish(
        session,
        message_id,
        count_attempt=True,
        state=OutboxState.RETRYING,
        next_attempt_at=retry_at,
        last_error=error[:ERROR_LIMIT],
    )


async def mark_skipped(session: AsyncSession, *, message_id: int, now: datetime) -> None:
    """Done without a send (compose declined: the survey closed, the person finished…): state sent,
    no activity id, and a note saying why."""
    await _finish(
        session,
        message_id,
        state=OutboxState.SENT,
        sent_at=now,
        activity_id=None,
        last_error=SKIPPED_NOTE,
        skipped=True,
    )


async def postpone(session: AsyncSession, *, message_id: int, retry_at: datetime, error: str) -> None:
    """Back to the queue until `retry_at` without counting an attempt (throttling, a held thread)."""
    await _finish(
        session,
        message_id,
        state=OutboxState.RETRYING,
        next_attempt_at=retry_at,
        last_error=error[:ERROR_LIMIT],
    )


async def renew_leases(session: AsyncSession, *, worker: str, until: datetime) -> set[int]:
    """Extend every lease `worker` still holds to `until`, in one statement (a sender's heartbeat);
    returns the ids it still holds. A row whose lease ran out and that another worker claimed, or
    that is done, is not among them."""
    result = await session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.claimed_by) == worker, col(OutboxMessage.state).in_(_DUE_STATES))
        .values(claimed_until=until)
        .returning(col(OutboxMessage.id))
        .execution_options(synchronize_session=False)
    )
    return {message_id for message_id in result.scalars() if message_id is not None}


async def release(session: AsyncSession, *, worker: str) -> int:
    """Give back every row this worker still holds (graceful shutdown): others may send them at once."""
    result = await session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.claimed_by) == worker, col(OutboxMessage.state).in_(_DUE_STATES))
        .values(claimed_by=None, claimed_until=None)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def state_counts(session: AsyncSession, *, survey_id: int, kind: OutboxKind) -> dict[OutboxState, int]:
    """How many of a survey's messages of one kind are in each state (for a lead's `status`)."""
    result = await session.execute(
        sa.select(col(OutboxMessage.state), sa.func.count())
        .where(col(OutboxMessage.survey_id) == survey_id, col(OutboxMessage.kind) == kind)
        .group_by(col(OutboxMessage.state))
    )
    counts = dict.fromkeys(OutboxState, 0)
    for state, count in result.all():
        counts[OutboxState(state)] = count
    return counts


async def count_by_state(session: AsyncSession, *, states: Iterable[OutboxState]) -> dict[str, int]:
    """How many rows are in each of `states` (states with none are absent), keyed by the state's value."""
    result = await session.execute(
        sa.select(col(OutboxMessage.state), sa.func.count())
        .where(col(OutboxMessage.state).in_([state.value for state in states]))
        .group_by(col(OutboxMessage.state))
    )
    return {str(state): int(count) for state, count in result.all()}


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest row not yet sent or failed becomes (or became) due."""
    return await session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(col(OutboxMessage.state).in_(_DUE_STATES))
    )


async def _finish(
    session: AsyncSession, message_id: int, *, count_attempt: bool = False, **values: Any
) -> None:
    """Record an outcome and release the claim."""
    parameters = {f"finish_{name}": value for name, value in values.items()}
    await session.execute(
        _finish_statement(frozenset(values), count_attempt), {"finish_id": message_id, **parameters}
    )


@functools.cache
def _finish_statement(names: frozenset[str], count_attempt: bool) -> Any:
    """Built once per kind of outcome, not per row: building it cost about as much as running it. The
    Core table, not the model: an ORM bulk update costs about as much again to prepare, and no session
    here holds the row to synchronise."""
    values: dict[str, Any] = {name: sa.bindparam(f"finish_{name}") for name in names}
    if count_attempt:
        values["attempts"] = _TABLE.c.attempts + 1
    return (
        _TABLE.update()
        .where(_TABLE.c.id == sa.bindparam("finish_id"))
        .values(claimed_by=None, claimed_until=None, **values)
    )
