"""The fan-out sender against a throttling fake Bot Connector on 127.0.0.1, on SQLite and PostgreSQL.

Invitations go out at most at Teams' rates, each once, failures are recorded with their reason, and
the lead hears exactly once how it went. Tests whose assertions are about time run on a virtual
clock (the limiter's sleep moves it); the rest use the real clock with limits scaled up, and move the
sender's wall clock to the next retry instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, ConversationReference
from jsonschema import Draft6Validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import (
    OutboxSender,
    RateLimiter,
    RateLimits,
    SenderConfig,
    Window,
    backoff_seconds,
    parse_retry_after,
    report_text,
)
from bot.teams.connector import BotConnector
from bot.teams.proactive import TeamsProactive
from storage.conversations import save_reference
from storage.db import session_factory, transaction
from storage.invitations import invite
from storage.migrate import downgrade, upgrade
from storage.outbox import SKIPPED_NOTE, NewMessage, claim_due, enqueue, next_due
from storage.surveys import create_survey
from storage.tables import ConversationReference as StoredReference
from storage.tables import Invitation, OutboxKind, OutboxMessage, OutboxState, Person
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_lead_commands import CHANNEL_ID, MEMBERS, Channel, _card_data, _client, _post
from tests.fakes.connector import (
    FakeConnector,
    Fault,
    ThrottlingConnector,
    throttling_connector,
    window_violations,
)
from tests.storage.test_answers_storage import MATRIX

TENANT = "t1"
TITLE = "Place maturity 2026"
LEADS_CHANNEL = "19:leads@thread.tacv2"
FAST = SenderConfig(concurrency=8, batch=32, backoff_base=0.01, backoff_cap=0.05, request_timeout=5.0)
"""Real-clock tests: retries a few milliseconds apart. The request timeout is generous: on a busy
machine a send the connector received but answered after the client gave up is sent again (at least
once, as with Teams), which would read as a duplicate."""
HELD_SEND_TIMEOUT = replace(FAST, request_timeout=2.5)
"""For a test whose connector holds one send for five seconds: the client gives up on it first."""


# Clocks ---------------------------------------------------------------------------------------------


@dataclass
class SteppingClock:
    """The sender's wall clock, moved on by the test to the next retry instead of waiting for it."""

    at: datetime = FIXED_NOW

    def __call__(self) -> datetime:
        return self.at

    def advance_to(self, when: datetime) -> None:
        self.at = max(self.at, when)


@dataclass
class VirtualTime:
    """One timeline for the limiter, the sender and the fake connector: sleeping moves it at once."""

    seconds: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return FIXED_NOW + timedelta(seconds=self.seconds)

    def advance_to(self, when: datetime) -> None:
        self.seconds = max(self.seconds, (when - FIXED_NOW).total_seconds())

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.seconds += max(seconds, 0.0)
        await asyncio.sleep(0)


# Set-up ---------------------------------------------------------------------------------------------


@dataclass
class Fanout:
    survey_id: int
    key: str
    users: list[str]
    """Teams user ids, in the order their rows were added."""
    lead_reference_id: int


def _user(index: int) -> str:
    return f"29:member-{index}"


def _invitation(text: str = f"You are invited to answer “{TITLE}”.") -> dict[str, Any]:
    return Activity(type="message", text=text).serialize()


async def _fanout(
    db: Database, connector: ThrottlingConnector, *, members: int, known: int = 0, first: int = 0
) -> Fanout:
    """A survey, the leads' channel, `members` people invited (the first `known` already chat with
    the bot) and one outbox row each, as the invite command would leave them."""
    users = [_user(first + i) for i in range(members)]
    connector.add_conversation(LEADS_CHANNEL)
    async with transaction(db.sessions) as session:
        survey = await create_survey(session, MATRIX, now=FIXED_NOW, title=TITLE)
        lead = await save_reference(
            session,
            conversation_id=LEADS_CHANNEL,
            service_url=connector.url,
            reference=_reference(LEADS_CHANNEL, connector.url, "channel").serialize(),
            conversation_type="channel",
            tenant_id=TENANT,
            now=FIXED_NOW,
        )
        await session.execute(
            sa.insert(Person).values(
                [
                    {
                        "teams_user_id": u,
                        "tenant_id": TENANT,
                        "created_at": FIXED_NOW,
                        "updated_at": FIXED_NOW,
                    }
                    for u in users
                ]
            )
        )
        ids = dict(
            (
                await session.execute(
                    sa.select(Person.teams_user_id, Person.id).where(Person.teams_user_id.in_(users))
                )
            ).all()  # type: ignore[attr-defined]
        )
        for user in users[:known]:
            chat = connector.personal_id(user)
            connector.add_conversation(chat, user)
            await save_reference(
                session,
                conversation_id=chat,
                service_url=connector.url,
                reference=_reference(chat, connector.url, "personal", user).serialize(),
                conversation_type="personal",
                tenant_id=TENANT,
                person_id=ids[user],
                now=FIXED_NOW,
            )
        key = f"invite:{survey.id}"
        await enqueue(
            session,
            [
                NewMessage(
                    dedupe_key=f"{key}:{ids[user]}",
                    kind=OutboxKind.INVITE,
                    survey_id=survey.id,
                    person_id=ids[user],
                    payload={
                        "service_url": connector.url,
                        "tenant_id": TENANT,
                        "fanout": key,
                        "report_to": lead,
                        "activity": _invitation(),
                    },
                )
                for user in users
            ],
            now=FIXED_NOW,
        )
    return Fanout(survey.id or 0, key, users, lead)


