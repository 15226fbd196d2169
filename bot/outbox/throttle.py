"""Teams' rate limits for proactive messages, enforced before each request leaves.

Limits (Microsoft Learn, "Optimize your bot with rate limiting and best practices in Microsoft Teams"):
per bot per thread, for send and create conversation: 7 per 1 s, 8 per 2 s, 60 per 30 s, 1800 per
3600 s; across the app, 50 requests per second per tenant. Inviting someone new is two requests
(POST /v3/conversations, then the send) on a thread of its own, so in a fan-out the tenant-wide limit
is the one that binds; the per-thread windows bind when many messages go to one chat or channel.

aiolimiter is not used: it holds one leaky-bucket rate per limiter on the loop's real clock, where Teams
counts several windows at once, tests need an injected clock, and a 429 must pause everything.
"""

from __future__ import annotations

import asyncio
import math
import time
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Window:
    limit: int
    """Requests allowed in any span of `seconds`."""
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    per_thread: tuple[Window, ...] = (Window(7, 1), Window(8, 2), Window(60, 30), Window(1800, 3600))
    per_tenant: tuple[Window, ...] = (Window(50, 1),)
    margin: float = 0.05
    """Seconds added to every window: requests reach Teams a little after they leave the limiter, by
    varying amounts, so spacing them by exactly the window would let a few land inside one."""
    smooth: bool = True
    """Space a tenant's requests evenly at its fastest sustained rate rather than let each window's
    allowance go at once: a burst queues on its way out, and its stragglers would reach Teams inside
    the next window together with that window's first requests."""

    def split(self, instances: int) -> RateLimits:
        """Each of `instances` processes sending at once gets this share (limiters are per process)."""

        def share(windows: tuple[Window, ...]) -> tuple[Window, ...]:
            return tuple(Window(max(1, w.limit // instances), w.seconds) for w in windows)

        return replace(self, per_thread=share(self.per_thread), per_tenant=share(self.per_tenant))

    @property
    def tenant_rate(self) -> float:
        """The sustained requests per second the tenant windows allow."""
        return min(w.limit / w.seconds for w in self.per_tenant)

    @property
    def tenant_spacing(self) -> float:
        """Seconds between a tenant's requests when smoothing (0: none)."""
        if not self.smooth or not self.per_tenant:
            return 0.0
        return max((w.seconds + self.margin) / w.limit for w in self.per_tenant)


@dataclass
class _Log:
    """Grant times for one key, oldest first, trimmed to the longest window."""

    times: list[float] = field(default_factory=list)

    def wait(self, windows: tuple[Window, ...], margin: float, now: float) -> float:
        """Seconds until one more request fits every window (0 if it fits now)."""
        wait = 0.0
        for window in windows:
            span = window.seconds + margin
            inside = len(self.times) - bisect_right(self.times, now - span)
            if inside >= window.limit:
                # The window frees up when the limit-th most recent grant leaves it (at least a
                # nanosecond on: in floating point, t + span - now can be 0 while t > now - span).
                wait = max(wait, self.times[len(self.times) - window.limit] + span - now, 1e-9)
        return wait

    def record(self, now: float, longest: float) -> None:
        self.times.append(now)
        if self.times[0] <= now - longest:
            del self.times[: bisect_right(self.times, now - longest)]

    def move(self, old: float, new: float) -> None:
        index = bisect_left(self.times, old)
        if index < len(self.times) and self.times[index] == old:
            del self.times[index]
            insort(self.times, new)


class RateLimiter:
    """Several sliding windows per thread and per tenant, plus pauses ordered by a 429's Retry-After."""

    SMOOTHING_SLACK = 2
    """How many spacings a late grant may be caught up by (a burst of at most this many + 1)."""
    ROUND_TRIPS = 64
    """Recent round trips whose quickest is taken as the time a request takes when not held up."""
    SWEEP_EVERY = 1000
    """Grants between sweeps of idle threads' logs (a fan-out touches one thread per person)."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._threads: dict[str, _Log] = {}
        self._tenants: dict[str, _Log] = {}
        self._paused_until: dict[tuple[str, str | None], float] = {}
        self._grants = 0
        self._spacing = self.limits.tenant_spacing
        self._due: dict[str, float] = {}
        self._round_trips: deque[float] = deque(maxlen=self.ROUND_TRIPS)
        self._longest_thread = (
            max((w.seconds for w in self.limits.per_thread), default=0) + self.limits.margin
        )
        self._longest_tenant = (
            max((w.seconds for w in self.limits.per_tenant), default=0) + self.limits.margin
        )

    def delay(self, thread_key: str, tenant: str = "") -> float:
        """Seconds until a request on this thread could go (0: now)."""
        now = self._clock()
        margin = self.limits.margin
        wait = max(
            self._paused_until.get((tenant, None), -math.inf) - now,
            self._paused_until.get((tenant, thread_key), -math.inf) - now,
            0.0,
        )
        thread = self._threads.get(thread_key)
        if thread is not None:
            wait = max(wait, thread.wait(self.limits.per_thread, margin, now))
        tenant_log = self._tenants.get(tenant)
        if tenant_log is not None:
            wait = max(wait, tenant_log.wait(self.limits.per_tenant, margin, now))
        if self._spacing:
            # Pacing as GCRA: each grant is due one spacing after the previous one was due, so a
            # grant that woke late lets the next catch up, up to SMOOTHING_SLACK spacings.
            due = self._due.get(tenant, -math.inf)
            wait = max(wait, due - self.SMOOTHING_SLACK * self._spacing - now)
        return wait

    async def acquire(self, thread_key: str, tenant: str = "", *, max_wait: float = math.inf) -> float | None:
        """Wait until every window of this thread and its tenant has room, then take one slot.

        Returns the time of the grant (for `settle`), or None, taking nothing, as soon as the wait
        left is longer than `max_wait` (a 429 can pause everything for minutes while a caller waits).
        """
        while (wait := self.delay(thread_key, tenant)) > 0:
            if wait > max_wait:
                return None
            await self._sleep(wait)
        now = self._clock()
        self._threads.setdefault(thread_key, _Log()).record(now, self._longest_thread)
        self._tenants.setdefault(tenant, _Log()).record(now, self._longest_tenant)
        if self._spacing:
            self._due[tenant] = max(self._due.get(tenant, -math.inf), now) + self._spacing
        self._grants += 1
        if self._grants % self.SWEEP_EVERY == 0:
            self._sweep(now)
        return now

    def settle(self, thread_key: str, tenant: str, granted: float) -> None:
        """The request granted at `granted` has been answered: if it took longer than the quickest
        recent round trip, count it from as much later as it was held up.

        A request reaches Teams somewhere between its grant and its answer, normally a steady time
        after the grant, which the margin covers. One held up on its way out (a pause of the event
        loop or the collector, a new connection) lands among later ones: its window moves with it.
        """
        now = self._clock()
        self._round_trips.append(now - granted)
        moved = now - min(self._round_trips)
        if moved <= granted:
            return
        if (thread := self._threads.get(thread_key)) is not None:
            thread.move(granted, moved)
        if (tenant_log := self._tenants.get(tenant)) is not None:
            tenant_log.move(granted, moved)

    def pause(self, seconds: float, *, tenant: str = "", thread_key: str | None = None) -> None:
        """Hold back the tenant's requests (or one thread's) for `seconds` from now, as a 429 asks."""
        key = (tenant, thread_key)
        until = self._clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, -math.inf), until)

    def _sweep(self, now: float) -> None:
        idle = [k for k, log in self._threads.items() if log.times[-1] <= now - self._longest_thread]
        for key in idle:
            del self._threads[key]
        self._paused_until = {k: t for k, t in self._paused_until.items() if t > now}

    @property
    def tracked_threads(self) -> int:
        return len(self._threads)
