"""Answer turns through the real web endpoint, compared with a bare botbuilder echo bot, run by hand.

    .venv/bin/python benchmarks/turns.py                                  # SQLite in a temp dir
    .venv/bin/python benchmarks/turns.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/turns.py --respondents 10                 # any option, either database

N simulated respondents (default 50), each in their own 1:1 chat, answer a survey by typing, one
answer at a time: each waits for the HTTP response before sending the next, as a person does. Every
answer goes to a new question, so every turn records one answer row. The same load goes first to a
bare echo bot (an `ActivityHandler` replying with the text) behind the same adapter, route and fake
Bot Connector, then to the survey bot, whose throughput is reported as a ratio of the echo bot's.

Target: ≥ 0.8× the echo bot's turns per second and p95 < 25 ms at 50 concurrent respondents, on
SQLite and on PostgreSQL.

By default respondents answer the moment the reply arrives, which saturates the process: latency is
then mostly queueing (respondents ÷ turns per second), for the echo bot too. `--think-ms` adds a
pause before each answer (random, the same for both bots) to measure latency below saturation.

Everything listens on 127.0.0.1 and runs in this one process and event loop: the bot's web app, the
echo bot, the fake Bot Connector the replies go to and the load generator. Peak RSS is therefore the
whole benchmark's, not the bot's alone. Each run uses a fresh database: a SQLite file in a temporary
directory, or a PostgreSQL schema created for the run and dropped at the end. The run fails (exit
status 1) if the answers in the database are not exactly respondents × answers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bot.app as bot_app
from bot.settings import Settings
from bot.teams.adapter import create_adapter
from dialogs.survey_views import choices_for
from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.db import create_engine, session_factory, transaction
from storage.invitations import invite
from storage.migrate import upgrade
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import Answer, Response

log = logging.getLogger("turns")

LOOPBACK = "127.0.0.1"
TARGET_RATIO = 0.8
TARGET_P95_MS = 25.0
FAILURE_MARK = b"something went wrong"
"""In the reply `bot.teams.adapter` sends when a turn raises: counted as a failed turn."""
QUIET_LOGGERS = (
    "bot",
    "dialogs",
    "storage",
    "frameworks",
    "botbuilder",
    "botframework",
    "msrest",
    "aiohttp",
    "sqlalchemy",
    "alembic",
)


# The fake Bot Connector -----------------------------------------------------------------------------


@dataclass
class FakeConnector:
    """Answers the bot's outbound calls as the Bot Connector does; counts rather than keeps them."""

    url: str = ""
    sent: int = 0
    updated: int = 0
    failures: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.sent += 1
        if FAILURE_MARK in body:
            self.failures += 1
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        await request.read()
        self.updated += 1
        return web.json_response({"id": request.match_info["activity_id"]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation_id}/activities/{reply_to}", self._send)
        app.router.add_put("/v3/conversations/{conversation_id}/activities/{activity_id}", self._update)
        return app


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an app on a free loopback port (startup and cleanup hooks run); yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{LOOPBACK}:{port}"
    finally:
        await runner.cleanup()


# The echo baseline ----------------------------------------------------------------------------------


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"You said: {turn_context.activity.text}"))


def echo_app() -> web.Application:
    """The same adapter and the same route handling as our `/api/messages`, around a bare echo bot."""
    adapter = create_adapter(Settings(_env_file=None))
    echo = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="activities must be sent as application/json")
        response = await adapter.process(request, echo)
        return response or web.Response(status=201)

    app = web.Application(client_max_size=bot_app.MAX_ACTIVITY_BYTES)
    app.router.add_post("/api/messages", messages)
    return app


# The load -------------------------------------------------------------------------------------------


def answer_texts(framework: Framework, count: int) -> list[str]:
    """What a respondent types to the first `count` questions, in order: a choice's name, cycling
    through the first three (delivered, on track, at risk on a status scale), or a comment on an
    unscored question (which records a row and moves on, like an answer)."""
    elements = framework.iter_elements()
    if count > len(elements):
        raise SystemExit(f"--answers {count}: {framework.id} has only {len(elements)} questions")
    texts = []
    for index, (domain, element) in enumerate(elements[:count]):
        choices = choices_for(framework.scale_for(domain), element)
        if choices:
            texts.append(choices[index % min(3, len(choices))].label.casefold())
        else:
            texts.append(f"comment: benchmark note on question {index + 1}")
    return texts


