"""What Teams reads when a turn goes wrong: cards as JSON, no success for an answer not stored, replies
that survive a crash, clear answers to invokes the bot does not handle, and throttled card updates.

Everything goes through the real app's /api/messages with Teams-shaped activities (tests/teams_wire.py);
response bodies are parsed as strictly as Teams parses them and every card is checked against the
Adaptive Cards 1.5 schema from the bytes that travelled. Faults are injected from outside the bot: the
database fails a commit or a state write once, or the process "dies" right after a turn's commit.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import ENGINE, create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.tables import Answer, ProcessedActivity
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import open_survey_for
from tests.fakes.teams_wire import ADAPTIVE_CARD, Member, TeamsShapes, card_problems, teams_json

CATALOGUE = load_directory()
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
ERROR = "application/vnd.microsoft.error"
MESSAGE = "application/vnd.microsoft.activity.message"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


async def _survey(database: Database, framework: str = "audit-committee-maturity") -> None:
    await open_survey_for(database.sessions, CATALOGUE.frameworks[framework], FIXED_NOW, user_ids=(AMINA.id,))


def _client(database: Database) -> TestClient:
    """One bot process; a second call on the same database is the process after a restart."""
    app = create_app(
        Settings(database_url=database.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=database.engine_kwargs,
    )
    return TestClient(TestServer(app, host="127.0.0.1"))


def _buttons(card: Any) -> list[dict[str, Any]]:
    """Every Action.Execute's data in a card, wherever it sits."""
    if isinstance(card, dict):
        own = [card.get("data") or {}] if card.get("type") == "Action.Execute" else []
        return own + [b for value in card.values() for b in _buttons(value)]
    if isinstance(card, list):
        return [b for value in card for b in _buttons(value)]
    return []


