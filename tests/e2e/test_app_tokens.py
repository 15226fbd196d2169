"""The bot's own token: fetched from Entra ID (or a managed identity endpoint) in the background, and
only read when a reply goes to Teams.

The token endpoint is on 127.0.0.1 and the test controls it: it issues tokens, refuses, or accepts a
connection and never answers. What reaches the fake Bot Connector shows which token the bot sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from pydantic import ValidationError

from bot.app import APP_TOKENS, create_app
from bot.ops.health import MissingCredential, check_credentials
from bot.outbox import Verdict
from bot.settings import Settings
from bot.teams.app_tokens import AppTokenUnavailable, refresh_after, token_request
from bot.teams.proactive import classify
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_auth import AMINA, APP_ID, KeyEndpoint, black_hole, key_endpoint, signed
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.entra import IDENTITY_HEADER, TokenEndpoint, token_endpoint
from tests.fakes.teams_wire import TeamsShapes, card_problems

CLIENT_SECRET = "s3cr3t~Qx8Q~client-secret-never-logged"
ISSUER = "https://api.botframework.com"


@dataclass
class Clock:
    """The app's clock, moved on by the test."""

    now: datetime = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def keys() -> AsyncIterator[KeyEndpoint]:
    async with key_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
async def entra() -> AsyncIterator[TokenEndpoint]:
    async with token_endpoint() as endpoint:
        yield endpoint


def _settings(database: Database, metadata_url: str, token_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.url,
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": CLIENT_SECRET,
        "bot_openid_metadata_url": metadata_url,
        "bot_token_url": token_url,
        **changes,
    }
    return Settings(_env_file=None, **values)


def _app(database: Database, settings: Settings, clock: Clock | None = None) -> web.Application:
    return create_app(settings, clock=clock or Clock(), engine_options=database.engine_kwargs)


def _teams_token(service_url: str, now: datetime) -> str:
    """A channel token the Bot Framework signed for this bot, valid at `now`."""
    issued = int(now.timestamp()) - 60
    claims = {"serviceurl": service_url, "nbf": issued, "exp": issued + 3600, "iss": ISSUER, "aud": APP_ID}
    return f"Bearer {signed(claims)}"


async def _say(client: TestClient, connector: FakeConnector, activity: dict[str, Any], now: datetime) -> int:
    started = time.perf_counter()
    response = await client.post(
        "/api/messages", json=activity, headers={"Authorization": _teams_token(connector.url, now)}
    )
    await response.read()
    assert time.perf_counter() - started < 2, "the turn waited for the network"
    return response.status


# A token in use ----------------------------------------------------------------------------------------