@dataclass
class Respondent:
    """One person's 1:1 chat, building Teams-shaped message activities with unique ids."""

    run: str
    index: int
    service_url: str
    count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def user_id(self) -> str:
        return f"29:bench-{self.index}"

    def message(self, text: str) -> bytes:
        activity = {
            "type": "message",
            "id": f"{self.run}-{self.index}-{next(self.count)}",
            "timestamp": datetime.now(UTC).isoformat(),
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {
                "id": self.user_id,
                "name": f"Respondent {self.index}",
                "aadObjectId": f"aad-{self.index}",
            },
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {
                "id": f"a:{self.run}-{self.index}",
                "conversationType": "personal",
                "tenantId": "t1",
            },
            "channelData": {"tenant": {"id": "t1"}},
            "text": text,
        }
        return json.dumps(activity).encode()


@dataclass
class Result:
    name: str
    respondents: int
    latencies: list[float]
    """Seconds, one per measured turn."""
    wall: float
    cpu: float
    """Process CPU seconds during the measured turns (app, connector and load generator together)."""
    rss_before_kb: int
    rss_after_kb: int

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.turns / self.wall

    def percentile_ms(self, percent: int) -> float:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[percent - 1] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<6} {self.respondents:3d} respondents {self.turns:6d} turns in {self.wall:6.2f} s "
            f"{self.rate:7.1f} turns/s  p50 {self.percentile_ms(50):7.1f} ms"
            f"  p95 {self.percentile_ms(95):7.1f} ms  p99 {self.percentile_ms(99):7.1f} ms"
            f"  cpu {self.cpu / self.turns * 1000:5.2f} ms/turn"
            f"  rss {self.rss_before_kb / 1024:.0f}→{self.rss_after_kb / 1024:.0f} MB"
        )


