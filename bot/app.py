"""The composition root: `create_app(settings)` wires the database, frameworks, adapter and bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from botbuilder.core import ConversationState, Storage, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import ServiceClientCredentialsFactory
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cards.survey import CardRenderer
from bot.leads.chat import LeadCommands, LeadServices, queue_due_reminders
from bot.leads.framework_uploads import DownloadSettings
from bot.leads.lead_files import private_composer
from bot.ops.health import edge_readiness, readiness
from bot.ops.metrics import METRICS, Metrics, counting_errors, metrics_handler, outbox_depth
from bot.outbox.invitations import invitation_composer
from bot.outbox.sender import OutboxSender, Outcome, Verdict
from bot.outbox.weekly import KIND as WEEKLY_KIND
from bot.outbox.weekly import queue_due_summaries
from bot.reports.chart_links import ChartLinks, ChartUrls, chart_route
from bot.settings import Settings
from bot.teams.adapter import create_adapter
from bot.teams.app_tokens import AppTokens, token_request
from bot.teams.edge import ACTIVITY, AUTHENTICATED, turn_middleware
from bot.teams.handler import Clock, SurveyBot
from bot.teams.signing_keys import SigningKeys
from bot.teams.turns import KeyedLocks
from dialogs.router import PartnerConversation
from dialogs.survey_dialog import SurveyServices
from dialogs.views import Renderer
from frameworks.loader import Catalogue, load_directory
from frameworks.summary import SurveySummary
from storage.activities import purge_claims
from storage.bot_state import SqlStorage
from storage.db import create_engine, session_factory, transaction
from storage.migrate import is_at_head
from storage.privacy import purge_expired
from storage.surveys import SnapshotCache, close_due_surveys

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
CATALOGUE = web.AppKey("catalogue", Catalogue)
ADAPTER = web.AppKey("adapter", CloudAdapter)
BOT = web.AppKey("bot", SurveyBot)
CLOCK = web.AppKey("clock", Clock)
ENGINE_OPTIONS = web.AppKey("engine_options", dict)
SENDER = web.AppKey("sender", OutboxSender)
APP_TOKENS = web.AppKey("app_tokens", AppTokens)

HOUSEKEEPING_INTERVAL = timedelta(hours=1)
DEADLINE_INTERVAL = timedelta(minutes=1)
SEND_THREADS = 32
"""With 32, 500 invitations at 150 ms latency reached 0.92 of Teams' rate (benchmarks/fanout.py)."""
CLAIM_RETENTION = timedelta(days=2)
"""Teams gives up retrying within minutes; two days of activity ids is ample."""

MAX_ACTIVITY_BYTES = 1024 * 1024
"""Teams activities are far smaller (bot messages are capped near 100 KB); anything bigger is refused."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utc_now,
    engine_options: dict[str, Any] | None = None,
    credentials: ServiceClientCredentialsFactory | None = None,
) -> web.Application:
    """`engine_options` go to the SQLAlchemy engine (tests use them to pick a PostgreSQL schema);
    `credentials` replace the bot's outbound token issuer (tests: Entra ID is not on loopback)."""
    settings = settings or Settings()
    app = web.Application(client_max_size=MAX_ACTIVITY_BYTES)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[ENGINE_OPTIONS] = dict(engine_options or {})
    keys = None if settings.local_mode else SigningKeys(settings.bot_openid_metadata_url)
    request = None if credentials is not None else token_request(settings)
    tokens = None if request is None else AppTokens(request, clock=clock)
    if tokens is not None:
        app[APP_TOKENS] = tokens
    app[ADAPTER] = create_adapter(settings, keys=keys, clock=clock, credentials=credentials, tokens=tokens)
    metrics = Metrics()
    app[METRICS] = metrics
    inbound = app[ADAPTER].bot_framework_authentication
    app.middlewares.append(
        turn_middleware(
            metrics,
            allowed_tenants=settings.allowed_tenant_ids,
            local_mode=settings.local_mode,
            authenticate=None if settings.local_mode else inbound.authenticate_request,
        )
    )
    app.cleanup_ctx.append(counting_errors)  # first, so the services' errors are counted too
    app.cleanup_ctx.append(_services)
    if keys is not None:
        app.cleanup_ctx.append(keys.kept_fresh)
    if tokens is not None:
        app.cleanup_ctx.append(tokens.kept_fresh)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness(lambda: app.get(ENGINE), edge=edge_readiness(keys, tokens)))
    links = chart_links(settings)
    if links is not None:
        route = chart_route(links, lambda: app[SESSIONS], settings.summary_rules, clock)
        app.router.add_get("/charts/{survey_id}/{name}", route)
    app.router.add_get(
        "/metrics",
        metrics_handler(
            metrics,
            lambda: outbox_depth(app[SESSIONS], now=app[CLOCK]()),
            token=settings.metrics_token.get_secret_value(),
            open_without_token=settings.local_mode,
        ),
    )
    return app


