"""Weekly summaries: posted on the channel's day and local time, once per week, whatever the clocks do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frameworks.schedule import due_at, latest_due
from storage.conversations import save_reference
from storage.db import session_factory, transaction
from storage.subscriptions import claim_due, release, subscribe, subscriptions_for, unsubscribe
from storage.tables import Partnership
from tests.conftest import Database

LONDON = ZoneInfo("Europe/London")
MONDAY, SUNDAY = 0, 6
NINE = time(9, 0)
FRAMEWORK = "place-partnership-maturity"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- the schedule itself (pure) ---------------------------------------------------------------------


def test_a_time_skipped_when_clocks_go_forward_runs_when_the_clocks_reach_two() -> None:
    # 29 March 2026: 01:00 GMT becomes 02:00 BST, so 01:30 never happens; 02:00 BST is 01:00 UTC.
    assert due_at(SUNDAY, time(1, 30), LONDON, after=utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)
    assert due_at(SUNDAY, time(2, 30), LONDON, after=utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1, 30)
    assert due_at(SUNDAY, time(0, 59), LONDON, after=utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 0, 59)


def test_a_time_that_happens_twice_when_clocks_go_back_runs_the_first_time() -> None:
    # 25 October 2026: 01:30 happens in BST (00:30 UTC) and again in GMT (01:30 UTC).
    first = due_at(SUNDAY, time(1, 30), LONDON, after=utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0, 30)
    assert due_at(SUNDAY, time(1, 30), LONDON, after=first) == utc(2026, 11, 1, 1, 30)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 3, 22, 12), utc(2026, 3, 23, 9)),  # the Monday before the change: GMT
        (utc(2026, 3, 29, 12), utc(2026, 3, 30, 8)),  # the Monday after: BST
        (utc(2026, 10, 19, 12), utc(2026, 10, 26, 9)),  # back to GMT after 25 October
        (utc(2026, 3, 30, 8), utc(2026, 4, 6, 8)),  # strictly after: exactly on time means next week
    ],
)
def test_monday_nine_oclock_follows_london_time_across_the_year(after: datetime, expected: datetime) -> None:
    assert due_at(MONDAY, NINE, LONDON, after=after) == expected


def test_the_latest_due_instant_is_at_or_before_now() -> None:
    assert latest_due(MONDAY, NINE, LONDON, now=utc(2026, 3, 30, 8)) == utc(2026, 3, 30, 8)
    assert latest_due(MONDAY, NINE, LONDON, now=utc(2026, 3, 30, 7, 59)) == utc(2026, 3, 23, 9)
    assert latest_due(SUNDAY, time(1, 30), LONDON, now=utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 25, 0, 30)


# --- subscriptions in the database -------------------------------------------------------------------


async def _channel(db: Database, name: str, now: datetime) -> tuple[int, int]:
    """A channel the bot can post to and a partnership to summarise there."""
    async with transaction(db.sessions) as session:
        reference = await save_reference(
            session,
            conversation_id=f"19:{name}@thread.tacv2",
            service_url="https://smba.example/uk/",
            reference={"conversation": {"id": f"19:{name}@thread.tacv2"}},
            conversation_type="channel",
            now=now,
        )
        partnership = Partnership(name=f"{name} place", created_at=now)
        session.add(partnership)
        await session.flush()
        return reference, partnership.id or 0


async def _subscribe(
    db: Database, channel: tuple[int, int], now: datetime, weekday: int = MONDAY, at: time = NINE
) -> int:
    async with transaction(db.sessions) as session:
        subscription = await subscribe(
            session,
            conversation_reference_id=channel[0],
            partnership_id=channel[1],
            framework_id=FRAMEWORK,
            weekday=weekday,
            at=at,
            time_zone="Europe/London",
            now=now,
        )
        return subscription.id or 0


async def _claim(db: Database, now: datetime) -> list[tuple[int, datetime]]:
    async with transaction(db.sessions) as session:
        return [(c.subscription.id or 0, c.due_at) for c in await claim_due(session, now=now)]


@pytest.mark.parametrize(
    ("subscribed", "nine_in_london"),
    [(utc(2026, 1, 7, 12), utc(2026, 1, 12, 9)), (utc(2026, 6, 3, 12), utc(2026, 6, 8, 8))],
    ids=["winter", "summer"],
)
async def test_a_channel_is_owed_its_summary_from_monday_nine_london_time(
    database: Database, subscribed: datetime, nine_in_london: datetime
) -> None:
    channel = await _channel(database, "north", subscribed)
    subscription = await _subscribe(database, channel, subscribed)
    assert await _claim(database, nine_in_london - timedelta(seconds=1)) == []
    assert await _claim(database, nine_in_london) == [(subscription, nine_in_london)]
    assert await _claim(database, nine_in_london + timedelta(hours=1)) == []


async def test_subscribing_after_this_weeks_time_waits_for_next_week(database: Database) -> None:
    tuesday = utc(2026, 1, 13, 10)
    channel = await _channel(database, "north", tuesday)
    subscription = await _subscribe(database, channel, tuesday)
    assert await _claim(database, tuesday) == []
    assert await _claim(database, utc(2026, 1, 19, 9)) == [(subscription, utc(2026, 1, 19, 9))]


async def test_two_instances_claiming_at_once_post_each_summary_once(database: Database) -> None:
    subscribed = utc(2026, 1, 7, 12)
    ids = [
        await _subscribe(database, await _channel(database, f"c{n}", subscribed), subscribed)
        for n in range(20)
    ]
    monday = utc(2026, 1, 12, 9, 5)
    engine = database.new_engine()
    try:
        other = session_factory(engine)

        async def claim(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
            async with transaction(sessions) as session:
                return [c.subscription.id or 0 for c in await claim_due(session, now=monday)]

        mine, theirs = await asyncio.gather(claim(database.sessions), claim(other))
    finally:
        await engine.dispose()
    assert sorted(mine + theirs) == sorted(ids)
    assert await _claim(database, monday) == []


async def test_after_three_weeks_of_downtime_the_missed_summary_is_posted_once(database: Database) -> None:
    subscribed = utc(2026, 1, 7, 12)
    channel = await _channel(database, "north", subscribed)
    subscription = await _subscribe(database, channel, subscribed)
    back_up = utc(2026, 2, 3, 15)  # the Tuesday after three missed Mondays (12, 19, 26 Jan, 2 Feb)
    assert await _claim(database, back_up) == [(subscription, utc(2026, 2, 2, 9))]
    assert await _claim(database, back_up + timedelta(minutes=1)) == []
    assert await _claim(database, utc(2026, 2, 9, 9)) == [(subscription, utc(2026, 2, 9, 9))]


async def test_subscribing_again_moves_the_day_instead_of_adding_a_second_summary(
    database: Database, now: datetime
) -> None:
    channel = await _channel(database, "north", now)
    first = await _subscribe(database, channel, now)
    again = await _subscribe(database, channel, now, weekday=4, at=time(16, 30))
    async with transaction(database.sessions) as session:
        subscriptions = await subscriptions_for(session, channel[0])
    assert [(s.id, s.weekday, s.time_of_day) for s in subscriptions] == [(first, 4, time(16, 30))]
    assert again == first


async def test_unsubscribing_stops_the_summary_and_subscribing_again_revives_it(
    database: Database, now: datetime
) -> None:
    channel = await _channel(database, "north", now)
    first = await _subscribe(database, channel, now)
    async with transaction(database.sessions) as session:
        assert await unsubscribe(
            session, conversation_reference_id=channel[0], partnership_id=channel[1], framework_id=FRAMEWORK
        )
        assert not await unsubscribe(
            session, conversation_reference_id=channel[0], partnership_id=channel[1], framework_id=FRAMEWORK
        )
        assert await subscriptions_for(session, channel[0]) == []
    assert await _claim(database, now + timedelta(weeks=2)) == []
    assert await _subscribe(database, channel, now) == first


async def test_a_summary_that_failed_to_post_is_owed_again_once_released(database: Database) -> None:
    subscribed = utc(2026, 1, 7, 12)
    channel = await _channel(database, "north", subscribed)
    subscription = await _subscribe(database, channel, subscribed)
    monday = utc(2026, 1, 12, 9, 1)
    async with transaction(database.sessions) as session:
        [claim] = await claim_due(session, now=monday)
    assert claim.previous_last_sent_at == subscribed
    assert claim.subscription.last_sent_at == utc(2026, 1, 12, 9)
    async with transaction(database.sessions) as session:
        await release(session, subscription, claim.previous_last_sent_at)
    assert await _claim(database, monday + timedelta(minutes=1)) == [(subscription, utc(2026, 1, 12, 9))]
