"""The composition root: `create_app(settings)` wires the database, frameworks, adapter, bot, outbox
sender and scheduled jobs, and nothing else. The HTTP handlers are in `bot.routes`, the jobs in
`bot.jobs`; the objects an app shares are under the keys of `bot.app_keys`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from botbuilder.core import Storage

from bot.app_keys import (
    ADAPTER,
    APP_TOKENS,
    BOT,
    CATALOGUE,
    CLOCK,
    CONNECTOR,
    ENGINE,
    ENGINE_OPTIONS,
    SENDER,
    SESSIONS,
    SETTINGS,
)
from bot.cards.survey import CardRenderer
from bot.jobs import scheduled_jobs, start_jobs
from bot.leads.chat import LeadCommands, LeadServices
from bot.leads.framework_uploads import DownloadSettings
from bot.ops.health import edge_readiness
from bot.ops.metrics import METRICS, Metrics, counting_errors
from bot.outbox import OutboxSender, Outcome, Verdict, compose_from_payload
from bot.outbox.checkins import checkin_composer
from bot.outbox.invitations import invitation_composer
from bot.outbox.personal_views import personal_view_composer
from bot.outbox.weekly import summary_composer
from bot.reports.chart_links import ChartUrls
from bot.routes import MAX_ACTIVITY_BYTES, add_routes, chart_links
from bot.settings import Settings
from bot.teams.adapter import create_adapter
from bot.teams.app_tokens import AppTokens, token_request
from bot.teams.connector import BotConnector
from bot.teams.edge import turn_middleware
from bot.teams.handler import SurveyBot
from bot.teams.lead_turns import private_composer, typed_commands
from bot.teams.proactive import TeamsProactive
from bot.teams.signing_keys import SigningKeys
from bot.teams.turns import KeyedLocks
from dialogs.router import PartnerConversation
from dialogs.survey_dialog import SurveyServices
from dialogs.views import Renderer
from frameworks.clock import Clock, utc_now
from frameworks.loader import Catalogue, load_directory
from frameworks.summary import SurveySummary
from storage.bot_state import JsonConversationState, SqlStorage
from storage.db import Sessions, create_engine, session_factory
from storage.migrate import is_at_head
from storage.surveys import SnapshotCache
from storage.tables import OutboxKind

__all__ = [
    "ADAPTER",
    "APP_TOKENS",
    "BOT",
    "CATALOGUE",
    "CLOCK",
    "CONNECTOR",
    "ENGINE",
    "MAX_ACTIVITY_BYTES",
    "SENDER",
    "SESSIONS",
    "SETTINGS",
    "chart_links",
    "create_app",
    "create_bot",
    "load_catalogue",
]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utc_now,
    engine_options: dict[str, Any] | None = None,
) -> web.Application:
    """`engine_options` go to the SQLAlchemy engine (tests use them to pick a PostgreSQL schema)."""
    settings = settings or Settings()
    app = web.Application(client_max_size=MAX_ACTIVITY_BYTES)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[ENGINE_OPTIONS] = dict(engine_options or {})
    keys = None if settings.local_mode else SigningKeys(settings.bot_openid_metadata_url)
    request = token_request(settings)
    tokens = None if request is None else AppTokens(request, clock=clock)
    if tokens is not None:
        app[APP_TOKENS] = tokens
    app[CONNECTOR] = BotConnector(tokens)
    app[ADAPTER] = create_adapter(settings, app[CONNECTOR], keys=keys, clock=clock)
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
    app.cleanup_ctx.append(app[CONNECTOR].running)  # before the services: the sender's last sends use it
    app.cleanup_ctx.append(_services)
    if keys is not None:
        app.cleanup_ctx.append(keys.kept_fresh)
    if tokens is not None:
        app.cleanup_ctx.append(tokens.kept_fresh)
    add_routes(app, settings=settings, metrics=metrics, edge=edge_readiness(keys, tokens))
    return app


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
        renderer = CardRenderer()
        snapshots = SnapshotCache()
        tz = ZoneInfo(settings.time_zone)
        invitations = invitation_composer(renderer, snapshots, clock=app[CLOCK], tz=tz)
        summaries = summary_composer(
            rules=settings.summary_rules, clock=app[CLOCK], chart_link=_chart_link(settings, app[CLOCK])
        )
        lead_files = private_composer(
            compose_from_payload,
            rules=settings.summary_rules,
            configured_leads=settings.lead_user_ids,
            clock=app[CLOCK],
            snapshots=snapshots,
            catalogue=app[CATALOGUE],
        )
        sender = OutboxSender(
            app[SESSIONS],
            TeamsProactive(app[CONNECTOR]),
            bot_app_id=settings.microsoft_app_id,
            composers={
                OutboxKind.INVITE: invitations,
                OutboxKind.REMIND: invitations,
                OutboxKind.SUMMARY: summaries,
                OutboxKind.LEAD_EXPORT: lead_files,
                OutboxKind.LEAD_COMMENTS: lead_files,
                OutboxKind.LEAD_FRAMEWORK: lead_files,
                OutboxKind.ACTION_CHECKIN: checkin_composer(clock=app[CLOCK], tz=tz),
                OutboxKind.PERSONAL_VIEW: personal_view_composer(
                    rules=settings.summary_rules, clock=app[CLOCK], snapshots=snapshots
                ),
            },
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
            snapshots=snapshots,
        )
        stop = asyncio.Event()
        jobs = scheduled_jobs(app[SESSIONS], app[CLOCK], settings, sender.notify)
        tasks = start_jobs(jobs, app[METRICS], stop)
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
    sessions: Sessions,
    catalogue: Catalogue,
    clock: Clock,
    renderer: Renderer,
    storage: Storage | None = None,
    notify_sender: Callable[[], None] = lambda: None,
    on_answer: Callable[[], None] = lambda: None,
    snapshots: SnapshotCache | None = None,
) -> SurveyBot:
    """The bot and its conversation, state in the database; shared by the server and the terminal.
    `snapshots`: the process's parsed frameworks, shared with the outbox so each is parsed once."""
    conversation_state = JsonConversationState(storage or SqlStorage(sessions))
    tz = ZoneInfo(settings.time_zone)
    services = SurveyServices(
        sessions=sessions,
        renderer=renderer,
        clock=clock,
        tz=tz,
        on_answer=on_answer,
        snapshots=snapshots or SnapshotCache(),
    )
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
        partner=PartnerConversation(conversation_state, services, commands=typed_commands(leads)),
        locks=KeyedLocks(),
        leads=leads,
    )


def _count_send(metrics: Metrics, outcome: Outcome, kind: str) -> None:
    metrics.send_outcome(outcome.verdict, outcome.reason)
    if kind == OutboxKind.SUMMARY and outcome.verdict == Verdict.SENT:
        metrics.summary_posted()
