"""Behind an organisation's web proxy (common on NHS networks), the bot's outbound calls go where
HTTPS_PROXY / HTTP_PROXY say, and NO_PROXY is honoured, as they were when botbuilder sent with
`requests`. The proxy here is a fake on 127.0.0.1 that answers as the Bot Connector would. The
environment is read when a session opens, not per request: aiohttp's `trust_env` would read it, and
~/.netrc, in worker threads on every call to Teams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from bot.teams.connector import BotConnector, ConnectorError
from tests.fakes.connector import FakeConnector, fake_connector

TEAMS = "http://smba.example.invalid/uk/"
"""A service URL no resolver knows: only a proxy can take a request for it anywhere."""


@dataclass
class ForwardProxy:
    """Records each request's target as a forward proxy receives it (absolute-form)."""

    url: str = ""
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    logins: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.BaseRequest) -> web.Response:
        self.seen.append((request.method, request.host, request.path))
        self.logins.append(request.headers.get("Proxy-Authorization"))
        if request.method == "CONNECT":
            return web.Response(status=403)
        return web.json_response({"id": "1700000000001"}, status=201)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    fake = ForwardProxy()
    async with RawTestServer(fake.handle, host="127.0.0.1") as server:
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


async def test_a_proxy_login_in_the_environment_goes_to_the_proxy_with_the_tunnel_to_teams(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Teams is https, so the request reaches the proxy as a CONNECT, and the login goes with it only."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://nhs%5Cbot:s3cret@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with BotConnector().open() as bot_connector:
        with pytest.raises(ConnectorError):  # the fake proxy refuses the tunnel: nothing is listening
            await bot_connector.send("https://smba.example.invalid/uk/", "a:1amina", {"text": "Hello"})
    assert [method for method, _, _ in proxy.seen] == ["CONNECT"]
    assert proxy.logins == ["Basic bmhzXGJvdDpzM2NyZXQ="]  # base64 of "nhs\\bot:s3cret"


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to its threads."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
async def test_calls_to_teams_hand_nothing_to_worker_threads_with_a_proxy_named(
    no_proxy: str, proxy: ForwardProxy, connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    async with BotConnector().open() as bot_connector:
        opened = executor.submitted
        for text in ("one", "two", "three"):
            await bot_connector.send(TEAMS if not no_proxy else connector.url, "a:1amina", {"text": text})
    assert executor.submitted == opened
    assert len(proxy.seen) == (0 if no_proxy else 3)
