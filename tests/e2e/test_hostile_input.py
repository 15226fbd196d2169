"""Hostile and malformed input at /api/messages, and the logs it leaves: through the real web app.

A body that is not a well-formed activity gets 400 and one WARNING line (no traceback), and leaves
the database and the Bot Connector untouched. Card data, file-consent contexts and chart links
carrying ids the database cannot hold, or values it does not know, get an answer a person can read.
Database errors reach the logs without row values, and client strings reach them clipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from sqlmodel import SQLModel

from bot.app import create_app
from bot.ops.logs import JsonFormatter, bound_turn, hash_id
from bot.reports.chart_links import ChartLinks
from bot.settings import Settings
from frameworks.loader import load_directory
from frameworks.scoring import COMMENT_LIMIT
from frameworks.summary import Weighting
from storage.db import transaction
from storage.people import upsert_person
from storage.tables import Answer, Person, Survey
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_app_survey import Teams, _buttons
from tests.e2e.test_lead_commands import MEMBERS, Channel
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import open_survey_for

AUDIT = load_directory().frameworks["audit-committee-maturity"]
FIRST = "mergers-acquisitions-and-disposals"
HUGE_ID = 10**30
"""Bigger than any INTEGER column on either database."""
LEAD = MEMBERS[0]
CHART_KEY = "a-secret-from-the-environment"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


def _client(database: Database, **settings: Any) -> TestClient:
    configured = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None, **settings)
    app = create_app(configured, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so a test can say "nothing was stored"."""
    async with database.sessions() as session:
        return {
            table.name: sorted(map(tuple, (await session.execute(sa.select(table))).all()), key=repr)
            for table in SQLModel.metadata.sorted_tables
        }


