"""A fake Bot Connector service on 127.0.0.1: records what the bot sends, answers like Teams does.

It also plays OneDrive's side of a file consent: `upload_url(name)` is an upload session that takes the
file in byte ranges, in order, as OneDrive does (202 while it wants more, 201 once whole), and keeps
every request so a test can check the headers and open the file.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 200
UPLOAD_MAX_BYTES = 16 * 1024 * 1024
"""aiohttp refuses bodies over 1 MiB by default; an upload range may be 3.75 MiB."""


@dataclass
class FakeConnector:
    url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    """The roster (Teams JSON: id, name, aadObjectId, email, userPrincipalName, tenantId) served by
    pagedmembers and members/{id}, the same for every conversation and team."""
    member_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each roster or member request: conversation id, member id or pageSize and continuationToken."""
    send_faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Answers (status, headers) for the next sends or replies, in order: Teams throttling a message."""
    refused_sends: int = 0
    update_faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Answers (status, headers) for the next updates (PUT of an activity), in order: Teams throttling
    the replacement of a card."""
    refused_updates: int = 0
    roster_faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Answers (status, headers) for the next roster or member requests, in order, before it serves
    them again: Teams throttling (429 with Retry-After) or failing for a moment (5xx)."""
    created: list[dict[str, Any]] = field(default_factory=list)
    """Conversation parameters of each 1:1 chat the bot created."""
    upload_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each PUT to an upload URL: name, headers that matter, and the body's length."""
    uploads: dict[str, bytes] = field(default_factory=dict)
    """Files uploaded whole, by name."""
    upload_status: int | None = None
    """When set, every upload PUT is answered with this status (OneDrive refusing or failing)."""
    authorizations: list[str | None] = field(default_factory=list)
    """The Authorization header of each send or reply that arrived: the bot's own token."""
    wire: list[tuple[str, str, bytes]] = field(default_factory=list)
    """Every send, reply and update as it arrived: method, path and the body's bytes, for checking what
    Teams itself would parse."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Files a person sent in a chat, served at `download_url(name)` as Teams' download URLs serve them."""
    stalled_files: set[str] = field(default_factory=set)
    """Files whose download URL accepts the request and never answers."""
    download_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each GET of a download URL: the name and the Authorization header (there should be none)."""
    _parts: dict[str, bytearray] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def texts(self) -> list[str]:
        return [activity.get("text", "") for activity in self.sent]

    async def _send(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        if self.send_faults:
            status, headers = self.send_faults.pop(0)
            self.refused_sends += 1
            error = {"code": "TooManyRequests" if status == 429 else "ServiceError", "message": "Try later."}
            return web.json_response({"error": error}, status=status, headers=headers)
        self.wire.append((request.method, request.path, await request.read()))
        activity = await request.json()
        activity["_conversation_id"] = request.match_info["conversation_id"]
        self.sent.append(activity)
        self._arrived.set()
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _create(self, request: web.Request) -> web.Response:
        """A new 1:1 chat, as for a proactive invitation: its id names the member."""
        parameters = await request.json()
        self.created.append(parameters)
        member = (parameters.get("members") or [{}])[0].get("id", "unknown")
        return web.json_response({"id": f"a:{member}"})

    async def wait_for_sent(self, count: int) -> None:
        """Until `count` activities have been sent (a background sender's work): no sleeping.
        Bounded, so a test that would wait for ever fails instead."""
        async with asyncio.timeout(10):
            while len(self.sent) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def sent_to(self, conversation_id: str) -> list[dict[str, Any]]:
        return [activity for activity in self.sent if activity["_conversation_id"] == conversation_id]

    async def _update(self, request: web.Request) -> web.Response:
        if self.update_faults:
            status, headers = self.update_faults.pop(0)
            self.refused_updates += 1
            error = {"code": "TooManyRequests" if status == 429 else "ServiceError", "message": "Try later."}
            return web.json_response({"error": error}, status=status, headers=headers)
        self.wire.append((request.method, request.path, await request.read()))
        activity = await request.json()
        activity["_activity_id"] = request.match_info["activity_id"]
        self.updated.append(activity)
        return web.json_response({"id": request.match_info["activity_id"]})

    def _roster_fault(self) -> web.Response | None:
        if not self.roster_faults:
            return None
        status, headers = self.roster_faults.pop(0)
        error = {
            "code": "TooManyRequests" if status == 429 else "ServiceUnavailable",
            "message": "Try later.",
        }
        return web.json_response({"error": error}, status=status, headers=headers)

    async def _paged_members(self, request: web.Request) -> web.Response:
        """Pages as Teams serves them: `pageSize` honoured up to 500, an opaque token while more remain."""
        query = request.query
        self.member_requests.append({"conversation_id": request.match_info["conversation_id"], **query})
        if (fault := self._roster_fault()) is not None:
            return fault
        size = min(int(query.get("pageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        token = query.get("continuationToken")
        start = int(token.removeprefix("page-from-")) if token else 0
        page: dict[str, Any] = {"members": self.members[start : start + size]}
        if start + size < len(self.members):
            page["continuationToken"] = f"page-from-{start + size}"
        return web.json_response(page)

    async def _member(self, request: web.Request) -> web.Response:
        wanted = request.match_info["member_id"]
        self.member_requests.append(
            {"conversation_id": request.match_info["conversation_id"], "member": wanted}
        )
        if (fault := self._roster_fault()) is not None:
            return fault
        for member in self.members:
            if wanted in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        error = {"code": "MemberNotFoundInConversation", "message": "The member is not in the conversation."}
        return web.json_response({"error": error}, status=404)

    def upload_url(self, name: str) -> str:
        return f"{self.url}uploads/{name}"

    async def _upload(self, request: web.Request) -> web.Response:
        """A OneDrive upload session: ranges in order, each naming itself in Content-Range."""
        name = request.match_info["name"]
        body = await request.read()
        self.upload_requests.append(
            {
                "name": name,
                "content_range": request.headers.get("Content-Range"),
                "content_length": request.headers.get("Content-Length"),
                "authorization": request.headers.get("Authorization"),
                "bytes": len(body),
            }
        )
        if self.upload_status is not None:
            return web.json_response({"error": {"code": "generalException"}}, status=self.upload_status)
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("Content-Range", ""))
        received = self._parts.setdefault(name, bytearray())
        if match is None:
            return web.json_response({"error": {"code": "invalidRange"}}, status=400)
        first, last, total = (int(group) for group in match.groups())
        if first != len(received) or last - first + 1 != len(body) or last >= total:
            return web.json_response({"error": {"code": "invalidRange"}}, status=416)
        received.extend(body)
        if len(received) < total:
            return web.json_response({"nextExpectedRanges": [f"{len(received)}-"]}, status=202)
        self.uploads[name] = bytes(self._parts.pop(name))
        return web.json_response({"id": f"item-{name}", "name": name, "size": total}, status=201)

    def download_url(self, name: str) -> str:
        return f"{self.url}files/{name}"

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """A pre-authenticated download URL of a file sent in a 1:1 chat."""
        name = request.match_info["name"]
        self.download_requests.append({"name": name, "authorization": request.headers.get("Authorization")})
        if name in self.stalled_files:
            await asyncio.Event().wait()  # never answers; the client's timeout ends it
        if name not in self.files:
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards sent, in order."""
        return [
            attachment["content"]
            for activity in self.sent
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_MAX_BYTES)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation_id}/activities/{reply_to}", self._send)
        app.router.add_put("/v3/conversations/{conversation_id}/activities/{activity_id}", self._update)
        app.router.add_get("/v3/conversations/{conversation_id}/pagedmembers", self._paged_members)
        app.router.add_get("/v3/conversations/{conversation_id}/members/{member_id}", self._member)
        app.router.add_put("/uploads/{name}", self._upload)
        app.router.add_get("/files/{name}", self._download)
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
