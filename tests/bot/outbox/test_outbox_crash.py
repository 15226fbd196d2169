"""A bot instance killed in the middle of a fan-out, on SQLite and PostgreSQL.

The kill is a SIGKILL played out inside the test: at a chosen send the fake Bot Connector declares the
instance dead, from that moment its database connection commits nothing more (`Mortal`), none of its
requests reach Teams, and its task is cancelled. Then another instance, on an engine of its own,
finishes the fan-out. Nobody may be invited twice, except a person whose send Teams had accepted and
the dead instance had not yet recorded (no send can close that window: Teams has no idempotency key);
no 1:1 chat may be asked for twice unless Teams had created it and the dead instance had not yet
recorded the row (Teams answers the second request with the same chat); and what the dead instance
held is picked up within a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import OutboxSender, SenderConfig
from storage.db import session_factory
from storage.tables import ConversationReference as StoredReference
from storage.tables import OutboxKind, OutboxMessage, OutboxState, Person
from tests.bot.outbox.test_sender import (  # open_bot_connector: an autouse fixture
    FAST,
    LEADS_CHANNEL,
    SCALED,
    TITLE,
    SteppingClock,
    _fanout,
    _sender,
    open_bot_connector,  # noqa: F401
)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import ThrottlingConnector

MEMBERS = 40


class Killed(ConnectionResetError):
    """What the dead instance's database calls raise: its process is gone."""


class Mortal:
    """An instance's database engine that dies with it: after `kill`, no statement runs and no
    transaction commits, so whatever it had not committed is lost, as with SIGKILL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dead = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._check)
        event.listen(engine.sync_engine, "commit", self._check)

    def kill(self) -> None:
        self.dead = True

    def _check(self, *_args: Any) -> None:
        if self.dead:
            raise Killed("the instance was killed")


@dataclass
class CrashingConnector(ThrottlingConnector):
    """Teams, while the instance sending to it dies during its `crash_on_send`th send."""

    crash_on_send: int = 0
    delivered_before_crash: bool = False
    """Whether Teams had accepted that send when the instance died."""
    on_crash: Callable[[], None] = lambda: None
    down: bool = False
    """The dead instance's requests still on their way never reach Teams."""
    sends: int = 0
    arrivals_before_crash: int = 0
    crashed: asyncio.Event = field(default_factory=asyncio.Event)

    def revive(self) -> None:
        """Another instance takes over: its requests are served again."""
        self.down = False

    async def _create(self, request: web.Request) -> web.Response:
        if self.down:
            return _lost()
        return await super()._create(request)

    async def _send(self, request: web.Request) -> web.Response:
        if self.down:
            return _lost()
        self.sends += 1
        if self.sends != self.crash_on_send:
            return await super()._send(request)
        answer = await super()._send(request) if self.delivered_before_crash else _lost()
        self.down = True
        self.arrivals_before_crash = len(self.arrivals)
        self.on_crash()
        self.crashed.set()
        return answer


def _lost() -> web.Response:
    return web.json_response({"error": {"code": "ServiceUnavailable", "message": "gone"}}, status=503)


@pytest.fixture
async def connector() -> AsyncIterator[CrashingConnector]:
    connector = CrashingConnector(limits=SCALED)
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()


@dataclass
class Aftermath:
    """What the dead instance left, read once it has stopped."""

    held: list[OutboxMessage]
    """Rows it had claimed and not finished."""
    held_for: set[str]
    """Whom those rows were for."""
    unrecorded_sends: set[str]
    """People Teams had accepted a send for that the dead instance had not recorded."""
    unstored_chats: set[str]
    """People Teams had created a 1:1 chat for that the dead instance had not stored."""


