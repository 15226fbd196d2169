"""The bot's web edge as Teams and operators see it: /api/messages and /healthz on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings
from storage.db import create_engine
from storage.migrate import upgrade
from storage.tables import ConversationReference, Person
from tests.conftest import FIXED_NOW
from tests.fakes.connector import FakeConnector, fake_connector


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def _client(settings: Settings) -> TestClient:
    return TestClient(TestServer(create_app(settings, clock=lambda: FIXED_NOW), host="127.0.0.1"))


def _message(connector: FakeConnector, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg-1",
        "text": text,
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina"},
        "recipient": {"id": "28:surveybot", "name": "Survey bot"},
        "conversation": {"id": "a:personal-amina", "conversationType": "personal", "tenantId": "tenant-1"},
        "channelData": {"tenant": {"id": "tenant-1"}},
        **extra,
    }


async def test_health_check_answers(database_url: str) -> None:
    async with _client(Settings(database_url=database_url, _env_file=None)) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_a_partner_saying_hello_is_remembered_and_answered(
    database_url: str, connector: FakeConnector
) -> None:
    async with _client(Settings(database_url=database_url, _env_file=None)) as client:
        response = await client.post("/api/messages", json=_message(connector, "hello"))
        assert response.status == 201
    assert len(connector.sent) == 1
    reply = connector.sent[0]
    assert reply["_conversation_id"] == "a:personal-amina"
    assert "not part of an open survey" in reply["text"]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            person = (await connection.execute(sa.select(Person.__table__))).one()
            reference = (await connection.execute(sa.select(ConversationReference.__table__))).one()
    finally:
        await engine.dispose()
    assert (person.teams_user_id, person.aad_object_id, person.name) == (
        "29:amina",
        "aad-amina",
        "Amina Khan",
    )
    assert (reference.conversation_id, reference.service_url) == ("a:personal-amina", connector.url)
    assert reference.person_id == person.id


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("hello", "text/plain", 415),
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"text": "no type"}', "application/json", 400),
    ],
)
async def test_malformed_requests_get_a_clear_4xx(
    database_url: str, body: str, content_type: str, status: int
) -> None:
    async with _client(Settings(database_url=database_url, _env_file=None)) as client:
        response = await client.post("/api/messages", data=body, headers={"Content-Type": content_type})
        assert response.status == status
        assert (await response.text()).strip()


async def test_an_oversized_request_is_refused(database_url: str) -> None:
    async with _client(Settings(database_url=database_url, _env_file=None)) as client:
        body = '{"type": "message", "text": "' + "x" * (2 * 1024 * 1024) + '"}'
        response = await client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 413


async def test_with_an_app_id_unauthenticated_requests_are_refused(
    database_url: str, connector: FakeConnector
) -> None:
    settings = Settings(
        database_url=database_url,
        microsoft_app_id="00000000-0000-0000-0000-000000000001",
        microsoft_app_password="not-a-real-secret",
        bot_openid_metadata_url="http://127.0.0.1:9/v1/.well-known/openidconfiguration",  # no network
        bot_token_url="http://127.0.0.1:9/botframework.com/oauth2/v2.0/token",
        _env_file=None,
    )
    async with _client(settings) as client:
        response = await client.post("/api/messages", json=_message(connector, "hello"))
        assert response.status == 401
    assert connector.sent == []


async def test_the_bot_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", _env_file=None)
    with pytest.raises(RuntimeError, match="python -m bot db upgrade"):
        async with _client(settings):
            pass


def test_summary_rules_come_from_settings() -> None:
    settings = Settings(
        anonymity_k=5, anonymity_k_organisations=3, summary_weighting="respondent", _env_file=None
    )
    rules = settings.summary_rules
    assert (rules.k, rules.k_orgs, rules.weighting) == (5, 3, "respondent")
    assert Settings(_env_file=None).summary_rules.weighting == "organisation"  # one organisation, one vote


def test_split_and_movement_thresholds_are_tuned_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUMMARY_THRESHOLDS", '{"score_band": 1.5, "level_iqr_split": 1, "min_outside": 3}')
    rules = Settings(_env_file=None).summary_rules
    assert (rules.score_band, rules.level_iqr_split, rules.min_outside) == (1.5, 1.0, 3)
    assert rules.score_org_gap == 3.0  # the others keep their documented defaults


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"k": 1}', "unknown summary thresholds \\['k'\\]"),  # anonymity has settings of its own
        ('{"score_bnad": 1}', "unknown summary thresholds \\['score_bnad'\\]"),
        ('{"outside_share": 2}', "less than or equal to 1"),
        ("score_band=1", 'error parsing value for field "summary_thresholds"'),
    ],
)
def test_a_bad_threshold_setting_stops_the_bot_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SUMMARY_THRESHOLDS", value)
    with pytest.raises(Exception, match=message):
        Settings(_env_file=None)