def chart_links(settings: Settings) -> ChartLinks | None:
    key = settings.chart_link_key.get_secret_value()
    if not (key and settings.public_base_url):
        return None
    return ChartLinks(settings.public_base_url, key.encode())


def _chart_link(settings: Settings, clock: Clock) -> Callable[[SurveySummary], ChartUrls | None]:
    links = chart_links(settings)
    return lambda summary: links.for_summary(summary, now=clock()) if links is not None else None


async def load_catalogue(settings: Settings) -> Catalogue:
    """Built-in frameworks plus any in FRAMEWORKS_DIR; broken files are logged and skipped."""

    def load() -> Catalogue:
        catalogue = load_directory()
        if settings.frameworks_dir is not None:
            load_directory(settings.frameworks_dir, catalogue)
        return catalogue

    return await asyncio.to_thread(load)


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url, **app[ENGINE_OPTIONS])
    try:
        if not await is_at_head(engine):
            raise RuntimeError(
                "the database is not at the latest migration: run `python -m bot db upgrade` (make run does)"
            )
        app[ENGINE] = engine
        app[SESSIONS] = session_factory(engine)
        app[CATALOGUE] = await load_catalogue(settings)
        # The SDK sends with `requests` in the loop's default thread pool (min(32, CPUs + 4) threads:
        # 6 here), which at Teams' ~150 ms answers caps a fan-out at 0.74 of the allowed rate.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="connector")
        )
        renderer = CardRenderer()
        snapshots = SnapshotCache()
        tz = ZoneInfo(settings.time_zone)
        sender = OutboxSender(
            app[SESSIONS],
            app[ADAPTER],
            bot_app_id=settings.microsoft_app_id,
            compose=private_composer(
                invitation_composer(
                    renderer,
                    snapshots,
                    clock=app[CLOCK],
                    tz=tz,
                    rules=settings.summary_rules,
                    chart_link=_chart_link(settings, app[CLOCK]),
                ),
                rules=settings.summary_rules,
                configured_leads=settings.lead_user_ids,
                clock=app[CLOCK],
                snapshots=snapshots,
                catalogue=app[CATALOGUE],
            ),
            clock=app[CLOCK],
            on_outcome=lambda outcome, kind: _count_send(app[METRICS], outcome, kind),
        )
        app[SENDER] = sender
        app[BOT] = create_bot(
            settings,
            app[SESSIONS],
            app[CATALOGUE],
            app[CLOCK],
            renderer,
            notify_sender=sender.notify,
            on_answer=app[METRICS].answer_recorded,
        )
        stop = asyncio.Event()
        sessions, clock, metrics = app[SESSIONS], app[CLOCK], app[METRICS]
        tasks = [
            asyncio.create_task(
                _every(
                    HOUSEKEEPING_INTERVAL,
                    "housekeeping",
                    metrics,
                    stop,
                    lambda: _housekeeping(sessions, clock, settings),
                ),
                name="housekeeping",
            ),
            asyncio.create_task(
                _every(
                    DEADLINE_INTERVAL,
                    "deadlines",
                    metrics,
                    stop,
                    lambda: _deadlines(sessions, clock, settings, sender.notify),
                ),
                name="deadlines",
            ),
        ]
        sending = asyncio.create_task(sender.run(stop), name="outbox-sender")
        yield
        # The sender finishes what is on the wire and releases the rest; a job finishes its run (a job
        # cancelled inside a transaction could leave SQLite's write lock with a connection being reset).
        stop.set()
        _, late = await asyncio.wait([sending, *tasks], timeout=settings.shutdown_timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(sending, *tasks, return_exceptions=True)
    finally:
        await engine.dispose()


def create_bot(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    clock: Clock,
    renderer: Renderer,
    storage: Storage | None = None,
    notify_sender: Callable[[], None] = lambda: None,
    on_answer: Callable[[], None] = lambda: None,
) -> SurveyBot:
    """The bot and its conversation, state in the database; shared by the server and the terminal."""
    conversation_state = ConversationState(storage or SqlStorage(sessions))
    tz = ZoneInfo(settings.time_zone)
    services = SurveyServices(sessions=sessions, renderer=renderer, clock=clock, tz=tz, on_answer=on_answer)
    leads = LeadCommands(
        LeadServices(
            sessions=sessions,
            catalogue=catalogue,
            clock=clock,
            tz=tz,
            configured_leads=settings.lead_user_ids,
            notify_sender=notify_sender,
            rules=settings.summary_rules,
            chart_link=_chart_link(settings, clock),
            downloads=DownloadSettings(timeout=settings.file_download_timeout),
        )
    )
    return SurveyBot(
        sessions=sessions,
        catalogue=catalogue,
        clock=clock,
        conversation_state=conversation_state,
        partner=PartnerConversation(conversation_state, services, commands=leads.on_message),
        locks=KeyedLocks(),
        leads=leads,
    )


async def _every(
    interval: timedelta,
    job: str,
    metrics: Metrics,
    stop: asyncio.Event,
    run: Callable[[], Awaitable[None]],
) -> None:
    """Run a background job now and then every `interval` until `stop`; a failure is logged, counted
    and retried. A run in progress when `stop` is set finishes first."""
    while not stop.is_set():
        try:
            await run()
            metrics.scheduler_run(job, ok=True)
        except Exception:
            metrics.scheduler_run(job, ok=False)
            log.exception("%s failed; will retry", job)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval.total_seconds())


