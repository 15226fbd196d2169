"""A lead gets a survey's export file and its comment texts privately, in their 1:1 chat with the bot.

End to end through `/api/messages` and the outbox, against a fake Bot Connector on 127.0.0.1 that also
plays OneDrive's upload session (tests/fake_connector.py): the consent card, the `fileConsent/invoke`
Teams sends when the lead allows the file, the upload, and the file info card that follows.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from openpyxl import load_workbook

from bot.app import create_app
from bot.cards import MAX_CARD_BYTES, card_size
from bot.cards.comment_cards import comments_card
from bot.leads.lead_files import (
    CONSENT_CARD,
    DECLINED,
    EXPIRED,
    FILE_INFO_CARD,
    NOT_A_LEAD,
    NOT_YOURS,
    PREPARING_EXPORT,
    SENT_COMMENTS,
    SENT_EXPORT,
    UNREADABLE,
    UPLOAD_FAILED,
)
from bot.settings import Settings
from bot.teams.uploads import DEFAULT_CHUNK_BYTES, RANGE_UNIT, UploadFailed, UploadSettings, upload
from frameworks.loader import load_directory
from frameworks.summary import ElementComments, LeadComments, Suppressed, SuppressionReason, SuppressionScope
from storage.answers import record_answer
from storage.db import transaction
from storage.leads import grant_lead, revoke_lead
from storage.organisations import map_domain
from storage.people import person_by_teams_id, upsert_person
from storage.surveys import create_survey
from storage.tables import Person, Survey
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_lead_commands import CHANNEL, MEMBERS, Channel
from tests.fakes.connector import FakeConnector, fake_connector

AUDIT = load_directory().frameworks["audit-committee-maturity"]
MAD = "mergers-acquisitions-and-disposals"
SUPPLY = "continuity-of-supply"
LEAD, AMINA, BEN = MEMBERS[:3]
HOSTILE = "**Bold** claim <at>Admin</at> [link](http://evil)"
LONE = "Only one of us answered this"
SHAREPOINT = "https://contoso.sharepoint.com/personal/lee/Documents/Applications/"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


class Chats:
    """Activities as Teams sends them from people's 1:1 chats with the bot (ids `a:<user id>`, the
    ids the fake connector gives chats the bot creates)."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.count = 0

    def _base(self, sender: dict[str, Any], activity_id: str | None) -> dict[str, Any]:
        self.count += 1
        return {
            "id": activity_id or f"1700000009{self.count:03d}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": sender["id"], "name": sender["name"], "aadObjectId": sender["aadObjectId"]},
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {"id": chat_of(sender), "conversationType": "personal", "tenantId": "t1"},
            "channelData": {"tenant": {"id": "t1"}},
        }

    def message(self, text: str, sender: dict[str, Any] = LEAD) -> dict[str, Any]:
        return {**self._base(sender, None), "type": "message", "text": text}

    def consent(
        self,
        card: dict[str, Any],
        action: str = "accept",
        sender: dict[str, Any] = LEAD,
        activity_id: str | None = None,
        context: Any = None,
    ) -> dict[str, Any]:
        """What Teams sends when the person presses Allow (or Decline) on the consent card."""
        content = card["content"]
        value: dict[str, Any] = {
            "type": "fileUpload",
            "action": action,
            "context": content["acceptContext" if action == "accept" else "declineContext"]
            if context is None
            else context,
        }
        if action == "accept":
            value["uploadInfo"] = {
                "name": card["name"],
                "uploadUrl": self.connector.upload_url(card["name"]),
                "contentUrl": SHAREPOINT + card["name"],
                "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                "fileType": card["name"].rsplit(".", 1)[1],
            }
        return {
            **self._base(sender, activity_id),
            "type": "invoke",
            "name": "fileConsent/invoke",
            "value": value,
        }


def chat_of(member: dict[str, Any]) -> str:
    return f"a:{member['id']}"


