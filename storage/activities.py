"""Claiming inbound activity ids so a redelivered activity is recognised and not processed twice, and
keeping each claimed turn's replies until they went out, so a redelivery can still send them.

A turn whose work cannot sit in one transaction (a lead's command: a roster fetch, an upload) claims
with a lease first, works in short transactions, then completes the claim with its replies. A
redelivery after the lease ran out (the instance died mid-command) takes the claim over and runs the
command again; commands are idempotent, and `start` finds the draft it made (`draft_made_by`).
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import ProcessedActivity, Survey, SurveyState, table_of
from storage.upsert import dialect_of, insert, insert_for

_TABLE = table_of(ProcessedActivity)


def activity_key(channel_id: str, conversation_id: str, activity_id: str) -> str:
    return hashlib.sha256(f"{channel_id}\x1f{conversation_id}\x1f{activity_id}".encode()).hexdigest()


async def claim_activity(
    session: AsyncSession, key: str, *, now: datetime, replies: str | None = None
) -> bool:
    """True the first time a key is claimed; False for a redelivery (in this or another instance).
    `replies` (JSON) are kept with the claim until they went out: a turn claims once it has decided,
    in the same statement. Compressed: a question card is ~6.5 KB of JSON and compresses to a fifth."""
    stored = zlib.compress(replies.encode()) if replies is not None else None
    parameters = {"claim_key": key, "received_at": now, "replies": stored}
    result = await session.execute(_claim_statement(dialect_of(session)), parameters)
    return result.first() is not None


@functools.cache
def _claim_statement(dialect: str) -> Any:
    """Built once per database kind: a turn's statements are built afresh otherwise, at a cost close
    to running them."""
    statement = insert_for(dialect, _TABLE).values(
        key=sa.bindparam("claim_key"),
        received_at=sa.bindparam("received_at"),
        replies=sa.bindparam("replies"),
    )
    return statement.on_conflict_do_nothing().returning(_TABLE.c.key)


class Claim(StrEnum):
    """What a leased claim found."""

    RUN = "run"
    """First delivery, or a redelivery whose earlier claim's lease ran out: do the work (again)."""
    HELD = "held"
    """Another delivery is doing the work and its lease has not run out."""
    OWED = "owed"
    """The work is done and its replies were kept and never confirmed sent."""
    DONE = "done"
    """The work is done and its replies went out (or there were none)."""


async def claim_leased(session: AsyncSession, key: str, *, now: datetime, lease: timedelta) -> Claim:
    """Claim a key for work done after this transaction, holding it until `now + lease`; a claim whose
    lease has passed is taken over (one statement, so two redeliveries cannot both take it)."""
    until = now + lease
    expired = sa.and_(_TABLE.c.lease_until.is_not(None), _TABLE.c.lease_until <= now)
    statement = (
        insert(session, _TABLE)
        .values(key=key, received_at=now, lease_until=until)
        .on_conflict_do_update(index_elements=[_TABLE.c.key], set_={"lease_until": until}, where=expired)
    )
    if (await session.execute(statement.returning(_TABLE.c.key))).first() is not None:
        return Claim.RUN
    result = await session.execute(
        sa.select(_TABLE.c.lease_until, _TABLE.c.replies.is_not(None)).where(_TABLE.c.key == key)
    )
    lease_until, owed = result.one()
    if lease_until is not None:
        return Claim.HELD
    return Claim.OWED if owed else Claim.DONE


async def lease_left(session: AsyncSession, key: str, *, now: datetime) -> timedelta | None:
    """How long the claim's lease still runs; None when it is not leased."""
    result = await session.execute(sa.select(_TABLE.c.lease_until).where(_TABLE.c.key == key))
    until = result.scalar_one_or_none()
    return max(until - now, timedelta(0)) if until is not None else None


async def renew_lease(session: AsyncSession, key: str, *, until: datetime) -> None:
    """The work goes on: hold the claim until `until` (a completed claim stays complete)."""
    await session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.key == key, _TABLE.c.lease_until.is_not(None))
        .values(lease_until=until)
    )


async def complete_claim(session: AsyncSession, key: str, replies: str | None) -> None:
    """The work is done: keep its replies (JSON) until they went out, and end the lease."""
    stored = zlib.compress(replies.encode()) if replies is not None else None
    await session.execute(
        sa.update(_TABLE).where(_TABLE.c.key == key).values(lease_until=None, replies=stored)
    )


async def note_survey_made(session: AsyncSession, key: str, survey_id: int) -> None:
    """A `start` made this draft survey for the claimed activity."""
    await session.execute(sa.update(_TABLE).where(_TABLE.c.key == key).values(made_survey_id=survey_id))


async def draft_made_by(session: AsyncSession, key: str) -> Survey | None:
    """The draft a `start` made for this activity in an earlier, unfinished delivery (still a draft)."""
    result = await session.execute(
        sa.select(Survey)
        .join(_TABLE, _TABLE.c.made_survey_id == col(Survey.id))
        .where(_TABLE.c.key == key, col(Survey.state) == SurveyState.DRAFT)
    )
    return result.scalar_one_or_none()


async def owed_replies(session: AsyncSession, key: str) -> str | None:
    """The replies a claimed turn stored and nobody confirmed sent; None when nothing is owed."""
    result = await session.execute(sa.select(_TABLE.c.replies).where(_TABLE.c.key == key))
    stored = result.scalar_one_or_none()
    return zlib.decompress(stored).decode() if stored is not None else None


async def replies_sent(session: AsyncSession, key: str, *, card_id: str | None = None) -> None:
    """The claimed turn's replies went out: a later redelivery sends nothing. `card_id`: the id Teams
    gave the question card among them, for the conversation's next turn (`SENT_CARD`)."""
    if card_id is None:
        await session.execute(_SENT, {"claim_key": key})
    else:
        await session.execute(_SENT_WITH_CARD, {"claim_key": key, "sent_card_id": card_id})


_SENT = sa.update(_TABLE).where(_TABLE.c.key == sa.bindparam("claim_key")).values(replies=None)
_SENT_WITH_CARD = _SENT.values(card_id=sa.bindparam("sent_card_id"))

SENT_CARD = sa.select(_TABLE.c.card_id).where(_TABLE.c.key == sa.bindparam("card_turn")).scalar_subquery()
"""The id of the question card the turn claimed as `:card_turn` sent (NULL when unknown), as a column of
another query."""


async def purge_claims(session: AsyncSession, *, before: datetime) -> int:
    """Drop claims, and any replies kept with them, older than any retry could be (Teams retries
    within minutes)."""
    result = await session.execute(sa.delete(_TABLE).where(_TABLE.c.received_at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]
