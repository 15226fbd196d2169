"""A lead sends their framework workbook to the bot in a 1:1 chat: preview, Publish or Cancel (issue 15).

Through the real web app; the fake Bot Connector also serves the file's download URL, as Teams does.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from io import BytesIO
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from openpyxl import load_workbook

from bot.app import create_app
from bot.leads.conversation import FILE_DOWNLOAD_INFO
from bot.settings import Settings
from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.workbook import MAX_FILE_BYTES, write_workbook
from storage.db import transaction
from storage.framework_versions import latest, listing
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector

AUDIT = load_directory().frameworks["audit-committee-maturity"]
LEAD = {"id": "29:lead", "name": "Lee Lead", "aadObjectId": "aad-lead"}
OTHER_LEAD = {"id": "29:olu", "name": "Olu Other", "aadObjectId": "aad-other-lead"}
PARTNER = {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina"}
CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


class Chat:
    """A person's 1:1 chat with the bot, as Teams sends its activities (personal scope)."""

    def __init__(self, connector: FakeConnector, person: dict[str, str], tenant: str = "t1") -> None:
        self.connector = connector
        self.person = person
        self.tenant = tenant
        self.count = 0

    def _activity(self, **fields: Any) -> dict[str, Any]:
        self.count += 1
        return {
            "id": f"f{self.person['id']}-{self.count}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": dict(self.person),
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {
                "id": f"a:chat-{self.person['id']}",
                "conversationType": "personal",
                "tenantId": self.tenant,
            },
            "channelData": {"tenant": {"id": self.tenant}},
            **fields,
        }

    def file(self, name: str) -> dict[str, Any]:
        """A file sent in the chat (Microsoft's "send and receive files" shape)."""
        return self._activity(
            type="message",
            text="",
            attachments=[
                {
                    "contentType": FILE_DOWNLOAD_INFO,
                    "contentUrl": f"https://contoso.sharepoint.com/personal/lee/Documents/{name}",
                    "name": name,
                    "content": {
                        "downloadUrl": self.connector.download_url(name),
                        "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                        "fileType": name.rsplit(".", 1)[-1],
                        "etag": "123",
                    },
                }
            ],
        )

    def press(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._activity(
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": "lead", "data": data}, "trigger": "manual"},
        )


def _client(database: Database, **settings: Any) -> TestClient:
    configured = Settings(
        database_url=database.url, lead_user_ids="aad-lead,aad-other-lead", _env_file=None, **settings
    )
    app = create_app(configured, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _post(client: TestClient, activity: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/api/messages", json=activity)
    raw = await response.read()
    return response.status, json.loads(raw) if raw and response.content_type == "application/json" else None


def _wire_cards(connector: FakeConnector) -> list[dict[str, Any]]:
    """The Adaptive Cards sent, parsed from the bytes as they arrived."""
    cards = []
    for _method, _path, body in connector.wire:
        for attachment in json.loads(body).get("attachments") or []:
            if attachment.get("contentType") == CARD:
                cards.append(attachment["content"])
    return cards


def _button(card: dict[str, Any], title: str) -> dict[str, Any]:
    return next(action["data"] for action in card["actions"] if action["title"] == title)


def _card_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def _without(framework: Framework, element_id: str) -> Framework:
    document = framework.model_dump(mode="json")
    for domain in document["domains"]:
        domain["elements"] = [e for e in domain["elements"] if e["id"] != element_id]
    return Framework.model_validate(document)


async def _published(database: Database, tenant: str, framework_id: str) -> int | None:
    async with transaction(database.sessions) as session:
        found = await latest(session, tenant_id=tenant, framework_id=framework_id)
    return found.version if found else None


async def test_lead_sends_a_workbook_previews_it_and_publishes_version_1(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    connector.files["audit.xlsx"] = write_workbook(AUDIT)
    chat = Chat(connector, LEAD)
    async with _client(database) as client:
        status, _ = await _post(client, chat.file("audit.xlsx"))
        assert status in (200, 201)
        assert connector.download_requests == [{"name": "audit.xlsx", "authorization": None}]
        [preview] = _wire_cards(connector)
        assert schema_errors(card_schema, preview) == []
        text = _card_text(preview)
        assert AUDIT.title in text
        assert "publishing makes it version 1" in text
        first_domain = AUDIT.domains[0]
        assert f"{first_domain.title}: {len(first_domain.elements)} questions" in text
        assert await _published(database, "t1", AUDIT.id) is None  # nothing before the press

        press = chat.press(_button(preview, "Publish"))
        status, body = await _post(client, press)
        assert status == 200
        assert body["type"] == CARD
        assert schema_errors(card_schema, body["value"]) == []
        assert "Published version 1" in _card_text(body["value"])
        assert "actions" not in body["value"]  # read-only once published
        assert await _published(database, "t1", AUDIT.id) == 1

        await _post(client, press)  # Teams redelivers the press
        status, body = await _post(client, chat.press(_button(preview, "Publish")))  # pressed again
        assert "Published version 1" in _card_text(body["value"])
        async with transaction(database.sessions) as session:
            assert [(item.framework_id, item.version) for item in await listing(session, tenant_id="t1")] == [
                (AUDIT.id, 1)
            ]


async def test_a_new_version_that_removes_a_question_asks_to_confirm_first(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    dropped = AUDIT.iter_elements()[0][1]
    connector.files["v1.xlsx"] = write_workbook(AUDIT)
    connector.files["v2.xlsx"] = write_workbook(_without(AUDIT, dropped.id))
    chat = Chat(connector, LEAD)
    async with _client(database) as client:
        await _post(client, chat.file("v1.xlsx"))
        await _post(client, chat.press(_button(_wire_cards(connector)[-1], "Publish")))
        await _post(client, chat.file("v2.xlsx"))
        preview = _wire_cards(connector)[-1]
        assert schema_errors(card_schema, preview) == []
        assert "1 question removed" in _card_text(preview)
        assert dropped.title[:40] in _card_text(preview)

        _, body = await _post(client, chat.press(_button(preview, "Publish")))
        confirm = body["value"]
        assert schema_errors(card_schema, confirm) == []
        assert "Publish without these questions?" in _card_text(confirm)
        assert await _published(database, "t1", AUDIT.id) == 1  # not yet

        _, body = await _post(client, chat.press(_button(confirm, "Publish anyway")))
        assert "Published version 2" in _card_text(body["value"])
        assert await _published(database, "t1", AUDIT.id) == 2


async def test_a_bad_workbook_gets_its_problems_listed_and_nothing_is_stored(
    database: Database, connector: FakeConnector
) -> None:
    book = load_workbook(BytesIO(write_workbook(AUDIT)))
    elements = book["Elements"]
    elements["D2"] = None  # an empty descriptor
    elements["B3"] = elements["B2"].value  # a duplicate element id
    buffer = BytesIO()
    book.save(buffer)
    connector.files["bad.xlsx"] = buffer.getvalue()
    chat = Chat(connector, LEAD)
    async with _client(database) as client:
        status, _ = await _post(client, chat.file("bad.xlsx"))
        assert status in (200, 201)
    [reply] = connector.texts()
    assert "I couldn't use bad.xlsx" in reply
    assert "Elements!D2" in reply
    assert "Nothing was kept" in reply
    assert _wire_cards(connector) == []
    assert await _published(database, "t1", AUDIT.id) is None


async def test_a_partners_file_is_politely_refused_and_nothing_is_fetched(
    database: Database, connector: FakeConnector
) -> None:
    connector.files["audit.xlsx"] = write_workbook(AUDIT)
    async with _client(database) as client:
        status, _ = await _post(client, Chat(connector, PARTNER).file("audit.xlsx"))
        assert status in (200, 201)
    assert connector.download_requests == []
    [reply] = connector.texts()
    assert "Only partnership leads can bring a framework" in reply
    assert await _published(database, "t1", AUDIT.id) is None


async def test_another_tenants_lead_cannot_publish_an_upload_they_did_not_make(
    database: Database, connector: FakeConnector
) -> None:
    connector.files["audit.xlsx"] = write_workbook(AUDIT)
    async with _client(database) as client:
        await _post(client, Chat(connector, LEAD, tenant="t1").file("audit.xlsx"))
        publish = _button(_wire_cards(connector)[-1], "Publish")
        status, body = await _post(client, Chat(connector, OTHER_LEAD, tenant="t2").press(publish))
    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "couldn't find that upload" in body["value"]
    assert await _published(database, "t1", AUDIT.id) is None
    assert await _published(database, "t2", AUDIT.id) is None


async def test_an_oversized_file_is_refused_with_the_limit(
    database: Database, connector: FakeConnector
) -> None:
    connector.files["huge.xlsx"] = b"\0" * (MAX_FILE_BYTES + 1)
    async with _client(database) as client:
        status, _ = await _post(client, Chat(connector, LEAD).file("huge.xlsx"))
        assert status in (200, 201)
    [reply] = connector.texts()
    assert "larger than 5 MB" in reply


async def test_a_download_that_never_answers_gives_up_in_bounded_time(
    database: Database, connector: FakeConnector
) -> None:
    connector.stalled_files.add("slow.xlsx")
    async with _client(database, file_download_timeout=0.5) as client:
        started = time.monotonic()
        status, _ = await _post(client, Chat(connector, LEAD).file("slow.xlsx"))
        elapsed = time.monotonic() - started
    assert status in (200, 201)
    assert elapsed < 5
    [reply] = connector.texts()
    assert "didn't hand me the file within 0.5 seconds" in reply


async def test_cancel_keeps_nothing_and_the_card_becomes_read_only(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    connector.files["audit.xlsx"] = write_workbook(AUDIT)
    chat = Chat(connector, LEAD)
    async with _client(database) as client:
        await _post(client, chat.file("audit.xlsx"))
        preview = _wire_cards(connector)[-1]
        _, body = await _post(client, chat.press(_button(preview, "Cancel")))
        assert schema_errors(card_schema, body["value"]) == []
        assert "was not published" in _card_text(body["value"])
        _, body = await _post(client, chat.press(_button(preview, "Publish")))
        assert "cancelled" in body["value"]
    assert await _published(database, "t1", AUDIT.id) is None