def _reference(
    conversation_id: str, service_url: str, kind: str, user: str | None = None
) -> ConversationReference:
    return ConversationReference(
        channel_id="msteams",
        service_url=service_url,
        bot=ChannelAccount(id="28:bot"),
        user=ChannelAccount(id=user) if user else None,
        conversation=ConversationAccount(id=conversation_id, conversation_type=kind, tenant_id=TENANT),
    )


BOT_CONNECTOR = BotConnector()
"""The senders' Bot Connector client (local mode: no token), open during every test of a module that
imports `open_bot_connector`."""


@pytest.fixture(autouse=True)
async def open_bot_connector() -> AsyncIterator[None]:
    async with BOT_CONNECTOR.open():
        yield


def _sender(
    sessions: async_sessionmaker[AsyncSession],
    limits: RateLimits,
    *,
    config: SenderConfig = FAST,
    clock: Any = None,
    time: VirtualTime | None = None,
    worker: str | None = None,
    **options: Any,
) -> OutboxSender:
    limiter = (
        RateLimiter(limits, clock=time.monotonic, sleep=time.sleep)
        if time is not None
        else RateLimiter(limits)
    )
    return OutboxSender(
        sessions,
        TeamsProactive(BOT_CONNECTOR),
        limiter=limiter,
        config=config,
        clock=clock or (time.now if time is not None else SteppingClock()),
        sleep=time.sleep if time is not None else asyncio.sleep,
        worker=worker,
        **options,
    )


async def _settle(
    sender: OutboxSender, sessions: async_sessionmaker[AsyncSession], clock: Any, *others: OutboxSender
) -> None:
    """Run the senders (together) until nothing is left to send, moving their shared clock to each
    retry's time. Bounded, so that a row that never becomes due fails the test instead of hanging it."""
    for _ in range(10_000):
        if any(await asyncio.gather(sender.drain_once(), *(other.drain_once() for other in others))):
            continue
        async with sessions() as session:
            due = await next_due(session)
        if due is None:
            return
        if due <= clock():
            async with sessions() as session:
                held = await session.scalar(sa.select(sa.func.max(OutboxMessage.claimed_until)))
            assert held is not None, f"a row due at {due} is never claimed"
            assert held > clock(), f"a row due at {due} is never claimed"
            due = held
        clock.advance_to(due)
    raise AssertionError("the outbox never settled")


async def _rows(db: Database, kind: OutboxKind = OutboxKind.INVITE) -> list[OutboxMessage]:
    async with db.sessions() as session:
        return list(await session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)))


async def _row_of(db: Database, fanout: Fanout, user: str) -> OutboxMessage:
    async with db.sessions() as session:
        person_id = await session.scalar(sa.select(Person.id).where(Person.teams_user_id == user))
        row = await session.scalar(sa.select(OutboxMessage).where(OutboxMessage.person_id == person_id))
    assert row is not None
    return row


# Fan-out --------------------------------------------------------------------------------------------

SCALED = RateLimits(
    per_thread=(Window(7, 1), Window(8, 2), Window(60, 30)),
    per_tenant=(Window(40, 0.1), Window(300, 1)),
    margin=0,
)
"""Teams' per-thread windows; the tenant's allowance scaled up so that a thousand invitations take
seconds, with a tenth-of-a-second window that bursts run into."""


@pytest.fixture
async def connector() -> AsyncIterator[ThrottlingConnector]:
    async with throttling_connector(limits=SCALED) as fake:
        yield fake


