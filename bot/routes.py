"""The HTTP handlers: /api/messages (Teams), /healthz and, wired in `bot.app`, /readyz, /metrics and
the signed chart links."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from botbuilder.schema import Activity

from bot.app_keys import ADAPTER, BOT, CLOCK, ENGINE, SESSIONS
from bot.ops.health import EdgeCheck, readiness
from bot.ops.metrics import Metrics, metrics_handler, outbox_depth
from bot.reports.chart_links import ChartLinks, SummaryLoader, chart_route
from bot.settings import Settings
from bot.teams.edge import ACTIVITY, AUTHENTICATED
from dialogs.activity_json import json_bytes
from frameworks.summary import SummaryRules, SurveySummary
from storage.db import transaction
from storage.errors import SurveyNotFound
from storage.summaries import survey_summary

__all__ = ["MAX_ACTIVITY_BYTES", "add_routes", "chart_links", "healthz", "messages"]

MAX_ACTIVITY_BYTES = 1024 * 1024
"""Teams activities are far smaller (bot messages are capped near 100 KB); anything bigger is refused."""


def add_routes(app: web.Application, *, settings: Settings, metrics: Metrics, edge: EdgeCheck) -> None:
    """Every route the bot serves. The database and the bot come up in the app's cleanup context, so
    the handlers find them under their keys at request time."""
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness(lambda: app.get(ENGINE), edge=edge))
    links = chart_links(settings)
    if links is not None:
        route = chart_route(links, _summary_loader(app), settings.summary_rules, app[CLOCK])
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


def _summary_loader(app: web.Application) -> SummaryLoader:
    """A chart's summary, read in its own transaction when the link is fetched."""

    async def load(survey_id: int, rules: SummaryRules, now: datetime) -> SurveySummary | None:
        try:
            async with transaction(app[SESSIONS]) as session:
                return await survey_summary(session, survey_id, rules=rules, now=now)
        except SurveyNotFound:
            return None

    return load


def chart_links(settings: Settings) -> ChartLinks | None:
    """Signed links to summary charts, when a public address and a signing key are configured."""
    key = settings.chart_link_key.get_secret_value()
    if not (key and settings.public_base_url):
        return None
    return ChartLinks(settings.public_base_url, key.encode())


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
    # Written once with `json`: msrest's serializer walked the whole card of a press's answer (~1.7 ms).
    return web.Response(body=json_bytes(invoke.body), status=invoke.status, content_type="application/json")


async def _refuse_malformed(request: web.Request) -> None:
    """The turn middleware refuses malformed JSON bodies (bot/teams/inbound.py); what is left is the rest."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="activities must be sent as application/json")
    raise web.HTTPBadRequest(text="the body is not a Bot Framework activity")


async def healthz(_request: web.Request) -> web.Response:
    """GET /healthz: the process answers (readiness, with the database and Teams, is /readyz)."""
    return web.json_response({"status": "ok"})
