"""What a lead can find and read: the surveys they run listed in their own chat, status in plain words,
and a start card that says how people get an organisation (issue 17, items 6 and 7).

Everything goes through the real app's /api/messages with activities in Teams' published shapes
(tests/teams_wire.py); what the bot said is read from the fake Bot Connector's bytes, and every card
on the wire is validated against the Adaptive Cards 1.5 schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.answers import record_answer, submit_response
from storage.db import transaction
from storage.organisations import map_domain
from storage.surveys import close_due_surveys
from storage.tables import Person, Survey
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import ADAPTIVE_CARD, Channel, Member, TeamsShapes, card_problems, teams_json

AUDIT = load_directory().frameworks["audit-committee-maturity"]
FIRST_QUESTION = AUDIT.scored_elements[0][1].id
OTHER_TENANT = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"

LEAD = Member("29:1lead", "Lee Lead", "aad-lead")
AMINA = Member("29:1amina", "Amina Khan", "aad-amina")
BEN = Member("29:1ben", "Ben Okafor", "aad-ben")
MALLORY = Member("29:1mallory", "Mallory Lead", "aad-mallory", tenant=OTHER_TENANT)
"""A lead in another organisation's tenant: nothing of hers shows in Lee's chat."""

BOARD = Channel(id="19:board@thread.tacv2", team="19:team-a@thread.tacv2")
FINANCE = Channel(id="19:finance@thread.tacv2", team="19:team-b@thread.tacv2")
ABROAD = Channel(id="19:abroad@thread.tacv2", team="19:team-x@thread.tacv2", tenant=OTHER_TENANT)
ROSTER = {LEAD: "trust.nhs.uk", AMINA: "trust.nhs.uk", BEN: "council.gov.uk"}


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = [
            {**member.account(), "email": f"{member.name.split()[0].lower()}@{domain}"}
            for member, domain in ROSTER.items()
        ]
        yield fake


def _client(database: Database, clock: Callable[[], datetime] = lambda: FIXED_NOW) -> TestClient:
    settings = Settings(database_url=database.url, lead_user_ids="aad-lead,aad-mallory", _env_file=None)
    app = create_app(settings, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


class Teams:
    """Posts Teams-shaped activities; reads back what reached the connector, as Teams parses it."""

    def __init__(self, client: TestClient, connector: FakeConnector, validator: Draft6Validator) -> None:
        self.client = client
        self.connector = connector
        self.shapes = TeamsShapes(connector.url)
        self.validator = validator

    async def post(self, activity: dict[str, Any]) -> Any:
        before = len(self.connector.wire)
        response = await self.client.post("/api/messages", json=activity)
        raw = await response.read()
        assert response.status in ((200,) if activity["type"] == "invoke" else (200, 201)), raw[:300]
        for _method, _path, sent in self.connector.wire[before:]:
            assert card_problems(self.validator, sent) == []
        return teams_json(raw) if raw else None

    async def said(self, member: Member, text: str, channel: Channel | None = None) -> list[dict[str, Any]]:
        """Every activity the bot sent in answer (parsed from the wire); `channel` None: a 1:1 chat."""
        if channel is None:
            activity = self.shapes.personal_message(member, text)
        else:
            activity = self.shapes.channel_message(member, text, channel)
        before = len(self.connector.wire)
        await self.post(activity)
        answers = [teams_json(raw) for _method, _path, raw in self.connector.wire[before:]]
        assert answers, f"no answer to {text!r}"
        return answers

    async def say(self, member: Member, text: str, channel: Channel | None = None) -> str:
        return "\n".join(answer.get("text") or "" for answer in await self.said(member, text, channel))

    async def start_card(self, member: Member, text: str, channel: Channel) -> dict[str, Any]:
        """A `start` typed in a channel: the confirmation card exactly as it reached the connector."""
        answers = await self.said(member, text, channel)
        cards = [
            attachment["content"]
            for answer in answers
            for attachment in answer.get("attachments") or []
            if attachment.get("contentType") == ADAPTIVE_CARD
        ]
        assert len(cards) == 1, answers
        return cards[0]

    async def start(self, member: Member, text: str, channel: Channel) -> int:
        """A lead's `start`, confirmed on its card; waits until the invitations and the report went."""
        before = len(self.connector.sent)
        card = await self.start_card(member, text, channel)
        data = next(action["data"] for action in card["actions"] if action["title"] == "Send invitations")
        conversation = {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": channel.tenant,
            "id": channel.id,
        }
        body = await self.post(self.shapes.execute(member, data, verb="lead", conversation=conversation))
        assert "sending" in body["value"]
        await self.connector.wait_for_sent(before + 1 + len(ROSTER) + 1)  # card, invitations, report
        return int(data["survey_id"])