@pytest.mark.slow
async def test_a_thousand_member_fanout_invites_everyone_reachable_once_within_the_limits(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=1000, known=200)
    users = fanout.users
    blocked_on_create, blocked_on_send, left, flaky, slow, gateway = (
        users[i] for i in (500, 600, 700, 800, 900, 100)
    )
    connector.fail(blocked_on_create, Fault(403, code="MessageWritesBlocked", on="create"))
    connector.fail(blocked_on_send, Fault(403, code="MessageWritesBlocked", on="send"))
    connector.fail(left, Fault(404, code="NotFound", on="create"))
    connector.fail(flaky, Fault(500, times=2, on="send"))
    connector.fail(slow, Fault(504, times=1, on="send", hold=5.0))
    connector.fail(gateway, Fault(502, times=1, page="<html>Bad gateway</html>"))
    clock = SteppingClock()
    sender = _sender(
        database.sessions,
        RateLimits(SCALED.per_thread, SCALED.per_tenant, margin=0.03),
        clock=clock,
        config=HELD_SEND_TIMEOUT,
    )

    await _settle(sender, database.sessions, clock)

    unreachable = {blocked_on_create, blocked_on_send, left}
    assert connector.violations() == []
    assert connector.throttled == []
    assert {u: n for u, n in connector.deliveries.items() if n != 1 and u != LEADS_CHANNEL} == {}
    assert set(connector.deliveries) - {LEADS_CHANNEL} == set(users) - unreachable
    rows = {row.dedupe_key: row for row in await _rows(database)}
    assert sum(row.state == OutboxState.SENT for row in rows.values()) == 997
    failed = sorted(row.last_error or "" for row in rows.values() if row.state == OutboxState.FAILED)
    assert failed == [
        "blocked: 403 MessageWritesBlocked",
        "blocked: 403 MessageWritesBlocked",
        "gone: 404 NotFound",
    ]
    assert (await _row_of(database, fanout, flaky)).attempts == 2
    assert (await _row_of(database, fanout, slow)).attempts == 1
    assert (await _row_of(database, fanout, gateway)).attempts == 1
    creates = [a for a in connector.arrivals if a.kind == "create"]
    assert len(creates) == 800  # the 200 who already chat with the bot are continued, not created
    assert connector.texts_to(LEADS_CHANNEL) == [
        f"Invitations for “{TITLE}”: sent 997, 3 failed (2 have blocked the bot, 1 left the organisation)."
    ]
    async with database.sessions() as session:
        chats = await session.scalar(
            sa.select(sa.func.count())
            .select_from(StoredReference)
            .where(StoredReference.conversation_type == "personal")
        )
    assert chats == 1000 - 2  # everyone created a chat for but the two Teams refused to create one for


async def test_a_retried_invitation_continues_the_chat_created_the_first_time(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=1)
    (user,) = fanout.users
    connector.fail(user, Fault(503, times=1, on="send"))
    clock = SteppingClock()
    sender = _sender(database.sessions, SCALED, clock=clock)

    await _settle(sender, database.sessions, clock)

    assert [a.kind for a in connector.arrivals if a.user == user] == ["create", "send", "send"]
    assert connector.deliveries[user] == 1
    row = await _row_of(database, fanout, user)
    assert (row.state, row.attempts, row.activity_id) == (OutboxState.SENT, 1, "activity-1")


async def test_a_person_who_already_chats_with_the_bot_is_messaged_in_that_chat(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=3, known=3)
    clock = SteppingClock()
    await _settle(_sender(database.sessions, SCALED, clock=clock), database.sessions, clock)

    assert connector.count("create") == 0
    assert {a["_conversation_id"] for a in connector.activities} >= {
        connector.personal_id(u) for u in fanout.users
    }
    assert all(a["_reply_to"] is None for a in connector.activities)  # new messages, not replies
    assert all(connector.deliveries[u] == 1 for u in fanout.users)


async def test_teams_throttling_pauses_every_send_until_retry_after_and_costs_no_attempt(
    database: Database,
) -> None:
    time = VirtualTime()
    async with throttling_connector(limits=RateLimits(margin=0), clock=time.monotonic) as connector:
        fanout = await _fanout(database, connector, members=6)
        throttled_user = fanout.users[2]
        connector.fail(throttled_user, Fault(429, times=1, on="send", retry_after="30", code="Throttled"))
        sender = _sender(
            database.sessions, RateLimits(margin=0), config=SenderConfig(concurrency=1), time=time
        )

        await _settle(sender, database.sessions, time)

    (refused,) = [a for a in connector.arrivals if a.status == 429]
    later = connector.arrivals[connector.arrivals.index(refused) + 1 :]
    assert len(later) == 8  # three more invitations (create and send each), the retried send, the report
    assert all(a.at >= refused.at + 30 for a in later)
    assert connector.deliveries[throttled_user] == 1
    row = await _row_of(database, fanout, throttled_user)
    assert (row.state, row.attempts) == (OutboxState.SENT, 0)


