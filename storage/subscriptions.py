"""Weekly summary subscriptions: which channel gets which summary, when, and whether this week's is owed.

A subscription is owed a post when its latest scheduled instant is later than `last_sent_at`. Claiming
moves `last_sent_at` to that instant with a conditional UPDATE (`… WHERE last_sent_at < :due`) and
checks the row count: on PostgreSQL a second instance's UPDATE waits for the first to commit and then
matches nothing; SQLite serialises writers (BEGIN IMMEDIATE). No lease or lock table is needed, the
same SQL runs on both, and however many weeks were missed a claim covers them with one post.
Claim in a transaction of its own and commit before posting, so the row lock is not held while sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from frameworks.schedule import latest_due
from frameworks.summary import Weighting
from storage.tables import ConversationReference, SummarySubscription

log = logging.getLogger(__name__)

_ACTIVE = col(SummarySubscription.active).is_(True)


@dataclass(frozen=True)
class SummaryClaim:
    """A post this instance now owns; on failure pass `previous_last_sent_at` to `release`."""

    subscription: SummarySubscription
    due_at: datetime
    """The scheduled instant being posted for (the latest one, after any downtime)."""
    previous_last_sent_at: datetime | None


def _target(
    conversation_reference_id: int,
    survey_id: int | None,
    partnership_id: int | None,
    framework_id: str | None,
) -> list[sa.ColumnElement[bool]]:
    return [
        col(SummarySubscription.conversation_reference_id) == conversation_reference_id,
        col(SummarySubscription.survey_id).is_not_distinct_from(survey_id),
        col(SummarySubscription.partnership_id).is_not_distinct_from(partnership_id),
        col(SummarySubscription.framework_id).is_not_distinct_from(framework_id),
    ]


async def subscribe(
    session: AsyncSession,
    *,
    conversation_reference_id: int,
    weekday: int,
    at: time,
    time_zone: str,
    now: datetime,
    survey_id: int | None = None,
    partnership_id: int | None = None,
    framework_id: str | None = None,
    created_by_id: int | None = None,
    weighting: Weighting | None = None,
) -> SummarySubscription:
    """Subscribe a conversation to a target's weekly summary, or move an existing subscription's day/time
    (and weighting: None follows the bot's setting).

    `last_sent_at` starts at `now`, so a week whose time has already passed is not posted.
    Raises ValueError for an unknown time zone, a weekday outside 0..6 or no target.
    """
    if survey_id is None and partnership_id is None:
        raise ValueError("a summary subscription needs a survey or a partnership")
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {time_zone!r}") from exc
    if session.get_bind().dialect.name == "postgresql":
        # Two people subscribing the same channel at once: serialise on the channel's row so the
        # second finds the first's subscription (SQLite's single writer does this already).
        await session.execute(
            sa.select(col(ConversationReference.id))
            .where(col(ConversationReference.id) == conversation_reference_id)
            .with_for_update()
        )
    existing = (
        await session.scalars(
            sa.select(SummarySubscription)
            .where(*_target(conversation_reference_id, survey_id, partnership_id, framework_id))
            .order_by(col(SummarySubscription.active).desc(), col(SummarySubscription.id))
            .limit(1)
            .execution_options(populate_existing=True)
        )
    ).first()
    subscription = existing or SummarySubscription(
        conversation_reference_id=conversation_reference_id,
        survey_id=survey_id,
        partnership_id=partnership_id,
        framework_id=framework_id,
        weekday=weekday,
        time_of_day=at,
        created_by_id=created_by_id,
        created_at=now,
    )
    subscription.weekday = weekday
    subscription.time_of_day = at.replace(tzinfo=None)
    subscription.time_zone = time_zone
    subscription.weighting = weighting.value if weighting is not None else None
    subscription.last_sent_at = now
    subscription.active = True
    session.add(subscription)
    await session.flush()
    return subscription


async def unsubscribe(
    session: AsyncSession,
    *,
    conversation_reference_id: int,
    survey_id: int | None = None,
    partnership_id: int | None = None,
    framework_id: str | None = None,
) -> bool:
    """Stop a conversation's summary of a target; False when it had none."""
    result = await session.execute(
        sa.update(SummarySubscription)
        .where(*_target(conversation_reference_id, survey_id, partnership_id, framework_id), _ACTIVE)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def subscriptions_for(
    session: AsyncSession, conversation_reference_id: int
) -> list[SummarySubscription]:
    """A conversation's active subscriptions, oldest first."""
    result = await session.scalars(
        sa.select(SummarySubscription)
        .where(col(SummarySubscription.conversation_reference_id) == conversation_reference_id, _ACTIVE)
        .order_by(col(SummarySubscription.id))
        .execution_options(populate_existing=True)
    )
    return list(result)


async def claim_due(session: AsyncSession, *, now: datetime) -> list[SummaryClaim]:
    """Claim every subscription owed a post at `now`; each is claimed by exactly one caller."""
    candidates = await session.scalars(
        sa.select(SummarySubscription)
        .where(_ACTIVE)
        .order_by(col(SummarySubscription.id))
        .execution_options(populate_existing=True)
    )
    claims: list[SummaryClaim] = []
    for subscription in list(candidates):
        try:
            tz = ZoneInfo(subscription.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("summary subscription %s has unknown time zone; skipped", subscription.id)
            continue
        due = latest_due(subscription.weekday, subscription.time_of_day, tz, now=now)
        previous = subscription.last_sent_at
        if previous is not None and previous >= due:
            continue
        result = await session.execute(
            sa.update(SummarySubscription)
            .where(
                col(SummarySubscription.id) == subscription.id,
                _ACTIVE,
                sa.or_(
                    col(SummarySubscription.last_sent_at).is_(None),
                    col(SummarySubscription.last_sent_at) < due,
                ),
            )
            .values(last_sent_at=due)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            set_committed_value(subscription, "last_sent_at", due)
            claims.append(SummaryClaim(subscription, due, previous))
    return claims


async def release(
    session: AsyncSession, subscription_id: int, previous_last_sent_at: datetime | None
) -> None:
    """Give back a claim whose post failed: the subscription is owed again at the next tick."""
    await session.execute(
        sa.update(SummarySubscription)
        .where(col(SummarySubscription.id) == subscription_id)
        .values(last_sent_at=previous_last_sent_at)
        .execution_options(synchronize_session=False)
    )