def current_rss_kb() -> int:
    """Resident set size now (Linux /proc), in KB; ru_maxrss is only the peak."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * resource.getpagesize() // 1024


async def post(client: aiohttp.ClientSession, endpoint: str, body: bytes) -> None:
    async with client.post(endpoint, data=body, headers={"Content-Type": "application/json"}) as response:
        await response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"POST {endpoint} answered {response.status}")


async def drive(
    name: str,
    client: aiohttp.ClientSession,
    base_url: str,
    connector: FakeConnector,
    respondents: int,
    texts: list[str],
    think: float,
) -> Result:
    """Warm up every chat with "resume" (not measured), then all respondents answer concurrently.

    With `think` > 0 each respondent pauses before every answer, uniformly between 0 and twice
    `think` seconds (the same pauses for both bots); the pauses are not part of the latency."""
    endpoint = f"{base_url}/api/messages"
    people = [Respondent(name, index, connector.url) for index in range(respondents)]
    latencies: list[float] = []

    async def answer_all(person: Respondent) -> None:
        pauses = random.Random(person.index)
        for text in texts:
            if think > 0:
                await asyncio.sleep(pauses.uniform(0, 2 * think))
            body = person.message(text)
            began = time.perf_counter()
            await post(client, endpoint, body)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(post(client, endpoint, p.message("resume")) for p in people))
    rss_before = current_rss_kb()
    cpu_started, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(answer_all(p) for p in people))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Result(name, respondents, latencies, wall, cpu, rss_before, current_rss_kb())


# The database ---------------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[dict[str, Any]]:
    """Yields the engine arguments for a fresh database: a new PostgreSQL schema, dropped afterwards."""
    if not url.startswith("postgresql"):
        yield {}
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        log.info("schema: %s (dropped at the end)", schema)
        yield {"connect_args": {"server_settings": {"search_path": schema}}}
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def open_survey(engine: AsyncEngine, framework: Framework, respondents: int) -> int:
    now = datetime.now(UTC)
    async with transaction(session_factory(engine)) as session:
        survey = await create_survey(session, framework, now=now)
        people = [
            await upsert_person(session, teams_user_id=f"29:bench-{index}", now=now)
            for index in range(respondents)
        ]
        await invite(session, survey.id or 0, [p.id or 0 for p in people], now=now)
    return survey.id or 0


async def answers_per_respondent(engine: AsyncEngine, survey_id: int) -> list[int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(sa.func.count(Answer.id))  # type: ignore[arg-type]
            .select_from(Answer)
            .join(Response, Response.id == Answer.response_id)  # type: ignore[arg-type]
            .where(Response.survey_id == survey_id)
            .group_by(Response.id)
        )
        return [int(count) for (count,) in rows]


# The run --------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, url: str) -> bool:
    framework = load_directory().frameworks[args.framework]
    texts = answer_texts(framework, args.answers)
    async with AsyncExitStack() as stack:
        engine_args = await stack.enter_async_context(fresh_database(url))
        engine = create_engine(url, **engine_args)
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        survey_id = await open_survey(engine, framework, args.respondents)

        connector = FakeConnector()
        connector.url = await stack.enter_async_context(serving(connector.app())) + "/"
        client = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
            )
        )
        log.info(
            "%d respondents × %d typed answers to %s (survey %d); %s on %s, %d CPUs",
            args.respondents,
            args.answers,
            framework.id,
            survey_id,
            platform.python_implementation() + " " + platform.python_version(),
            platform.machine(),
            os.cpu_count() or 0,
        )
        log.info("app, echo bot, fake connector and load generator share this process and event loop")
        if args.think_ms > 0:
            log.info(
                "respondents pause %.0f ms on average before each answer: turns/s is then bounded by the "
                "offered load, so read the latencies, not the ratio",
                args.think_ms,
            )
        rss_start = current_rss_kb()

        async def phase(name: str, app: web.Application) -> Result:
            async with asyncio.timeout(args.timeout), serving(app) as base_url:
                result = await drive(
                    name, client, base_url, connector, args.respondents, texts, args.think_ms / 1000
                )
            log.info("%s", result.line())
            return result

        echo = await phase("echo", echo_app())
        echo_replies = connector.sent
        settings = Settings(database_url=url, _env_file=None)
        ours = await phase("survey", bot_app.create_app(settings, engine_options=engine_args))
        counts = await answers_per_respondent(engine, survey_id)

    ratio = ours.rate / echo.rate
    p95 = ours.percentile_ms(95)
    meets = ratio >= TARGET_RATIO and p95 < TARGET_P95_MS
    log.info(
        "ratio  survey/echo throughput %.2f× (target ≥ %.1f×); survey p95 %.1f ms (target < %.0f ms): %s",
        ratio,
        TARGET_RATIO,
        p95,
        TARGET_P95_MS,
        "meets the target" if meets else "BELOW THE TARGET",
    )
    log.info(
        "memory peak RSS %.0f MB (ru_maxrss, the whole process); RSS %.0f MB before the servers, "
        "%.0f MB at the end",
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        rss_start / 1024,
        current_rss_kb() / 1024,
    )
    expected = args.respondents * args.answers
    survey_replies = connector.sent - echo_replies
    correct = (
        sum(counts) == expected and counts == [args.answers] * args.respondents and connector.failures == 0
    )
    log.info(
        "check  %d answer rows in the database for %d respondents (expected %d = %d × %d, one per turn); "
        "%d replies and %d card updates for %d survey turns (warm-up included), %d failed turns: %s",
        sum(counts),
        len(counts),
        expected,
        args.respondents,
        args.answers,
        survey_replies,
        connector.updated,
        args.respondents * (args.answers + 1),
        connector.failures,
        "OK" if correct else "FAILED",
    )
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--respondents", type=int, default=50, help="concurrent respondents (default 50)")
    parser.add_argument("--answers", type=int, default=20, help="typed answers per respondent (default 20)")
    parser.add_argument(
        "--framework", default="ics-development-roadmap", help="framework of the survey answered"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds allowed for each of the two phases (default 600)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause before each answer, in ms (default 0: answer as soon as the reply arrives)",
    )
    args = parser.parse_args()
    if args.respondents < 1 or args.answers < 2:
        parser.error("needs at least 1 respondent and 2 answers")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/turns.db"
        log.info("database: %s", url.split("@")[-1])
        try:
            correct = asyncio.run(run(args, url))
        except TimeoutError:
            log.error("FAILED: a phase took longer than --timeout %.0f s", args.timeout)
            sys.exit(1)
    if not correct:
        log.error("FAILED: the database does not hold one answer per measured turn")
        sys.exit(1)


if __name__ == "__main__":
    main()
