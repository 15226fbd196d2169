"""A fake Bot Connector service on 127.0.0.1: records what the bot sends, answers like Teams does.

By default it is lenient (`fake_connector`): any conversation is accepted, a send is answered 200, the
roster pages with `page-from-N` tokens, and the next sends, updates or roster requests can be refused
in order (`send_faults`, `update_faults`, `roster_faults`). It also plays OneDrive's side of a file
consent: `upload_url(name)` is an upload session that takes the file in byte ranges, in order, as
OneDrive does (202 while it wants more, 201 once whole), and keeps every request so a test can check
the headers and open the file; `download_url(name)` serves a file a person sent.

Strict, it is Teams as a fan-out meets it (`throttling_connector`, `ThrottlingConnector`): a send to a
conversation it does not know is 404, accepted requests are 201, the roster pages with plain `N`
tokens, and sends and creates count against per-thread and per-tenant sliding windows
(`bot.outbox.throttle.RateLimits`, checked here by its own code, not the limiter's); a request over a
limit gets 429 with Retry-After, as from Teams. Either way every request's arrival time is recorded,
so a test can check that none exceeded a window, and faults can be set per user: always 403/404, 500
n times, 429 once, or a response held past the client's timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.outbox.throttle import RateLimits, Window

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 200
UPLOAD_MAX_BYTES = 16 * 1024 * 1024
"""aiohttp refuses bodies over 1 MiB by default; an upload range may be 3.75 MiB."""
TENANT = "\0tenant"
"""The key of the tenant-wide window among the per-thread ones."""


@dataclass
class Fault:
    """What the connector answers a user's requests instead of accepting them."""

    status: int
    times: int | None = None
    """How many requests it applies to; None: all of them."""
    on: str = "any"
    """"create", "send" or "any"."""
    code: str = "Error"
    retry_after: str | None = None
    hold: float = 0.0
    """Seconds to keep the request open before answering (longer than the client waits: a timeout)."""
    page: str | None = None
    """Answer with this text/html body instead of Teams' JSON error (a gateway's error page)."""

    def applies(self, kind: str) -> bool:
        return self.on in ("any", kind) and (self.times is None or self.times > 0)


@dataclass(frozen=True)
class Arrival:
    at: float
    kind: str
    """"create", "send", "members" or "member"."""
    thread: str
    user: str | None
    status: int
    limited: bool = False
    """Refused for going over a limit (rather than by an injected fault)."""


