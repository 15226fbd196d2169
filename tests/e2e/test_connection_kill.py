"""A partner's turn whose PostgreSQL connection is killed mid-turn, through the real HTTP app.

The turn is held at a chosen point (just after it read the conversation's state, just after its answer
upsert, right before its commit); the test then ends that turn's server process with
`pg_terminate_backend` from a separate connection, as a failover or an administrator would, and lets
the turn go on. Teams must not be told the answer is saved, nothing half-done may be stored, the pool
must hand the next turn a working connection, and Teams' redelivery (or the partner pressing again)
must store the answer exactly once and get the reply.

PostgreSQL only: SQLite has no server process to kill.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from bot.app import ENGINE, create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.db import session_factory
from storage.tables import Answer, BotStateRecord, OutboxMessage, OutboxState, ProcessedActivity
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
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
from tests.fakes.connector import FakeConnector, fake_connector, throttling_connector
from tests.fakes.conversation import open_survey_for
from tests.fakes.teams_wire import ADAPTIVE_CARD, Member, TeamsShapes, card_problems, teams_json

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

AUDIT = load_directory().frameworks["audit-committee-maturity"]
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
FIRST = "mergers-acquisitions-and-disposals"
ERROR_TYPE = "application/vnd.microsoft.error"

STATE_READ = r"SELECT\b.*\bFROM bot_state\b"
ANSWER_UPSERT = r"INSERT INTO answers\b"
COMMIT = "commit"
"""Where a turn is held: after a statement matching the pattern ran, or right before its commit."""


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def _client(database: Database) -> TestClient:
    app = create_app(
        Settings(database_url=database.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=database.engine_kwargs,
    )
    return TestClient(TestServer(app, host="127.0.0.1"))


class HeldTurn:
    """Holds the next turn that reaches `at` on the app's engine, tells the test which server process
    it runs on, and lets it go on when the test says so. The hold runs inside the engine's own
    (greenlet) call, so the turn is paused exactly there, with its transaction open."""

    def __init__(self, engine: AsyncEngine, at: str, *, nth: int = 1) -> None:
        self._engine = engine.sync_engine
        self._at = at
        self._seen = 0
        self._nth = nth
        self._pattern = None if at == COMMIT else re.compile(r"^\s*" + at, re.IGNORECASE | re.DOTALL)
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.pid: int | None = None

    def _hold(self, conn: Any) -> None:
        self._seen += 1
        if self.held.is_set() or self._seen < self._nth:
            return
        self.pid = conn.connection.dbapi_connection.driver_connection.get_server_pid()
        self.held.set()
        await_only(self.release.wait())

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._pattern is not None and self._pattern.match(statement):
            self._hold(conn)

    def _commit(self, conn: Any) -> None:
        if self._at == COMMIT and conn.info.get("wrote_answer"):
            self._hold(conn)

    def _wrote(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if re.match(r"^\s*" + ANSWER_UPSERT, statement, re.IGNORECASE):
            conn.info["wrote_answer"] = True

    @contextmanager
    def armed(self) -> Iterator[HeldTurn]:
        hooks = (
            ("after_cursor_execute", self._wrote),
            ("after_cursor_execute", self._statement),
            ("commit", self._commit),
        )
        for name, hook in hooks:
            event.listen(self._engine, name, hook)
        try:
            yield self
        finally:
            self.release.set()
            for name, hook in hooks:
                event.remove(self._engine, name, hook)


async def _terminate(database: Database, pid: int) -> None:
    """End a server process from another connection, and wait (up to 5 s, server side) until it is gone."""
    killer = database.new_engine()
    try:
        async with killer.connect() as connection:
            ended = await connection.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    finally:
        await killer.dispose()
    assert ended, f"backend {pid} did not end"


async def _killed_mid_turn(
    client: TestClient, database: Database, activity: dict[str, Any], at: str
) -> tuple[int, bytes]:
    """POST the activity, kill its connection where it is held, let it go on; the HTTP answer."""
    with HeldTurn(client.app[ENGINE], at).armed() as turn:
        posting = asyncio.create_task(client.post("/api/messages", json=activity))
        async with asyncio.timeout(10):
            await turn.held.wait()
        assert turn.pid is not None
        await _terminate(database, turn.pid)
        turn.release.set()
        async with asyncio.timeout(10):
            response = await posting
        return response.status, await response.read()


async def _stored(database: Database) -> tuple[list[tuple[str, str | None]], int, int]:
    """Answers, activity claims and state rows: what a half-done turn could leave behind."""
    async with database.sessions() as session:
        answers = (await session.execute(sa.select(Answer.element_id, Answer.value))).all()
        claims = await session.scalar(sa.select(sa.func.count()).select_from(ProcessedActivity))
        states = (await session.execute(sa.select(BotStateRecord))).scalars().all()
    return [tuple(a) for a in answers], int(claims or 0), len(states)


def _buttons(card: Any) -> list[dict[str, Any]]:
    if isinstance(card, dict):
        own = [card.get("data") or {}] if card.get("type") == "Action.Execute" else []
        return own + [b for value in card.values() for b in _buttons(value)]
    if isinstance(card, list):
        return [b for value in card for b in _buttons(value)]
    return []


def _press(card: dict[str, Any], **match: Any) -> dict[str, Any]:
    return next(data for data in _buttons(card) if all(data.get(k) == v for k, v in match.items()))


def _universal_action_body(status: int, raw: bytes, validator: Draft6Validator) -> dict[str, Any]:
    """What Teams reads from an adaptiveCard/action answer: HTTP 200, strict JSON, valid cards."""
    assert status == 200, (status, raw[:300])
    assert card_problems(validator, raw) == []
    body = teams_json(raw)
    assert isinstance(body, dict)
    assert set(body) == {"statusCode", "type", "value"}, body
    return body


def _loud(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.ERROR]


async def _wire_problems(connector: FakeConnector, validator: Draft6Validator) -> list[str]:
    return [p for _method, _path, raw in connector.wire for p in card_problems(validator, raw)]


@pytest.mark.parametrize("at", [STATE_READ, ANSWER_UPSERT, COMMIT])
async def test_a_pressed_answer_whose_connection_is_killed_is_not_acknowledged_and_a_second_press_saves_it(
    database: Database,
    connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
    card_schema: Draft6Validator,  # noqa: F811
    at: str,
) -> None:
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW, user_ids=(AMINA.id,))
    teams = TeamsShapes(connector.url)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        before = await _stored(database)
        sent = len(connector.sent)
        press = teams.execute(AMINA, _press(connector.cards()[-1], action="answer", value="results"))
        caplog.clear()

        status, raw = await _killed_mid_turn(client, database, press, at)
        body = _universal_action_body(status, raw, card_schema)
        assert (body["statusCode"], body["type"]) == (500, ERROR_TYPE), "never a success for a lost answer"
        assert "not saved" in body["value"]["message"]
        assert await _stored(database) == before, "nothing of the killed turn is stored"
        assert len(connector.sent) == sent, "nothing of the killed turn reached the chat"
        [error] = _loud(caplog.records)
        assert (error.name, error.exc_info) == ("bot.teams.handler", None), "one ERROR line, no traceback"
        assert "lost the database connection" in error.getMessage()

        # The pressed card was not replaced, so the partner presses the same button again: the pool
        # hands this turn a live connection, and the answer is stored once.
        caplog.clear()
        again = _universal_action_body(*await _post(client, press), card_schema)
        assert (again["statusCode"], again["type"]) == (200, ADAPTIVE_CARD)
        assert _buttons(again["value"]) == [], "the answered card has nothing left to press"
        assert _loud(caplog.records) == []
    answers, claims, _states = await _stored(database)
    assert answers == [(FIRST, "results")]
    assert claims == before[1] + 1
    assert "2 of 5" in str(connector.cards()[-1]), "the next question reached the partner"
    assert await _wire_problems(connector, card_schema) == []


async def _post(client: TestClient, activity: dict[str, Any]) -> tuple[int, bytes]:
    response = await client.post("/api/messages", json=activity)
    return response.status, await response.read()


@pytest.mark.parametrize("at", [STATE_READ, ANSWER_UPSERT, COMMIT])
async def test_a_typed_answer_whose_connection_is_killed_is_stored_once_when_teams_redelivers_it(
    database: Database,
    connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
    card_schema: Draft6Validator,  # noqa: F811
    at: str,
) -> None:
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW, user_ids=(AMINA.id,))
    teams = TeamsShapes(connector.url)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        before = await _stored(database)
        sent = len(connector.sent)
        typed = teams.personal_message(AMINA, "2")
        caplog.clear()

        status, _body = await _killed_mid_turn(client, database, typed, at)
        assert status == 503, f"{status}: Teams would not deliver the answer again"
        assert await _stored(database) == before, "nothing of the killed turn is stored"
        assert len(connector.sent) == sent, "nothing of the killed turn reached the chat"
        [error] = _loud(caplog.records)
        assert (error.name, error.exc_info) == ("bot.teams.handler", None), "one ERROR line, no traceback"

        caplog.clear()
        assert (await client.post("/api/messages", json=typed)).status == 201, "Teams' redelivery"
        assert _loud(caplog.records) == []
    answers, claims, _states = await _stored(database)
    assert answers == [(FIRST, "basic")]
    assert claims == before[1] + 1
    assert "2 of 5" in str(connector.cards()[-1]), "the next question reached the partner"
    assert await _wire_problems(connector, card_schema) == []


# The outbox sender ------------------------------------------------------------------------------------

MARK_SENT = r"UPDATE outbox SET\b.*\bsent_at\b"


async def test_a_sender_whose_connection_is_killed_while_recording_a_send_loses_no_row_and_sends_none_twice(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams accepted the fifth invitation; the connection dies as the sender records it. The record is
    made again on a live connection, so no row is sent twice once its lease has run out."""
    caplog.set_level(logging.INFO)
    async with throttling_connector(limits=SCALED) as connector:
        fanout = await _fanout(database, connector, members=12)
        clock = SteppingClock()
        engine = database.new_engine()
        try:
            sender = _sender(
                session_factory(engine), SCALED, config=replace(FAST, concurrency=1), clock=clock, worker="w1"
            )
            with HeldTurn(engine, MARK_SENT, nth=5).armed() as turn:
                draining = asyncio.create_task(sender.drain_once())
                async with asyncio.timeout(10):
                    await turn.held.wait()
                assert turn.pid is not None
                await _terminate(database, turn.pid)
                turn.release.set()
                async with asyncio.timeout(30):
                    await draining
            clock.advance_to(FIXED_NOW + sender.config.lease + timedelta(minutes=1))
            while await sender.drain_once():
                clock.advance_to(clock.at + sender.config.lease)
        finally:
            await engine.dispose()
        async with database.sessions() as session:
            states = list(
                await session.scalars(sa.select(OutboxMessage.state).where(OutboxMessage.kind == "invite"))
            )
    assert states == [OutboxState.SENT] * 12, "no row lost"
    assert {u: connector.deliveries[u] for u in fanout.users if connector.deliveries[u] != 1} == {}
    assert connector.texts_to(LEADS_CHANNEL) == [f"Invitations for “{TITLE}”: sent 12, none failed."]
    assert _loud(caplog.records) == [], "recorded again on a live connection: a WARNING, not an ERROR"


async def test_a_pooled_connection_killed_between_turns_is_replaced_before_the_next_turn_uses_it(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """A failover between two turns leaves a dead connection idle in the pool; the next checkout
    replaces it, so the partner notices nothing, without a pre-ping: the closed socket is noticed at
    checkout, before any statement."""
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW, user_ids=(AMINA.id,))
    teams = TeamsShapes(connector.url)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        engine: AsyncEngine = client.app[ENGINE]
        async with engine.connect() as idle:  # the pool's one connection, the turn's a moment ago
            pid = (await idle.get_raw_connection()).driver_connection.get_server_pid()
        await _terminate(database, pid)
        caplog.clear()
        assert (await client.post("/api/messages", json=teams.personal_message(AMINA, "2"))).status == 201
    assert _loud(caplog.records) == []
    answers, _claims, _states = await _stored(database)
    assert answers == [(FIRST, "basic")]
    assert "2 of 5" in str(connector.cards()[-1])
