"""The survey through the real web app: Teams-shaped JSON in, a fake Bot Connector on localhost out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.tables import Answer
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import open_survey_for

AUDIT = load_directory().frameworks["audit-committee-maturity"]
FIRST = "mergers-acquisitions-and-disposals"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def backend(database: Database) -> Database:
    """A migrated database (SQLite, and PostgreSQL when configured) with one open survey for Amina."""
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    return database


def _client(backend: Database) -> TestClient:
    app = create_app(
        Settings(database_url=backend.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=backend.engine_kwargs,
    )
    return TestClient(TestServer(app, host="127.0.0.1"))


class Teams:
    """Builds activities as Teams sends them for one person's 1:1 chat."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.count = 0

    def _base(self, **fields: Any) -> dict[str, Any]:
        self.count += 1
        return {
            "id": f"1700000000{self.count:03d}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina"},
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {"id": "a:amina", "conversationType": "personal", "tenantId": "t1"},
            "channelData": {"tenant": {"id": "t1"}},
            **fields,
        }

    def message(self, text: str) -> dict[str, Any]:
        return self._base(type="message", text=text)

    def execute(self, data: dict[str, Any], **inputs: Any) -> dict[str, Any]:
        """A Universal Action (Action.Execute) click: an adaptiveCard/action invoke."""
        action = {"type": "Action.Execute", "verb": "survey", "data": {**data, **inputs}}
        return self._base(
            type="invoke", name="adaptiveCard/action", value={"action": action, "trigger": "manual"}
        )

    def submit(self, data: dict[str, Any], reply_to: str, **inputs: Any) -> dict[str, Any]:
        """The Action.Submit fallback: a message with the card's data and inputs as value."""
        return self._base(type="message", value={**data, **inputs}, replyToId=reply_to)


def _buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute's data in a card, wherever it sits."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def _answers(backend: Database) -> dict[str, Answer]:
    async with backend.sessions() as session:
        return {a.element_id: a for a in (await session.execute(sa.select(Answer))).scalars()}


async def test_partner_answers_with_universal_action_cards(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        assert (await client.post("/api/messages", json=teams.message("resume"))).status == 201
        question = connector.cards()[-1]
        choose = next(
            b for b in _buttons(question) if b.get("action") == "answer" and b.get("value") == "results"
        )
        response = await client.post("/api/messages", json=teams.execute(choose, comment="Audit plan 2026"))
        assert response.status == 200
        body = await response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    replaced = json.dumps(body["value"])
    assert "Results" in replaced
    assert _buttons(body["value"]) == []  # the read-only card cannot be submitted again
    assert "2 of 5" in json.dumps(connector.cards()[-1])
    answer = (await _answers(backend))[FIRST]
    assert (answer.value, answer.comment) == ("results", "Audit plan 2026")


async def test_the_submit_fallback_replaces_the_answered_card(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        question = connector.cards()[-1]
        choose = next(b for b in _buttons(question) if b.get("value") == "basic")
        card_id = "activity-1"
        assert (await client.post("/api/messages", json=teams.submit(choose, reply_to=card_id))).status == 201
    assert [u["_activity_id"] for u in connector.updated] == [card_id]
    assert "Basic" in json.dumps(connector.updated[0])
    assert (await _answers(backend))[FIRST].value == "basic"


async def test_a_duplicated_activity_records_one_answer_and_sends_one_reply(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        answer = teams.message("4")
        await client.post("/api/messages", json=answer)
        sent = len(connector.sent)
        assert (await client.post("/api/messages", json=answer)).status == 201
        assert len(connector.sent) == sent
        question = connector.cards()[-1]
        click = teams.execute(next(b for b in _buttons(question) if b.get("value") == "maturity"))
        first = await client.post("/api/messages", json=click)
        again = await client.post("/api/messages", json=click)
        assert (first.status, again.status) == (200, 200)
        assert (await again.json())["value"] == "Already received."
    answers = await _answers(backend)
    assert {k: a.value for k, a in answers.items()} == {FIRST: "results", "continuity-of-supply": "maturity"}


async def test_partner_resumes_survey_after_the_app_restarts(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        await client.post("/api/messages", json=teams.message("2"))
    async with _client(backend) as restarted:
        await restarted.post("/api/messages", json=teams.message("3"))
    assert "3 of 5" in json.dumps(connector.cards()[-1])
    answers = await _answers(backend)
    assert {k: a.value for k, a in answers.items()} == {
        FIRST: "basic",
        "continuity-of-supply": "early-progress",
    }


async def test_a_malformed_invoke_gets_a_clear_answer_not_a_500(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        response = await client.post(
            "/api/messages", json=teams.execute({"action": "answer", "survey_id": "x"})
        )
        assert response.status == 200
        body = await response.json()
        assert "couldn't read that card" in json.dumps(body)
        no_action = teams.execute({})
        no_action["value"] = {"trigger": "manual"}
        response = await client.post("/api/messages", json=no_action)
        assert response.status == 200  # Universal Actions: the error is in the body's statusCode
        assert (await response.json())["statusCode"] == 400


async def test_a_typed_answer_makes_the_question_card_read_only(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        card_id = f"activity-{len(connector.sent)}"
        await client.post("/api/messages", json=teams.message("maturity because of the new plan"))
    assert [u["_activity_id"] for u in connector.updated] == [card_id]
    replaced = connector.updated[0]["attachments"][0]["content"]
    assert "Maturity" in json.dumps(replaced)
    assert _buttons(replaced) == []
    assert "2 of 5" in json.dumps(connector.cards()[-1])


async def test_a_reply_teams_throttles_briefly_is_sent_after_the_wait_it_asked_for(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        connector.send_faults = [(429, {"Retry-After": "0"})]  # the tenant is busy: "try again now"
        response = await client.post("/api/messages", json=teams.message("4"))
        assert response.status == 201
    assert connector.refused_sends == 1
    assert "2 of 5" in json.dumps(connector.cards()[-1])  # the next question arrived after all
    assert {k: a.value for k, a in (await _answers(backend)).items()} == {FIRST: "results"}


async def test_a_reply_teams_wants_held_for_long_fails_the_turn_but_keeps_the_answer(
    backend: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(backend) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        connector.send_faults = [(429, {"Retry-After": "60"})]  # the reply
        response = await client.post("/api/messages", json=teams.message("4"))
        assert response.status == 502  # Teams will deliver it again
        retried = await client.post("/api/messages", json=teams.message("4") | {"id": "1700000000002"})
        assert retried.status == 201
    assert {k: a.value for k, a in (await _answers(backend)).items()} == {FIRST: "results"}