async def _kill_during_fanout(
    database: Database,
    connector: CrashingConnector,
    *,
    config: SenderConfig,
    crash_on_send: int,
    delivered: bool,
) -> tuple[list[str], Aftermath]:
    fanout = await _fanout(database, connector, members=MEMBERS)
    engine = database.new_engine()
    mortal = Mortal(engine)
    dead = _sender(session_factory(engine), SCALED, config=config, worker="dead")
    running = asyncio.create_task(dead.run(asyncio.Event()))

    def crash() -> None:
        mortal.kill()
        running.cancel()

    connector.crash_on_send = crash_on_send
    connector.delivered_before_crash = delivered
    connector.on_crash = crash
    try:
        await connector.crashed.wait()
        with pytest.raises(asyncio.CancelledError):
            await running
    finally:
        await engine.dispose()

    async with database.sessions() as session:
        users = dict((await session.execute(sa.select(Person.id, Person.teams_user_id))).all())
        rows = list(
            await session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.INVITE))
        )
        chats = set(
            await session.scalars(
                sa.select(StoredReference.person_id).where(StoredReference.conversation_type == "personal")
            )
        )
    sent = {users[row.person_id] for row in rows if row.state == OutboxState.SENT}
    before = connector.arrivals[: connector.arrivals_before_crash]
    accepted = {a.user for a in before if a.kind == "send" and a.status == 200 and a.user}
    created = {a.user for a in before if a.kind == "create" and a.status == 200 and a.user}
    stored = {users[person_id] for person_id in chats}
    held = [row for row in rows if row.claimed_by == "dead" and row.state != OutboxState.SENT]
    held_for = {users[row.person_id] for row in held}
    return fanout.users, Aftermath(held, held_for, accepted - sent, created - stored)


@asynccontextmanager
async def _survivor(
    database: Database, connector: CrashingConnector, clock: SteppingClock
) -> AsyncIterator[OutboxSender]:
    """Another instance on an engine of its own, taking over once the dead one is gone."""
    connector.revive()
    engine = database.new_engine()
    try:
        yield _sender(session_factory(engine), SCALED, clock=clock, worker="survivor")
    finally:
        await engine.dispose()


async def _drain(sender: OutboxSender) -> None:
    """Send everything this instance can claim now."""
    while await sender.drain_once():
        pass


def _creates(connector: ThrottlingConnector) -> Counter[str]:
    return Counter(a.user for a in connector.arrivals if a.kind == "create" and a.status == 200 and a.user)


async def test_an_instance_killed_between_creating_a_chat_and_sending_leaves_no_duplicate_and_the_same_chat(
    database: Database, connector: CrashingConnector
) -> None:
    """The new chat is stored with the row's outcome, one commit per invitation: the dead instance
    never got there, so the survivor asks Teams for the chat again and is given the same one."""
    users, left = await _kill_during_fanout(
        database, connector, config=replace(FAST, concurrency=1), crash_on_send=12, delivered=False
    )
    victim = users[11]
    assert victim in left.held_for
    assert left.unrecorded_sends == set()
    assert left.unstored_chats == {victim}
    victims_chat = connector.personal_id(victim)
    clock = SteppingClock()
    async with _survivor(database, connector, clock) as survivor:
        await _drain(survivor)
        assert connector.deliveries[victim] == 0  # still leased to the dead instance: it might be slow
        leases = [row.claimed_until for row in left.held]
        assert all(until is not None and until <= FIXED_NOW + timedelta(minutes=1) for until in leases)

        clock.advance_to(FIXED_NOW + timedelta(minutes=1))
        await _drain(survivor)

    assert {u: connector.deliveries[u] for u in users if connector.deliveries[u] != 1} == {}
    assert {u: n for u, n in _creates(connector).items() if n != 1} == {victim: 2}
    async with database.sessions() as session:
        stored = await session.scalars(
            sa.select(StoredReference.conversation_id)
            .join(Person, Person.id == StoredReference.person_id)  # type: ignore[arg-type]
            .where(Person.teams_user_id == victim)
        )
        assert list(stored) == [victims_chat]  # one chat for the victim, the one Teams had made
    assert connector.texts_to(LEADS_CHANNEL) == [f"Invitations for “{TITLE}”: sent {MEMBERS}, none failed."]


async def test_an_instance_killed_after_teams_accepted_a_send_duplicates_only_that_one(
    database: Database, connector: CrashingConnector
) -> None:
    users, left = await _kill_during_fanout(
        database, connector, config=replace(FAST, concurrency=1), crash_on_send=12, delivered=True
    )
    victim = users[11]
    assert left.unrecorded_sends == {victim}  # the inherent window: accepted, not yet recorded
    clock = SteppingClock()
    async with _survivor(database, connector, clock) as survivor:
        await _drain(survivor)
        clock.advance_to(FIXED_NOW + timedelta(minutes=1))
        await _drain(survivor)

    assert {u: connector.deliveries[u] for u in users if connector.deliveries[u] != 1} == {victim: 2}
    assert {u: n for u, n in _creates(connector).items() if n != 1} == {victim: 2}  # Teams' same chat
    assert connector.texts_to(LEADS_CHANNEL) == [f"Invitations for “{TITLE}”: sent {MEMBERS}, none failed."]