async def _housekeeping(sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> None:
    """Hourly: forget old activity claims and apply the retention period."""
    async with transaction(sessions) as session:
        purged = await purge_claims(session, before=clock() - CLAIM_RETENTION)
    if purged:
        log.info("purged %d old activity claims", purged)
    async with transaction(sessions) as session:
        await purge_expired(session, now=clock(), months=settings.retention_months, k=settings.anonymity_k)


async def _deadlines(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings, notify: Callable[[], None]
) -> None:
    """Every minute: close surveys whose deadline passed; queue the automatic reminders and weekly
    summaries due."""
    async with transaction(sessions) as session:
        closed = await close_due_surveys(session, now=clock())
        queued = await queue_due_reminders(
            session, now=clock(), before=timedelta(hours=settings.reminder_hours_before_close)
        )
        queued += await queue_due_summaries(session, now=clock())
    if closed:
        log.info("closed %d surveys at their deadline", len(closed))
    if queued:
        log.info("queued %d automatic reminders and weekly summaries", queued)
        notify()


def _count_send(metrics: Metrics, outcome: Outcome, kind: str) -> None:
    metrics.send_outcome(outcome.verdict, outcome.reason)
    if kind == WEEKLY_KIND and outcome.verdict == Verdict.SENT:
        metrics.summary_posted()


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /api/messages: malformed requests get a clear 4xx here, never a 500 from deep in the SDK.
    The turn middleware has parsed the activity (and, with an app id, verified its token): this is the
    SDK's `CloudAdapter.process` without its second parse of the body and second check of the token."""
    if ACTIVITY not in request:
        await _refuse_malformed(request)
    activity = Activity().deserialize(request[ACTIVITY])
    auth = request.get(AUTHENTICATED) or request.headers.get("Authorization", "")
    try:
        invoke = await request.app[ADAPTER].process_activity(auth, activity, request.app[BOT].on_turn)
    except PermissionError:
        raise web.HTTPUnauthorized() from None
    if invoke is None:
        return web.Response(status=201)
    return web.json_response(serializer_helper(invoke.body), status=invoke.status)


async def _refuse_malformed(request: web.Request) -> None:
    """The turn middleware refuses malformed JSON bodies (bot/inbound.py); what is left is the rest."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="activities must be sent as application/json")
    raise web.HTTPBadRequest(text="the body is not a Bot Framework activity")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
