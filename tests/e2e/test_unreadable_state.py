"""A conversation whose stored state no release can read (a damaged row, a hand edit, a rollback to an
older release) starts afresh instead of failing every turn for good; answers given before are kept."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from frameworks.loader import load_directory
from storage.bot_state import load_state
from storage.db import transaction
from storage.tables import Answer
from tests.conftest import Database
from tests.e2e.partner_app import AMINA, answer_button, partner_app
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import TeamsShapes

DAMAGED = '{"DialogState":{"$kind":"tabnanny.Gadget","dialog_stack":[]}}'


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


async def _state_rows(database: Database) -> list[tuple[str, str]]:
    async with transaction(database.sessions) as session:
        rows = await session.execute(sa.text("SELECT key, data FROM bot_state"))
        return [(key, data) for key, data in rows]


async def test_a_partner_whose_stored_state_is_unreadable_carries_on_where_their_answers_are(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    framework = load_directory().frameworks["place-partnership-maturity"]
    teams = TeamsShapes(connector.url)
    async with partner_app(database, framework) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        answered = await client.post("/api/messages", json=teams.execute(AMINA, answer_button(connector)))
        assert answered.status == 200
        async with transaction(database.sessions) as session:
            await session.execute(sa.text("UPDATE bot_state SET data = :data"), {"data": DAMAGED})

        cards_before = len(connector.cards())
        with caplog.at_level(logging.WARNING):
            resumed = await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        assert resumed.status == 201
        assert len(connector.cards()) == cards_before + 1  # the next question, not an apology
        assert answer_button(connector)["element_id"] != framework.domains[0].elements[0].id

    warnings = [r for r in caplog.records if "stored state could not be read" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "tabnanny" in warnings[0].getMessage()
    assert AMINA.id not in warnings[0].getMessage()  # no personal identifiers in the log
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    ((key, data),) = await _state_rows(database)
    assert load_state(key, data)  # the row was replaced by one that reads
    async with transaction(database.sessions) as session:
        kept = (await session.execute(sa.select(sa.func.count()).select_from(Answer))).scalar_one()
    assert kept == 1  # the answer given before is still there