async def test_messages_to_one_chat_keep_to_every_per_thread_window(database: Database) -> None:
    time = VirtualTime()
    limits = RateLimits(margin=0)
    async with throttling_connector(limits=limits, clock=time.monotonic) as connector:
        fanout = await _fanout(database, connector, members=1, known=1)
        (user,) = fanout.users
        async with transaction(database.sessions) as session:
            person_id = await session.scalar(sa.select(Person.id).where(Person.teams_user_id == user))
            await enqueue(
                session,
                [
                    NewMessage(
                        dedupe_key=f"note:{n}",
                        kind="note",
                        person_id=person_id,
                        payload={"activity": _invitation(f"Note {n}")},
                    )
                    for n in range(70)
                ],
                now=FIXED_NOW,
            )
        sender = _sender(
            database.sessions, limits, config=SenderConfig(concurrency=1, max_wait=60), time=time
        )

        await _settle(sender, database.sessions, time)

    sends = [a.at for a in connector.arrivals if a.thread == connector.personal_id(user)]
    assert len(sends) == 71
    assert window_violations(sends, limits.per_thread, user) == []
    assert connector.throttled == []
    assert sum(1 for at in sends if at < 30) == 60  # as fast as the 60-per-30-seconds window allows
    assert min(at for at in sends if at >= 30) == 30


async def test_a_thread_held_back_longer_than_max_wait_goes_back_to_the_outbox(database: Database) -> None:
    time = VirtualTime()
    limits = RateLimits(per_thread=(Window(1, 3600),), margin=0)
    async with throttling_connector(limits=limits, clock=time.monotonic) as connector:
        fanout = await _fanout(database, connector, members=1, known=1)
        async with transaction(database.sessions) as session:
            person_id = await session.scalar(
                sa.select(Person.id).where(Person.teams_user_id == fanout.users[0])
            )
            await enqueue(
                session,
                [
                    NewMessage(
                        dedupe_key="note:1",
                        kind="note",
                        person_id=person_id,
                        payload={"activity": _invitation("Note")},
                    )
                ],
                now=FIXED_NOW,
            )
        sender = _sender(
            database.sessions, limits, config=SenderConfig(concurrency=1, max_wait=60), time=time
        )
        while await sender.drain_once():
            pass

    assert connector.deliveries[fanout.users[0]] == 1
    (note,) = await _rows(database, "note")
    assert note.state == OutboxState.RETRYING
    assert note.attempts == 0
    assert note.next_attempt_at == FIXED_NOW + timedelta(seconds=3600)
    assert time.slept == []  # it did not hold a slot for an hour


# Crashes and concurrency ----------------------------------------------------------------------------


async def test_a_sender_killed_mid_fanout_leaves_the_rest_to_the_next_one_and_nothing_twice(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=200)
    first = _sender(database.sessions, SCALED, worker="first")
    running = asyncio.create_task(first.run(asyncio.Event()))
    await connector.wait_for_deliveries(60)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    delivered_by_first = connector.deliveries.total()
    assert delivered_by_first < 200

    engine = database.new_engine()
    try:
        clock = SteppingClock()
        second = _sender(session_factory(engine), SCALED, worker="second", clock=clock)
        await _settle(second, session_factory(engine), clock)
    finally:
        await engine.dispose()

    assert all(connector.deliveries[u] == 1 for u in fanout.users)
    rows = await _rows(database)
    assert all(row.state == OutboxState.SENT and row.claimed_by is None for row in rows)
    assert connector.texts_to(LEADS_CHANNEL) == [f"Invitations for “{TITLE}”: sent 200, none failed."]


async def test_rows_claimed_by_a_sender_that_died_are_sent_when_the_lease_ends(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=20)
    async with transaction(database.sessions) as session:
        await claim_due(session, worker="died", now=FIXED_NOW, lease=timedelta(minutes=5), limit=8)
    clock = SteppingClock()
    sender = _sender(database.sessions, SCALED, clock=clock)

    while await sender.drain_once():
        pass
    assert connector.deliveries.total() == 12  # the dead sender's rows wait for their lease
    clock.advance_to(FIXED_NOW + timedelta(minutes=5))
    await _settle(sender, database.sessions, clock)

    assert all(connector.deliveries[u] == 1 for u in fanout.users)


