"""Where partners stumbled (issue 17, items 1 and 3): changing an answer mid-survey, leaving the review,
and submitting a survey that is mostly unanswered; a long framework answered one domain at a time.

Each story runs as a typed conversation (TestAdapter, plain text, as in the terminal) and, for what Teams
shows, through the real web app with Teams-shaped activities, every card checked against the 1.5 schema
from the bytes that travelled.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.db import transaction
from storage.tables import Answer, Response
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import Partner, open_survey_for, text_bot
from tests.fakes.teams_wire import ADAPTIVE_CARD, Member, TeamsShapes, card_problems, teams_json

CATALOGUE = load_directory()
AUDIT = CATALOGUE.frameworks["audit-committee-maturity"]  # 5 questions, one domain
PLACE = CATALOGUE.frameworks["place-partnership-maturity"]  # 23 questions (21 scored), 3 domains
ROADMAP = CATALOGUE.frameworks["ics-development-roadmap"]  # 128 outcomes (124 scored), 3 domains
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")


def _joined(replies: list[str]) -> str:
    return "\n".join(replies)


async def _answers(db: Database) -> dict[str, Answer]:
    async with transaction(db.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    return {row.element_id: row for row in rows}


async def _submitted(db: Database) -> bool:
    async with transaction(db.sessions) as session:
        response = (await session.execute(sa.select(Response))).scalar_one_or_none()
    return response is not None and response.submitted_at is not None


# -- typed: changing an answer, and leaving the review -------------------------------------------


async def test_partner_changes_question_1_while_on_question_8_and_is_taken_back_to_question_8(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for _ in range(7):
        on_eight = _joined(await partner.says("2"))
    assert "8 of 23" in on_eight

    change = _joined(await partner.says("change 1"))
    assert "1 of 23" in change
    back_on_eight = _joined(await partner.says("3"))
    assert "Saved “Vision”: Maturing." in back_on_eight
    assert "8 of 23" in back_on_eight
    assert "Review:" not in back_on_eight

    answered = _joined(await partner.says("4"))  # the answer goes to question 8, as they expect
    assert "9 of 23" in answered
    answers = await _answers(database)
    assert answers["vision"].value == "maturing"
    assert answers["enabler-od"].value == "thriving"


async def test_a_change_started_from_a_mid_survey_review_returns_to_the_question_left(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for _ in range(7):
        await partner.says("2")
    review = _joined(await partner.says("review"))
    assert "Type “continue” to answer the 14 questions not answered yet" in review
    await partner.says("change 2")
    after = _joined(await partner.says("1"))
    assert "8 of 23" in after
    assert (await _answers(database))["health-and-care-needs-assessment"].value == "emerging"


async def test_continue_during_a_change_keeps_the_answer_and_goes_back(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for _ in range(3):
        await partner.says("2")
    await partner.says("change 1")
    back = _joined(await partner.says("continue"))
    assert "4 of 23" in back
    assert (await _answers(database))["vision"].value == "developing"


async def test_skip_on_an_answered_question_keeps_the_answer_as_the_bot_says(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for reply in ("2", "3", "4"):
        await partner.says(reply)
    back = _joined(await partner.says("back"))
    assert "skip to keep it" in back
    kept = _joined(await partner.says("skip"))
    assert "Kept your answer to “Clinically and professionally led”: Thriving." in kept
    assert "4 of 23" in kept
    await partner.says("change 1")
    kept_again = _joined(await partner.says("skip"))
    assert "Kept your answer to “Vision”: Developing." in kept_again
    assert "4 of 23" in kept_again
    answers = await _answers(database)
    assert answers["vision"].value == "developing"
    assert answers["clinically-and-professionally-led"].value == "thriving"
    assert not answers["clinically-and-professionally-led"].skipped


async def test_a_title_with_its_own_quotes_is_quoted_once_when_an_answer_is_kept(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("change 3")
    await partner.says("at risk")
    await partner.says("change 3")
    kept = _joined(await partner.says("skip"))
    assert "Kept your answer to “OD plan for a ‘one team’ mindset agreed”: At risk." in kept


async def test_from_the_review_continue_resume_and_back_go_to_the_first_unanswered_question(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for reply in ("2", "3", "skip", "4", "1"):
        await partner.says(reply)
    await partner.says("back")
    await partner.says("back")  # on question 4 (answered) when opening the review
    for word in ("continue", "resume", "back"):
        review = _joined(await partner.says("review"))
        assert "Type “continue” to answer the 16 questions not answered yet" in review
        first_open = _joined(await partner.says(word))
        assert "6 of 23" in first_open, word
        assert "Review:" not in first_open


async def test_a_word_the_review_does_not_know_gets_one_line_not_the_review_again(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    await partner.says("review")
    hint = _joined(await partner.says("banana"))
    for word in ("continue", "change N", "submit"):
        assert word in hint
    assert len(hint.splitlines()) <= 3
    assert "Vision —" not in hint  # no review lines reprinted
    assert "2 of 23" in _joined(await partner.says("continue"))


async def test_changing_an_answer_after_the_last_question_returns_to_the_review(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for reply in ("2", "3", "4", "5", "6"):
        last = _joined(await partner.says(reply))
    assert "last question" in last
    await partner.says("change 2")
    review = _joined(await partner.says("7"))
    assert "Review:" in review
    assert "continue" not in review  # nothing is left unanswered
    assert "Every question has an answer" in _joined(await partner.says("continue"))


# -- typed: submitting a mostly empty survey, and answering by domain ----------------------------


async def test_submitting_the_roadmap_after_6_answers_says_what_is_unanswered_and_asks_first(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for _ in range(6):
        await partner.says("on track")
    asked = _joined(await partner.says("submit"))
    assert "118 of 124 questions are not answered yet" in asked
    assert "ICB Architecture: 36 of 42" in asked
    assert "ICS Development: 36 of 36" in asked
    assert "ICS Enablers: 46 of 46" in asked
    assert "“submit anyway” (or “yes”)" in asked
    assert not await _submitted(database)

    done = _joined(await partner.says("yes"))
    assert "submitted" in done
    assert "118 not answered" in done
    assert await _submitted(database)


async def test_after_the_warning_continue_goes_on_answering_and_yes_no_longer_submits(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("delivered")
    await partner.says("review")
    assert "submit anyway" in _joined(await partner.says("submit"))
    carry_on = _joined(await partner.says("continue"))
    assert "2 of 128" in carry_on
    refused = _joined(await partner.says("yes"))
    assert "2 of 128" in refused
    assert not await _submitted(database)
    assert "submitted" in _joined(await partner.says("submit anyway"))
    assert await _submitted(database)


async def test_a_few_unanswered_questions_are_submitted_without_asking_and_named(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    await partner.says("3")
    await partner.says("review")
    done = _joined(await partner.says("submit"))
    assert "submitted" in done
    assert "3 not answered" in done
    assert await _submitted(database)


async def test_when_answers_lock_on_submit_even_one_unanswered_question_is_asked_about(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now, lock_after_submit=True)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for reply in ("2", "3", "4", "5"):
        await partner.says(reply)
    asked = _joined(await partner.says("submit"))
    assert "1 of 5 questions is not answered yet" in asked
    assert "can't be changed" in asked
    assert not await _submitted(database)


async def test_partner_answers_the_roadmap_one_domain_at_a_time(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("delivered")
    listed = _joined(await partner.says("domains"))
    assert "1. ICB Architecture — 1 of 42 answered" in listed
    assert "2. ICS Development — 0 of 36 answered" in listed
    assert "3. ICS Enablers — 0 of 46 answered" in listed
    assert "domain N" in listed

    jumped = _joined(await partner.says("domain 3"))
    assert "ICS Enablers · 80 of 128" in jumped
    assert "81 of 128" in _joined(await partner.says("at risk"))
    assert "3. ICS Enablers — 1 of 46 answered" in _joined(await partner.says("domains"))
    missing = _joined(await partner.says("domain 4"))
    assert "There is no domain 4: they run from 1 to 3." in missing
    answers = await _answers(database)
    first_enabler = ROADMAP.domains[2].elements[0].id
    assert answers[first_enabler].value == "at-risk"
    assert len(answers) == 2


async def test_finishing_a_chosen_domain_says_so_and_carries_on_with_the_next(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    assert "System leadership · 11 of 23" in _joined(await partner.says("domain 2"))
    for _ in range(5):
        last = _joined(await partner.says("3"))
    assert "That completes “System leadership”." in last
    assert "Design and delivery · 16 of 23" in last
    listed = _joined(await partner.says("domains"))
    assert "2. System leadership — ✓ all done (5 answered, 0 skipped)" in listed
    assert "Every question in “System leadership” has an answer" in _joined(await partner.says("domain 2"))


# -- in Teams: the same stories, on the wire ----------------------------------------------------


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


class Wire:
    """Posts Teams-shaped activities and checks what Teams reads: the response and the connector's bytes."""

    def __init__(self, client: TestClient, connector: FakeConnector, validator: Draft6Validator) -> None:
        self.client = client
        self.connector = connector
        self.validator = validator
        self.teams = TeamsShapes(connector.url)
        self.checked = 0

    async def says(self, text: str) -> None:
        response = await self.client.post("/api/messages", json=self.teams.personal_message(AMINA, text))
        assert response.status in (200, 201), await response.text()
        self._check_connector()

    async def presses(self, data: dict[str, Any]) -> Any:
        response = await self.client.post("/api/messages", json=self.teams.execute(AMINA, data))
        body = await self._invoke_body(response)
        self._check_connector()
        return body

    async def _invoke_body(self, response: ClientResponse) -> Any:
        raw = await response.read()
        assert response.status == 200, raw[:300]
        assert card_problems(self.validator, raw) == []
        body = teams_json(raw)
        assert body["statusCode"] == 200, body
        return body

    def _check_connector(self) -> None:
        for method, path, raw in self.connector.wire[self.checked :]:
            assert card_problems(self.validator, raw) == [], (method, path)
        self.checked = len(self.connector.wire)

    def last_card(self) -> dict[str, Any]:
        return self.connector.cards()[-1]


