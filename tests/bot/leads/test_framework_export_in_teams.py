"""A lead types `frameworks export <id>` in Teams and gets the framework's workbook through file consent.

End to end through `/api/messages`, the outbox and a fake Bot Connector on 127.0.0.1 that also plays
OneDrive's upload session (tests/fake_connector.py): the consent card in the lead's 1:1 chat, the
`fileConsent/invoke` Teams sends on Allow, the upload, and the file info card that follows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jsonschema import Draft6Validator

from bot.leads.lead_files import (
    CONSENT_CARD,
    FILE_INFO_CARD,
    NOT_YOURS,
    PREPARING_FRAMEWORK,
    SENT_FRAMEWORK,
)
from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.workbook import read_workbook
from storage.db import transaction
from storage.framework_versions import publish
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_lead_commands import CHANNEL, MEMBERS, Channel
from tests.e2e.test_lead_exports import Chats, _client, _post, chat_of
from tests.fakes.connector import FakeConnector, fake_connector

BUILT_IN = load_directory().frameworks
AUDIT = BUILT_IN["audit-committee-maturity"]
OURS = Framework.model_validate(
    {**AUDIT.model_dump(mode="json"), "id": "anytown-matrix", "title": "Anytown place matrix"}
)
LEAD, AMINA = MEMBERS[:2]
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


async def _publish(database: Database, framework: Framework, tenant: str = "t1") -> None:
    async with transaction(database.sessions) as session:
        await publish(session, tenant_id=tenant, framework=framework, published_by_id=None, now=FIXED_NOW)


def _attachments(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return activity.get("attachments") or []


def _consent_card(activity: dict[str, Any]) -> dict[str, Any]:
    """The card alone in its message, shaped as Teams' FileConsentCard (not an Adaptive Card)."""
    assert not activity.get("text")
    [card] = _attachments(activity)
    assert card["contentType"] == CONSENT_CARD
    assert set(card["content"]) == {"description", "sizeInBytes", "acceptContext", "declineContext"}
    assert card["content"]["sizeInBytes"] > 0
    return card


def _assert_adaptive_cards_valid(connector: FakeConnector, validator: Draft6Validator) -> None:
    for activity in connector.sent:
        for attachment in _attachments(activity):
            if attachment["contentType"] == ADAPTIVE_CARD:
                assert schema_errors(validator, attachment["content"]) == []


def _from_tenant(activity: dict[str, Any], tenant: str) -> dict[str, Any]:
    activity["conversation"]["tenantId"] = tenant
    activity["channelData"]["tenant"] = {"id": tenant}
    return activity


async def test_lead_gets_the_tenants_published_workbook_in_private_chat_written_afresh_on_accept(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await _publish(database, OURS)
    chats = Chats(connector)
    async with _client(database) as client:
        assert await _post(client, chats.message("frameworks export anytown-matrix")) == 201
        await connector.wait_for_sent(2)
        preparing, offer = connector.sent_to(chat_of(LEAD))
        assert preparing["text"] == PREPARING_FRAMEWORK
        card = _consent_card(offer)
        assert card["name"] == "anytown-matrix.xlsx"
        context = card["content"]["acceptContext"]
        assert context["framework_id"] == "anytown-matrix"
        assert context["tenant_id"] == "t1"
        assert "published version 1" in card["content"]["description"]

        newer = Framework.model_validate({**OURS.model_dump(mode="json"), "title": "Anytown matrix, v2"})
        await _publish(database, newer)  # published after the offer: the file is written on accept

        assert await _post(client, chats.consent(card)) == 200

    data = connector.uploads["anytown-matrix.xlsx"]
    assert read_workbook(data, filename="anytown-matrix.xlsx") == newer
    [attachment] = _attachments(connector.sent_to(chat_of(LEAD))[-1])
    assert attachment["contentType"] == FILE_INFO_CARD
    assert attachment["name"] == "anytown-matrix.xlsx"
    _assert_adaptive_cards_valid(connector, card_schema)


async def test_channel_request_sends_one_line_there_and_the_built_in_workbook_privately(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel, chats = Channel(connector), Chats(connector)
    async with _client(database) as client:
        partner = channel.message("frameworks export audit-committee-maturity", AMINA)
        assert await _post(client, partner) == 201
        assert "Only partnership leads" in connector.sent_to(CHANNEL)[-1]["text"]

        assert await _post(client, channel.message("frameworks export no-such-matrix")) == 201
        unknown = connector.sent_to(CHANNEL)[-1]["text"]
        assert "no-such-matrix" in unknown
        assert "audit-committee-maturity" in unknown  # says which ids exist

        assert await _post(client, channel.message("frameworks export audit-committee-maturity")) == 201
        assert connector.sent_to(CHANNEL)[-1]["text"] == SENT_FRAMEWORK
        await connector.wait_for_sent(4)  # the refusal, the unknown id, the channel's line, the card
        assert [created["members"][0]["id"] for created in connector.created] == [LEAD["id"]]
        [offer] = connector.sent_to(chat_of(LEAD))
        card = _consent_card(offer)
        assert card["name"] == "audit-committee-maturity.xlsx"
        assert "built-in" in card["content"]["description"]

        assert await _post(client, chats.consent(card)) == 200

    for posted in connector.sent_to(CHANNEL):  # the channel saw lines of text and no file
        assert not _attachments(posted)
    data = connector.uploads["audit-committee-maturity.xlsx"]
    assert read_workbook(data, filename="audit-committee-maturity.xlsx") == AUDIT
    _assert_adaptive_cards_valid(connector, card_schema)


async def test_a_lead_in_another_tenant_cannot_accept_the_workbook(
    database: Database, connector: FakeConnector
) -> None:
    await _publish(database, OURS)
    chats = Chats(connector)
    async with _client(database) as client:
        assert await _post(client, chats.message("frameworks export anytown-matrix")) == 201
        await connector.wait_for_sent(2)
        card = _consent_card(connector.sent_to(chat_of(LEAD))[-1])
        before = len(connector.sent)

        forged = _from_tenant(chats.consent(card), "t2")  # a configured lead, but Teams says tenant t2
        response = await client.post("/api/messages", json=forged)
        assert response.status == 200
        await response.read()

    assert connector.uploads == {}
    assert connector.upload_requests == []
    [reply] = connector.sent[before:]
    assert reply["text"] == NOT_YOURS
    assert "anytown" not in json.dumps(reply).casefold()