async def test_two_senders_on_two_engines_never_send_the_same_invitation(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=200)
    share = SCALED.split(2)
    engine = database.new_engine()
    try:
        other = session_factory(engine)
        clock = SteppingClock()
        one = _sender(database.sessions, share, worker="one", clock=clock)
        two = _sender(other, share, worker="two", clock=clock)
        await _settle(one, database.sessions, clock, two)
    finally:
        await engine.dispose()

    assert {u: connector.deliveries[u] for u in fanout.users if connector.deliveries[u] != 1} == {}
    assert connector.deliveries[LEADS_CHANNEL] == 1
    assert connector.violations() == []
    senders = {row.claimed_by for row in await _rows(database)}
    assert senders == {None}


# The lead's report ----------------------------------------------------------------------------------


async def test_the_lead_hears_once_how_the_invitations_went(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=8)
    connector.fail(fanout.users[1], Fault(403, code="MessageWritesBlocked"))
    connector.fail(fanout.users[4], Fault(403, code="ConversationBlockedByUser", on="send"))
    connector.fail(fanout.users[6], Fault(404, code="NotFound"))
    engine = database.new_engine()
    try:
        other = session_factory(engine)
        clock = SteppingClock()
        config = SenderConfig(concurrency=1, batch=1)
        one = _sender(database.sessions, SCALED, config=config, clock=clock)
        two = _sender(other, SCALED, config=config, clock=clock)
        await _settle(one, database.sessions, clock, two)
        await _settle(one, database.sessions, clock)  # a later pass adds nothing
    finally:
        await engine.dispose()

    assert connector.texts_to(LEADS_CHANNEL) == [
        f"Invitations for “{TITLE}”: sent 5, 3 failed (2 have blocked the bot, 1 left the organisation)."
    ]
    (report,) = await _rows(database, OutboxKind.FANOUT_REPORT)
    assert report.state == OutboxState.SENT
    assert report.dedupe_key == f"report:{fanout.key}"


def test_the_report_names_no_one_and_groups_the_reasons() -> None:
    assert (
        report_text("Invitations", TITLE, sent=412, skipped=0, failures=Counter({"blocked": 2, "gone": 1}))
        == f"Invitations for “{TITLE}”: sent 412, 3 failed (2 have blocked the bot, 1 left the organisation)."
    )
    assert (
        report_text("Reminders", TITLE, sent=9, skipped=2, failures=Counter({"unreachable": 1}))
        == f"Reminders for “{TITLE}”: sent 9, 2 no longer needed, 1 failed (1 could not be reached)."
    )


# Outcomes -------------------------------------------------------------------------------------------


async def test_an_invitation_teams_keeps_failing_is_given_up_after_the_attempt_limit(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=2)
    connector.fail(fanout.users[0], Fault(500, on="send"))
    clock = SteppingClock()
    config = SenderConfig(max_attempts=4, backoff_base=1, backoff_cap=60, request_timeout=0.5)

    await _settle(_sender(database.sessions, SCALED, config=config, clock=clock), database.sessions, clock)

    row = await _row_of(database, fanout, fanout.users[0])
    assert row.state == OutboxState.FAILED
    assert row.last_error == "unreachable: 4 attempts, last transient: 500 Error"
    assert sum(1 for a in connector.arrivals if a.user == fanout.users[0] and a.kind == "send") == 4
    assert connector.texts_to(LEADS_CHANNEL) == [
        f"Invitations for “{TITLE}”: sent 1, 1 failed (1 could not be reached)."
    ]


async def test_nothing_is_sent_for_an_invitation_no_longer_needed(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=3)
    finished = fanout.users[1]

    async def compose(session: AsyncSession, message: OutboxMessage) -> Activity | None:
        person = await session.get(Person, message.person_id)
        if person is None or person.teams_user_id == finished:
            return None
        return Activity(type="message", text=f"Hello {person.teams_user_id}")

    clock = SteppingClock()
    await _settle(_sender(database.sessions, SCALED, fallback=compose, clock=clock), database.sessions, clock)

    assert finished not in connector.deliveries
    assert sorted(a["text"] for a in connector.activities if a["_conversation_id"] != LEADS_CHANNEL) == [
        f"Hello {fanout.users[0]}",
        f"Hello {fanout.users[2]}",
    ]
    row = await _row_of(database, fanout, finished)
    assert (row.state, row.activity_id, row.last_error) == (OutboxState.SENT, None, SKIPPED_NOTE)
    assert connector.texts_to(LEADS_CHANNEL) == [
        f"Invitations for “{TITLE}”: sent 2, 1 no longer needed, none failed."
    ]


