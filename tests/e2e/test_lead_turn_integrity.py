"""A lead's command survives a crash and a failed send: the work is done once, the reply arrives.

Lead commands are claimed in a transaction of their own and then do their work in short transactions
(a roster fetch must not hold the database). These tests kill the bot process, as
tests/e2e/test_turn_integrity.py does, at each point of such a turn, restart it and redeliver the same
activity as Teams does; and make the Bot Connector fail the reply after the work was committed. All
through the real app's /api/messages with Teams-shaped activities, every card checked against the
Adaptive Cards 1.5 schema from the bytes on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import ENGINE, create_app
from bot.settings import Settings
from bot.teams.handler import CLAIM_LEASE
from storage.tables import Invitation, OutboxMessage, ProcessedActivity, Survey, SurveyState
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_turn_integrity import ProcessDeath
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import Channel, Member, TeamsShapes, card_problems, teams_json

LEAD = Member("29:1lee-Qm4vR8", "Lee Lead", "5c2e9a41-7d3b-4f0e-9a16-2b8d4c6e1f03")
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
BEN = Member("29:1ben-Hx2pL9", "Ben Okafor", "8e7f6a5b-4c3d-4e2f-a1b0-9c8d7e6f5a4b")
BOARD = Channel()
START = "start audit-committee-maturity closes 30 November"

SURVEY_MADE = r"INSERT INTO surveys\b"
"""The `start` command's transaction: the draft survey and its invitations."""
REPLIES_KEPT = r"UPDATE processed_activities SET (replies|lease_until)"
"""The command's last transaction: its replies kept with the claim, the claim completed."""
INVITATIONS_QUEUED = r"INSERT INTO outbox\b"
"""Send invitations: the survey opened and its invitations queued."""


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = [
            {
                "id": m.id,
                "name": m.name,
                "aadObjectId": m.aad_object_id,
                "email": f"{m.name[:3]}@trust.nhs.uk",
            }
            for m in (LEAD, AMINA, BEN)
        ]
        yield fake


def _client(database: Database, *, at: datetime = FIXED_NOW) -> TestClient:
    """One bot process whose clock reads `at`; a second one on the same database is a restart."""
    settings = Settings(database_url=database.url, lead_user_ids=LEAD.aad_object_id, _env_file=None)
    app = create_app(settings, clock=lambda: at, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _killed(client: TestClient, activity: dict[str, Any], after: str = ProcessDeath.CLAIM) -> None:
    """POST the activity, and the process dies right after the first commit of a statement `after`."""
    with (
        ProcessDeath(client.app[ENGINE], after).armed() as death,
        pytest.raises(aiohttp.ClientConnectionError),
    ):
        await client.post("/api/messages", json=activity)
    assert death.died


def _cards(connector: FakeConnector, validator: Draft6Validator) -> list[dict[str, Any]]:
    """The Adaptive Cards that reached the chat, each valid from the bytes on the wire."""
    assert [p for _m, _p, raw in connector.wire for p in card_problems(validator, raw)] == []
    return connector.cards()


def _send_button(card: dict[str, Any]) -> dict[str, Any]:
    return next(action["data"] for action in card["actions"] if action["title"] == "Send invitations")


async def _rows(database: Database, table: Any) -> int:
    async with database.sessions() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def _invites(database: Database) -> list[str]:
    async with database.sessions() as session:
        query = sa.select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "invite")
        return sorted((await session.execute(query)).scalars())


async def _surveys(database: Database) -> list[Survey]:
    async with database.sessions() as session:
        return list((await session.execute(sa.select(Survey))).scalars())


def _loud(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.ERROR or r.exc_info]


# A crash while a command runs --------------------------------------------------------------------------