async def test_a_reply_to_teams_carries_the_token_entra_id_issued_to_the_bot(
    database: Database,
    connector: FakeConnector,
    keys: KeyEndpoint,
    entra: TokenEndpoint,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    teams = TeamsShapes(connector.url)
    app = _app(database, _settings(database, keys.url, entra.url))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        status = await _say(client, connector, teams.personal_message(AMINA, "my surveys"), FIXED_NOW)
        assert status in (200, 201)
    assert connector.sent, "the bot answered nobody"
    assert connector.authorizations == [f"Bearer {entra.token(1)}"] * len(connector.sent)
    assert entra.forms == [
        {
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "https://api.botframework.com/.default",
        }
    ], "asked once, at start, with the SDK's client-credentials request"
    for _method, _path, raw in connector.wire:
        assert card_problems(card_schema, raw) == []


async def test_a_managed_identity_gets_its_token_from_the_identity_endpoint_azure_provides(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    settings = _settings(
        database,
        keys.url,
        "",
        microsoft_app_password="",
        microsoft_app_type="UserAssignedMSI",
        microsoft_app_tenant_id="tenant-1",
        identity_endpoint=entra.identity_url,
        identity_header=IDENTITY_HEADER,
    )
    check_credentials(settings)
    async with TestClient(TestServer(_app(database, settings), host="127.0.0.1")) as client:
        assert await _say(client, connector, teams.personal_message(AMINA, "my surveys"), FIXED_NOW) in (
            200,
            201,
        )
    assert connector.sent
    assert set(connector.authorizations) == {f"Bearer {entra.token(1)}"}
    assert entra.identity_requests == [
        {
            "api-version": "2019-08-01",
            "resource": "https://api.botframework.com",
            "client_id": APP_ID,
            "X-IDENTITY-HEADER": IDENTITY_HEADER,
        }
    ]


# Entra ID slow, down or refusing ------------------------------------------------------------------------


async def test_a_token_endpoint_that_never_answers_freezes_nothing(
    database: Database, connector: FakeConnector, keys: KeyEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    async with black_hole() as silent:
        app = _app(database, _settings(database, keys.url, silent))
        started = time.perf_counter()
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        assert time.perf_counter() - started < 5, "start waited on the token endpoint"
        try:
            for _ in range(3):
                probe = time.perf_counter()
                assert (await client.get("/healthz")).status == 200
                assert time.perf_counter() - probe < 0.5, "/healthz waited on the token endpoint"
            ready = await client.get("/readyz")
            assert ready.status == 503
            assert "no Bot Framework token" in (await ready.json())["reason"]
            await _say(client, connector, teams.personal_message(AMINA, "my surveys"), FIXED_NOW)
        finally:
            stopping = time.perf_counter()
            await client.close()
            assert time.perf_counter() - stopping < 2, "shutdown waited on the token endpoint"
    assert connector.authorizations == [], "something was sent without a token"


async def test_a_reply_held_for_want_of_a_token_goes_out_when_teams_retries(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    entra.refusal = (503, {"error": "temporarily_unavailable", "error_description": "AADSTS90033: try again"})
    app = _app(database, _settings(database, keys.url, entra.url))
    hello = teams.personal_message(AMINA, "my surveys")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        first = await _say(client, connector, hello, FIXED_NOW)
        assert first >= 500, "Teams must retry a turn whose reply could not go out"
        assert connector.authorizations == []
        entra.refusal = None
        assert await app[APP_TOKENS].refresh() is not None
        assert await _say(client, connector, hello, FIXED_NOW) in (200, 201)  # Teams' retry
    assert len(connector.sent) == 1, "the kept reply went out once"
    assert connector.authorizations == [f"Bearer {entra.token(1)}"]


async def test_a_failed_refresh_keeps_the_last_good_token_until_it_expires(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    clock = Clock()
    app = _app(database, _settings(database, keys.url, entra.url), clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        entra.refusal = (401, {"error": "invalid_client", "error_description": "AADSTS7000222: expired"})
        assert await app[APP_TOKENS].refresh() is None
        clock.now = FIXED_NOW + timedelta(minutes=50)
        assert await _say(client, connector, teams.personal_message(AMINA, "my surveys"), clock.now) in (
            200,
            201,
        )
        assert connector.authorizations == [f"Bearer {entra.token(1)}"] * len(connector.sent)
        sent = len(connector.sent)

        clock.now = FIXED_NOW + timedelta(minutes=61)
        status = await _say(client, connector, teams.personal_message(AMINA, "my surveys"), clock.now)
        assert status >= 500, "a reply without a token is retried by Teams, not lost"
        assert len(connector.sent) == sent, "nothing went out with the expired token, or without one"


def test_the_outbox_retries_a_send_that_had_no_token() -> None:
    outcome = classify(AppTokenUnavailable("no Bot Framework token yet"), now=FIXED_NOW)
    assert outcome.verdict is Verdict.RETRY


def test_a_token_is_refreshed_at_half_its_life_and_well_before_it_expires() -> None:
    assert refresh_after(3599) == pytest.approx(1799.5)
    assert refresh_after(600) == 300
    assert refresh_after(20) == 10


# Readiness ------------------------------------------------------------------------------------------------


async def test_readyz_waits_for_the_signing_keys_and_the_bots_token(
    database: Database, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    nothing_here = "http://127.0.0.1:9/nothing"
    cases = [
        (nothing_here, entra.url, 503, "no Bot Framework signing keys"),
        (keys.url, nothing_here, 503, "no Bot Framework token"),
        (keys.url, entra.url, 200, None),
    ]
    for metadata_url, token_url, status, reason in cases:
        app = _app(database, _settings(database, metadata_url, token_url))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/readyz")
            body = await response.json()
            assert response.status == status, body
            if reason is not None:
                assert reason in body["reason"]
            else:
                assert body == {"status": "ready"}


# The secret -------------------------------------------------------------------------------------------------


async def test_the_client_secret_and_the_token_never_reach_the_logs(
    database: Database,
    connector: FakeConnector,
    keys: KeyEndpoint,
    entra: TokenEndpoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    teams = TeamsShapes(connector.url)
    settings = _settings(database, keys.url, entra.url)
    app = _app(database, settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await _say(client, connector, teams.personal_message(AMINA, "my surveys"), FIXED_NOW)
        # A misbehaving endpoint that echoes the request into its error.
        entra.refusal = (400, {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"})
        assert await app[APP_TOKENS].refresh() is None
    assert connector.sent
    logged = "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    assert "invalid_client" in logged, "the refusal is logged, with Entra's error code"
    assert CLIENT_SECRET not in logged
    assert entra.token(1) not in logged
    assert CLIENT_SECRET not in repr(settings) + repr(app[APP_TOKENS].request)


# Starting --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"microsoft_app_type": "SingleTenant"}, "MICROSOFT_APP_TENANT_ID"),
        ({"microsoft_app_password": ""}, "MICROSOFT_APP_PASSWORD is empty"),
        (
            {
                "microsoft_app_type": "UserAssignedMSI",
                "identity_endpoint": "https://10.0.0.4:2377/metadata/identity/oauth2/token",
                "identity_header": "h",
                "identity_server_thumbprint": "AB12",
            },
            "Service Fabric",
        ),
        (
            {
                "microsoft_app_type": "UserAssignedMSI",
                "identity_endpoint": "http://localhost:40342/metadata/identity/oauth2/token",
                "imds_endpoint": "http://localhost:40342",
            },
            "Azure Arc",
        ),
        (
            {"microsoft_app_type": "UserAssignedMSI", "msi_endpoint": "http://127.0.0.1:46808/msi/token"},
            "Azure Machine Learning",
        ),
    ],
    ids=["single tenant without its tenant", "no secret", "service fabric", "arc", "machine learning"],
)
def test_a_configuration_that_cannot_get_a_token_refuses_to_start(
    changes: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"microsoft_app_id": APP_ID, "microsoft_app_password": "x", **changes}
    settings = Settings(_env_file=None, **values)
    with pytest.raises(MissingCredential, match=message):
        check_credentials(settings)


def test_the_secret_is_only_posted_over_https_or_to_this_machine() -> None:
    with pytest.raises(ValidationError, match="BOT_TOKEN_URL must be an https URL"):
        Settings(bot_token_url="http://login.example.com/token", _env_file=None)
    Settings(bot_token_url="https://login.microsoftonline.us/tenant/oauth2/v2.0/token", _env_file=None)


def test_the_token_endpoint_follows_the_app_type_as_in_the_sdk() -> None:
    """botframework.com's tenant for MultiTenant, the bot's own for SingleTenant, IMDS on a VM or AKS."""
    multi = token_request(Settings(microsoft_app_id=APP_ID, microsoft_app_password="x", _env_file=None))
    single = token_request(
        Settings(
            microsoft_app_id=APP_ID,
            microsoft_app_password="x",
            microsoft_app_type="SingleTenant",
            microsoft_app_tenant_id="contoso-tenant",
            _env_file=None,
        )
    )
    managed = token_request(
        Settings(microsoft_app_id=APP_ID, microsoft_app_type="UserAssignedMSI", _env_file=None)
    )
    assert [request.url if request else None for request in (multi, single, managed)] == [
        "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
        "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token",
        "http://169.254.169.254/metadata/identity/oauth2/token",
    ]