def _client(database: Database, clock: Callable[[], datetime] = lambda: FIXED_NOW) -> TestClient:
    settings = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    app = create_app(settings, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _post(client: TestClient, activity: dict[str, Any]) -> int:
    response = await client.post("/api/messages", json=activity)
    await response.read()
    return response.status


async def _survey_with_answers(database: Database) -> int:
    """Audit 2026, started in the channel: three people from two organisations answered one question
    (two with comments); only Amina answered (and commented on) a second one."""
    async with transaction(database.sessions) as session:
        people: dict[str, Person] = {}
        for member in (LEAD, AMINA, BEN):
            people[member["id"]] = await upsert_person(
                session,
                teams_user_id=member["id"],
                aad_object_id=member["aadObjectId"],
                name=member["name"],
                email=member["email"],
                tenant_id="t1",
                now=FIXED_NOW,
            )
        await map_domain(session, "trust.nhs.uk", "Anytown NHS Trust", now=FIXED_NOW)
        await map_domain(session, "council.gov.uk", "Borough Council", now=FIXED_NOW)
        survey = await create_survey(
            session, AUDIT, now=FIXED_NOW, title="Audit 2026", conversation_id=CHANNEL, tenant_id="t1"
        )
        lead, amina, ben = (people[member["id"]] for member in (LEAD, AMINA, BEN))
        await record_answer(session, survey, lead, MAD, "basic", now=FIXED_NOW, comment="Board minutes agree")
        await record_answer(session, survey, amina, MAD, "results", now=FIXED_NOW, comment=HOSTILE)
        await record_answer(session, survey, ben, MAD, "basic", now=FIXED_NOW)
        await record_answer(session, survey, amina, SUPPLY, "maturity", now=FIXED_NOW, comment=LONE)
        return survey.id or 0


async def _ask(client: TestClient, connector: FakeConnector, activity: dict[str, Any]) -> None:
    """A lead's export typed in their 1:1 chat: one line at once, the consent card from the outbox."""
    before = len(connector.sent)
    assert await _post(client, activity) == 201
    await connector.wait_for_sent(before + 2)


def _attachments(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return activity.get("attachments") or []


def _consent_cards(connector: FakeConnector, member: dict[str, Any] = LEAD) -> list[dict[str, Any]]:
    return [
        attachment
        for activity in connector.sent_to(chat_of(member))
        for attachment in _attachments(activity)
        if attachment["contentType"] == CONSENT_CARD
    ]


def _assert_consent_card(activity: dict[str, Any]) -> dict[str, Any]:
    """The card alone in its message, shaped as Teams' FileConsentCard."""
    assert not activity.get("text")
    [card] = _attachments(activity)
    assert card["contentType"] == CONSENT_CARD
    assert set(card["content"]) == {"description", "sizeInBytes", "acceptContext", "declineContext"}
    assert isinstance(card["content"]["sizeInBytes"], int)
    assert card["content"]["sizeInBytes"] > 0
    assert card["content"]["acceptContext"] == card["content"]["declineContext"]
    return card


def _workbook_rows(data: bytes, sheet: str) -> list[dict[str, Any]]:
    rows = list(load_workbook(io.BytesIO(data))[sheet].iter_rows(values_only=True))
    headings = rows[0]
    return [dict(zip(headings, row, strict=True)) for row in rows[1:]]


async def test_lead_gets_xlsx_export_in_private_chat_after_accepting(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id} xlsx"))
        preparing, offer = connector.sent_to(chat_of(LEAD))
        assert preparing["text"] == PREPARING_EXPORT  # the file is written by the sender, not in the turn
        card = _assert_consent_card(offer)
        assert card["name"] == f"audit-committee-maturity-survey-{survey_id}-2026-11-23.xlsx"
        context = card["content"]["acceptContext"]
        assert context["survey_id"] == survey_id
        assert context["format"] == "xlsx"
        assert context["anonymise"] is False
        assert context["requested_by"] == "aad-lead"
        assert "with the names" in card["content"]["description"]

        async with transaction(database.sessions) as session:  # an answer changed after the offer
            survey = await session.get(Survey, survey_id)
            ben = await person_by_teams_id(session, BEN["id"])
            assert survey is not None
            assert ben is not None
            await record_answer(
                session, survey, ben, MAD, "maturity", now=FIXED_NOW, comment="Changed my mind"
            )

        assert await _post(client, chats.consent(card)) == 200

    [put] = connector.upload_requests
    data = connector.uploads[card["name"]]
    assert put["content_range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    assert put["content_length"] == str(len(data))
    assert put["authorization"] is None  # the upload URL is pre-authenticated: no token goes there
    assert load_workbook(io.BytesIO(data), read_only=True).sheetnames == ["Summary", "Answers"]
    answers = _workbook_rows(data, "Answers")
    assert {"Framework", "Domain", "Element", "Answer", "Value", "Comment", "Organisation", "Person"} <= set(
        answers[0]
    )
    by_person = {(row["Person"], row["Element id"]): row for row in answers}
    lee = by_person["Lee Lead", MAD]
    assert (lee["Answer"], lee["Value"], lee["Comment"]) == ("Basic", 2, "Board minutes agree")
    assert lee["Organisation"] == "Anytown NHS Trust"
    assert lee["Framework"] == AUDIT.title
    assert by_person["Amina Khan", MAD]["Comment"] == HOSTILE  # exactly as typed, never run
    ben_row = by_person["Ben Okafor", MAD]
    assert (ben_row["Answer"], ben_row["Comment"]) == ("Maturity", "Changed my mind")  # written on accept

    info = connector.sent_to(chat_of(LEAD))[-1]
    assert not info.get("text")
    [attachment] = _attachments(info)
    assert attachment == {
        "contentType": FILE_INFO_CARD,
        "contentUrl": SHAREPOINT + card["name"],
        "name": card["name"],
        "content": {"uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D", "fileType": "xlsx"},
    }


async def test_channel_export_request_sends_consent_card_privately_not_in_channel(
    database: Database, connector: FakeConnector
) -> None:
    await _survey_with_answers(database)
    channel, chats = Channel(connector), Chats(connector)
    async with _client(database) as client:
        assert await _post(client, channel.message("export", AMINA)) == 201
        assert "Only partnership leads" in connector.sent_to(CHANNEL)[-1]["text"]

        assert await _post(client, channel.message("export xlsx anonymised")) == 201
        assert connector.sent_to(CHANNEL)[-1]["text"] == SENT_EXPORT
        await connector.wait_for_sent(3)  # the refusal, the channel's line, the card in the lead's chat
        assert [created["members"][0]["id"] for created in connector.created] == [LEAD["id"]]
        [offer] = connector.sent_to(chat_of(LEAD))
        card = _assert_consent_card(offer)
        assert card["name"].endswith("-anonymised.xlsx")
        assert card["content"]["acceptContext"]["anonymise"] is True
        assert "anonymised" in card["content"]["description"]

        assert await _post(client, chats.consent(card)) == 200

    for posted in connector.sent_to(CHANNEL):  # the channel saw two lines of text and nothing else
        assert not _attachments(posted)
        assert "Board minutes" not in json.dumps(posted)
    answers = _workbook_rows(connector.uploads[card["name"]], "Answers")
    assert "Person" not in answers[0]
    assert "Lee Lead" not in json.dumps([list(row.values()) for row in answers], default=str)
    assert {row["Comment"] for row in answers} >= {"Board minutes agree", HOSTILE}
    assert _attachments(connector.sent_to(chat_of(LEAD))[-1])[0]["contentType"] == FILE_INFO_CARD


async def test_declined_export_uploads_nothing(database: Database, connector: FakeConnector) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id}"))
        [card] = _consent_cards(connector)
        assert card["name"].endswith(".csv")
        assert await _post(client, chats.consent(card, action="decline")) == 200
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == DECLINED
    assert connector.upload_requests == []


async def test_an_unreadable_acceptance_uploads_nothing_and_says_so(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id}"))
        [card] = _consent_cards(connector)
        forged = {**card["content"]["acceptContext"], "survey_id": "all of them", "extra": 1}
        assert await _post(client, chats.consent(card, context=forged)) == 200
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == UNREADABLE
        garbled = chats.consent(card)
        garbled["value"] = {"action": "maybe"}
        assert await _post(client, garbled) == 200
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == UNREADABLE
    assert connector.upload_requests == []


async def test_partner_cannot_accept_someone_elses_export(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id} xlsx"))
        [card] = _consent_cards(connector)
        context = card["content"]["acceptContext"]

        assert await _post(client, chats.consent(card, sender=AMINA)) == 200
        assert connector.sent_to(chat_of(AMINA))[-1]["text"] == NOT_YOURS
        as_herself = {**context, "requested_by": AMINA["aadObjectId"]}
        assert await _post(client, chats.consent(card, sender=AMINA, context=as_herself)) == 200
        assert connector.sent_to(chat_of(AMINA))[-1]["text"] == NOT_A_LEAD
    assert connector.upload_requests == []


async def test_a_lead_revoked_before_accepting_gets_nothing(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with transaction(database.sessions) as session:
        await grant_lead(session, AMINA["aadObjectId"], now=FIXED_NOW, configured=["aad-lead"])
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id}", AMINA))
        [card] = _consent_cards(connector, AMINA)
        async with transaction(database.sessions) as session:
            await revoke_lead(session, AMINA["aadObjectId"], configured=["aad-lead"])
        assert await _post(client, chats.consent(card, sender=AMINA)) == 200
        assert connector.sent_to(chat_of(AMINA))[-1]["text"] == NOT_A_LEAD
    assert connector.upload_requests == []


async def test_an_offer_accepted_after_a_day_has_expired(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    today = [FIXED_NOW]
    async with _client(database, clock=lambda: today[0]) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id}"))
        [card] = _consent_cards(connector)
        today[0] = FIXED_NOW + timedelta(days=1, seconds=1)
        assert await _post(client, chats.consent(card)) == 200
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == EXPIRED
    assert connector.upload_requests == []


async def test_redelivered_accept_uploads_once(database: Database, connector: FakeConnector) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id} csv"))
        [card] = _consent_cards(connector)
        accept = chats.consent(card, activity_id="f:accept-1")
        assert await _post(client, accept) == 200
        assert await _post(client, accept) == 200  # Teams retries what it thinks failed
    assert len(connector.upload_requests) == 1
    infos = [
        attachment
        for activity in connector.sent_to(chat_of(LEAD))
        for attachment in _attachments(activity)
        if attachment["contentType"] == FILE_INFO_CARD
    ]
    assert len(infos) == 1
    data = connector.uploads[card["name"]]
    assert data.startswith("\ufeffFramework,Domain,Element".encode())  # CSV with a BOM, for Excel


async def test_upload_failure_tells_the_lead(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    connector.upload_status = 503
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id} xlsx"))
        [card] = _consent_cards(connector)
        with caplog.at_level(logging.WARNING, logger="bot.leads.lead_files"):
            assert await _post(client, chats.consent(card)) == 200  # never a 500 for Teams to retry
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == UPLOAD_FAILED
        assert "was not uploaded: range 1 of 1 answered 503" in caplog.text

        connector.upload_status = None
        elsewhere = chats.consent(card)
        elsewhere["value"]["uploadInfo"]["uploadUrl"] = "http://files.example.com/upload"  # not https
        assert await _post(client, elsewhere) == 200
        assert connector.sent_to(chat_of(LEAD))[-1]["text"] == UPLOAD_FAILED
    assert len(connector.upload_requests) == 1  # the refused one; nothing went to the plain-HTTP address
    assert connector.uploads == {}
    assert not any(
        attachment["contentType"] == FILE_INFO_CARD
        for activity in connector.sent
        for attachment in _attachments(activity)
    )


async def test_lead_reads_comments_privately_and_below_k_is_withheld(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    survey_id = await _survey_with_answers(database)
    channel, chats = Channel(connector), Chats(connector)
    async with _client(database) as client:
        await _post(client, channel.message("comments", AMINA))
        assert "Only partnership leads" in connector.sent_to(CHANNEL)[-1]["text"]
        await _post(client, channel.message("comments"))
        assert connector.sent_to(CHANNEL)[-1]["text"] == SENT_COMMENTS
        await connector.wait_for_sent(3)
        [private] = connector.sent_to(chat_of(LEAD))
        await _post(client, chats.message(f"comments #{survey_id}"))  # in the 1:1 chat: the reply itself
        again = connector.sent_to(chat_of(LEAD))[-1]

    for posted in connector.sent_to(CHANNEL):
        assert not _attachments(posted)
        for text in ("Board minutes", "Admin", LONE):
            assert text not in json.dumps(posted)
    card = _attachments(private)[0]["content"]
    assert _attachments(again)[0]["content"] == card
    assert schema_errors(card_schema, card) == []
    texts = [block["text"] for block in card["body"] if block["type"] == "TextBlock"]
    shown = "\n".join(texts)
    assert "• Board minutes agree" in texts
    assert "• \\*\\*Bold\\*\\* claim &lt;at&gt;Admin&lt;/at&gt; \\[link\\](http://evil)" in texts  # escaped
    assert "Mergers, acquisitions and disposals (MAD) · 2 comments" in texts
    assert "Key elements" in texts  # the domain's title heads its questions
    assert LONE not in shown  # one person answered that question: below k, withheld
    assert "Comments are shown only for questions that at least 3 people answered." in texts
    for name in ("Lee", "Amina", "Ben", "Anytown", "Borough"):
        assert name not in json.dumps(card)


def test_a_long_list_of_comments_fits_one_teams_message_and_counts_what_was_left_out(
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    elements = [
        ElementComments(
            element_id=f"e{number}",
            title=f"Outcome {number}",
            domain_id=f"d{number // 10}",
            comments=sorted(f"{number}-{index} " + "evidence " * 60 for index in range(12)),
        )
        for number in range(40)
    ]
    rule = Suppressed(
        scope=SuppressionScope.COMMENTS,
        reason=SuppressionReason.FEW_RESPONDENTS,
        message="Comments are shown only for questions that at least 3 people answered.",
    )
    comments = LeadComments(survey_id=7, title="Roadmap 2026", elements=elements, suppressed=[rule])
    card = comments_card(comments, {f"d{n}": f"Group {n}" for n in range(4)})

    assert card_size(card) <= MAX_CARD_BYTES
    assert schema_errors(card_schema, card) == []
    texts = [block["text"] for block in card["body"]]
    shown = sum(1 for text in texts if text.startswith("• "))
    assert 0 < shown < 480
    [left] = [text for text in texts if "did not fit in one Teams message" in text]
    assert left.startswith(f"{480 - shown} more comments on ")
    assert "export xlsx" in left
    assert texts[-1] == rule.message  # the anonymity rule is always stated
    assert not texts[texts.index(left) - 1].startswith("Outcome")  # no heading left without its comments


def test_a_survey_without_comments_says_so() -> None:
    card = comments_card(LeadComments(survey_id=7, title="Audit", elements=[]), {})
    assert [block["text"] for block in card["body"]][-1] == "No comments to show."


async def test_large_files_are_uploaded_in_ranges_onedrive_accepts(connector: FakeConnector) -> None:
    data = bytes(range(256)) * (RANGE_UNIT * 5 // 2 // 256 + 1)
    await upload(connector.upload_url("big.xlsx"), data, UploadSettings(chunk_bytes=RANGE_UNIT))
    assert connector.uploads["big.xlsx"] == data
    total = len(data)
    assert [request["content_range"] for request in connector.upload_requests] == [
        f"bytes 0-{RANGE_UNIT - 1}/{total}",
        f"bytes {RANGE_UNIT}-{2 * RANGE_UNIT - 1}/{total}",
        f"bytes {2 * RANGE_UNIT}-{total - 1}/{total}",
    ]
    assert [request["bytes"] for request in connector.upload_requests] == [
        RANGE_UNIT,
        RANGE_UNIT,
        total - 2 * RANGE_UNIT,
    ]
    assert DEFAULT_CHUNK_BYTES % RANGE_UNIT == 0
    assert DEFAULT_CHUNK_BYTES <= 4 * 1000 * 1000  # Teams' advice: at most 4 MB a request


async def test_an_upload_session_that_wants_more_after_the_last_range_is_a_failure(
    connector: FakeConnector,
) -> None:
    connector.upload_status = 202
    with pytest.raises(UploadFailed) as failed:
        await upload(connector.upload_url("short.csv"), b"a,b\r\n")
    assert failed.value.reason == "range 1 of 1 answered 202"
    with pytest.raises(ValueError, match="320 KiB"):
        UploadSettings(chunk_bytes=4 * 1000 * 1000)


async def test_an_acceptance_carrying_its_context_as_json_text_still_uploads(
    database: Database, connector: FakeConnector
) -> None:
    survey_id = await _survey_with_answers(database)
    chats = Chats(connector)
    async with _client(database) as client:
        await _ask(client, connector, chats.message(f"export #{survey_id}"))
        [card] = _consent_cards(connector)
        as_text = json.dumps(card["content"]["acceptContext"])
        assert await _post(client, chats.consent(card, context=as_text)) == 200
    assert list(connector.uploads) == [card["name"]]
