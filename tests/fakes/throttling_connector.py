"""A fake Bot Connector on 127.0.0.1 that throttles like Teams, fails on request, and counts deliveries.

It serves what a fan-out uses: create a 1:1 chat (`POST /v3/conversations`), send into a conversation
(`POST …/activities`, also as a reply), the paged roster and one member. Sends and creates count
against per-thread and per-tenant sliding windows (`bot.outbox.throttle.RateLimits`, checked here by its own
code, not the limiter's); a request over a limit gets 429 with Retry-After, as from Teams. Every
request's arrival time is recorded, so a test can check that none exceeded a window, and faults can
be set per user: always 403/404, 500 n times, 429 once, or a response held past the client's timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import math
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

MAX_PAGE = 500
DEFAULT_PAGE = 200


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
class ThrottlingConnector:
    limits: RateLimits = field(default_factory=lambda: RateLimits(margin=0))
    clock: Callable[[], float] = time.monotonic
    members: list[dict[str, Any]] = field(default_factory=list)
    """The roster served by pagedmembers and members/{id} (the same for every conversation)."""
    enforce: bool = True
    """Answer 429 to requests over a limit (off: only record them)."""
    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    deliveries: Counter[str] = field(default_factory=Counter)
    """Accepted sends per user (1:1 chats) or per conversation id (others)."""
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    keep_activities: bool = True
    latency: float = 0.0
    """Seconds each accepted request takes to answer (Teams takes some: the benchmark's `--latency-ms`)."""
    _users_by_conversation: dict[str, str | None] = field(default_factory=dict)
    _accepted: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _delivered: asyncio.Condition | None = None

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
    def throttled(self) -> list[Arrival]:
        """Requests refused for going over a limit (not injected 429s)."""
        return [a for a in self.arrivals if a.limited]

    def count(self, kind: str) -> int:
        return sum(1 for a in self.arrivals if a.kind == kind)

    def texts_to(self, conversation_id: str) -> list[str]:
        return [a.get("text", "") for a in self.activities if a["_conversation_id"] == conversation_id]

    def violations(self) -> list[str]:
        """Every window any request (accepted or not) went over, from the recorded arrival times."""
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

    async def wait_for_deliveries(self, total: int) -> None:
        """Return once at least `total` sends have been accepted."""
        assert self._delivered is not None
        async with self._delivered:
            await self._delivered.wait_for(lambda: self.deliveries.total() >= total)

    # Serving ----------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        self._delivered = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation_id}/activities/{reply_to}", self._send)
        app.router.add_get("/v3/conversations/{conversation_id}/pagedmembers", self._paged_members)
        app.router.add_get("/v3/conversations/{conversation_id}/members/{member_id}", self._member)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        members = body.get("members") or []
        if body.get("isGroup") or len(members) != 1 or not members[0].get("id"):
            return _error(400, "BadArgument", "a 1:1 chat needs exactly one member")
        user = members[0]["id"]
        conversation_id = self.personal_id(user)
        refused = await self._refuse("create", conversation_id, user)
        if refused is not None:
            return refused
        self._users_by_conversation[conversation_id] = user
        return web.json_response({"id": conversation_id}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        activity = await request.json()
        if conversation_id not in self._users_by_conversation:
            self._record("send", conversation_id, None, 404)
            return _error(404, "ConversationNotFound", "no such conversation")
        user = self._users_by_conversation[conversation_id]
        refused = await self._refuse("send", conversation_id, user)
        if refused is not None:
            return refused
        self.deliveries[user or conversation_id] += 1
        if self.keep_activities:
            activity["_conversation_id"] = conversation_id
            activity["_reply_to"] = request.match_info.get("reply_to")
            self.activities.append(activity)
        assert self._delivered is not None
        async with self._delivered:
            self._delivered.notify_all()
        return web.json_response({"id": f"activity-{next(self._ids)}"}, status=201)

    async def _paged_members(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        refused = await self._refuse("members", conversation_id, None)
        if refused is not None:
            return refused
        size = min(int(request.query.get("pageSize") or DEFAULT_PAGE), MAX_PAGE)
        start = int(request.query.get("continuationToken") or 0)
        page = self.members[start : start + size]
        answer: dict[str, Any] = {"members": page}
        if start + size < len(self.members):
            answer["continuationToken"] = str(start + size)
        return web.json_response(answer)

    async def _member(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        refused = await self._refuse("member", conversation_id, None)
        if refused is not None:
            return refused
        wanted = request.match_info["member_id"]
        for member in self.members:
            if wanted in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        return _error(404, "MemberNotFoundInConversation", "not a member")

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
        wait = _wait(self._accepted["\0tenant"], self.limits.per_tenant, now)
        if kind in ("create", "send"):
            wait = max(wait, _wait(self._accepted[thread], self.limits.per_thread, now))
        return wait

    def _accept(self, kind: str, thread: str, now: float) -> None:
        self._accepted["\0tenant"].append(now)
        if kind in ("create", "send"):
            self._accepted[thread].append(now)

    def _record(
        self, kind: str, thread: str, user: str | None, status: int, now: float | None = None
    ) -> None:
        self.arrivals.append(Arrival(self.clock() if now is None else now, kind, thread, user, status))


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


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@asynccontextmanager
async def throttling_connector(**options: Any) -> AsyncIterator[ThrottlingConnector]:
    connector = ThrottlingConnector(**options)
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()