def _loud(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [record for record in records if record.levelno >= logging.WARNING]


def _raw(activity: dict[str, Any], **replacements: str) -> bytes:
    """The activity as JSON bytes, with each `"<name>"` placeholder string replaced by raw JSON text."""
    text = json.dumps(activity)
    for name, raw in replacements.items():
        text = text.replace(f'"<{name}>"', raw)
    return text.encode()


def _without(activity: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {key: value for key, value in activity.items() if key not in fields}


def _malformed(teams: Teams) -> dict[str, bytes]:
    """Bodies that are not activities the bot can act on, as an attacker or a broken client sends them."""
    message = teams.message("hello")
    lone = json.dumps(message | {"text": "<lone>"}).encode().replace(b'"<lone>"', b'"hi \xed\xa0\x80"')
    return {
        "5,000-deep nested value": _raw(message | {"value": "<deep>"}, deep="[" * 5000 + "]" * 5000),
        "raw lone-surrogate bytes in the text": lone,
        "escaped lone surrogate in the conversation id": json.dumps(
            message | {"conversation": {"id": "a:amina\ud800", "conversationType": "personal"}}
        ).encode(),
        "entities not a list": json.dumps(message | {"entities": "mention"}).encode(),
        "timestamp a number": json.dumps(message | {"timestamp": 1700000000}).encode(),
        "timestamp not a date": json.dumps(message | {"timestamp": "yesterday"}).encode(),
        "from a string": json.dumps(message | {"from": "29:amina"}).encode(),
        "conversation a list": json.dumps(message | {"conversation": ["a:amina"]}).encode(),
        "type an object": json.dumps(message | {"type": {"name": "message"}}).encode(),
        "text a number": json.dumps(message | {"text": 42}).encode(),
        "attachments an object": json.dumps(message | {"attachments": {"contentType": "x"}}).encode(),
        "channelData a string": json.dumps(message | {"channelData": "t1"}).encode(),
        "membersAdded a string": json.dumps(message | {"membersAdded": "29:amina"}).encode(),
        "an id of 10,000 characters": json.dumps(message | {"id": "1" * 10_000}).encode(),
        "a message without serviceUrl": json.dumps(_without(message, "serviceUrl")).encode(),
        "a message without from": json.dumps(_without(message, "from")).encode(),
        "a message without a conversation": json.dumps(_without(message, "conversation")).encode(),
        "an invoke without serviceUrl": json.dumps(
            _without(teams.execute({"action": "start", "survey_id": 1}), "serviceUrl")
        ).encode(),
        "a serviceUrl that is not a web address": json.dumps(
            message | {"serviceUrl": "file:///etc/passwd"}
        ).encode(),
    }


async def test_malformed_activities_get_400_and_one_warning_each_and_change_nothing(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    before = await snapshot(database)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        for case, body in _malformed(Teams(connector)).items():
            caplog.clear()
            response = await client.post(
                "/api/messages", data=body, headers={"Content-Type": "application/json"}
            )
            reason = await response.text()
            assert response.status == 400, (case, reason)
            assert reason.strip(), case
            assert len(reason) < 500, case
            assert "\ud800" not in reason, case
            [warning] = _loud(caplog.records)
            assert (warning.levelno, warning.name, warning.exc_info) == (
                logging.WARNING,
                "bot.teams.edge",
                None,
            )
    assert await snapshot(database) == before
    assert (connector.sent, connector.updated, connector.created) == ([], [], [])


async def test_activities_that_need_no_reply_may_come_without_a_service_url_or_sender(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    teams = Teams(connector)
    typing = _without(teams._base(type="typing"), "serviceUrl", "from")
    reaction = _without(
        teams._base(type="messageReaction", reactionsAdded=[{"type": "like"}], replyToId="activity-1"),
        "serviceUrl",
    )
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        for activity in (typing, reaction):
            response = await client.post("/api/messages", json=activity)
            assert response.status in (200, 201), (activity["type"], await response.text())
    assert _loud(caplog.records) == []
    assert connector.sent == []


@pytest.mark.parametrize(
    "service_url",
    ["http://169.254.169.254/latest/", "https://smba.trafficmanager.net/uk/", "http://10.0.0.5:8080/"],
)
async def test_without_an_app_id_the_bot_replies_to_no_machine_but_this_one(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture, service_url: str
) -> None:
    """Local mode trusts no token, so a serviceUrl elsewhere would make the bot post (and later send
    invitations) wherever the caller pointed it: refused, nothing stored, one warning."""
    teams = Teams(connector)
    before = await snapshot(database)
    async with _client(database) as client:
        aimed = teams.message("my surveys") | {"serviceUrl": service_url}
        response = await client.post("/api/messages", json=aimed)
        assert response.status == 403
        assert "Emulator on this machine" in await response.text()
        assert await snapshot(database) == before
        assert connector.sent == []
        local = await client.post("/api/messages", json=teams.message("my surveys"))
        assert local.status == 201
    assert [r.getMessage() for r in _loud(caplog.records)] == [
        "refused an activity for another machine's serviceUrl in local mode"
    ]
    assert all(url.startswith(connector.url) for url in [a["serviceUrl"] for a in connector.sent])


async def test_a_partner_whose_directory_name_is_256_characters_long_is_answered_and_remembered(
    database: Database, connector: FakeConnector
) -> None:
    """Azure AD allows 256 characters; the people table keeps 200, so the name is shortened there."""
    teams = Teams(connector)
    name = "Dr " + "Alexandra-" * 25 + "Okonkwo"[: 256 - 3 - 250]
    assert len(name) == 256
    async with _client(database) as client:
        message = teams.message("my surveys")
        message["from"]["name"] = name
        assert (await client.post("/api/messages", json=message)).status == 201
    assert connector.sent, "the partner got an answer"
    async with database.sessions() as session:
        stored = (await session.execute(sa.select(Person.name))).scalar_one()
    assert stored == name[:200]


# Ids the database cannot hold ------------------------------------------------------------------------


async def _answers(database: Database) -> list[Answer]:
    async with database.sessions() as session:
        return list((await session.execute(sa.select(Answer))).scalars())


async def test_a_card_naming_a_survey_id_too_big_for_the_database_is_answered_in_words(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    teams = Teams(connector)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        data = {"action": "answer", "survey_id": HUGE_ID, "element_id": FIRST, "value": "basic"}
        response = await client.post("/api/messages", json=teams.execute(data))
        assert response.status == 200
        body = await response.json()
        data = {"action": "answer", "survey_id": HUGE_ID, "element_id": FIRST, "value": "basic"}
        assert (await client.post("/api/messages", json=teams.submit(data, "activity-1"))).status == 201
    assert body["statusCode"] == 200
    assert "couldn't read that card" in body["value"]
    assert "couldn't read that card" in connector.texts()[-1]
    assert await _answers(database) == []
    assert _loud(caplog.records) == []


async def test_a_lead_card_naming_a_survey_id_too_big_for_the_database_is_answered_in_words(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    channel = Channel(connector)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        response = await client.post(
            "/api/messages", json=channel.confirm({"lead": "confirm", "survey_id": HUGE_ID})
        )
        assert response.status == 200
        body = await response.json()
    assert "couldn't read that card" in body["value"]
    assert _loud(caplog.records) == []


async def test_a_file_consent_naming_a_survey_id_too_big_for_the_database_uploads_nothing(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    async with transaction(database.sessions) as session:
        await upsert_person(
            session,
            teams_user_id=LEAD["id"],
            aad_object_id=LEAD["aadObjectId"],
            name=LEAD["name"],
            now=FIXED_NOW,
        )
    context = {
        "offer": "export",
        "survey_id": HUGE_ID,
        "format": "csv",
        "anonymise": False,
        "requested_by": LEAD["aadObjectId"],
        "expires_at": "2026-11-24T09:30:00+00:00",
    }
    teams = Teams(connector)
    consent = teams._base(
        type="invoke",
        name="fileConsent/invoke",
        value={
            "type": "fileUpload",
            "action": "accept",
            "context": context,
            "uploadInfo": {
                "name": "audit.csv",
                "uploadUrl": connector.upload_url("audit.csv"),
                "contentUrl": "https://contoso.sharepoint.com/personal/lee/Documents/audit.csv",
                "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                "fileType": "csv",
            },
        },
    )
    consent["from"] = {"id": LEAD["id"], "name": LEAD["name"], "aadObjectId": LEAD["aadObjectId"]}
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        response = await client.post("/api/messages", json=consent)
        assert response.status == 200
    assert connector.uploads == {}
    assert connector.texts(), "the lead is told the file could not be sent"
    assert _loud(caplog.records) == []


# Chart links -----------------------------------------------------------------------------------------


async def test_a_signed_chart_link_with_an_unknown_weighting_is_not_found(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    links = ChartLinks("https://bot.example.nhs.uk", CHART_KEY.encode())
    url = links.url(1, "domain-profile.png", Weighting.RESPONDENT, now=FIXED_NOW)
    expires = int(url.split("expires=")[1].split("&")[0])
    signature = links._signature(1, "domain-profile.png", "by-shoe-size", expires)
    caplog.set_level(logging.INFO)
    async with _client(
        database, public_base_url="https://bot.example.nhs.uk", chart_link_key=CHART_KEY
    ) as client:
        response = await client.get(
            f"/charts/1/domain-profile.png?w=by-shoe-size&expires={expires}&sig={signature}"
        )
        assert response.status == 404
        assert (await response.text()).strip()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# Comments too long --------------------------------------------------------------------------------------


async def test_a_very_long_comment_gets_the_length_message_and_loses_nothing_else(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    teams = Teams(connector)
    async with _client(database) as client:
        await client.post("/api/messages", json=teams.message("resume"))
        question = connector.cards()[-1]
        choose = next(b for b in _buttons(question) if b.get("value") == "basic")
        response = await client.post("/api/messages", json=teams.execute(choose, comment="x" * 10_240))
        assert response.status == 200
        body = await response.json()
    assert body["type"] == "application/vnd.microsoft.activity.message", "the card and its text stay put"
    said = json.dumps(body, ensure_ascii=False) + json.dumps(connector.sent, ensure_ascii=False)
    assert "couldn't read that card" not in said
    assert f"at most {COMMENT_LIMIT:,} characters and yours has 10,240" in body["value"]
    answers = await _answers(database)
    saved = [a for a in answers if a.element_id == FIRST and a.value == "basic"]
    assert saved or "nothing was saved" in body["value"].lower(), "the answer is kept, or they are told"
    for card in connector.cards() + ([body["value"]] if isinstance(body.get("value"), dict) else []):
        assert schema_errors(card_schema, card) == []


# Logs --------------------------------------------------------------------------------------------------


def _format(record: logging.LogRecord) -> str:
    return JsonFormatter().format(record)


async def test_a_database_error_reaches_the_logs_without_row_values(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Amina's secret answer"
    caplog.set_level(logging.INFO)
    log = logging.getLogger("tests.hostile")
    for statement in (
        # a NOT NULL violation: PostgreSQL's DETAIL repeats the whole row
        sa.insert(Survey.__table__).values(title=secret, framework_id=None),
        # a value the column cannot take: the driver quotes it back
        sa.select(sa.cast(sa.literal(secret), sa.Integer)),
    ):
        try:
            async with transaction(database.sessions) as session:
                await session.execute(statement)
        except Exception:
            log.exception("turn failed")
    lines = [_format(record) for record in caplog.records]
    assert len(lines) == (2 if database.kind == "postgresql" else 1)  # SQLite casts text to 0
    for line in lines:
        assert secret not in line
        assert "Failing row contains" not in line


def test_client_strings_are_clipped_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("tests.hostile")
    long_id = "1" * 5000
    with bound_turn(long_id, "a:amina\ud800", activity_type="message"):
        log.info("redelivered activity %s ignored", long_id)
        line = json.loads(_format(caplog.records[-1]))
    assert len(line["message"]) < 300
    assert len(line["activity_id"]) < 100
    assert len(json.dumps(line)) < 1000


def test_hashing_a_lone_surrogate_for_the_logs_does_not_crash() -> None:
    assert hash_id("a:amina\ud800") != hash_id("a:amina")
    assert len(hash_id("a:amina\udfff")) == 16


# With an app id: the token is checked before the body -------------------------------------------------


UNBOUND = (
    "5,000-deep nested value",
    "raw lone-surrogate bytes in the text",
    "escaped lone surrogate in the conversation id",
    "a message without serviceUrl",
    "an invoke without serviceUrl",
    "a serviceUrl that is not a web address",
)
"""Bodies whose serviceUrl cannot be read, or is not the one the token vouches for: with an app id a
token is only good for the serviceUrl in its `serviceurl` claim, so even a genuine one is refused."""


async def test_with_an_app_id_every_malformed_body_without_a_valid_token_gets_401_and_no_error(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """An unauthenticated caller learns nothing about the shape check and never reaches the validator:
    401 whatever the body, at most one WARNING line, nothing stored or sent."""
    from tests.e2e.test_auth import STRANGER_KEY, _app, _claims, key_endpoint, signed
    from tests.fakes.entra import token_endpoint

    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    before = await snapshot(database)
    forged = {
        "no Authorization header": {},
        "garbage bearer": {"Authorization": "Bearer not-a-token"},
        "signed by another key": {
            "Authorization": f"Bearer {signed(_claims(connector.url), key=STRANGER_KEY)}"
        },
    }
    caplog.set_level(logging.INFO)
    statuses: dict[tuple[str, str], int] = {}
    async with (
        key_endpoint() as keys,
        token_endpoint() as entra,
        TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client,
    ):
        for case, body in _malformed(Teams(connector)).items():
            for how, headers in forged.items():
                caplog.clear()
                response = await client.post(
                    "/api/messages", data=body, headers={"Content-Type": "application/json", **headers}
                )
                statuses[case, how] = response.status
                assert "the activity is malformed" not in await response.text(), (case, how)
                loud = _loud(caplog.records)
                assert [(r.levelno, r.exc_info) for r in loud] == [(logging.WARNING, None)], (case, how)
                assert "unauthenticated" in loud[0].getMessage(), (case, how)
    assert statuses == {key: 401 for key in statuses}
    assert await snapshot(database) == before
    assert (connector.sent, connector.updated, connector.created) == ([], [], [])


async def test_with_an_app_id_and_a_valid_token_malformed_bodies_get_400(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams itself (a genuine token for this serviceUrl) is told what is wrong with the body; a body
    that names no serviceUrl, or another one, is not vouched for by the token and stays 401."""
    from tests.e2e.test_auth import _app, _claims, key_endpoint, signed
    from tests.fakes.entra import token_endpoint

    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    before = await snapshot(database)
    genuine = {"Authorization": f"Bearer {signed(_claims(connector.url))}"}
    caplog.set_level(logging.INFO)
    statuses: dict[str, int] = {}
    async with (
        key_endpoint() as keys,
        token_endpoint() as entra,
        TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client,
    ):
        for case, body in _malformed(Teams(connector)).items():
            caplog.clear()
            response = await client.post(
                "/api/messages", data=body, headers={"Content-Type": "application/json", **genuine}
            )
            statuses[case] = response.status
            if response.status == 400:
                assert "malformed" in await response.text() or "not JSON" in await response.text(), case
            [warning] = _loud(caplog.records)
            assert (warning.levelno, warning.exc_info) == (logging.WARNING, None), case
    assert statuses == {case: 401 if case in UNBOUND else 400 for case in statuses}
    assert await snapshot(database) == before
    assert (connector.sent, connector.updated, connector.created) == ([], [], [])


async def test_a_channel_command_that_does_not_say_who_it_addresses_is_still_answered(
    database: Database, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams always sends `recipient`; a client that leaves it out gets the command's answer, not a 503
    (reading the bot's @mention needs the recipient's id, so the text is read as it is)."""
    channel = Channel(connector)
    caplog.set_level(logging.INFO)
    async with _client(database) as client:
        response = await client.post("/api/messages", json=_without(channel.message("help"), "recipient"))
        assert response.status == 201, await response.text()
    assert _loud(caplog.records) == []
    assert connector.texts(), "the command was answered"