async def test_an_invitation_with_nowhere_to_go_fails_without_a_request(
    database: Database, connector: ThrottlingConnector
) -> None:
    async with transaction(database.sessions) as session:
        session.add(Person(teams_user_id="29:nowhere", created_at=FIXED_NOW, updated_at=FIXED_NOW))
        await session.flush()
        person_id = await session.scalar(sa.select(Person.id).where(Person.teams_user_id == "29:nowhere"))
        await enqueue(
            session,
            [
                NewMessage(
                    dedupe_key="invite:x:1",
                    kind=OutboxKind.INVITE,
                    person_id=person_id,
                    payload={"activity": _invitation()},
                )
            ],
            now=FIXED_NOW,
        )
    clock = SteppingClock()
    await _settle(_sender(database.sessions, SCALED, clock=clock), database.sessions, clock)

    (row,) = await _rows(database)
    assert (row.state, row.last_error) == (OutboxState.FAILED, "no-address: no conversation or service URL")
    assert connector.arrivals == []


async def test_a_stopped_sender_finishes_what_it_sent_and_gives_back_the_rest(
    database: Database, connector: ThrottlingConnector
) -> None:
    await _fanout(database, connector, members=200)
    stop = asyncio.Event()
    sender = _sender(database.sessions, SCALED, config=SenderConfig(concurrency=4, batch=64))
    running = asyncio.create_task(sender.run(stop))
    await connector.wait_for_deliveries(20)
    stop.set()
    await running

    rows = await _rows(database)
    sent = [row for row in rows if row.state == OutboxState.SENT]
    assert len(sent) == connector.deliveries.total()  # every accepted send was recorded
    assert all(row.claimed_by is None for row in rows)


# Invitation delivery state --------------------------------------------------------------------------


async def _invite_everyone(db: Database, fanout: Fanout) -> None:
    async with transaction(db.sessions) as session:
        people = (
            await session.scalars(sa.select(Person.id).where(Person.teams_user_id.in_(fanout.users)))
        ).all()  # type: ignore[attr-defined]
        await invite(session, fanout.survey_id, people, now=FIXED_NOW)


async def _delivery(db: Database) -> dict[str, tuple[str, int, str | None]]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(
                Person.teams_user_id,
                Invitation.delivery_state,
                Invitation.delivery_attempts,
                Invitation.delivery_error,
            ).join(Person, Person.id == Invitation.person_id)
        )
        return {user: (state, attempts, error) for user, state, attempts, error in rows.all()}


async def test_an_invitation_says_retrying_while_teams_fails_then_sent_or_skipped(
    database: Database, connector: ThrottlingConnector
) -> None:
    fanout = await _fanout(database, connector, members=3)
    await _invite_everyone(database, fanout)
    flaky, skipped, prompt = fanout.users
    connector.fail(flaky, Fault(503, times=1, on="send"))

    async def compose(session: AsyncSession, message: OutboxMessage) -> Activity | None:
        person = await session.get(Person, message.person_id)
        return (
            None if person is None or person.teams_user_id == skipped else Activity(type="message", text="Hi")
        )

    clock = SteppingClock()
    sender = _sender(database.sessions, SCALED, clock=clock, fallback=compose)
    assert (await _delivery(database))[flaky] == ("pending", 0, None)
    await sender.drain_once()

    assert await _delivery(database) == {
        flaky: ("retrying", 1, "transient: 503 Error"),
        skipped: ("skipped", 0, SKIPPED_NOTE),
        prompt: ("sent", 1, None),
    }
    await _settle(sender, database.sessions, clock)
    assert (await _delivery(database))[flaky] == ("sent", 2, None)


_OUTBOX_0008 = sa.table(
    "outbox",
    *(
        sa.column(column.name, column.type)
        for column in OutboxMessage.__table__.columns  # type: ignore[attr-defined]
        if column.name not in ("fanout", "skipped")
    ),
)
"""The outbox before migration 0013 (no fanout or skipped column)."""


