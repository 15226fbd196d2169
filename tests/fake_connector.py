"""A fake Bot Connector service on 127.0.0.1: records what the bot sends, answers like Teams does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeConnector:
    url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def texts(self) -> list[str]:
        return [activity.get("text", "") for activity in self.sent]

    async def _send(self, request: web.Request) -> web.Response:
        activity = await request.json()
        activity["_conversation_id"] = request.match_info["conversation_id"]
        self.sent.append(activity)
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        activity = await request.json()
        activity["_activity_id"] = request.match_info["activity_id"]
        self.updated.append(activity)
        return web.json_response({"id": request.match_info["activity_id"]})

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards sent, in order."""
        return [
            attachment["content"]
            for activity in self.sent
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation_id}/activities/{reply_to}", self._send)
        app.router.add_put("/v3/conversations/{conversation_id}/activities/{activity_id}", self._update)
        return app


@asynccontextmanager
async def fake_connector() -> AsyncIterator[FakeConnector]:
    connector = FakeConnector()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()
