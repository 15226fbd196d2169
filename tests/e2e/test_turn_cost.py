"""What an answer turn costs the database, counted on the wire to it: a deterministic bound that a
change to the turn path cannot raise without this test saying so (issue 14)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import ENGINE
from frameworks.loader import load_directory
from tests.conftest import Database
from tests.e2e.partner_app import AMINA, answer_button, partner_app
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import TeamsShapes


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


_STATEMENT = re.compile(r'(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)')
"""A statement's verb and first table (a SELECT's first column is qualified by its table)."""


@dataclass
class Trace:
    """Each transaction's statements, in order, as the driver was asked to run them."""

    transactions: list[list[str]] = field(default_factory=list)
    autocommitted: list[bool] = field(default_factory=list)
    """Per transaction: whether it ran in autocommit (no BEGIN or COMMIT sent)."""
    _open: list[str] | None = None

    def statement(self, conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.startswith("BEGIN"):
            return  # SQLite's BEGIN IMMEDIATE, run as a statement: the transaction's start, counted below
        if self._open is None:
            self._open = []
            self.transactions.append(self._open)
            self.autocommitted.append(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")
        found = _STATEMENT.match(sql)
        self._open.append(f"{found[1]} {found[2]}" if found else sql[:40])

    def ended(self, _conn: Any) -> None:
        self._open = None

    @property
    def statements(self) -> int:
        return sum(len(t) for t in self.transactions)


@contextmanager
def traced(client: TestClient) -> Iterator[Trace]:
    engine: AsyncEngine = client.server.app[ENGINE]
    trace = Trace()
    hooks = (("before_cursor_execute", trace.statement), ("commit", trace.ended), ("rollback", trace.ended))
    for name, hook in hooks:
        event.listen(engine.sync_engine, name, hook)
    try:
        yield trace
    finally:
        for name, hook in hooks:
            event.remove(engine.sync_engine, name, hook)


async def test_an_answer_turn_costs_one_transaction_of_five_statements_and_one_receipt(
    database: Database, connector: FakeConnector
) -> None:
    framework = load_directory().frameworks["place-partnership-maturity"]
    teams = TeamsShapes(connector.url)
    async with partner_app(database, framework) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        first = answer_button(connector)
        await client.post("/api/messages", json=teams.execute(AMINA, first))  # the response is made
        turns: list[Trace] = []
        for _ in range(2):
            with traced(client) as pressed:
                answer = answer_button(connector)
                assert (await client.post("/api/messages", json=teams.execute(AMINA, answer))).status == 200
            turns.append(pressed)
        for _ in range(2):
            with traced(client) as typed:
                typed_answer = teams.personal_message(AMINA, "2")
                assert (await client.post("/api/messages", json=typed_answer)).status == 201
            turns.append(typed)
    assert connector.updated, "a typed answer made its question card read-only"
    for trace in turns:
        decided, receipt = trace.transactions
        assert decided == [
            "SELECT bot_state",  # the conversation's state
            "SELECT surveys",  # survey, person, response, answers and the last card's id, joined
            "INSERT INTO answers",  # the answer, upserted
            "INSERT INTO processed_activities",  # the claim, with the replies it owes
            "UPDATE bot_state",  # the state, if its e-tag still holds
        ]
        assert receipt == ["UPDATE processed_activities"]  # replies sent, and the card's id
        assert trace.statements == 6
        # On PostgreSQL the receipt is one round trip, without BEGIN and COMMIT around it.
        assert trace.autocommitted == [False, database.kind == "postgresql"]
