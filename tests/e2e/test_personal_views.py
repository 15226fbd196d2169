"""When a round closes, each partner who answered gets their own view in their 1:1 chat: through the real
web app, the outbox sender and a fake Bot Connector, on SQLite and PostgreSQL.

The figures are worked out by hand from the answers written out in `ANSWERS` (place-partnership-maturity:
Emerging 1, Developing 2, Maturing 3, Thriving 4; medians and quartiles as the summary computes them,
Hyndman & Fan type 7).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator

from bot.app import SENDER
from bot.jobs import deadlines
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.answers import record_answer
from storage.db import transaction
from storage.organisations import map_domain
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import OutboxKind, OutboxMessage, Person, Survey, SurveyState
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_lead_commands import CHANNEL, Channel, _card_data, _client, _post
from tests.fakes.connector import FakeConnector, fake_connector

LEAD = {"id": "29:lead", "name": "Lee Lead", "aadObjectId": "aad-lead", "email": "lee@trust.nhs.uk"}
MEMBERS = [
    LEAD,
    {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina", "email": "amina@trust.nhs.uk"},
    {"id": "29:ben", "name": "Ben Okafor", "aadObjectId": "aad-ben", "email": "ben@council.gov.uk"},
    {"id": "29:cara", "name": "Cara Jones", "aadObjectId": "aad-cara", "email": "cara@council.gov.uk"},
    {"id": "29:dev", "name": "Dev Patel", "aadObjectId": "aad-dev", "email": "dev@council.gov.uk"},
]
ANSWERS: dict[str, dict[str, str | None]] = {
    "Amina Khan": {"vision": "emerging", "place-based-plans": "developing", "culture": "developing"},
    "Ben Okafor": {"vision": "maturing", "place-based-plans": "maturing", "culture": "thriving"},
    "Cara Jones": {"vision": "thriving", "place-based-plans": "maturing", "culture": "developing"},
    "Dev Patel": {"vision": None},  # skipped: not an answer, so no view
}
GOVERNANCE = {"Amina Khan": "maturing", "Ben Okafor": "thriving"}
"""Design and delivery: two answers, below k = 3, so the domain is shown without figures."""
FRAMEWORK = "place-partnership-maturity"
CATALOGUE = load_directory()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


async def _open_round(client: Any, channel: Channel, connector: FakeConnector, start: str) -> None:
    await _post(client, channel.message(start))
    await _post(client, channel.confirm(_card_data(connector.cards()[-1], "Send invitations")))
    await connector.wait_for_sent(1 + len(MEMBERS) + 1)  # the card, the invitations, the lead's report


async def _answer(database: Database, answers: dict[str, dict[str, str | None]]) -> None:
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey).where(Survey.tenant_id == "t1"))).scalar_one()
        for name, given in answers.items():
            person = (await session.execute(sa.select(Person).where(Person.name == name))).scalar_one()
            for element_id, value in given.items():
                await record_answer(session, survey, person, element_id, value, now=FIXED_NOW)


def _views(connector: FakeConnector, member: dict[str, Any]) -> list[dict[str, Any]]:
    """The personal-view cards in a member's 1:1 chat."""
    cards = [
        attachment["content"]
        for activity in connector.sent_to(connector.personal_id(member["id"]))
        for attachment in activity.get("attachments") or []
    ]
    return [
        card
        for card in cards
        if "Where you differ most" in json.dumps(card) or "Middle half" in json.dumps(card)
    ]