async def test_a_start_killed_right_after_its_claim_is_run_when_teams_redelivers_it_after_the_lease(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    start = TeamsShapes(connector.url).channel_message(LEAD, START, BOARD)
    async with _client(database) as client:
        await _killed(client, start)
    assert (connector.sent, await _surveys(database)) == ([], []), "it died before doing anything"

    async with _client(database, at=FIXED_NOW + CLAIM_LEASE) as restarted:
        assert (await restarted.post("/api/messages", json=start)).status == 201
        [card] = _cards(connector, card_schema)
        assert "3 people" in str(card), "the confirmation card reaches the channel"
        assert (await restarted.post("/api/messages", json=start)).status == 201
    assert len(_cards(connector, card_schema)) == 1, "a completed command is not run again"
    [survey] = await _surveys(database)
    assert (survey.state, _send_button(card)["survey_id"]) == (SurveyState.DRAFT, survey.id)


async def test_a_start_killed_after_making_its_draft_shows_that_same_draft_when_redelivered(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    start = TeamsShapes(connector.url).channel_message(LEAD, START, BOARD)
    async with _client(database) as client:
        await _killed(client, start, after=SURVEY_MADE)
    [draft] = await _surveys(database)
    assert (connector.sent, await _rows(database, Invitation)) == ([], 3), "draft made, no card sent"

    async with _client(database, at=FIXED_NOW + CLAIM_LEASE) as restarted:
        assert (await restarted.post("/api/messages", json=start)).status == 201
    [card] = _cards(connector, card_schema)
    assert _send_button(card)["survey_id"] == draft.id, "the card confirms the draft already made"
    assert [s.id for s in await _surveys(database)] == [draft.id], "no second draft"
    assert await _rows(database, Invitation) == 3


async def test_a_redelivery_while_the_command_still_holds_its_lease_is_asked_to_come_back_later(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    start = TeamsShapes(connector.url).channel_message(LEAD, START, BOARD)
    async with _client(database) as client:
        await _killed(client, start)

    caplog.set_level(logging.INFO)
    async with _client(database, at=FIXED_NOW + CLAIM_LEASE / 2) as restarted:
        response = await restarted.post("/api/messages", json=start)
        loud = _loud(caplog.records)
    assert response.status == 503, "not a duplicate to drop: Teams should deliver it again"
    assert 0 < int(response.headers["Retry-After"]) <= CLAIM_LEASE.total_seconds()
    assert (connector.sent, await _surveys(database), loud) == ([], [], [])

    async with _client(database, at=FIXED_NOW + CLAIM_LEASE) as later:
        assert (await later.post("/api/messages", json=start)).status == 201
    assert len(connector.cards()) == 1
    assert len(await _surveys(database)) == 1


async def test_a_command_killed_after_keeping_its_reply_sends_it_on_redelivery_without_waiting(
    database: Database, connector: FakeConnector
) -> None:
    teams = TeamsShapes(connector.url)
    frameworks = teams.channel_message(AMINA, "frameworks", BOARD)
    async with _client(database) as client:
        await _killed(client, frameworks, after=REPLIES_KEPT)
    assert connector.sent == []

    async with _client(database) as restarted:  # no lease to wait out: the command had finished
        assert (await restarted.post("/api/messages", json=frameworks)).status == 201
        assert len(connector.sent) == 1
        assert "audit-committee-maturity" in connector.texts()[0]
        assert (await restarted.post("/api/messages", json=frameworks)).status == 201
    assert len(connector.sent) == 1, "a reply confirmed sent is not sent again"


async def test_send_invitations_killed_after_queueing_them_invites_everyone_once_when_redelivered(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    teams = TeamsShapes(connector.url)
    start = teams.channel_message(LEAD, START, BOARD)
    async with _client(database) as client:
        assert (await client.post("/api/messages", json=start)).status == 201
        [card] = _cards(connector, card_schema)
        press = teams.execute(
            LEAD, _send_button(card), verb="lead", conversation=start["conversation"], reply_to=start["id"]
        )
        press["channelData"] = start["channelData"]
        await _killed(client, press, after=INVITATIONS_QUEUED)
    queued = await _invites(database)
    assert len(queued) == 3

    async with _client(database, at=FIXED_NOW + CLAIM_LEASE) as restarted:
        response = await restarted.post("/api/messages", json=press)
        assert response.status == 200
        body = teams_json(await response.read())
        assert (body["statusCode"], body["type"]) == (200, "application/vnd.microsoft.activity.message")
        assert "Audit committee maturity matrix” was already started" in body["value"], body
    [survey] = await _surveys(database)
    assert survey.state == SurveyState.OPEN
    assert await _invites(database) == queued, "each person is invited once"


# A reply the Bot Connector fails after the work was committed ------------------------------------------


async def test_a_command_reply_the_connector_fails_gets_a_5xx_and_is_sent_when_teams_redelivers(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    start = TeamsShapes(connector.url).channel_message(LEAD, START, BOARD)
    async with _client(database) as client:
        connector.send_faults = [(429, {"Retry-After": "60"})]  # longer than a reply waits in the turn
        response = await client.post("/api/messages", json=start)
        assert response.status == 502, "Teams is told the turn did not finish, so it delivers it again"
        assert connector.sent == [], "no 'Sorry…' either: that would fail the same way"
        errors = [r.exc_info for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [None], "one ERROR line, no traceback"

        assert (await client.post("/api/messages", json=start)).status == 201
        assert len(connector.cards()) == 1, "the kept confirmation card is sent"
        assert (await client.post("/api/messages", json=start)).status == 201
    assert len(connector.cards()) == 1
    assert len(await _surveys(database)) == 1
    async with database.sessions() as session:
        owed = (await session.execute(sa.select(ProcessedActivity.replies))).scalars().all()
    assert owed == [None], "nothing is owed once sent"
