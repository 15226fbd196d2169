"""The bot's own Bot Connector client against the fake Bot Connector on 127.0.0.1: what goes over the
wire is what msrest sent before it (Teams' JSON, read from the bytes), requests carry the token the
bot fetched from Entra ID (faked on loopback too), and every failure arrives as one `ConnectorError`
that the outbox and the roster read the same way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from botbuilder.core import MessageFactory, TurnContext, serializer_helper
from botbuilder.schema import Activity, Attachment

from bot.cards import card_message
from bot.outbox.addresses import ChatAddress
from bot.outbox.delivery import Send
from bot.outbox.policy import Reason, Verdict
from bot.settings import Settings
from bot.teams.adapter import create_adapter
from bot.teams.app_tokens import AppTokens, AppTokenUnavailable, token_request
from bot.teams.connector import BotConnector, ConnectorError
from bot.teams.invokes import (
    CARD_RESPONSE,
    MESSAGE_RESPONSE,
    invoke_error,
    invoke_json,
    invoke_reply,
    not_supported,
)
from bot.teams.proactive import TeamsProactive, classify
from dialogs.activity_json import json_bytes, message_json, model_json
from dialogs.messages import SentCard, text_message, to_activity, to_json
from tests.conftest import FIXED_NOW
from tests.e2e.test_auth import AMINA, APP_ID
from tests.fakes.connector import (
    FakeConnector,
    Fault,
    ThrottlingConnector,
    fake_connector,
    throttling_connector,
)
from tests.fakes.entra import TokenEndpoint, token_endpoint
from tests.fakes.teams_wire import ADAPTIVE_CARD, Channel, TeamsShapes, teams_json

CARD = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Governance: how mature is it? “Quoted” ✓", "wrap": True}],
    "actions": [{"type": "Action.Execute", "verb": "survey", "data": {"action": "answer", "value": 3}}],
}


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def bot_connector() -> AsyncIterator[BotConnector]:
    async with BotConnector().open() as opened:
        yield opened


def _incoming(activity: dict[str, object]) -> Activity:
    return Activity().deserialize(activity)


def _reply_to(incoming: Activity, reply: Activity) -> Activity:
    """The reply as a turn addresses it (TurnContext.send_activity)."""
    return TurnContext.apply_conversation_reference(reply, TurnContext.get_conversation_reference(incoming))


# The wire ---------------------------------------------------------------------------------------------


def test_activities_are_written_as_msrest_wrote_them_cards_and_times_included() -> None:
    teams = TeamsShapes("https://smba.trafficmanager.net/uk/")
    channel_post = _incoming(teams.channel_message(AMINA, "status", Channel()))
    press = _incoming(teams.execute(AMINA, {"action": "answer", "value": 3}))
    activities = [
        channel_post,
        press,
        _reply_to(channel_post, MessageFactory.text("Survey “Place 2026”: 3 of 7 answered.")),
        _reply_to(press, MessageFactory.attachment(Attachment(content_type=ADAPTIVE_CARD, content=CARD))),
    ]

    for activity in activities:
        assert model_json(activity) == activity.serialize()
    assert json.loads(json_bytes(model_json(activities[2])))["type"] == "message"  # an SDK enum
    assert model_json(channel_post)["timestamp"] == "2026-11-23T09:30:00.000Z"
    assert model_json(channel_post)["entities"][0] == {"type": "mention"}  # as msrest: extras dropped


def test_a_shared_card_goes_as_a_json_object_never_as_python_text() -> None:
    reply = to_activity(card_message(CARD))
    assert isinstance(reply.attachments[0].content, SentCard)  # a dict subclass, which msrest str()'d

    sent = teams_json(json_bytes(model_json(reply)))

    assert sent["attachments"][0]["content"] == CARD


def test_an_outbox_message_is_the_activity_its_row_would_have_become() -> None:
    consent = {"description": "Answers", "sizeInBytes": 2048, "acceptContext": {"id": 1}}
    for message in (text_message("Hello"), card_message(CARD), card_message(consent)):
        assert message_json(message) == to_json(message)


def test_an_invokes_answer_is_written_as_msrest_wrote_it() -> None:
    answers = [
        invoke_reply(CARD_RESPONSE, SentCard(CARD)),
        invoke_reply(MESSAGE_RESPONSE, "Saved."),
        invoke_error(400, "BadRequest", "That answer is not on the scale."),
        not_supported("task/fetch"),
    ]
    for answer in answers:
        assert json.loads(json_bytes(answer.body)) == serializer_helper(answer.body)
    assert invoke_json(answers[0]) == serializer_helper(answers[0].body)


def test_a_body_that_is_not_json_is_refused_before_it_is_sent() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        json_bytes({"type": "message", "value": float("nan")})


async def test_conversation_ids_travel_whole_and_replies_go_into_their_thread(
    connector: FakeConnector, bot_connector: BotConnector
) -> None:
    thread = f"{Channel().id};messageid=1700000000001"
    reply = {"type": "message", "text": "Done."}

    sent = await bot_connector.reply(connector.url, thread, "1700000000001", reply)
    updated = await bot_connector.update(connector.url, thread, sent or "", {"type": "message", "text": "…"})

    assert sent == "activity-1"
    assert updated == sent
    assert connector.sent[0]["_conversation_id"] == thread
    assert connector.updated[0]["_activity_id"] == sent
    method, path, raw = connector.wire[0]
    assert (method, path) == ("POST", f"/v3/conversations/{thread}/activities/1700000000001")
    assert json.loads(raw) == reply


async def test_a_turn_replies_and_updates_through_the_connector(
    connector: FakeConnector, bot_connector: BotConnector
) -> None:
    adapter = create_adapter(Settings(_env_file=None), bot_connector)
    press = _incoming(TeamsShapes(connector.url).execute(AMINA, {"action": "answer"}))
    turn = TurnContext(adapter, press)

    response = await turn.send_activity(to_activity(card_message(CARD)))
    answered = to_activity(card_message({**CARD, "actions": []}))
    answered.id = response.id
    await turn.update_activity(answered)

    assert response.id == "activity-1"
    assert [(method, path) for method, path, _raw in connector.wire] == [
        ("POST", f"/v3/conversations/{press.conversation.id}/activities/{press.id}"),
        ("PUT", f"/v3/conversations/{press.conversation.id}/activities/activity-1"),
    ]
    assert connector.updated[0]["attachments"][0]["content"]["actions"] == []


async def test_a_connector_used_outside_its_session_says_so(connector: FakeConnector) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await BotConnector().send(connector.url, "a:1", {"type": "message"})


# The bot's token ----------------------------------------------------------------------------------------


@pytest.fixture
async def entra() -> AsyncIterator[TokenEndpoint]:
    async with token_endpoint() as endpoint:
        yield endpoint


def _tokens(entra: TokenEndpoint) -> AppTokens:
    settings = Settings(
        microsoft_app_id=APP_ID,
        microsoft_app_password="not-a-real-secret",
        bot_token_url=entra.url,
        _env_file=None,
    )
    request = token_request(settings)
    assert request is not None
    return AppTokens(request, clock=lambda: FIXED_NOW)


async def test_a_proactive_message_carries_the_token_entra_id_issued_to_the_bot(
    connector: FakeConnector, entra: TokenEndpoint
) -> None:
    tokens = _tokens(entra)
    chat = ChatAddress(
        connector.url, "a:1amina", {"conversation": {"id": "a:1amina"}, "channelId": "msteams"}
    )
    async with tokens.fetching(), BotConnector(tokens).open() as with_token:
        teams = TeamsProactive(with_token)
        outcomes = []

        async def say_hello(send: Send) -> None:
            outcomes.append(await send(text_message("Hello")))

        with pytest.raises(AppTokenUnavailable):
            await teams.continue_chat(chat, say_hello, turn_timeout=5)  # no token fetched yet
        assert connector.authorizations == [], "nothing is sent without a token"
        assert await tokens.refresh() is not None
        await teams.continue_chat(chat, say_hello, turn_timeout=5)

    assert outcomes[-1].verdict is Verdict.SENT
    assert connector.authorizations == [f"Bearer {entra.token(1)}"]
    assert connector.sent[0]["conversation"] == {"id": "a:1amina"}


# Failures -----------------------------------------------------------------------------------------------


async def test_teams_refusals_carry_status_code_and_retry_after(
    connector: FakeConnector, bot_connector: BotConnector
) -> None:
    connector.send_faults = [(429, {"Retry-After": "2"}), (403, {})]
    refusals = []
    for _ in range(2):
        with pytest.raises(ConnectorError) as refused:
            await bot_connector.send(connector.url, "a:1amina", {"type": "message", "text": "Hi"})
        refusals.append(refused.value)

    throttled, blocked = refusals
    assert (throttled.status, throttled.code, throttled.retry_after) == (429, "TooManyRequests", "2")
    assert not throttled.transient
    outcome = classify(throttled, now=FIXED_NOW)
    assert (outcome.verdict, outcome.retry_after) == (Verdict.THROTTLED, 2.0)
    assert classify(blocked, now=FIXED_NOW).reason == Reason.BLOCKED


@pytest.fixture
async def strict() -> AsyncIterator[ThrottlingConnector]:
    async with throttling_connector() as fake:
        fake.add_conversation("a:1amina", AMINA.id)
        yield fake


async def test_a_gateway_page_is_judged_by_its_status(
    strict: ThrottlingConnector, bot_connector: BotConnector
) -> None:
    strict.fail(AMINA.id, Fault(502, times=1, page="<html>Bad gateway</html>"))

    with pytest.raises(ConnectorError) as failed:
        await bot_connector.send(strict.url, "a:1amina", {"type": "message", "text": "Hi"})

    assert (failed.value.status, failed.value.code) == (502, None)
    assert classify(failed.value, now=FIXED_NOW).error == "transient: 502"


async def test_no_answer_in_time_and_no_connection_are_transient(strict: ThrottlingConnector) -> None:
    strict.fail(AMINA.id, Fault(504, times=1, hold=5.0))
    async with BotConnector(timeout=0.2).open() as impatient:
        with pytest.raises(ConnectorError) as late:
            await impatient.send(strict.url, "a:1amina", {"type": "message", "text": "Hi"})
        server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectorError) as refused:
            await impatient.send(f"http://127.0.0.1:{port}/", "a:1amina", {"type": "message"})

    assert (late.value.status, late.value.reason) == (None, "timed out")
    assert refused.value.transient
    assert classify(refused.value, now=FIXED_NOW).verdict is Verdict.RETRY


async def test_a_new_chat_is_created_with_teams_conversation_parameters(
    strict: ThrottlingConnector, bot_connector: BotConnector
) -> None:
    created = await bot_connector.create_conversation(
        strict.url,
        {"isGroup": False, "bot": {"id": "28:bot"}, "members": [{"id": "29:new"}], "tenantId": "t1"},
    )

    assert created == strict.personal_id("29:new")
    assert strict.created == [
        {"isGroup": False, "bot": {"id": "28:bot"}, "members": [{"id": "29:new"}], "tenantId": "t1"}
    ]
