"""Entra ID's token endpoint, and a managed identity's, on 127.0.0.1: where the bot fetches its own
token for the Bot Connector (`bot.teams.app_tokens`). It issues numbered tokens, or refuses every
request while `refusal` is set, and records what it was asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import FIXED_NOW

IDENTITY_HEADER = "identity-header-never-logged"
"""The secret header the identity endpoint expects (Azure puts it in IDENTITY_HEADER)."""


@dataclass
class TokenEndpoint:
    """Answers like Entra ID's v2 token endpoint (client credentials) and like the identity endpoint
    Container Apps and App Service run for a managed identity."""

    url: str = ""
    identity_url: str = ""
    issued: int = 0
    refusal: tuple[int, dict[str, Any]] | None = None
    """When set, every request gets this answer (status, JSON body)."""
    forms: list[dict[str, str]] = field(default_factory=list)
    identity_requests: list[dict[str, str]] = field(default_factory=list)

    def token(self, number: int | None = None) -> str:
        return f"eyJ0eXAiOiJKV1Qi.bot-token-{self.issued if number is None else number}.sig"

    async def _client_credentials(self, request: web.Request) -> web.Response:
        self.forms.append(dict(await request.post()))  # type: ignore[arg-type]
        if self.refusal is not None:
            status, body = self.refusal
            return web.json_response(body, status=status)
        self.issued += 1
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": self.token()}
        )

    async def _identity(self, request: web.Request) -> web.Response:
        self.identity_requests.append(
            {**request.query, "X-IDENTITY-HEADER": request.headers.get("X-IDENTITY-HEADER", "")}
        )
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return web.json_response({"statusCode": 400, "message": "wrong header"}, status=400)
        self.issued += 1
        expires_on = int(FIXED_NOW.timestamp()) + 86_000
        return web.json_response(
            {
                "access_token": self.token(),
                "expires_on": str(expires_on),
                "resource": request.query.get("resource"),
                "token_type": "Bearer",
                "client_id": request.query.get("client_id"),
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/botframework.com/oauth2/v2.0/token", self._client_credentials)
        app.router.add_get("/msi/token", self._identity)
        return app


@asynccontextmanager
async def token_endpoint() -> AsyncIterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    server = TestServer(endpoint.app(), host="127.0.0.1")
    await server.start_server()
    endpoint.url = str(server.make_url("/botframework.com/oauth2/v2.0/token"))
    endpoint.identity_url = str(server.make_url("/msi/token"))
    try:
        yield endpoint
    finally:
        await server.close()