async def _person(database: Database, member: Member) -> Person:
    async with transaction(database.sessions) as session:
        return (
            await session.execute(sa.select(Person).where(Person.teams_user_id == member.id))
        ).scalar_one()


async def _answer(database: Database, survey_id: int, member: Member, *, submit: bool = False) -> None:
    person = await _person(database, member)
    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, survey_id)
        assert survey is not None
        await record_answer(session, survey, person, FIRST_QUESTION, "basic", now=FIXED_NOW)
        if submit:
            await submit_response(session, survey, person, now=FIXED_NOW)


def _line(text: str, number: int) -> str:
    """The listing's line for survey `number`."""
    lines = [line for line in text.splitlines() if line.startswith(f"- #{number} ")]
    assert len(lines) == 1, text
    return lines[0]


def _cards(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        attachment["content"]
        for answer in answers
        for attachment in answer.get("attachments") or []
        if attachment.get("contentType") == ADAPTIVE_CARD
    ]


async def test_lead_finds_every_survey_they_run_by_typing_surveys_in_their_own_chat(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        board = await teams.start(
            LEAD, 'start audit-committee-maturity for "Anytown place" title "Board audit 2026"', BOARD
        )
        finance = await teams.start(LEAD, 'start audit-committee-maturity title "Finance audit"', FINANCE)
        abroad = await teams.start(MALLORY, 'start audit-committee-maturity title "Elsewhere"', ABROAD)
        await _answer(database, board, AMINA, submit=True)
        await _answer(database, board, BEN)
        assert "Closed" in await teams.say(LEAD, f"close #{finance}", FINANCE)

        listing = await teams.say(LEAD, "surveys")

    assert "not part of an open survey" not in listing
    board_line = _line(listing, board)
    assert "Board audit 2026" in board_line
    assert "audit-committee-maturity" in board_line
    assert "Anytown place" in board_line
    assert "a team channel" in board_line
    assert "open" in board_line
    assert "1 of 3 submitted, 1 more started" in board_line
    finance_line = _line(listing, finance)
    assert "Finance audit" in finance_line
    assert "closed Monday 23 November 2026, 09:30" in finance_line
    assert "none of 3 submitted" in finance_line
    assert listing.index(f"#{finance} ") < listing.index(f"#{board} ")  # newest first
    assert f"#{abroad} " not in listing  # another tenant's survey
    assert "Elsewhere" not in listing
    assert "status #" in listing  # what to do with a number


async def test_lead_still_sees_their_own_invitations_with_my_surveys(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        board = await teams.start(LEAD, 'start audit-committee-maturity title "Board audit 2026"', BOARD)
        answers = await teams.said(LEAD, "my surveys")

    cards = _cards(answers)
    assert len(cards) == 1  # the survey list card a partner gets, with the lead's own invitation
    assert "Board audit 2026" in str(cards[0])
    assert all(f"#{board} " not in (answer.get("text") or "") for answer in answers)


async def test_partner_who_types_surveys_in_their_chat_gets_their_own_surveys(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        await teams.start(LEAD, 'start audit-committee-maturity title "Board audit 2026"', BOARD)
        finance = await teams.start(LEAD, 'start audit-committee-maturity title "Finance audit"', FINANCE)
        for typed in ("surveys", "my surveys"):
            answers = await teams.said(AMINA, typed)
            cards = _cards(answers)
            assert len(cards) == 1, typed
            assert "Board audit 2026" in str(cards[0])
            assert "Finance audit" in str(cards[0])  # she was invited to both
            assert f"#{finance} " not in str(answers)
            assert "Only partnership leads" not in str(answers)
            assert "works in channels" not in str(answers)


async def test_status_counts_read_naturally_as_partners_start_and_submit(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(LEAD, 'start audit-committee-maturity title "Board audit 2026"', BOARD)
        nobody = await teams.say(AMINA, "status", BOARD)
        await _answer(database, n, AMINA)
        one_started = await teams.say(AMINA, "status", BOARD)
        await _answer(database, n, AMINA, submit=True)
        await _answer(database, n, BEN)
        one_submitted = await teams.say(AMINA, "status", BOARD)
        await _answer(database, n, BEN, submit=True)
        await _answer(database, n, LEAD, submit=True)
        everyone = await teams.say(LEAD, f"status #{n}")  # the lead's 1:1 chat

    assert "None of the 3 have started yet." in nobody
    assert "None of the 3 have submitted yet; 1 has started." in one_started
    assert "1 of 3 has submitted (33%); 1 more has started." in one_submitted
    assert "All 3 have submitted." in everyone
    for text in (nobody, one_started, one_submitted, everyone):
        assert "have submitted (0%)" not in text
        assert "1 more have" not in text
        assert "0 more" not in text


async def test_a_closed_survey_says_when_it_closed_not_when_it_would_have(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    now = [FIXED_NOW]
    async with _client(database, clock=lambda: now[0]) as client:
        teams = Teams(client, connector, card_schema)
        early = await teams.start(
            LEAD, 'start audit-committee-maturity closes 20 December title "Closed early"', BOARD
        )
        lapsed = await teams.start(
            LEAD, 'start audit-committee-maturity closes 30 November title "Ran its course"', FINANCE
        )
        open_now = await teams.say(LEAD, f"status #{early}")
        now[0] = FIXED_NOW + timedelta(days=2)
        assert "Closed" in await teams.say(LEAD, f"close #{early}", BOARD)
        now[0] = FIXED_NOW + timedelta(days=8)
        past_deadline = await teams.say(AMINA, "status", FINANCE)  # before the deadline job ran
        async with transaction(database.sessions) as session:
            await close_due_surveys(session, now=now[0])  # the deadline job, a day after it passed
        closed_early = await teams.say(LEAD, f"status #{early}")
        closed_lapsed = await teams.say(AMINA, "status", FINANCE)
        listing = await teams.say(LEAD, "surveys")

    assert "(open, closes Sunday 20 December 2026, 23:59)" in open_now
    assert "(closed Wednesday 25 November 2026, 09:30)" in closed_early
    assert "closes" not in closed_early.splitlines()[0]
    for lapsed_status in (past_deadline, closed_lapsed):  # it closed at its deadline, not when noticed
        assert "(closed Monday 30 November 2026, 23:59)" in lapsed_status
    assert "closed Wednesday 25 November 2026, 09:30" in _line(listing, early)
    assert "closes" not in _line(listing, early)
    assert "closed Monday 30 November 2026, 23:59" in _line(listing, lapsed)


async def test_start_card_tells_the_lead_how_unassigned_people_get_an_organisation(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        unmapped = await teams.start_card(LEAD, "start audit-committee-maturity", BOARD)
        async with transaction(database.sessions) as session:
            await map_domain(session, "trust.nhs.uk", "Anytown NHS Trust", now=FIXED_NOW)
        partly = await teams.start_card(LEAD, 'start audit-committee-maturity title "Second"', BOARD)
        async with transaction(database.sessions) as session:
            await map_domain(session, "council.gov.uk", "Borough Council", now=FIXED_NOW)
        mapped = await teams.start_card(LEAD, 'start audit-committee-maturity title "Third"', BOARD)

    def facts(card: dict[str, Any]) -> dict[str, str]:
        return {fact["title"]: fact["value"] for block in card["body"] for fact in block.get("facts", [])}

    def texts(card: dict[str, Any]) -> str:
        return "\n".join(block.get("text", "") for block in card["body"])

    assert facts(unmapped)["Organisations"] == "Unassigned 3"
    assert "map domain" in texts(unmapped)
    assert "my organisation" in texts(unmapped)
    assert facts(partly)["Organisations"] == "Anytown NHS Trust 2, Unassigned 1"
    assert "map domain" in texts(partly)
    assert facts(mapped)["Organisations"] == "Anytown NHS Trust 2, Borough Council 1"
    assert "map domain" not in texts(mapped)  # nothing to assign: no hint


async def test_help_in_a_leads_chat_names_surveys_but_a_partners_names_only_my_surveys(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        lead_help = await teams.say(LEAD, "commands")
        partner_help = await teams.say(AMINA, "commands")
        lead_topic = await teams.say(LEAD, "help surveys")

    assert "• surveys — " in lead_help
    assert "• my surveys — " in lead_help
    assert "• surveys — " not in partner_help
    assert "• my surveys — " in partner_help
    assert "a lead sees every survey they can reach" in lead_topic
    assert "It works" not in lead_topic


async def test_status_without_a_number_in_a_leads_chat_points_to_surveys_which_answers(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(LEAD, 'start audit-committee-maturity title "Board audit 2026"', BOARD)
        asked = await teams.say(LEAD, "status")
        unknown = await teams.say(LEAD, "status #999")
        listing = await teams.say(LEAD, "surveys")
        status = await teams.say(LEAD, f"status #{_listed_number(listing)}")

    assert "There is no survey here yet" not in asked  # there is one: it just needs naming
    assert "say surveys to see the numbers" in asked
    assert unknown == "There is no survey #999 here. Say surveys to see their numbers."
    assert _listed_number(listing) == n
    assert "Board audit 2026" in status


def _listed_number(listing: str) -> int:
    """The number of the first survey a listing shows."""
    first = next(line for line in listing.splitlines() if line.startswith("- #"))
    return int(first[3:].split()[0])
