"""The contract with Teams, read from the bytes: a lead's round and a partner's answers, start to end.

Every activity is shaped as Microsoft's published examples (tests/teams_wire.py) and POSTed to the
real app's /api/messages. Every response body is parsed as strictly as Teams parses it, and every
Adaptive Card, in a response body or sent to the (fake) Bot Connector, must pass the 1.5 schema from
the bytes that travelled, not from the objects the bot built.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import SENDER, create_app
from bot.settings import Settings
from storage.tables import Answer, Response
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import ADAPTIVE_CARD, Channel, Member, TeamsShapes, card_problems, teams_json

LEAD = Member("29:1lead-GcQ4xP", "Lee Lead", "6f1c2b7a-0d3e-4c5f-9a8b-7e6d5c4b3a21")
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
BEN = Member("29:1ben-Tr5yUi", "Ben Okafor", "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b")
CHANNEL = Channel()
UNIVERSAL_ACTION_TYPES = {ADAPTIVE_CARD, "application/vnd.microsoft.activity.message"}


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = [
            {**member.account(), "email": f"{member.name.split()[0].lower()}@trust.nhs.uk"}
            for member in (LEAD, AMINA, BEN)
        ]
        yield fake


def _client(database: Database) -> TestClient:
    settings = Settings(database_url=database.url, lead_user_ids=LEAD.aad_object_id, _env_file=None)
    app = create_app(settings, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


class Wire:
    """Posts activities and checks everything Teams would read: the response and the connector's bytes."""

    def __init__(self, client: TestClient, connector: FakeConnector, validator: Draft6Validator) -> None:
        self.client = client
        self.connector = connector
        self.validator = validator
        self.checked = 0
        self.cards_seen = 0

    async def post(self, activity: dict[str, Any]) -> Any:
        response = await self.client.post("/api/messages", json=activity)
        body = await self._body(activity, response)
        self.check_connector()
        return body

    async def _body(self, activity: dict[str, Any], response: ClientResponse) -> Any:
        raw = await response.read()
        if activity["type"] != "invoke":
            assert response.status in (200, 201), (response.status, raw[:300])
            return None
        assert response.status == 200, (response.status, raw[:300])
        assert response.content_type == "application/json"
        assert card_problems(self.validator, raw) == []
        body = teams_json(raw)
        if activity["name"] == "adaptiveCard/action":
            assert body["statusCode"] == 200, body
            assert body["type"] in UNIVERSAL_ACTION_TYPES
            if body["type"] == ADAPTIVE_CARD:
                assert isinstance(body["value"], dict)
                self.cards_seen += 1
            else:
                assert isinstance(body["value"], str)
        return body

    def check_connector(self) -> None:
        """Every send and update that reached Teams since the last check: strict JSON, valid cards."""
        for method, path, raw in self.connector.wire[self.checked :]:
            assert card_problems(self.validator, raw) == [], (method, path)
            payload = teams_json(raw)
            self.cards_seen += sum(
                1 for a in payload.get("attachments") or [] if a.get("contentType") == ADAPTIVE_CARD
            )
            if payload.get("attachments"):
                assert not payload.get("text"), "a card travels alone, so its id can be updated later"
        self.checked = len(self.connector.wire)

    def last_card(self, conversation_id: str) -> dict[str, Any]:
        for activity in reversed(self.connector.sent_to(conversation_id)):
            for attachment in activity.get("attachments") or []:
                if attachment["contentType"] == ADAPTIVE_CARD:
                    return attachment["content"]
        raise AssertionError(f"no card sent to {conversation_id}")


def _buttons(card: Any) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, wherever it sits."""
    if isinstance(card, dict):
        own = [card] if card.get("type") == "Action.Execute" else []
        return own + [b for value in card.values() for b in _buttons(value)]
    if isinstance(card, list):
        return [b for value in card for b in _buttons(value)]
    return []


def _press(card: dict[str, Any], **match: Any) -> dict[str, Any]:
    for button in _buttons(card):
        data = button.get("data") or {}
        if all(data.get(key) == value for key, value in match.items()):
            return data
    raise AssertionError(f"no button {match} in the card")


async def test_a_round_from_the_leads_channel_to_partners_answers_renders_everywhere_in_teams(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        wire = Wire(client, connector, card_schema)
        await wire.post(teams.bot_added_to_team(LEAD, CHANNEL))
        assert connector.sent_to(CHANNEL.id), "the bot says hello in the channel it was added to"

        start = teams.channel_message(LEAD, "start audit-committee-maturity closes 30 November", CHANNEL)
        await wire.post(start)
        thread = start["conversation"]["id"]
        confirm = _press(wire.last_card(thread), lead="confirm")
        before = len(connector.sent)  # counted first: the invitations may all go before the press's answer
        body = await wire.post(teams.execute(LEAD, confirm, verb="lead", conversation=start["conversation"]))
        assert "sending 3 invitations" in body["value"]
        await connector.wait_for_sent(before + 3 + 1)
        await client.app[SENDER].drain_once()
        wire.check_connector()

        amina_chat = teams.personal(AMINA)["id"]
        invitation = next(
            attachment["content"]
            for activity in connector.sent
            for attachment in activity.get("attachments") or []
            if activity["_conversation_id"] == f"a:{AMINA.id}"
        )
        await wire.post(teams.bot_added_to_personal_chat(AMINA))
        await wire.post(teams.installation_added(AMINA))
        body = await wire.post(teams.execute(AMINA, _press(invitation, action="start")))
        question = body["value"] if body["type"] == ADAPTIVE_CARD else wire.last_card(amina_chat)

        # Every answer pressed on its card: the card comes back read-only, the next question follows.
        for position in range(5):
            if position == 1:
                data = _press(question, action="skip")
            elif position == 2:
                data = {**_press(question, action="answer"), "comment": "Minutes of the March board"}
            else:
                data = _press(question, action="answer")
            body = await wire.post(teams.execute(AMINA, data))
            if body["type"] == ADAPTIVE_CARD:
                assert _buttons(body["value"]) == [], "an answered card cannot be pressed again"
            question = wire.last_card(amina_chat)

        body = await wire.post(teams.execute(AMINA, _press(question, action="submit")))
        await wire.post(teams.personal_message(AMINA, "my surveys"))

        # Ben answers by typing; the lead asks for results in a new post of the same channel.
        await wire.post(teams.personal_message(BEN, "resume"))
        await wire.post(teams.personal_message(BEN, "3 because the committee met quarterly"))
        await wire.post(teams.channel_message(LEAD, "status", CHANNEL))
        await wire.post(teams.channel_message(LEAD, "results", CHANNEL))
        status, results = connector.sent[-2:]
        assert "1 of 3 has submitted" in status["text"]  # found from a new post, not only the thread
        assert "Audit committee maturity matrix" in json.dumps(results["attachments"][0]["content"])

    async with database.sessions() as session:
        responses = (await session.execute(sa.select(Response))).scalars().all()
        answers = (await session.execute(sa.select(Answer))).scalars().all()
    assert sum(1 for r in responses if r.submitted_at is not None) == 1
    assert len([a for a in answers if a.value is not None]) == 4 + 1  # Amina's four and Ben's one
    assert wire.cards_seen >= 12