def _nodes(card: Any) -> list[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(card, dict):
        return [card] + [n for value in card.values() for n in _nodes(value)]
    if isinstance(card, list):
        return [n for value in card for n in _nodes(value)]
    return []


def _press(card: dict[str, Any], **match: Any) -> dict[str, Any]:
    for data in _buttons(card):
        if all(data.get(key) == value for key, value in match.items()):
            return data
    raise AssertionError(f"no button {match} in the card")


def _question(connector: FakeConnector) -> dict[str, Any]:
    return connector.cards()[-1]


async def _universal_action(
    client: TestClient, activity: dict[str, Any], validator: Draft6Validator
) -> dict[str, Any]:
    """POST an adaptiveCard/action and read the body as Teams does: HTTP 200, strict JSON, valid cards."""
    response = await client.post("/api/messages", json=activity)
    raw = await response.read()
    assert response.status == 200, (response.status, raw[:300])
    assert response.content_type == "application/json"
    assert card_problems(validator, raw) == []
    body = teams_json(raw)
    assert isinstance(body, dict)
    assert set(body) == {"statusCode", "type", "value"}, body
    return body


def _read_only_card(body: dict[str, Any]) -> dict[str, Any]:
    """The answered card that replaces the pressed one: a JSON object, with nothing left to press."""
    assert (body["statusCode"], body["type"]) == (200, ADAPTIVE_CARD), body
    assert isinstance(body["value"], dict), f"not a card object: {str(body['value'])[:80]}"
    assert _buttons(body["value"]) == []
    return body["value"]


def _wire_problems(connector: FakeConnector, validator: Draft6Validator) -> list[str]:
    return [problem for _method, _path, raw in connector.wire for problem in card_problems(validator, raw)]


async def _answers(database: Database) -> list[Answer]:
    async with database.sessions() as session:
        return list((await session.execute(sa.select(Answer).order_by(Answer.element_id))).scalars())


async def _claims(database: Database) -> int:
    async with database.sessions() as session:
        return len((await session.execute(sa.select(ProcessedActivity.key))).all())


# 1. Cards in invoke responses are JSON --------------------------------------------------------------


async def test_every_answer_and_skip_press_gets_back_a_card_teams_can_render(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _survey(database, "place-partnership-maturity")
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        answer = _press(_question(connector), action="answer")
        _read_only_card(await _universal_action(client, teams.execute(AMINA, answer), card_schema))
        for _ in range(7):  # to the ninth question, the first one in development (not scored)
            skip = _press(_question(connector), action="skip")
            _read_only_card(await _universal_action(client, teams.execute(AMINA, skip), card_schema))
        comment = {**_press(_question(connector), action="comment"), "comment": "Shared care record live"}
        card = _read_only_card(await _universal_action(client, teams.execute(AMINA, comment), card_schema))
    assert "Shared care record live" in str(card)
    assert _wire_problems(connector, card_schema) == []
    answers = await _answers(database)
    assert sum(a.skipped for a in answers) == 7
    assert [(a.element_id, a.comment) for a in answers if not a.skipped and a.value is None] == [
        ("enabler-digital", "Shared care record live")
    ]


async def test_a_saved_score_comes_back_as_a_card_teams_can_render(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _survey(database, "integrated-care-self-test")
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        question = _question(connector)
        [choices] = [node["choices"] for node in _nodes(question) if node.get("type") == "Input.ChoiceSet"]
        chosen = choices[-2]  # what Teams merges into the button's data: the input's id and value
        save = {**_press(question, action="answer"), "value": chosen["value"]}
        card = _read_only_card(await _universal_action(client, teams.execute(AMINA, save), card_schema))
    assert chosen["value"] in str(card)
    assert [a.value for a in await _answers(database)] == [chosen["value"]]


# 2. No success for an answer that is not stored ------------------------------------------------------


class FlakyDatabase:
    """The app's real database, failing once in the next transaction that writes an answer: at its
    commit, or at the write of the conversation's state, as when PostgreSQL's connection drops."""

    ANSWER_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE) answers\b", re.IGNORECASE)
    STATE_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE) bot_state\b", re.IGNORECASE)

    def __init__(self, engine: AsyncEngine, at: str) -> None:
        self._engine = engine.sync_engine
        self._at = at
        self.failures = 0

    def _fail(self) -> None:
        self.failures += 1
        raise OperationalError("COMMIT", None, ConnectionResetError("connection reset by peer"))

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.ANSWER_WRITE.match(statement):
            conn.info["wrote_answer"] = True
        elif self._at == "state" and self.STATE_WRITE.match(statement) and self._due(conn):
            self._fail()

    def _commit(self, conn: Any) -> None:
        if self._at == "commit" and self._due(conn):
            self._fail()

    def _due(self, conn: Any) -> bool:
        return self.failures == 0 and conn.info.pop("wrote_answer", False)

    @contextmanager
    def armed(self) -> Iterator[FlakyDatabase]:
        event.listen(self._engine, "before_cursor_execute", self._statement)
        event.listen(self._engine, "commit", self._commit)
        try:
            yield self
        finally:
            event.remove(self._engine, "before_cursor_execute", self._statement)
            event.remove(self._engine, "commit", self._commit)


@pytest.mark.parametrize("fault", ["commit", "state"])
async def test_an_answer_whose_turn_fails_to_commit_is_not_acknowledged_and_pressing_again_saves_it_once(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
    fault: str,
) -> None:
    await _survey(database)
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        sent = len(connector.sent)
        choose = _press(_question(connector), action="answer", value="results")
        with FlakyDatabase(client.app[ENGINE], at=fault).armed() as flaky:
            body = await _universal_action(client, teams.execute(AMINA, choose), card_schema)
        assert flaky.failures == 1
        assert (body["statusCode"], body["type"]) == (500, ERROR), "never a success for a lost answer"
        assert "not saved" in body["value"]["message"]
        assert await _answers(database) == []
        assert len(connector.sent) == sent, "nothing of the failed turn reached the chat"

        # The card was not replaced, so the partner presses the same button again.
        again = await _universal_action(client, teams.execute(AMINA, choose), card_schema)
        _read_only_card(again)
    assert [(a.element_id, a.value) for a in await _answers(database)] == [
        ("mergers-acquisitions-and-disposals", "results")
    ]
    assert "2 of 5" in str(_question(connector))


# 3. A crash between the commit and the reply ---------------------------------------------------------


class ProcessDeath:
    """The bot process dies right after the commit of the next transaction that ran a statement
    matching `after` (by default: one that claims an activity): the database keeps what was committed,
    and nothing after that commit runs in that process. Its request task is cancelled once the
    committed connection is back in the pool, so nothing more is sent and Teams' HTTP request is cut
    off, as by a SIGKILL."""

    CLAIM = r"INSERT INTO processed_activities\b"

    def __init__(self, engine: AsyncEngine, after: str = CLAIM) -> None:
        self._engine = engine.sync_engine
        self._after = re.compile(r"^\s*" + after, re.IGNORECASE)
        self._committed_turn: asyncio.Task[Any] | None = None
        self.died = False

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self.died and self._after.match(statement):
            conn.info["fatal"] = True

    def _committed(self, conn: Any) -> None:
        if conn.info.pop("fatal", False) and not self.died:
            self._committed_turn = asyncio.current_task()

    def _returned(self, _dbapi_connection: Any, _record: Any) -> None:
        # Only the committing task dies with it: a background job (the outbox sender, the jobs) may
        # return another connection to the pool in between.
        task = asyncio.current_task()
        if self._committed_turn is task and task is not None and not self.died:
            self.died = True
            task.cancel()

    @contextmanager
    def armed(self) -> Iterator[ProcessDeath]:
        event.listen(self._engine, "before_cursor_execute", self._statement)
        event.listen(self._engine, "commit", self._committed)
        event.listen(self._engine, "checkin", self._returned)
        try:
            yield self
        finally:
            event.remove(self._engine, "before_cursor_execute", self._statement)
            event.remove(self._engine, "commit", self._committed)
            event.remove(self._engine, "checkin", self._returned)


async def _killed_after_commit(
    client: TestClient, activity: dict[str, Any], after: str = ProcessDeath.CLAIM
) -> None:
    with (
        ProcessDeath(client.app[ENGINE], after).armed() as death,
        pytest.raises(aiohttp.ClientConnectionError),
    ):
        await client.post("/api/messages", json=activity)
    assert death.died


async def test_a_typed_answer_killed_between_commit_and_reply_is_answered_when_teams_redelivers_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _survey(database)
    teams = TeamsShapes(connector.url)
    answer = teams.personal_message(AMINA, "2")
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        question_id = "activity-1"
        sent = len(connector.sent)
        await _killed_after_commit(client, answer)
    assert (len(connector.sent), connector.updated) == (sent, []), "the process died before replying"
    assert [a.value for a in await _answers(database)] == ["basic"], "the answer was committed"

    async with _client(database) as restarted:  # Teams redelivers the activity it got no answer for
        assert (await restarted.post("/api/messages", json=answer)).status == 201
        assert "2 of 5" in str(_question(connector)), "the next question reaches the partner"
        assert [u["_activity_id"] for u in connector.updated] == [question_id], "answered card made read-only"
        delivered = (len(connector.sent), len(connector.updated))

        assert (await restarted.post("/api/messages", json=answer)).status == 201
        assert (len(connector.sent), len(connector.updated)) == delivered, "delivered replies are not resent"
    assert [a.value for a in await _answers(database)] == ["basic"], "and the answer is stored once"
    assert _wire_problems(connector, card_schema) == []


async def test_a_pressed_answer_killed_between_commit_and_reply_gets_its_card_when_teams_redelivers_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _survey(database)
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        press = teams.execute(AMINA, _press(_question(connector), action="answer", value="maturity"))
        sent = len(connector.sent)
        await _killed_after_commit(client, press)
    assert len(connector.sent) == sent

    async with _client(database) as restarted:
        card = _read_only_card(await _universal_action(restarted, press, card_schema))
        assert "Maturity" in str(card)
        assert "2 of 5" in str(_question(connector))
        delivered = len(connector.sent)
        again = await _universal_action(restarted, press, card_schema)
        assert (again["statusCode"], again["type"]) == (200, MESSAGE)
        assert len(connector.sent) == delivered
    assert [a.value for a in await _answers(database)] == ["maturity"]


# 4. Universal Actions errors and invokes the bot does not handle ---------------------------------------


def _loud(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    "value",
    [
        {"trigger": "manual"},
        {"action": {"type": "Action.Submit", "data": {}}, "trigger": "manual"},
        {"action": "Action.Execute"},
        "press",
    ],
    ids=["no action", "not Action.Execute", "action not an object", "value not an object"],
)
async def test_a_malformed_universal_action_gets_a_400_in_an_http_200_as_the_spec_says(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    value: Any,
) -> None:
    caplog.set_level(logging.INFO)
    teams = TeamsShapes(connector.url)
    activity = teams.execute(AMINA, {})
    activity["value"] = value
    async with _client(database) as client:
        body = await _universal_action(client, activity, card_schema)
        loud = _loud(caplog.records)  # while serving, not the app's shutdown
    assert (body["statusCode"], body["type"]) == (400, ERROR)
    assert body["value"]["code"] == "BadRequest"
    assert "Action.Execute" in body["value"]["message"]
    assert loud == []
    assert (await _claims(database), connector.sent) == (0, [])


@pytest.mark.parametrize(
    "name",
    [
        "task/fetch",
        "composeExtension/query",
        "signin/verifyState",
        "message/submitAction",
        "vendor/" + "x" * 150,
    ],
)
async def test_an_invoke_the_bot_does_not_handle_gets_a_clear_400_not_a_501(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.INFO)
    teams = TeamsShapes(connector.url)
    activity = teams.execute(AMINA, {})
    activity.update(name=name, value={"commandId": "search", "parameters": []})
    async with _client(database) as client:
        response = await client.post("/api/messages", json=activity)
        raw = await response.read()
        loud = _loud(caplog.records)  # while serving, not the app's shutdown
    assert response.status == 400, raw[:300]
    body = teams_json(raw)
    assert body["error"]["code"] == "NotSupported"
    assert "does not handle" in body["error"]["message"]
    assert loud == []
    assert all(len(r.getMessage()) < 300 for r in caplog.records), "client strings are clipped in logs"
    assert (await _claims(database), connector.sent) == (0, [])


# 5. A throttled card replacement is sent again --------------------------------------------------------


async def test_a_card_replacement_teams_throttles_is_sent_again_after_retry_after(
    database: Database, connector: FakeConnector
) -> None:
    await _survey(database)
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        connector.update_faults = [(429, {"Retry-After": "0"})]
        assert (await client.post("/api/messages", json=teams.personal_message(AMINA, "3"))).status == 201
    assert connector.refused_updates == 1
    assert [u["_activity_id"] for u in connector.updated] == ["activity-1"]
    assert "Early progress" in str(connector.updated[0]) or "early" in str(connector.updated[0]).lower()


# 6. A reply the Bot Connector fails after the commit ---------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [[(429, {"Retry-After": "60"})], [(503, {})]],
    ids=["throttled for longer than a turn waits", "a 5xx"],
)
async def test_a_reply_the_connector_fails_after_the_commit_gets_a_5xx_and_teams_redelivery_sends_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    faults: list[tuple[int, dict[str, str]]],
) -> None:
    await _survey(database)
    teams = TeamsShapes(connector.url)
    answer = teams.personal_message(AMINA, "2")
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.personal_message(AMINA, "resume"))
        sent = len(connector.sent)
        connector.send_faults = list(faults)
        response = await client.post("/api/messages", json=answer)
        assert response.status == 502, "Teams is told the turn did not finish, so it delivers it again"
        assert len(connector.sent) == sent, "no 'Sorry…' either: that would fail the same way"
        errors = [r.exc_info for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [None], "one ERROR line, no traceback"
        assert [a.value for a in await _answers(database)] == ["basic"], "the answer is kept"

        assert (await client.post("/api/messages", json=answer)).status == 201
        assert "2 of 5" in str(_question(connector)), "the redelivery sends the next question"
        delivered = len(connector.sent)
        assert (await client.post("/api/messages", json=answer)).status == 201
        assert len(connector.sent) == delivered, "and only once"
    assert [a.value for a in await _answers(database)] == ["basic"]
    assert _wire_problems(connector, card_schema) == []