async def test_an_instance_killed_mid_batch_with_sends_in_flight_duplicates_only_what_teams_had_accepted(
    database: Database, connector: CrashingConnector
) -> None:
    users, left = await _kill_during_fanout(
        database, connector, config=FAST, crash_on_send=20, delivered=True
    )
    assert left.held  # it died holding rows
    clock = SteppingClock()
    async with _survivor(database, connector, clock) as survivor:
        await _drain(survivor)
        clock.advance_to(FIXED_NOW + timedelta(minutes=1))
        await _drain(survivor)

    twice = {u for u in users if connector.deliveries[u] == 2}
    assert all(connector.deliveries[u] in (1, 2) for u in users)
    # Every send Teams had accepted by the crash and the dead instance had not recorded goes out again;
    # so may one still on its way at that moment (Teams accepts it just after), but only a row the dead
    # instance held unfinished, and never more than it had in flight.
    assert left.unrecorded_sends <= twice <= left.held_for
    assert len(twice) <= FAST.concurrency
    assert left.unstored_chats <= {u for u, n in _creates(connector).items() if n > 1} <= left.held_for
    assert connector.texts_to(LEADS_CHANNEL) == [f"Invitations for “{TITLE}”: sent {MEMBERS}, none failed."]


@dataclass
class HoldingConnector(ThrottlingConnector):
    """Teams taking its time over the first send, until the test lets it answer."""

    holding: asyncio.Event = field(default_factory=asyncio.Event)
    answer: asyncio.Event = field(default_factory=asyncio.Event)

    async def _send(self, request: web.Request) -> web.Response:
        if not self.holding.is_set():
            self.holding.set()
            await self.answer.wait()
        return await super()._send(request)


async def test_a_sender_held_up_by_a_slow_send_keeps_its_rows_by_renewing_their_lease(
    database: Database,
) -> None:
    connector = HoldingConnector(limits=SCALED)
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    fanout = await _fanout(database, connector, members=10)
    clock = SteppingClock()
    slow = _sender(
        database.sessions, SCALED, config=replace(FAST, concurrency=1, request_timeout=5), clock=clock
    )
    engine = database.new_engine()
    try:
        sending = asyncio.create_task(slow.drain_once())
        await connector.holding.wait()
        clock.advance_to(FIXED_NOW + timedelta(seconds=40))
        assert await slow.renew_leases() == 10  # one statement for every row in hand

        other = _sender(
            session_factory(engine), SCALED, clock=SteppingClock(FIXED_NOW + timedelta(seconds=80))
        )
        assert await other.drain_once() == 0  # past the first lease, but renewed: none is taken
        connector.answer.set()
        assert await sending == 10
    finally:
        await engine.dispose()
        await server.close()

    assert [connector.deliveries[u] for u in fanout.users] == [1] * 10


def test_a_crash_holds_rows_back_for_at_most_a_minute() -> None:
    config = SenderConfig()
    assert config.lease <= timedelta(minutes=1)
    assert timedelta(seconds=config.heartbeat) * 3 <= config.lease  # renewed well before it runs out


async def test_a_sender_stopping_after_its_idle_connection_was_killed_still_gives_its_rows_back(
    database: Database, connector: CrashingConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """A failover while the bot idled leaves a dead connection in the pool; the release at shutdown
    takes a fresh one instead of leaving the rows to their lease with an ERROR and a traceback."""
    if database.kind != "postgresql":
        pytest.skip("kills a PostgreSQL backend")
    await _fanout(database, connector, members=3)
    async with database.sessions() as session, session.begin():
        await session.execute(
            sa.update(OutboxMessage).values(
                claimed_by="stopping", claimed_until=FIXED_NOW + timedelta(hours=1)
            )
        )
    engine = database.new_engine()
    try:
        sender = _sender(session_factory(engine), SCALED, worker="stopping")
        async with engine.connect() as idle:  # the engine's one pooled connection
            pid = (await idle.get_raw_connection()).driver_connection.get_server_pid()
        killer = database.new_engine()
        try:
            async with killer.connect() as connection:
                assert await connection.scalar(
                    sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                )
        finally:
            await killer.dispose()
        caplog.clear()
        await sender.shutdown()
    finally:
        await engine.dispose()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    async with database.sessions() as session:
        held = await session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.claimed_by.is_not(None))
        )
    assert held == 0