async def test_migrating_tells_existing_invitations_what_became_of_their_messages(database: Database) -> None:
    users = ["29:sent", "29:failed", "29:retrying", "29:skipped", "29:queued", "29:uninvited"]
    outcomes = {
        "29:sent": {"state": "sent", "activity_id": "activity-1", "attempts": 1, "last_error": None},
        "29:failed": {"state": "failed", "attempts": 0, "last_error": "blocked: 403 MessageWritesBlocked"},
        "29:retrying": {"state": "retrying", "attempts": 2, "last_error": "transient: 503 Error"},
        "29:skipped": {"state": "sent", "activity_id": None, "attempts": 0, "last_error": SKIPPED_NOTE},
    }
    async with transaction(database.sessions) as session:
        survey = await create_survey(session, MATRIX, now=FIXED_NOW, title=TITLE)
        ids = {}
        for user in users:
            person = Person(teams_user_id=user, created_at=FIXED_NOW, updated_at=FIXED_NOW)
            session.add(person)
            await session.flush()
            ids[user] = person.id
        await invite(session, survey.id or 0, [ids[u] for u in users[:-1]], now=FIXED_NOW)
    # The survey, people and invitations are made by today's models and kept by the downgrade; the
    # outbox rows are then added as the sender of schema 0008 added them (no fanout or skipped column).
    await downgrade(database.engine, "0008")
    async with transaction(database.sessions) as session:
        await session.execute(
            _OUTBOX_0008.insert(),
            [
                {
                    "dedupe_key": f"{kind}:{survey.id}:{ids[u]}",
                    "kind": kind,
                    "survey_id": survey.id,
                    "person_id": ids[u],
                    "payload": {},
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": FIXED_NOW,
                    "created_at": FIXED_NOW,
                }
                for u in users
                for kind in [OutboxKind.REMIND if u == "29:queued" else OutboxKind.INVITE]
            ],
        )
        for user, values in outcomes.items():
            await session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.person_id == ids[user]).values(**values)
            )

    await upgrade(database.engine)

    assert await _delivery(database) == {
        "29:sent": ("sent", 2, None),
        "29:failed": ("failed", 1, "blocked: 403 MessageWritesBlocked"),
        "29:retrying": ("retrying", 2, "transient: 503 Error"),
        "29:skipped": ("skipped", 0, SKIPPED_NOTE),
        "29:queued": ("pending", 0, None),  # only a reminder queued: not its invitation
    }


@dataclass
class RefusingConnector(FakeConnector):
    """Teams, for people who blocked the bot: creating their 1:1 chat gets 403."""

    blocked: set[str] = field(default_factory=set)

    async def _create(self, request: web.Request) -> web.Response:
        member = ((await request.json()).get("members") or [{}])[0].get("id")
        if member in self.blocked:
            error = {"code": "MessageWritesBlocked", "message": "The bot is blocked by the user."}
            return web.json_response({"error": error}, status=403)
        return await super()._create(request)


async def test_the_invitations_table_and_status_tell_who_got_the_invitation_and_who_blocked_the_bot(
    database: Database,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    connector = RefusingConnector(members=list(MEMBERS), blocked={"29:ben"})
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    channel = Channel(connector)
    try:
        async with _client(database) as client:
            await _post(client, channel.message('start audit-committee-maturity title "Audit 2026"'))
            status, _ = await _post(
                client, channel.confirm(_card_data(connector.cards()[0], "Send invitations"))
            )
            assert status == 200
            await connector.wait_for_sent(1 + 2 + 1)  # the card, two invitations, the lead's report
            await _post(client, channel.message("status"))
    finally:
        await server.close()

    report = connector.sent_to(CHANNEL_ID)[-1]["text"]
    assert "sent 2, 1 failed (1 has blocked the bot)" in report
    status_text = connector.sent[-1]["text"]
    assert "1 invitations could not be delivered" in status_text
    assert "still being sent" not in status_text
    assert all(schema_errors(card_schema, card) == [] for card in connector.cards())
    assert await _delivery(database) == {
        "29:lead": ("sent", 1, None),
        "29:amina": ("sent", 1, None),
        "29:ben": ("failed", 1, "blocked: 403 MessageWritesBlocked"),
    }


# Pure helpers ---------------------------------------------------------------------------------------


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("120", now=FIXED_NOW) == 120
    assert parse_retry_after("Mon, 23 Nov 2026 09:31:30 GMT", now=FIXED_NOW) == 90
    assert parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now=FIXED_NOW) == 0
    assert parse_retry_after("soon", now=FIXED_NOW) is None
    assert parse_retry_after(None, now=FIXED_NOW) is None


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    samples = [[backoff_seconds(n, base=1, cap=60, rng=rng) for _ in range(200)] for n in range(10)]
    assert all(0 <= s < min(60, 2**n) for n, group in enumerate(samples) for s in group)
    assert max(samples[3]) > 6  # spread over the whole range, not clustered at the top
    assert min(samples[3]) < 2
    assert max(samples[9]) <= 60


