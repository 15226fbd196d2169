"""The outbox on both databases: every message once, claimed by one sender at a time, never lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from storage.db import session_factory, transaction
from storage.migrate import downgrade, upgrade
from storage.outbox import (
    SKIPPED_NOTE,
    NewMessage,
    claim_due,
    enqueue,
    mark_failed,
    mark_retry,
    mark_sent,
    release,
    state_counts,
)
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import OutboxKind, OutboxMessage, OutboxState
from tests.conftest import Database
from tests.storage.test_answers_storage import MATRIX

LEASE = timedelta(minutes=2)


def _invites(count: int, survey: int = 1) -> list[NewMessage]:
    return [
        NewMessage(dedupe_key=f"invite:{survey}:{n}", kind=OutboxKind.INVITE, payload={"n": n})
        for n in range(count)
    ]


async def _claim(db: Database, worker: str, now: datetime, limit: int = 100) -> list[int]:
    async with transaction(db.sessions) as session:
        return [m.id or 0 for m in await claim_due(session, worker=worker, now=now, lease=LEASE, limit=limit)]


async def test_asking_twice_to_invite_someone_adds_one_message(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        person = await upsert_person(session, teams_user_id="29:amina", now=now)
        first = NewMessage(dedupe_key=f"invite:7:{person.id}", kind=OutboxKind.INVITE, person_id=person.id)
        assert await enqueue(session, [first, first], now=now) == 1
        assert await enqueue(session, [first], now=now) == 0
        assert (
            await session.execute(sa.select(sa.func.count()).select_from(OutboxMessage))
        ).scalar_one() == 1


async def test_a_claimed_message_is_not_given_to_another_sender_until_its_lease_ends(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await enqueue(session, _invites(3), now=now)
    mine = await _claim(database, "a", now, limit=2)
    assert len(mine) == 2
    theirs = await _claim(database, "b", now)
    assert len(theirs) == 1
    assert set(mine).isdisjoint(theirs)
    assert await _claim(database, "b", now + LEASE - timedelta(seconds=1)) == []
    assert sorted(await _claim(database, "b", now + LEASE)) == sorted(
        mine + theirs
    )  # a crashed sender's rows


async def test_two_instances_claiming_at_once_never_share_a_message(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await enqueue(session, _invites(300), now=now)
    engine = database.new_engine()
    try:
        other = session_factory(engine)

        async def drain(sessions, worker: str) -> list[int]:
            got: list[int] = []
            while True:
                async with transaction(sessions) as session:
                    batch = await claim_due(session, worker=worker, now=now, lease=LEASE, limit=7)
                    for message in batch:
                        await mark_sent(
                            session, message_id=message.id or 0, now=now, activity_id=f"{worker}-{message.id}"
                        )
                if not batch:
                    return got
                got += [m.id or 0 for m in batch]

        results = await asyncio.gather(
            drain(database.sessions, "a1"),
            drain(other, "b1"),
            drain(database.sessions, "a2"),
            drain(other, "b2"),
        )
    finally:
        await engine.dispose()
    everything = [i for worker in results for i in worker]
    assert len(everything) == 300
    assert len(set(everything)) == 300  # nothing twice
    async with transaction(database.sessions) as session:
        sent = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.SENT)
            )
        ).scalar_one()
    assert sent == 300


async def test_outcomes_retry_later_fail_for_good_or_count_as_sent(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        person = await upsert_person(session, teams_user_id="29:amina", now=now)
        survey = await create_survey(session, MATRIX, now=now)
        messages = [
            NewMessage(
                dedupe_key=f"invite:{survey.id}:{n}",
                kind=OutboxKind.INVITE,
                survey_id=survey.id,
                person_id=person.id,
            )
            for n in range(3)
        ]
        await enqueue(session, messages, now=now)
    sent, throttled, blocked = await _claim(database, "a", now)
    async with transaction(database.sessions) as session:
        await mark_sent(session, message_id=sent, now=now, activity_id="1:abc")
        await mark_retry(
            session, message_id=throttled, error="429 Too Many Requests", retry_at=now + timedelta(seconds=30)
        )
        await mark_failed(session, message_id=blocked, error="403 MessageWritesBlocked " + "x" * 1000)
    assert await _claim(database, "b", now + timedelta(seconds=29)) == []
    assert await _claim(database, "b", now + timedelta(seconds=30)) == [throttled]
    async with transaction(database.sessions) as session:
        rows = {m.id: m for m in (await session.execute(sa.select(OutboxMessage))).scalars()}
        counts = await state_counts(session, survey_id=survey.id or 0, kind=OutboxKind.INVITE)
    assert (rows[sent].state, rows[sent].activity_id, rows[sent].sent_at) == (OutboxState.SENT, "1:abc", now)
    assert (rows[throttled].state, rows[throttled].attempts) == (OutboxState.RETRYING, 1)
    assert rows[blocked].state == OutboxState.FAILED
    assert len(rows[blocked].last_error or "") == 500
    assert counts[OutboxState.SENT] == 1
    assert counts[OutboxState.FAILED] == 1


async def test_a_sender_shutting_down_hands_its_messages_back_at_once(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await enqueue(session, _invites(4), now=now)
    held = await _claim(database, "leaving", now)
    async with transaction(database.sessions) as session:
        await mark_sent(session, message_id=held[0], now=now, activity_id=None)
        assert await release(session, worker="leaving") == 3
    assert sorted(await _claim(database, "staying", now)) == sorted(held[1:])


async def test_migration_0013_fills_fanout_and_skipped_from_the_rows_already_there(
    database: Database,
) -> None:
    await downgrade(database.engine, "0012")
    before = sa.table(
        "outbox",
        *(
            sa.column(column.name, column.type)
            for column in OutboxMessage.__table__.columns  # type: ignore[attr-defined]
            if column.name not in ("fanout", "skipped")
        ),
    )
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    rows = {
        "in-fanout": {"payload": {"fanout": "invite:7"}, "state": "pending", "last_error": None},
        "skipped": {"payload": {"fanout": "invite:7"}, "state": "sent", "last_error": SKIPPED_NOTE},
        "sent": {"payload": {}, "state": "sent", "last_error": None, "activity_id": "a-1"},
    }
    async with transaction(database.sessions) as session:
        await session.execute(
            before.insert(),
            [
                {
                    "dedupe_key": key,
                    "kind": OutboxKind.INVITE,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "activity_id": None,
                    **values,
                }
                for key, values in rows.items()
            ],
        )
    await upgrade(database.engine)
    async with database.sessions() as session:
        found = (
            await session.execute(
                sa.select(OutboxMessage.dedupe_key, OutboxMessage.fanout, OutboxMessage.skipped)
            )
        ).all()
    assert sorted(found) == [
        ("in-fanout", "invite:7", False),
        ("sent", None, False),
        ("skipped", "invite:7", True),
    ]
