"""Two instances of the bot behind a load balancer, one database: nothing lost, nothing twice.

One partner's survey alternates between the instances, while both senders drain the same fan-out and
both schedulers find the same weekly summary owed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import time, timedelta

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.conversations import save_reference
from storage.db import transaction
from storage.invitations import invite
from storage.outbox import NewMessage, enqueue
from storage.people import upsert_person
from storage.subscriptions import subscribe
from storage.tables import Answer, OutboxMessage
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_app_survey import Teams
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import open_survey_for

AUDIT = load_directory().frameworks["audit-committee-maturity"]
CHANNEL = "19:general@thread.tacv2"
PARTNERS = 60


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def _instance(database: Database) -> TestClient:
    settings = Settings(database_url=database.url, _env_file=None)
    app = create_app(settings, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def test_two_instances_share_one_survey_one_fan_out_and_one_weekly_post(
    database: Database, connector: FakeConnector
) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    async with transaction(database.sessions) as session:
        channel = await save_reference(
            session,
            conversation_id=CHANNEL,
            service_url=connector.url,
            reference={"conversation": {"id": CHANNEL}, "serviceUrl": connector.url, "channelId": "msteams"},
            conversation_type="channel",
            tenant_id="t1",
            now=FIXED_NOW - timedelta(days=8),
        )
        people = [
            await upsert_person(session, teams_user_id=f"29:partner-{n}", tenant_id="t1", now=FIXED_NOW)
            for n in range(PARTNERS)
        ]
        await invite(session, survey.id or 0, [p.id or 0 for p in people], now=FIXED_NOW)
        await enqueue(
            session,
            [
                NewMessage(
                    dedupe_key=f"invite:{survey.id}:{p.id}",
                    kind="invite",
                    survey_id=survey.id,
                    person_id=p.id,
                    payload={
                        "service_url": connector.url,
                        "tenant_id": "t1",
                        "fanout": f"invite:{survey.id}",
                    },
                )
                for p in people
            ],
            now=FIXED_NOW,
        )
        # A weekly summary last posted eight days ago: owed now, to be posted once by either instance.
        await subscribe(
            session,
            conversation_reference_id=channel,
            weekday=0,
            at=time(9, 0),
            time_zone="Europe/London",
            now=FIXED_NOW - timedelta(days=8),
            survey_id=survey.id,
        )

    teams = Teams(connector)
    async with _instance(database) as first, _instance(database) as second:
        instances = [first, second]
        replies = ["resume", "2", "3", "skip", "4", "5"]
        for turn, text in enumerate(replies):
            response = await instances[turn % 2].post("/api/messages", json=teams.message(text))
            assert response.status == 201
        # Both senders and both schedulers have been running all along; wait for every invitation
        # and the one summary to reach the connector.
        await connector.wait_for_sent(len(replies) + PARTNERS + 1)

    answers = await _answers(database)
    assert len(answers) == 5  # four answers and a skip, each once, whichever instance took the turn
    assert [answers[e.id].score for _, e in AUDIT.scored_elements[:2]] == [2, 3]
    invitations = Counter(a["_conversation_id"] for a in connector.sent if a["_conversation_id"] != "a:amina")
    summaries = invitations.pop(CHANNEL, 0)
    assert summaries == 1
    assert len(invitations) == PARTNERS
    assert set(invitations.values()) == {1}  # nobody invited twice
    async with transaction(database.sessions) as session:
        states = Counter((await session.execute(sa.select(OutboxMessage.state))).scalars())
    assert states == Counter({"sent": PARTNERS + 1})


async def _answers(database: Database) -> dict[str, Answer]:
    async with transaction(database.sessions) as session:
        return {a.element_id: a for a in (await session.execute(sa.select(Answer))).scalars()}
