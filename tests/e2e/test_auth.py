"""Teams' edge with an app id: only a token the Bot Framework signed for this bot gets a turn.

A forged, expired or misaddressed token gets 401 at once, one WARNING line and nothing stored; the
signing keys come from an OpenID endpoint on 127.0.0.1 that the test controls (an RSA key made with
`cryptography`), and an endpoint that accepts a connection and never answers must not freeze the bot.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import AuthenticationConstants
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft6Validator
from pydantic import ValidationError

from bot.app import create_app
from bot.settings import Settings
from bot.teams.signing_keys import SigningKeys
from storage.tables import BotStateRecord, ConversationReference, Person, ProcessedActivity
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.entra import TokenEndpoint, token_endpoint
from tests.fakes.teams_wire import Member, TeamsShapes, card_problems

APP_ID = "b7e4f0a2-6c1d-4e8b-9a3f-2d5c7e9f1a04"
ISSUER = "https://api.botframework.com"
KID = "bf-signing-2026"
AMINA = Member("29:1amina", "Amina Khan", "aad-amina")


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


BOT_FRAMEWORK_KEY = _private_key()
"""Plays Microsoft's signing key: published at the test's JWKS endpoint."""
STRANGER_KEY = _private_key()
"""Anyone else's key: never published."""


def _jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "endorsements": endorsements}


# Microsoft's OpenID endpoint, on loopback -----------------------------------------------------------


@dataclass
class KeyEndpoint:
    """The OpenID configuration and JWKS documents Microsoft publishes for channel tokens."""

    keys: list[dict[str, Any]] = field(
        default_factory=lambda: [_jwk(BOT_FRAMEWORK_KEY, KID, ["msteams", "webchat"])]
    )
    url: str = ""
    requests: int = 0

    async def _configuration(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": str(request.url.with_path("/v1/.well-known/keys")),
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"keys": self.keys})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._configuration)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        return app


@asynccontextmanager
async def key_endpoint() -> AsyncIterator[KeyEndpoint]:
    endpoint = KeyEndpoint()
    server = TestServer(endpoint.app(), host="127.0.0.1")
    await server.start_server()
    endpoint.url = str(server.make_url("/v1/.well-known/openidconfiguration"))
    try:
        yield endpoint
    finally:
        await server.close()


@asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """Accepts connections and never says a word: a firewall dropping Microsoft's answers."""
    released = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await released.wait()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/.well-known/openidconfiguration"
    finally:
        released.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


# Tokens ---------------------------------------------------------------------------------------------