async def test_the_limiter_grants_as_fast_as_every_window_of_a_thread_allows_and_no_faster() -> None:
    time = VirtualTime()
    limits = RateLimits(margin=0, smooth=False)
    limiter = RateLimiter(limits, clock=time.monotonic, sleep=time.sleep)
    grants = []
    for _ in range(70):
        await limiter.acquire("19:chat", TENANT)
        grants.append(time.seconds)

    assert window_violations(grants, limits.per_thread, "thread") == []
    assert grants[:10] == pytest.approx([0, 0, 0, 0, 0, 0, 0, 1, 2, 2])  # 7 a second, 8 in any 2 seconds
    assert sum(1 for at in grants if at < 30) == 60
    assert min(at for at in grants if at >= 30) == pytest.approx(30)


async def test_a_pause_holds_back_every_thread_of_the_tenant_but_not_other_tenants() -> None:
    time = VirtualTime()
    limiter = RateLimiter(RateLimits(margin=0), clock=time.monotonic, sleep=time.sleep)
    limiter.pause(30, tenant=TENANT)
    await limiter.acquire("other-tenant-chat", "t2")
    assert time.seconds == 0
    await limiter.acquire("any-chat", TENANT)
    assert time.seconds == pytest.approx(30)


async def test_the_tenant_window_binds_across_threads() -> None:
    time = VirtualTime()
    limits = RateLimits(margin=0, smooth=False)
    limiter = RateLimiter(limits, clock=time.monotonic, sleep=time.sleep)
    grants = []
    for n in range(120):
        await limiter.acquire(f"chat-{n}", TENANT)
        grants.append(time.seconds)
    assert window_violations(grants, limits.per_tenant, "tenant") == []
    assert (grants[49], grants[50], grants[119]) == pytest.approx((0, 1, 2))


async def test_smoothing_spreads_a_tenants_requests_at_the_allowed_rate() -> None:
    time = VirtualTime()
    limits = RateLimits(margin=0.05)
    limiter = RateLimiter(limits, clock=time.monotonic, sleep=time.sleep)
    grants = []
    for n in range(200):
        await limiter.acquire(f"chat-{n}", TENANT)
        grants.append(time.seconds)
    assert window_violations(grants, (Window(50, 1.05),), "tenant") == []
    together = Counter(round(at, 9) for at in grants)
    assert max(together.values()) <= RateLimiter.SMOOTHING_SLACK + 1  # never a burst of the window's 50
    assert [sum(1 for at in grants if at < 1.05 * k - 1e-6) for k in (1, 2, 3, 4)] == [50, 100, 150, 200]


async def test_a_request_held_up_on_its_way_is_counted_from_when_it_can_have_arrived() -> None:
    time = VirtualTime()
    limits = RateLimits(per_thread=(), per_tenant=(Window(2, 1),), margin=0.05, smooth=False)
    limiter = RateLimiter(limits, clock=time.monotonic, sleep=time.sleep)
    prompt = await limiter.acquire("chat-1", TENANT)
    await time.sleep(0.01)
    limiter.settle("chat-1", TENANT, prompt or 0.0)  # a usual round trip: 10 ms
    held_up = await limiter.acquire("chat-2", TENANT)
    await time.sleep(0.5)
    limiter.settle("chat-2", TENANT, held_up or 0.0)  # answered 0.49 s later than usual
    await limiter.acquire("chat-3", TENANT)
    assert time.seconds == pytest.approx(1.05)  # the prompt one's window ends as usual
    await limiter.acquire("chat-4", TENANT)
    assert time.seconds == pytest.approx(0.01 + 0.49 + 1.05)  # the other's a window after it can have landed


# The fake's roster ----------------------------------------------------------------------------------


async def test_the_fake_connector_pages_a_roster_of_a_thousand_at_most_five_hundred_at_a_time() -> None:
    members = [{"id": _user(n), "name": f"Member {n}", "aadObjectId": f"aad-{n}"} for n in range(1000)]
    async with throttling_connector(members=members) as connector:
        seen, token, pages = [], None, 0
        while True:
            page = await BOT_CONNECTOR.paged_members(
                connector.url, LEADS_CHANNEL, page_size=800, continuation_token=token
            )
            pages += 1
            seen += [m["id"] for m in page.members]
            token = page.continuation_token
            if not token:
                break
        one = await BOT_CONNECTOR.member(connector.url, LEADS_CHANNEL, "aad-42")
    assert pages == 2
    assert seen == [m["id"] for m in members]
    assert one["name"] == "Member 42"
