"""Prometheus metrics at /metrics: what the bot did (turns, answers, sends, scheduled jobs, errors) and
how much is waiting in the outbox.

Each app has its own `CollectorRegistry`, never the process-wide default: tests build many apps, and
one registry per app keeps their counts apart. Labels are bounded sets (activity types, outcomes,
job names, logger names); no label ever carries an id, a tenant or a person.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from storage.db import Sessions
from storage.outbox import count_by_state, next_due
from storage.tables import OutboxState

log = logging.getLogger(__name__)

DEPTH_STATES = (OutboxState.PENDING, OutboxState.RETRYING, OutboxState.FAILED)
"""The outbox states counted at each scrape. Sent rows are not: they only accumulate (the sends
counter says how fast), and counting them would scan the whole history every few seconds."""
TURN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
"""Seconds. Teams gives a bot 15 s to answer an activity."""
SCRAPE_TIMEOUT = 2.0


class Metrics:
    """The bot's instruments, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.turns = Counter(
            "surveybot_turns",
            "Activities received on /api/messages, by activity type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "surveybot_turn_duration_seconds",
            "Time to answer a request to /api/messages, by activity type.",
            ["type"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.answers = Counter("surveybot_answers_recorded", "Answers recorded by partners.", registry=r)
        self.sends = Counter(
            "surveybot_outbox_sends",
            "Outbox send attempts by outcome (verdict: sent, throttled = HTTP 429, retry, failed…) and "
            "reason.",
            ["verdict", "reason"],
            registry=r,
        )
        self.outbox = Gauge(
            "surveybot_outbox_messages",
            "Outbox rows waiting (pending, retrying) or failed for good, read from the database at scrape.",
            ["state"],
            registry=r,
        )
        self.outbox_overdue = Gauge(
            "surveybot_outbox_overdue_seconds",
            "How long the earliest due outbox row has been due (0 when none is): a stuck sender grows it.",
            registry=r,
        )
        self.database_up = Gauge(
            "surveybot_database_up", "1 if the last scrape could read the outbox, else 0.", registry=r
        )
        self.scheduler_runs = Counter(
            "surveybot_scheduler_runs",
            "Runs of the background jobs (housekeeping, deadlines…) by job and result (ok, error).",
            ["job", "result"],
            registry=r,
        )
        self.summary_posts = Counter(
            "surveybot_summary_posts", "Survey summaries posted to channels or chats.", registry=r
        )
        self.errors = Counter(
            "surveybot_errors", "Records logged at ERROR or above, by logger.", ["logger"], registry=r
        )

    # What the rest of the bot calls -------------------------------------------------------------------

    def answer_recorded(self) -> None:
        self.answers.inc()

    def send_outcome(self, verdict: str, reason: str = "") -> None:
        """One send's outcome (`bot.outbox.sender.Outcome.verdict` and `.reason`, both bounded enums)."""
        self.sends.labels(str(verdict), str(reason)).inc()

    def scheduler_run(self, job: str, *, ok: bool) -> None:
        self.scheduler_runs.labels(job, "ok" if ok else "error").inc()

    def summary_posted(self) -> None:
        self.summary_posts.inc()

    def set_outbox(self, depth: OutboxDepth) -> None:
        for state in DEPTH_STATES:
            self.outbox.labels(state.value).set(depth.counts.get(state.value, 0))
        self.outbox_overdue.set(depth.overdue_seconds)
        self.database_up.set(1)

    @contextmanager
    def counting_errors(self, logger: logging.Logger | None = None) -> Iterator[None]:
        """Count the records logged at ERROR or above (on the root logger by default) while inside."""
        target = logger or logging.getLogger()
        handler = _ErrorCounter(self.errors)
        target.addHandler(handler)
        try:
            yield
        finally:
            target.removeHandler(handler)


class _ErrorCounter(logging.Handler):
    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.ERROR)
        self._counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self._counter.labels(record.name).inc()


METRICS = web.AppKey("metrics", Metrics)


async def counting_errors(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: the app's `Metrics` count error records while the app runs."""
    with app[METRICS].counting_errors():
        yield


# The outbox, read at scrape time --------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxDepth:
    counts: Mapping[str, int]
    """Rows in each of `DEPTH_STATES`."""
    overdue_seconds: float


async def outbox_depth(sessions: Sessions, *, now: datetime) -> OutboxDepth:
    """Two index queries (the outbox is indexed on state, next_attempt_at)."""
    async with sessions() as session:
        counts = await count_by_state(session, states=DEPTH_STATES)
        earliest = await next_due(session)
    overdue = max(0.0, (now - earliest).total_seconds()) if earliest is not None else 0.0
    return OutboxDepth(counts, overdue)


# GET /metrics ---------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_handler(
    metrics: Metrics,
    outbox: Callable[[], Awaitable[OutboxDepth]] | None = None,
    *,
    token: str = "",
    open_without_token: bool = True,
    timeout: float = SCRAPE_TIMEOUT,
) -> Handler:
    """GET /metrics: the outbox gauges are refreshed from the database first (collectors are
    synchronous, so this cannot happen inside one). A database that does not answer within `timeout`
    does not fail the scrape: the outbox gauges go missing and `surveybot_database_up` is 0. With
    `token`, only `Authorization: Bearer <token>` may scrape (the endpoint shares the bot's port; the
    scheme is case-blind, the token compared in constant time). Without one, the endpoint is open only
    if `open_without_token` (local mode); otherwise every scrape gets 403, as the start-up log says."""
    expected = token.encode()
    if not token and not open_without_token:
        log.warning(
            "/metrics is closed: set METRICS_TOKEN to scrape it (an app id is set, so it is not open)"
        )

    async def handler(request: web.Request) -> web.StreamResponse:
        if not token and not open_without_token:
            raise web.HTTPForbidden(text="/metrics is closed: the operator has not set METRICS_TOKEN")
        if token and not hmac.compare_digest(_bearer(request.headers.get("Authorization", "")), expected):
            raise web.HTTPUnauthorized(text="metrics need the scrape token")
        if outbox is not None:
            try:
                async with asyncio.timeout(timeout):
                    depth = await outbox()
            except Exception as error:
                log.warning("metrics: could not read the outbox (%s)", type(error).__name__)
                metrics.outbox.clear()
                metrics.database_up.set(0)
            else:
                metrics.set_outbox(depth)
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encode(metrics.registry))
        response.headers["Content-Type"] = content_type
        return response

    return handler


def _bearer(header: str) -> bytes:
    """The credentials of a `Bearer` header (scheme case-blind, RFC 9110), or empty."""
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip().encode() if scheme.lower() == "bearer" else b""