def _claims(service_url: str, **changes: Any) -> dict[str, Any]:
    """A channel token's claims as the Bot Framework issues them (times on the test's fixed clock)."""
    issued = int(FIXED_NOW.timestamp()) - 60
    claims: dict[str, Any] = {
        "serviceurl": service_url,
        "nbf": issued,
        "exp": issued + 3600,
        "iss": ISSUER,
        "aud": APP_ID,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def signed(
    claims: dict[str, Any], *, key: Any = BOT_FRAMEWORK_KEY, kid: str | None = KID, algorithm: str = "RS256"
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """`alg: none`: a token that claims not to need a signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_b64(claims)}."


def signed_as_is(claims: dict[str, Any]) -> str:
    """RS256-signed with the published key, claims exactly as given (PyJWT's encoder refuses odd types)."""
    head = _b64({"alg": "RS256", "typ": "JWT", "kid": KID})
    body = _b64(claims)
    rs256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    signature = rs256.sign(f"{head}.{body}".encode(), BOT_FRAMEWORK_KEY)
    return f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _at(moment: datetime) -> int:
    return int(moment.timestamp())


def forged_headers(service_url: str) -> dict[str, str]:
    """Every way a request can fail to prove it comes from the Bot Framework for this bot."""
    good = _claims(service_url)
    now = _at(FIXED_NOW)
    public_pem = BOT_FRAMEWORK_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return {
        "garbage bearer": "Bearer not-a-token",
        "empty bearer": "Bearer ",
        "alg none": f"Bearer {unsigned(good)}",
        "another RSA key, right audience and issuer": f"Bearer {signed(good, key=STRANGER_KEY)}",
        "expired": f"Bearer {signed(_claims(service_url, nbf=now - 7200, exp=now - 600))}",
        "not yet valid": f"Bearer {signed(_claims(service_url, nbf=now + 3600))}",
        "HS256 with a guessed secret": f"Bearer {signed(good, key='secret' * 6, algorithm='HS256')}",
        "HS256 keyed with the public key": "Bearer " + _hs256_with(good, public_pem),
        "wrong audience": f"Bearer {signed(_claims(service_url, aud='someone-elses-bot'))}",
        "no audience": f"Bearer {signed(_claims(service_url, aud=None))}",
        "wrong issuer": f"Bearer {signed(_claims(service_url, iss='https://sts.windows.net/evil/'))}",
        "no kid": f"Bearer {signed(good, kid=None)}",
        "unknown kid": f"Bearer {signed(good, kid='not-published')}",
        "serviceUrl claim for another connector": f"Bearer {signed(_claims('https://attacker.example/'))}",
        "no serviceUrl claim": f"Bearer {signed(_claims(service_url, serviceurl=None))}",
        "no expiry": f"Bearer {signed(_claims(service_url, exp=None))}",
        "wrong scheme": f"Basic {signed(good)}",
        "no scheme": signed(good),
        "RS512 (not RS256)": f"Bearer {signed(good, algorithm='RS512')}",
    }


def _hs256_with(claims: dict[str, Any], secret: bytes) -> str:
    """HMAC keyed with the published public key: the classic algorithm-confusion forgery (PyJWT
    refuses to encode it, so it is assembled by hand)."""
    head = _b64({"alg": "HS256", "typ": "JWT", "kid": KID})
    body = _b64(claims)
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# The app --------------------------------------------------------------------------------------------


def _app(database: Database, metadata_url: str, entra: TokenEndpoint) -> web.Application:
    """The bot with an app id: its channel tokens checked with the keys at `metadata_url`, its own
    token for replies fetched from `entra`."""
    settings = Settings(
        database_url=database.url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="not-a-real-secret",
        bot_openid_metadata_url=metadata_url,
        bot_token_url=entra.url,
        _env_file=None,
    )
    return create_app(settings, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)


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


async def _stored_rows(database: Database) -> int:
    async with database.sessions() as session:
        counts = [
            await session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (ProcessedActivity, BotStateRecord, ConversationReference, Person)
        ]
    return sum(int(count or 0) for count in counts)


@pytest.fixture
async def running_app(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> AsyncIterator[tuple[TestClient, FakeConnector]]:
    """One app for many generated examples (hypothesis runs them all inside one test)."""
    async with TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client:
        yield client, connector


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


# A real token -----------------------------------------------------------------------------------------


async def test_a_message_signed_by_the_bot_framework_for_this_bot_gets_its_reply(
    database: Database,
    connector: FakeConnector,
    keys: KeyEndpoint,
    entra: TokenEndpoint,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    teams = TeamsShapes(connector.url)
    token = signed(_claims(connector.url))
    async with TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client:
        response = await client.post(
            "/api/messages",
            json=teams.personal_message(AMINA, "my surveys"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status in (200, 201)
    assert connector.sent, "the bot answered nobody"
    assert connector.sent[0]["_conversation_id"] == f"a:1{AMINA.aad_object_id}"
    assert set(connector.authorizations) == {f"Bearer {entra.token(1)}"}, "not sent with the bot's token"
    for _method, _path, raw in connector.wire:
        assert card_problems(card_schema, raw) == []


async def test_the_bearer_scheme_is_read_case_blind(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    token = signed(_claims(connector.url))
    async with TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client:
        response = await client.post(
            "/api/messages",
            json=teams.personal_message(AMINA, "my surveys"),
            headers={"Authorization": f"bearer {token}"},
        )
        assert response.status in (200, 201)
    assert connector.sent


# Forged tokens -----------------------------------------------------------------------------------------


async def test_every_forged_token_gets_401_with_one_warning_and_nothing_stored(
    database: Database,
    connector: FakeConnector,
    keys: KeyEndpoint,
    auth_log: pytest.LogCaptureFixture,
    entra: TokenEndpoint,
) -> None:
    teams = TeamsShapes(connector.url)
    cases = forged_headers(connector.url)
    statuses: dict[str, int] = {}
    async with TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client:
        for name, header in cases.items():
            auth_log.clear()
            started = time.perf_counter()
            response = await client.post(
                "/api/messages",
                json=teams.personal_message(AMINA, "my surveys"),
                headers={"Authorization": header},
            )
            statuses[name] = response.status
            assert time.perf_counter() - started < 2, name
            body = await response.text()
            assert "Traceback" not in body, name
            records = [r for r in auth_log.records if r.levelno >= logging.WARNING]
            assert [r.levelname for r in records] == ["WARNING"], (name, [r.getMessage() for r in records])
            assert records[0].exc_info is None, name
    assert statuses == {name: 401 for name in cases}
    assert connector.sent == []
    assert await _stored_rows(database) == 0


async def test_a_token_for_another_channel_is_refused_when_the_key_is_not_endorsed_for_it(
    database: Database, connector: FakeConnector, keys: KeyEndpoint, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    activity = {**teams.personal_message(AMINA, "my surveys"), "channelId": "skype"}
    async with TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as client:
        response = await client.post(
            "/api/messages",
            json=activity,
            headers={"Authorization": f"Bearer {signed(_claims(connector.url))}"},
        )
        assert response.status == 401
    assert connector.sent == []


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"))
"""What an HTTP client can put in a header line (no control characters)."""


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.one_of(
        HEADER_TEXT.map(lambda text: f"Bearer {text[:300]}"),
        st.lists(
            st.text(
                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=80
            ),
            min_size=1,
            max_size=4,
        ).map(lambda parts: "Bearer " + ".".join(parts)),
        st.dictionaries(
            st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u"]), st.text(max_size=20)
        ).map(lambda head: f"Bearer {_b64(head)}.{_b64({'iss': ISSUER, 'aud': APP_ID})}.c2ln"),
        HEADER_TEXT.map(lambda text: text[:100]),
    )
)
async def test_random_garbage_tokens_get_401_and_never_an_error(
    header: str, running_app: tuple[TestClient, FakeConnector]
) -> None:
    client, connector = running_app
    response = await client.post(
        "/api/messages",
        json=TeamsShapes(connector.url).personal_message(AMINA, "my surveys"),
        headers={"Authorization": header},
    )
    assert response.status == 401
    assert connector.sent == []


# Microsoft's key endpoint down ---------------------------------------------------------------------------


async def test_a_black_holed_key_endpoint_neither_freezes_the_bot_nor_lets_anyone_in(
    database: Database, connector: FakeConnector, auth_log: pytest.LogCaptureFixture, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    async with black_hole() as metadata_url:
        client = TestClient(TestServer(_app(database, metadata_url, entra), host="127.0.0.1"))
        await client.start_server()
        try:
            async with asyncio.timeout(3):
                forged = await client.post(
                    "/api/messages",
                    json=teams.personal_message(AMINA, "my surveys"),
                    headers={"Authorization": f"Bearer {signed(_claims(connector.url), key=STRANGER_KEY)}"},
                )
                assert forged.status == 503
                assert forged.headers.get("Retry-After")
                healthy = await client.get("/healthz")
                assert healthy.status == 200
        finally:
            started = time.perf_counter()
            await client.close()
            stopped_in = time.perf_counter() - started
    assert stopped_in < 2
    assert connector.sent == []
    assert await _stored_rows(database) == 0
    assert not [r for r in auth_log.records if r.levelno >= logging.ERROR]


async def test_an_obviously_forged_token_gets_401_even_before_any_keys_are_known(
    database: Database, connector: FakeConnector, entra: TokenEndpoint
) -> None:
    teams = TeamsShapes(connector.url)
    async with (
        black_hole() as metadata_url,
        TestClient(TestServer(_app(database, metadata_url, entra), host="127.0.0.1")) as client,
    ):
        for header in ("Bearer garbage", f"Bearer {signed(_claims(connector.url, aud='other-bot'))}"):
            async with asyncio.timeout(1):
                response = await client.post(
                    "/api/messages",
                    json=teams.personal_message(AMINA, "my surveys"),
                    headers={"Authorization": header},
                )
            assert response.status == 401


async def test_the_bot_keeps_the_last_good_keys_when_a_refresh_fails(keys: KeyEndpoint) -> None:
    store = SigningKeys(keys.url)
    async with store.fetching():
        assert await store.refresh()
        assert store.find(KID) is not None
        keys.keys = []  # a broken answer: no keys at all
        assert not await store.refresh()
    assert store.find(KID) is not None


async def test_a_token_naming_an_unseen_key_asks_for_an_early_refresh_but_not_on_every_request(
    keys: KeyEndpoint,
) -> None:
    store = SigningKeys(keys.url, unknown_kid_gap=300)
    async with store.fetching():
        assert await store.refresh()
        assert not store.unknown_kid(), "a forged kid right after a refresh must not fetch again"
    rotating = SigningKeys(keys.url, unknown_kid_gap=0)
    async with rotating.fetching():
        assert await rotating.refresh()
        assert rotating.unknown_kid(), "a rotated key is looked for"


# Settings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://login.botframework.com/v1/.well-known/openidconfiguration",
        "ftp://127.0.0.1/keys",
        "login.botframework.com/v1/.well-known/openidconfiguration",
    ],
)
def test_signing_keys_are_only_fetched_over_https_or_from_loopback(url: str) -> None:
    with pytest.raises(ValidationError, match="BOT_OPENID_METADATA_URL"):
        Settings(bot_openid_metadata_url=url, _env_file=None)


def test_the_key_address_defaults_to_microsofts_public_cloud_and_loopback_is_allowed() -> None:
    assert Settings(_env_file=None).bot_openid_metadata_url == (
        AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )
    Settings(bot_openid_metadata_url="http://127.0.0.1:8080/keys", _env_file=None)
    Settings(bot_openid_metadata_url="http://[::1]:8080/keys", _env_file=None)


async def test_only_well_formed_rsa_keys_of_a_published_set_are_trusted(keys: KeyEndpoint) -> None:
    good = _jwk(BOT_FRAMEWORK_KEY, KID, ["msteams"])
    keys.keys = [
        {"kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0"},
        {**_jwk(STRANGER_KEY, "channels-unclear", []), "endorsements": "msteams"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "RSA", "n": good["n"], "e": good["e"]},
        good,
    ]
    store = SigningKeys(keys.url)
    async with store.fetching():
        assert await store.refresh()
    assert store.find(KID) is not None
    for kid in ("shared-secret", "channels-unclear", "broken"):
        assert store.find(kid) is None, kid


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "serviceurl", "iat"]), JSON_VALUES, min_size=1
    ),
    channel=st.one_of(st.just("msteams"), JSON_VALUES),
)
async def test_correctly_signed_tokens_with_odd_claims_are_refused_or_served_never_an_error(
    changes: dict[str, Any], channel: Any, running_app: tuple[TestClient, FakeConnector]
) -> None:
    client, connector = running_app
    claims = {**_claims(connector.url), **changes}
    activity = {**TeamsShapes(connector.url).personal_message(AMINA, "help"), "channelId": channel}
    response = await client.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {signed_as_is(claims)}"}
    )
    assert response.status < 500
    if changes.get("aud", APP_ID) != APP_ID or changes.get("iss", ISSUER) != ISSUER:
        assert response.status in (400, 401), "a malformed activity may be refused before its token"
