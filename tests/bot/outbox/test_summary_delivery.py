"""A partnership's channel follows its summaries week by week: the weighting the lead chose, what changed
since the last post, and a new round picked up by itself. Through the real app and a fake connector."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator

from bot.app import SENDER
from bot.outbox.weekly import queue_due_summaries
from storage.answers import record_answer
from storage.db import transaction
from storage.tables import Person, SummaryPost, Survey
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_lead_commands import (
    AUDIT,
    CHANNEL_ID,
    CHARTS,
    MEMBERS,
    Channel,
    _card_data,
    _client,
    _post,
)
from tests.fakes.connector import FakeConnector, fake_connector


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


async def _answer_all(database: Database, survey_id: int, level: str, *, now: datetime) -> None:
    """Everyone invited rates every scored element of the audit framework at `level`."""
    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, survey_id)
        assert survey is not None
        for person in (await session.execute(sa.select(Person))).scalars():
            for _, element in AUDIT.scored_elements:
                await record_answer(session, survey, person, element.id, level, now=now)


async def _start(client: Any, channel: Channel, connector: FakeConnector, text: str) -> int:
    before = len(connector.sent)
    await _post(client, channel.message(text))
    card = connector.cards()[-1]
    await _post(client, channel.confirm(_card_data(card, "Send invitations")))
    await connector.wait_for_sent(before + 1 + 3 + 1)  # the card, three invitations, the report
    return int(_card_data(card, "Send invitations")["survey_id"])


async def _weekly_post(client: Any, database: Database, connector: FakeConnector, when: datetime) -> str:
    async with transaction(database.sessions) as session:
        assert await queue_due_summaries(session, now=when) == 1
    before = len(connector.sent)
    await client.app[SENDER].drain_once()
    await connector.wait_for_sent(before + 1)
    post = connector.sent_to(CHANNEL_ID)[-1]
    return json.dumps(post["attachments"][0]["content"], ensure_ascii=False)


def _facts(card: dict[str, Any]) -> dict[str, str]:
    facts = next(block for block in card["body"] if block["type"] == "FactSet")["facts"]
    return {fact["title"]: fact["value"] for fact in facts}


async def test_partnership_channel_follows_rounds_and_hears_what_changed_since_the_last_post(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    today = [FIXED_NOW]
    async with _client(database, clock=lambda: today[0]) as client:
        first = await _start(
            client,
            channel,
            connector,
            'start audit-committee-maturity for "North Place" title "Audit spring"',
        )
        await _post(
            client, channel.message('subscribe weekly Monday 09:00 partnership "north place" by respondent')
        )
        confirmed = connector.sent[-1]["text"]
        assert "“North Place” (its latest audit-committee-maturity round)" in confirmed
        assert "one respondent, one vote" in confirmed
        await _post(client, channel.message("subscriptions", MEMBERS[1]))
        listed = connector.sent[-1]["text"]
        assert "partnership “North Place”, audit-committee-maturity" in listed
        assert "weighted one respondent, one vote" in listed

        await _answer_all(database, first, "basic", now=FIXED_NOW + timedelta(days=1))
        week1 = FIXED_NOW + timedelta(days=7)
        today[0] = week1
        text = await _weekly_post(client, database, connector, week1)
        card = json.loads(text)
        assert schema_errors(card_schema, card) == []
        assert _facts(card)["Weighting"] == "one respondent, one vote"  # the lead's choice, not the default
        assert "Audit spring" in text
        assert "Since the last summary" not in text  # the first post has nothing to compare with

        await _answer_all(database, first, "early-progress", now=week1 + timedelta(days=1))
        week2 = week1 + timedelta(days=7)
        today[0] = week2
        text = await _weekly_post(client, database, connector, week2)
        assert schema_errors(card_schema, json.loads(text)) == []
        assert f"Since the last summary ({week1.day} {week1:%b %Y})" in text
        assert "▲" in text
        assert "Basic → Early progress" in text

        second = await _start(
            client,
            channel,
            connector,
            'start audit-committee-maturity for "North Place" title "Audit autumn"',
        )
        await _answer_all(database, second, "results", now=week2 + timedelta(days=1))
        week3 = week2 + timedelta(days=7)
        today[0] = week3
        text = await _weekly_post(client, database, connector, week3)
        card = json.loads(text)
        assert "Audit autumn" in text  # the partnership's new round, picked up by itself
        assert "Audit spring" in _facts(card)["Compared with"]  # and compared with the round before
        assert "Since the last summary" not in text  # the last post was of another survey

        await _post(client, channel.message('results partnership "North Place"', MEMBERS[2]))
        results = connector.cards()[-1]
        assert "Audit autumn" in json.dumps(results)
        assert _facts(results)["Weighting"] == "one organisation, one vote"  # the bot's default

        await _post(client, channel.message(f"results #{first} by respondent"))
        results = connector.cards()[-1]
        assert _facts(results)["Weighting"] == "one respondent, one vote"
        assert "Since the last summary" in json.dumps(results)  # what this channel was last shown of it

        await _post(client, channel.message('unsubscribe partnership "North Place"'))
        assert "Stopped the weekly summary of “North Place”" in connector.sent[-1]["text"]

    async with transaction(database.sessions) as session:
        posts = (await session.execute(sa.select(SummaryPost.survey_id).order_by(SummaryPost.id))).all()
    assert [survey_id for (survey_id,) in posts] == [first, first, second]


async def test_summary_commands_explain_an_unknown_or_ambiguous_partnership(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message('results partnership "Nowhere"'))
        assert "There is no partnership called “Nowhere” with a survey here" in connector.sent[-1]["text"]
        await _start(client, channel, connector, 'start audit-committee-maturity for "North Place"')
        await _start(client, channel, connector, 'start integrated-care-self-test for "North Place"')
        await _start(client, channel, connector, 'start audit-committee-maturity for "North Coast"')
        await _post(client, channel.message("results partnership north"))
        assert "“north” could be “North Coast”, “North Place”" in connector.sent[-1]["text"]
        await _post(client, channel.message('subscribe weekly Friday 16:00 partnership "North Place"'))
        assert "has run more than one framework" in connector.sent[-1]["text"]
        await _post(
            client,
            channel.message('subscribe weekly Friday 16:00 partnership "North Place" framework self-test'),
        )
        assert "its latest integrated-care-self-test round" in connector.sent[-1]["text"]


async def test_each_domains_distribution_chart_is_linked_and_signed_with_its_weighting(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    async with _client(database, **CHARTS) as client:
        survey_id = await _start(client, channel, connector, "start audit-committee-maturity")
        await _answer_all(database, survey_id, "basic", now=FIXED_NOW)
        await _post(client, channel.message("results by respondent"))
        card = connector.cards()[-1]
        assert schema_errors(card_schema, card) == []
        text = json.dumps(card)
        links = re.findall(r"\]\((https://bot\.example\.nhs\.uk/charts/[^)]+)\)", text)
        assert len(links) == len(AUDIT.domains)  # one page per domain: five elements each fit on one
        assert all("w=respondent" in link for link in links)

        path = links[0].removeprefix("https://bot.example.nhs.uk")
        chart = await client.get(path)
        assert chart.status == 200
        assert (await chart.read()).startswith(b"\x89PNG")
        assert (await client.get(path.replace("w=respondent", "w=organisation"))).status == 403
        assert (await client.get(path.replace("distribution-", "distribution-x"))).status == 403
