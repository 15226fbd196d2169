"""Behind an organisation's web proxy (common on NHS networks), the bot's outbound calls go where
HTTPS_PROXY / HTTP_PROXY say, and NO_PROXY is honoured, as they were when botbuilder sent with
`requests`. The proxy here is a fake on 127.0.0.1 that answers as the Bot Connector would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.teams.connector import BotConnector
from tests.fakes.connector import FakeConnector, fake_connector

TEAMS = "http://smba.example.invalid/uk/"
"""A service URL no resolver knows: only a proxy can take a request for it anywhere."""


@dataclass
class ForwardProxy:
    """Records each request's target as a forward proxy receives it (absolute-form)."""

    url: str = ""
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.host, request.path))
        return web.json_response({"id": "1700000000001"}, status=201)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    fake = ForwardProxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        fake.url = str(server.make_url(""))
        yield fake


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


async def test_a_reply_to_teams_goes_through_the_proxy_the_environment_names(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with BotConnector().open() as bot_connector:
        sent = await bot_connector.send(TEAMS, "a:1amina", {"type": "message", "text": "Hello"})
    assert sent == "1700000000001"
    assert proxy.seen == [("POST", "smba.example.invalid", "/uk/v3/conversations/a:1amina/activities")]


async def test_addresses_no_proxy_names_are_reached_directly(
    proxy: ForwardProxy, connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with BotConnector().open() as bot_connector:
        await bot_connector.send(connector.url, "a:1amina", {"type": "message", "text": "Hello"})
    assert proxy.seen == []
    assert connector.texts_to("a:1amina") == ["Hello"]