@dataclass
class FakeOneDrive:
    """OneDrive's side of a file consent and Teams' download URLs, served by the connector's app."""

    url: str = ""
    upload_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each PUT to an upload URL: name, headers that matter, and the body's length."""
    uploads: dict[str, bytes] = field(default_factory=dict)
    """Files uploaded whole, by name."""
    upload_status: int | None = None
    """When set, every upload PUT is answered with this status (OneDrive refusing or failing)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Files a person sent in a chat, served at `download_url(name)` as Teams' download URLs serve them."""
    stalled_files: set[str] = field(default_factory=set)
    """Files whose download URL accepts the request and never answers."""
    download_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each GET of a download URL: the name and the Authorization header (there should be none)."""
    _parts: dict[str, bytearray] = field(default_factory=dict)

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


@dataclass
class FakeConnector(FakeOneDrive):
    strict: bool = False
    """Teams as a fan-out meets it: unknown conversations 404, accepted requests 201, `N` page tokens,
    and only what a fan-out uses is served (no updates, uploads or downloads)."""
    limits: RateLimits | None = None
    """Teams' sliding windows, checked on every request; None: never throttled."""
    enforce: bool = True
    """Answer 429 to requests over a limit (off: only record them)."""
    clock: Callable[[], float] = time.monotonic
    latency: float = 0.0
    """Seconds each accepted request takes to answer (Teams takes some: the benchmark's `--latency-ms`)."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Every send accepted, with `_conversation_id` (and, strict, `_reply_to`) added."""
    keep_activities: bool = True
    """Keep what was sent in `sent` (off: only count it in `deliveries`)."""
    deliveries: Counter[str] = field(default_factory=Counter)
    """Accepted sends per user (1:1 chats) or per conversation id (others)."""
    arrivals: list[Arrival] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    """Each user's faults, applied in order (`fail`)."""
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
    authorizations: list[str | None] = field(default_factory=list)
    """The Authorization header of each send or reply that arrived: the bot's own token."""
    wire: list[tuple[str, str, bytes]] = field(default_factory=list)
    """Every send, reply and update as it arrived: method, path and the body's bytes, for checking what
    Teams itself would parse."""
    _users_by_conversation: dict[str, str | None] = field(default_factory=dict)
    _accepted: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    # Set-up -----------------------------------------------------------------------------------------

    def fail(self, user_id: str, fault: Fault) -> None:
        self.faults.setdefault(user_id, []).append(fault)

    def add_conversation(self, conversation_id: str, user_id: str | None = None) -> None:
        """A conversation the bot already has (a 1:1 chat when `user_id` is given, else a channel)."""
        self._users_by_conversation[conversation_id] = user_id

    @staticmethod
    def personal_id(user_id: str) -> str:
        """The 1:1 chat's id: Teams gives one person and one bot the same chat every time."""
        return f"a:{user_id}"

    # Reading ----------------------------------------------------------------------------------------

    @property
    def activities(self) -> list[dict[str, Any]]:
        return self.sent

    def texts(self) -> list[str]:
        return [activity.get("text", "") for activity in self.sent]

    def sent_to(self, conversation_id: str) -> list[dict[str, Any]]:
        return [activity for activity in self.sent if activity["_conversation_id"] == conversation_id]

    def texts_to(self, conversation_id: str) -> list[str]:
        return [a.get("text", "") for a in self.sent_to(conversation_id)]

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards sent, in order."""
        return [
            attachment["content"]
            for activity in self.sent
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    @property
    def throttled(self) -> list[Arrival]:
        """Requests refused for going over a limit (not injected 429s)."""
        return [a for a in self.arrivals if a.limited]

    def count(self, kind: str) -> int:
        return sum(1 for a in self.arrivals if a.kind == kind)

    def violations(self) -> list[str]:
        """Every window any request (accepted or not) went over, from the recorded arrival times."""
        assert self.limits is not None
        found: list[str] = []
        by_thread: dict[str, list[float]] = defaultdict(list)
        overall: list[float] = []
        for arrival in self.arrivals:
            if arrival.kind in ("create", "send"):
                by_thread[arrival.thread].append(arrival.at)
            overall.append(arrival.at)
        for thread, times in by_thread.items():
            found += window_violations(times, self.limits.per_thread, thread)
        found += window_violations(overall, self.limits.per_tenant, "tenant")
        return found

    async def wait_for_sent(self, count: int) -> None:
        """Until `count` activities have been sent (a background sender's work): no sleeping.
        Bounded, so a test that would wait for ever fails instead."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.sent) >= count)

    async def wait_for_deliveries(self, total: int) -> None:
        """Return once at least `total` sends have been accepted."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: self.deliveries.total() >= total)

    # Serving ----------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2 if self.strict else UPLOAD_MAX_BYTES)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation_id}/activities/{reply_to}", self._send)
        if not self.strict:
            app.router.add_put("/v3/conversations/{conversation_id}/activities/{activity_id}", self._update)
        app.router.add_get("/v3/conversations/{conversation_id}/pagedmembers", self._paged_members)
        app.router.add_get("/v3/conversations/{conversation_id}/members/{member_id}", self._member)
        if not self.strict:
            app.router.add_put("/uploads/{name}", self._upload)
            app.router.add_get("/files/{name}", self._download)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        """A new 1:1 chat, as for a proactive invitation: its id names the member."""
        parameters = await request.json()
        members = parameters.get("members") or []
        if self.strict and (parameters.get("isGroup") or len(members) != 1 or not members[0].get("id")):
            return _error(400, "BadArgument", "a 1:1 chat needs exactly one member")
        self.created.append(parameters)
        user = (members or [{}])[0].get("id", "unknown")
        conversation_id = self.personal_id(user)
        refused = await self._refuse("create", conversation_id, user)
        if refused is not None:
            return refused
        self._users_by_conversation[conversation_id] = user
        return web.json_response({"id": conversation_id}, status=self._accepted_status)

    async def _send(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        if (fault := _next_fault(self.send_faults, "ServiceError")) is not None:
            self.refused_sends += 1
            return fault
        conversation_id = request.match_info["conversation_id"]
        if self.strict and conversation_id not in self._users_by_conversation:
            self._record("send", conversation_id, None, 404)
            return _error(404, "ConversationNotFound", "no such conversation")
        user = self._users_by_conversation.get(conversation_id)
        refused = await self._refuse("send", conversation_id, user)
        if refused is not None:
            return refused
        self.wire.append((request.method, request.path, await request.read()))
        activity = await request.json()
        self.deliveries[user or conversation_id] += 1
        if self.keep_activities:
            activity["_conversation_id"] = conversation_id
            if self.strict:
                activity["_reply_to"] = request.match_info.get("reply_to")
            self.sent.append(activity)
        async with self._arrived:
            self._arrived.notify_all()
        return web.json_response({"id": f"activity-{next(self._ids)}"}, status=self._accepted_status)

    async def _update(self, request: web.Request) -> web.Response:
        if (fault := _next_fault(self.update_faults, "ServiceError")) is not None:
            self.refused_updates += 1
            return fault
        self.wire.append((request.method, request.path, await request.read()))
        activity = await request.json()
        activity["_activity_id"] = request.match_info["activity_id"]
        self.updated.append(activity)
        return web.json_response({"id": request.match_info["activity_id"]})

    async def _paged_members(self, request: web.Request) -> web.Response:
        """Pages as Teams serves them: `pageSize` honoured up to 500, an opaque token while more remain."""
        conversation_id, query = request.match_info["conversation_id"], request.query
        self.member_requests.append({"conversation_id": conversation_id, **query})
        refused = _next_fault(self.roster_faults, "ServiceUnavailable")
        if refused is None:
            refused = await self._refuse("members", conversation_id, None)
        if refused is not None:
            return refused
        size = min(int(query.get("pageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        prefix = "" if self.strict else "page-from-"
        token = query.get("continuationToken")
        start = int(token.removeprefix(prefix)) if token else 0
        page: dict[str, Any] = {"members": self.members[start : start + size]}
        if start + size < len(self.members):
            page["continuationToken"] = f"{prefix}{start + size}"
        return web.json_response(page)

    async def _member(self, request: web.Request) -> web.Response:
        conversation_id, wanted = request.match_info["conversation_id"], request.match_info["member_id"]
        self.member_requests.append({"conversation_id": conversation_id, "member": wanted})
        refused = _next_fault(self.roster_faults, "ServiceUnavailable")
        if refused is None:
            refused = await self._refuse("member", conversation_id, None)
        if refused is not None:
            return refused
        for member in self.members:
            if wanted in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        message = "not a member" if self.strict else "The member is not in the conversation."
        return _error(404, "MemberNotFoundInConversation", message)

    @property
    def _accepted_status(self) -> int:
        return 201 if self.strict else 200

    # Limits and faults --------------------------------------------------------------------------------

    async def _refuse(self, kind: str, thread: str, user: str | None) -> web.Response | None:
        """429 when over a limit, else the user's fault if one applies; None accepts the request."""
        now = self.clock()
        wait = self._over_limit(kind, thread, now)
        if wait > 0 and self.enforce:
            self.arrivals.append(Arrival(now, kind, thread, user, 429, limited=True))
            return _error(429, "Throttled", "too many requests", {"Retry-After": str(math.ceil(wait))})
        fault = next((f for f in self.faults.get(user or "", []) if f.applies(kind)), None)
        if fault is None:
            self._accept(kind, thread, now)
            self._record(kind, thread, user, 200, now)
            if self.latency:
                await asyncio.sleep(self.latency)  # the fake's own behaviour: answering takes time
            return None
        if fault.times is not None:
            fault.times -= 1
        self._accept(kind, thread, now)
        self._record(kind, thread, user, fault.status, now)
        if fault.hold:
            await asyncio.sleep(fault.hold)  # the fake's own behaviour: a request that hangs
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        if fault.page is not None:
            return web.Response(
                status=fault.status, text=fault.page, content_type="text/html", headers=headers
            )
        return _error(fault.status, fault.code, "injected fault", headers)

    def _over_limit(self, kind: str, thread: str, now: float) -> float:
        if self.limits is None:
            return 0.0
        wait = _wait(self._accepted[TENANT], self.limits.per_tenant, now)
        if kind in ("create", "send"):
            wait = max(wait, _wait(self._accepted[thread], self.limits.per_thread, now))
        return wait

    def _accept(self, kind: str, thread: str, now: float) -> None:
        self._accepted[TENANT].append(now)
        if kind in ("create", "send"):
            self._accepted[thread].append(now)

    def _record(
        self, kind: str, thread: str, user: str | None, status: int, now: float | None = None
    ) -> None:
        self.arrivals.append(Arrival(self.clock() if now is None else now, kind, thread, user, status))


@dataclass
class ThrottlingConnector(FakeConnector):
    """The strict connector, throttling at Teams' published limits with no margin."""

    strict: bool = True
    limits: RateLimits | None = field(default_factory=lambda: RateLimits(margin=0))


def _wait(times: list[float], windows: tuple[Window, ...], now: float) -> float:
    """Seconds until one more request fits, counting requests in the half-open span (now - s, now]."""
    wait = 0.0
    for window in windows:
        inside = len(times) - bisect_right(times, now - window.seconds)
        if inside >= window.limit:
            wait = max(wait, times[len(times) - window.limit] + window.seconds - now, 1e-9)
    return wait


def window_violations(times: list[float], windows: tuple[Window, ...], name: str) -> list[str]:
    """Each window that more than its limit of `times` fall into, anywhere (half-open spans)."""
    found = []
    times = sorted(times)
    for window in windows:
        start = 0
        for end, at in enumerate(times):
            while times[start] <= at - window.seconds:
                start += 1
            if end - start + 1 > window.limit:
                found.append(f"{name}: {end - start + 1} requests within {window.seconds} s at {at:.3f}")
                break
    return found


def _next_fault(faults: list[tuple[int, dict[str, str]]], server_code: str) -> web.Response | None:
    """The next of a list of refusals set in order (429 is Teams throttling, anything else a failure)."""
    if not faults:
        return None
    status, headers = faults.pop(0)
    return _error(status, "TooManyRequests" if status == 429 else server_code, "Try later.", headers)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@asynccontextmanager
async def _serving(connector: FakeConnector) -> AsyncIterator[FakeConnector]:
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()


@asynccontextmanager
async def fake_connector(**options: Any) -> AsyncIterator[FakeConnector]:
    async with _serving(FakeConnector(**options)) as connector:
        yield connector


@asynccontextmanager
async def throttling_connector(**options: Any) -> AsyncIterator[ThrottlingConnector]:
    connector = ThrottlingConnector(**options)
    async with _serving(connector):
        yield connector