def _client(database: Database) -> TestClient:
    app = create_app(
        Settings(database_url=database.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=database.engine_kwargs,
    )
    return TestClient(TestServer(app, host="127.0.0.1"))


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
            return dict(data)
    raise AssertionError(f"no button {match} in {[b.get('data') for b in _buttons(card)]}")


def _titles(card: dict[str, Any]) -> list[str]:
    return [button["title"] for button in _buttons(card)]


async def test_in_teams_a_change_from_the_review_returns_to_the_question_and_continue_is_a_button(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await open_survey_for(database.sessions, PLACE, FIXED_NOW, user_ids=(AMINA.id,))
    async with _client(database) as client:
        wire = Wire(client, connector, card_schema)
        await wire.says("resume")
        for _ in range(7):
            await wire.presses(_press(wire.last_card(), action="answer", value="developing"))
        assert "8 of 23" in json.dumps(wire.last_card())

        await wire.says("review")
        review = wire.last_card()
        assert "Answer the 14 not answered" in _titles(review)
        change = {**_press(review, action="change"), "element_id": "vision"}  # the dropdown's input
        await wire.presses(change)
        question = wire.last_card()
        assert "1 of 23" in json.dumps(question)
        await wire.presses(_press(question, action="answer", value="thriving"))
        assert "8 of 23" in json.dumps(wire.last_card())

        await wire.says("review")
        await wire.presses(_press(wire.last_card(), action="continue"))
        assert "8 of 23" in json.dumps(wire.last_card())
    assert (await _answers(database))["vision"].value == "thriving"


async def test_in_teams_submitting_a_mostly_empty_roadmap_asks_on_a_card_and_offers_its_domains(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await open_survey_for(database.sessions, ROADMAP, FIXED_NOW, user_ids=(AMINA.id,))
    async with _client(database) as client:
        wire = Wire(client, connector, card_schema)
        await wire.says("resume")
        await wire.presses(_press(wire.last_card(), action="answer", value="delivered"))
        await wire.says("review")
        body = await wire.presses(_press(wire.last_card(), action="submit"))
        assert body["type"] == "application/vnd.microsoft.activity.message"
        assert "Not submitted yet" in body["value"]
        asking = wire.last_card()
        words = json.dumps(asking, ensure_ascii=False)
        assert "123 of 124 questions are not answered yet" in words
        assert "ICB Architecture: 41 of 42" in words
        assert _titles(asking) == ["Answer the rest now", "Choose a domain", "Submit anyway"]
        assert not await _submitted(database)

        await wire.presses(_press(asking, action="domain"))
        domains = wire.last_card()
        assert "ICS Enablers" in json.dumps(domains)
        await wire.presses(_press(domains, action="domain", value=ROADMAP.domains[2].id))
        assert "ICS Enablers · 80 of 128" in json.dumps(wire.last_card(), ensure_ascii=False)

        body = await wire.presses(_press(asking, action="submit_anyway"))
        assert body["value"] == "Submitted. Thank you!"
        thanks = json.dumps(wire.last_card(), ensure_ascii=False)
        assert "123 not answered" in thanks
        assert connector.sent[-1]["attachments"][0]["contentType"] == ADAPTIVE_CARD
    assert await _submitted(database)