def _rows(card: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each domain's figures as the card shows them: title -> {column label: value}."""
    rows: dict[str, dict[str, str]] = {}
    for block in card["body"]:
        if block["type"] != "Container":
            continue
        title, *rest = block["items"]
        figures: dict[str, str] = {}
        for item in rest:
            if item["type"] == "ColumnSet":
                figures = {
                    column["items"][0]["text"]: column["items"][1]["text"] for column in item["columns"]
                }
            else:
                figures = {"note": item["text"]}
        rows[title["text"]] = figures
    return rows


def _differences(card: dict[str, Any]) -> list[str]:
    texts = [block.get("text", "") for block in card["body"] if block["type"] == "TextBlock"]
    start = texts.index("Where you differ most")
    return texts[start + 1 : -1]


async def test_each_partner_who_answered_gets_one_card_of_their_own_when_the_lead_closes_the_round(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    async with transaction(database.sessions) as session:
        await map_domain(session, "trust.nhs.uk", "Anytown NHS Trust", now=FIXED_NOW)
        await map_domain(session, "council.gov.uk", "Anytown Council", now=FIXED_NOW)
        # Another tenant's partner, answering their own open round: nothing of this round reaches them.
        stranger = await upsert_person(
            session, teams_user_id="29:stranger", name="Sam Other", tenant_id="t2", now=FIXED_NOW
        )
        theirs = await create_survey(
            session,
            CATALOGUE.frameworks[FRAMEWORK],
            now=FIXED_NOW,
            tenant_id="t2",
            conversation_id="19:other@thread.tacv2",
        )
        await record_answer(session, theirs, stranger, "vision", "thriving", now=FIXED_NOW)
    channel = Channel(connector)
    async with _client(database) as client:
        await _open_round(client, channel, connector, f"start {FRAMEWORK}")
        await _answer(database, ANSWERS)
        await _answer(database, {name: {"governance": value} for name, value in GOVERNANCE.items()})

        before = len(connector.sent)
        await _post(client, channel.message("close"))
        assert "3 partners will get their own view" in connector.texts_to(CHANNEL)[-1]
        await client.app[SENDER].drain_once()
        await connector.wait_for_sent(before + 1 + 3)  # the reply, and three views (maybe sent first)
        await _post(client, channel.message("close"))  # again: nothing open, nothing more queued
        assert "no open survey" in connector.texts_to(CHANNEL)[-1]
        await client.app[SENDER].drain_once()

    amina, ben, cara, dev = (_views(connector, member) for member in MEMBERS[1:])
    assert (len(amina), len(ben), len(cara)) == (1, 1, 1)
    assert dev == []  # only skipped
    assert _views(connector, MEMBERS[0]) == []  # the lead did not answer
    assert connector.sent_to(connector.personal_id("29:stranger")) == []
    for card in (*amina, *ben, *cara):
        assert schema_errors(card_schema, card) == []

    # Ambition and vision pools vision and place-based plans: 1,2,3,3,3,4 (n = 6): median at 2.5 -> 3,
    # Q1 at 1.25 -> 2.25 (a quarter of the way from Developing to Maturing), Q3 at 3.75 -> 3.
    # System leadership is culture alone: 2,2,4: median 2, Q1 at 0.5 -> 2, Q3 at 1.5 -> 3.
    rows = _rows(amina[0])
    assert rows["Ambition and vision"] == {
        "You": "Emerging–Developing",  # 1 and 2: half-way
        "Partnership": "Maturing",
        "Middle half": "Developing–Maturing to Maturing",
    }
    assert rows["System leadership"] == {
        "You": "Developing",
        "Partnership": "Developing",
        "Middle half": "Developing to Maturing",
    }
    assert rows["Design and delivery"] == {"note": "Too few answers to show"}
    assert "Thriving" not in json.dumps(rows["Design and delivery"])
    assert _rows(ben[0])["Ambition and vision"]["You"] == "Maturing"  # 3 and 3
    assert _rows(cara[0])["Ambition and vision"]["You"] == "Maturing–Thriving"  # 3 and 4

    # Amina: vision 1 against 1,3,4 -> 3 (2 below); plans 2 against 2,3,3 -> 3 (1 below); culture on it.
    assert _differences(amina[0]) == [
        "**Vision** (Ambition and vision): you said Emerging, the partnership's median is Maturing: "
        "2 steps below it.",
        "**Place Based Plans** (Ambition and vision): you said Developing, the partnership's median is "
        "Maturing: 1 step below it.",
    ]
    # Ben: culture 4 against 2 is his furthest (2 above).
    assert _differences(ben[0])[0].startswith("**Culture** (System leadership): you said Thriving")
    shown = json.dumps(amina[0])
    assert "Ben" not in shown
    assert "Cara" not in shown
    async with transaction(database.sessions) as session:
        rows_queued = (
            await session.execute(
                sa.select(OutboxMessage.person_id).where(OutboxMessage.kind == OutboxKind.PERSONAL_VIEW)
            )
        ).all()
    assert len(rows_queued) == 3


async def test_a_round_started_without_personal_views_sends_none_when_it_closes(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _open_round(client, channel, connector, f"start {FRAMEWORK} without personal views")
        await _answer(database, ANSWERS)
        await _post(client, channel.message("close"))
        assert "Personal views are off" in connector.texts_to(CHANNEL)[-1]
        await client.app[SENDER].drain_once()
    for member in MEMBERS:
        assert _views(connector, member) == []
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        kinds = (await session.execute(sa.select(OutboxMessage.kind))).scalars().all()
    assert survey.share_results is False
    assert OutboxKind.PERSONAL_VIEW not in kinds


async def test_a_round_closing_at_its_deadline_sends_views_once_and_a_reopened_round_only_to_new_answers(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    settings = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    today = [FIXED_NOW]
    async with _client(database, lambda: today[0]) as client:
        await _open_round(client, channel, connector, f"start {FRAMEWORK} closes 24 November 17:00")
        await _answer(database, {name: ANSWERS[name] for name in ("Amina Khan", "Ben Okafor", "Cara Jones")})
        deadline = FIXED_NOW.replace(day=24, hour=17, minute=0)
        today[0] = deadline
        for _ in range(2):  # the job runs every minute: a second run finds nothing to close
            await deadlines(database.sessions, lambda: deadline, settings, lambda: None)
        before = len(connector.sent)
        await client.app[SENDER].drain_once()
        await connector.wait_for_sent(before + 3)
        assert [len(_views(connector, member)) for member in MEMBERS] == [0, 1, 1, 1, 0]

        await _post(client, channel.message("reopen closes in 2 weeks"))
        assert "Reopened" in connector.texts_to(CHANNEL)[-1]
        await _answer(database, {"Dev Patel": {"vision": "developing"}})
        before = len(connector.sent)
        await _post(client, channel.message("close"))
        assert "1 partner will get their own view" in connector.texts_to(CHANNEL)[-1]
        await client.app[SENDER].drain_once()
        await connector.wait_for_sent(before + 1 + 1)
    assert [len(_views(connector, member)) for member in MEMBERS] == [0, 1, 1, 1, 1]
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
    assert survey.state == SurveyState.CLOSED


async def test_a_lead_turns_personal_views_off_for_an_open_survey_and_its_deadline_sends_none(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    settings = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    today = [FIXED_NOW]
    async with _client(database, lambda: today[0]) as client:
        await _open_round(client, channel, connector, f"start {FRAMEWORK} closes 24 November 17:00")
        await _post(client, channel.message("personal views off", MEMBERS[1]))
        assert "Only partnership leads" in connector.texts_to(CHANNEL)[-1]
        await _post(client, channel.message("personal views off"))
        assert "Partners get no view of their own" in connector.texts_to(CHANNEL)[-1]
        await _answer(database, ANSWERS)
        today[0] = FIXED_NOW.replace(day=24, hour=17, minute=0)
        await deadlines(database.sessions, lambda: today[0], settings, lambda: None)
        await client.app[SENDER].drain_once()
    assert [len(_views(connector, member)) for member in MEMBERS] == [0, 0, 0, 0, 0]
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        kinds = (await session.execute(sa.select(OutboxMessage.kind))).scalars().all()
    assert survey.state == SurveyState.CLOSED
    assert OutboxKind.PERSONAL_VIEW not in kinds
