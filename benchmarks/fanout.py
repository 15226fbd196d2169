"""A survey's invitations to 10,000 people at Teams' rate limits, run by hand (not a test).

    .venv/bin/python benchmarks/fanout.py                                  # SQLite in a temp dir
    .venv/bin/python benchmarks/fanout.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/fanout.py --count 1000                     # a shorter run
    .venv/bin/python benchmarks/fanout.py --latency-ms 150                 # Teams-like answer times

The outbox holds one invitation per person, none of whom has a chat with the bot yet (`--known` gives
a share of them one), so each invitation is two requests: create the 1:1 chat, then send. The
`OutboxSender` sends them to the strict fake Bot Connector (tests/fakes/connector.py), which
enforces Teams' limits itself — 50 requests a second per tenant, and per thread 7/1 s, 8/2 s, 60/30 s,
1800/3600 s — and answers 429 to anything over them. When the last invitation is done the sender
enqueues the lead's report, and the run ends when that report reaches the leads' channel.

Reported: the achieved request rate as a fraction of the 50/s allowed (target ≥ 0.9; the limiter's
safety margin alone caps it at 1/(1 + margin) ≈ 0.95), requests the fake refused for going over a
limit, lost invitations (target 0) and duplicates (target 0), CPU per invitation and peak RSS; and
the window a crash could turn into a duplicate: for each invitation, from the moment the fake accepted
its send to the commit recording it (both read from the system's monotonic clock, shared by the two
processes), with how many lease renewals the run took. The
fake connector runs in a process of its own, as Teams is elsewhere: its clock stamps each request as it
arrives, unaffected by the bot's event loop, and its CPU is not the bot's. RSS and CPU are the bot
process's (sender, transport, database and set-up). The sender's requests go through the bot's own
transport (bot.teams.connector: one aiohttp session, no threads), so with `--latency-ms` the
sender's concurrency, not a thread pool, bounds the rate. Each run uses a fresh database: a SQLite
file in a temporary directory,
or a PostgreSQL schema created for the run and dropped at the end. Exit status 1 if anything was
lost or sent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, ConversationReference
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.outbox import OutboxSender, RateLimiter, RateLimits, SenderConfig, Verdict
from bot.teams.connector import BotConnector
from bot.teams.proactive import TeamsProactive
from frameworks.loader import load_directory
from storage.conversations import save_reference
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.outbox import NewMessage, enqueue
from storage.surveys import create_survey
from storage.tables import OutboxKind, OutboxMessage, OutboxState, Person
from tests.fakes.connector import ThrottlingConnector

log = logging.getLogger("fanout")

LOOPBACK = "127.0.0.1"
TENANT = "t1"
LEADS_CHANNEL = "19:leads@thread.tacv2"
TARGET_FRACTION = 0.9
QUIET_LOGGERS = ("bot", "storage", "botbuilder", "botframework", "msrest", "aiohttp", "sqlalchemy", "alembic")


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an app on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        yield f"http://{LOOPBACK}:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


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


def serve_connector(pipe: Any, conversations: Sequence[tuple[str, str | None]], latency: float) -> None:
    """The fake connector's process: serve until told to stop, then send back what it saw."""

    async def serve() -> None:
        connector = ThrottlingConnector(limits=RateLimits(margin=0), keep_activities=False, latency=latency)
        for conversation_id, user in conversations:
            connector.add_conversation(conversation_id, user)
        async with serving(connector.app()) as url:
            pipe.send(url)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        pipe.send((connector.arrivals, dict(connector.deliveries)))

    asyncio.run(serve())


class TimedSender(OutboxSender):
    """The sender, noting when each sent row's outcome was committed and how often leases were renewed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, on_recorded=self._note_recorded, **kwargs)
        self.recorded: dict[int, float] = {}
        """person id → monotonic time its invitation's outcome was committed"""
        self.renewals = 0

    def _note_recorded(self, plan: Any, result: Any) -> None:
        if result.outcome.verdict is Verdict.SENT and plan.person_id is not None:
            self.recorded[plan.person_id] = time.monotonic()

    async def renew_leases(self) -> int:
        self.renewals += 1
        return await super().renew_leases()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


class RemoteConnector:
    """A ThrottlingConnector in a child process; `finish` stops it and returns what it recorded."""

    def __init__(self, conversations: Sequence[tuple[str, str | None]], latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=serve_connector, args=(child, conversations, latency))
        self._process.start()
        self.url: str = self._pipe.recv()

    def finish(self) -> ThrottlingConnector:
        self._pipe.send("stop")
        arrivals, deliveries = self._pipe.recv()
        self._process.join()
        seen = ThrottlingConnector(limits=RateLimits(margin=0), arrivals=arrivals)
        seen.deliveries.update(deliveries)
        return seen


def _reference(service_url: str, conversation_id: str, kind: str, user: str | None = None) -> dict[str, Any]:
    return ConversationReference(
        channel_id="msteams",
        service_url=service_url,
        bot=ChannelAccount(id="28:bot"),
        user=ChannelAccount(id=user) if user else None,
        conversation=ConversationAccount(id=conversation_id, conversation_type=kind, tenant_id=TENANT),
    ).serialize()


async def fill_outbox(engine: AsyncEngine, service_url: str, users: list[str], known: int) -> str:
    """A survey, the leads' channel and an invitation for each of `users`, the first `known` of whom
    already chat with the bot; returns the fan-out id."""
    now = datetime.now(UTC)
    framework = load_directory().frameworks["place-partnership-maturity"]
    async with transaction(session_factory(engine)) as session:
        survey = await create_survey(session, framework, now=now, title="Place maturity 2026")
        lead = await save_reference(
            session,
            conversation_id=LEADS_CHANNEL,
            service_url=service_url,
            reference=_reference(service_url, LEADS_CHANNEL, "channel"),
            conversation_type="channel",
            tenant_id=TENANT,
            now=now,
        )
        for start in range(0, len(users), 1000):
            await session.execute(
                sa.insert(Person).values(
                    [
                        {"teams_user_id": u, "tenant_id": TENANT, "created_at": now, "updated_at": now}
                        for u in users[start : start + 1000]
                    ]
                )
            )
        ids = dict((await session.execute(sa.select(Person.teams_user_id, Person.id))).all())
        for user in users[:known]:
            chat = ThrottlingConnector.personal_id(user)
            await save_reference(
                session,
                conversation_id=chat,
                service_url=service_url,
                reference=_reference(service_url, chat, "personal", user),
                conversation_type="personal",
                tenant_id=TENANT,
                person_id=ids[user],
                now=now,
            )
        fanout = f"invite:{survey.id}"
        activity = Activity(
            type="message", text="You are invited to answer “Place maturity 2026”."
        ).serialize()
        for start in range(0, len(users), 1000):
            await enqueue(
                session,
                [
                    NewMessage(
                        dedupe_key=f"{fanout}:{ids[u]}",
                        kind=OutboxKind.INVITE,
                        survey_id=survey.id,
                        person_id=ids[u],
                        payload={
                            "service_url": service_url,
                            "tenant_id": TENANT,
                            "fanout": fanout,
                            "report_to": lead,
                            "activity": activity,
                        },
                    )
                    for u in users[start : start + 1000]
                ],
                now=now,
            )
    return fanout


async def report_sent(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        state = await connection.scalar(
            sa.select(OutboxMessage.state).where(OutboxMessage.kind == OutboxKind.FANOUT_REPORT)
        )
    return state == OutboxState.SENT


async def outbox_states(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(OutboxMessage.state, sa.func.count())
            .where(OutboxMessage.kind == OutboxKind.INVITE)
            .group_by(OutboxMessage.state)
        )
        return {str(state): int(n) for state, n in rows}


async def run(args: argparse.Namespace, url: str) -> bool:
    teams = RateLimits()
    users = [f"29:bench-{n}" for n in range(args.count)]
    known = round(args.count * args.known)
    conversations = [(LEADS_CHANNEL, None), *((ThrottlingConnector.personal_id(u), u) for u in users[:known])]
    remote = RemoteConnector(conversations, args.latency_ms / 1000)
    try:
        async with AsyncExitStack() as stack:
            engine_args = await stack.enter_async_context(fresh_database(url))
            engine = create_engine(url, **engine_args)
            stack.push_async_callback(engine.dispose)
            await upgrade(engine)
            fanout = await fill_outbox(engine, remote.url, users, known)
            log.info(
                "%d invitations (%d to people with a chat already) in fan-out %s; %s on %s, %d CPUs",
                args.count,
                known,
                fanout,
                platform.python_implementation() + " " + platform.python_version(),
                platform.machine(),
                os.cpu_count() or 0,
            )
            limits = RateLimits(per_thread=teams.per_thread, per_tenant=teams.per_tenant, margin=args.margin)
            sender = TimedSender(
                session_factory(engine),
                TeamsProactive(await stack.enter_async_context(BotConnector().open())),
                limiter=RateLimiter(limits),
                config=SenderConfig(concurrency=args.concurrency, batch=args.concurrency * 4),
            )
            stop = asyncio.Event()
            cpu_started, started = time.process_time(), time.perf_counter()
            running = asyncio.create_task(sender.run(stop))
            try:
                # Every invitation, then the lead's report: the last message of the run.
                async with asyncio.timeout(args.timeout):
                    while not await report_sent(engine):  # noqa: ASYNC110 - the outbox is in the database
                        await asyncio.sleep(0.5)
            finally:
                stop.set()
                await running
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            states = await outbox_states(engine)
            async with engine.connect() as connection:
                people = dict((await connection.execute(sa.select(Person.id, Person.teams_user_id))).all())
    finally:
        connector = remote.finish()

    requests = [a for a in connector.arrivals if a.kind in ("create", "send") and not a.limited]
    span = requests[-1].at - requests[0].at if len(requests) > 1 else 0.0
    rate = (len(requests) - 1) / span if span else 0.0
    fraction = rate / teams.tenant_rate
    lost = sum(1 for u in users if connector.deliveries[u] == 0)
    duplicates = sum(n - 1 for u, n in connector.deliveries.items() if n > 1)
    log.info(
        "rate   %d requests (%d creates, %d sends) in %.1f s: %.2f requests/s = %.3f of the %.0f/s allowed "
        "(target ≥ %.1f); %.1f invitations/s; %.1f s wall in all",
        len(requests),
        connector.count("create"),
        connector.count("send"),
        span,
        rate,
        fraction,
        teams.tenant_rate,
        TARGET_FRACTION,
        args.count / span if span else 0.0,
        wall,
    )
    log.info(
        "limits %d requests refused by the fake for going over a limit; windows exceeded: %s",
        len(connector.throttled),
        connector.violations() or "none",
    )
    log.info(
        "cpu    %.2f ms per invitation (%.1f s in the bot's process: sender, SDK and database)",
        cpu / args.count * 1000,
        cpu,
    )
    accepted = {a.user: a.at for a in connector.arrivals if a.kind == "send" and a.status == 200 and a.user}
    windows = [
        (at - accepted[people[pid]]) * 1000
        for pid, at in sender.recorded.items()
        if people.get(pid) in accepted
    ]
    log.info(
        "window Teams accepted → outcome committed, ms: median %.1f, p95 %.1f, p99 %.1f, max %.1f "
        "(%d sends); about %.2f invitations in that window at any moment, i.e. the duplicates one crash "
        "costs on average; %d lease renewals",
        percentile(windows, 0.5),
        percentile(windows, 0.95),
        percentile(windows, 0.99),
        max(windows, default=0.0),
        len(windows),
        sum(windows) / 1000 / span if span else 0.0,
        sender.renewals,
    )
    log.info(
        "memory peak RSS %.0f MB (ru_maxrss, the bot's process)",
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    correct = lost == 0 and duplicates == 0 and states.get(OutboxState.SENT, 0) == args.count
    log.info(
        "check  lost %d (target 0), duplicates %d (target 0), outbox %s, lead's report delivered %d "
        "time(s): %s",
        lost,
        duplicates,
        states,
        connector.deliveries[LEADS_CHANNEL],
        "OK" if correct and fraction >= TARGET_FRACTION else "BELOW THE TARGET" if correct else "FAILED",
    )
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--count", type=int, default=10_000, help="invitations (default 10,000)")
    parser.add_argument(
        "--known", type=float, default=0.0, help="share of people who already chat with the bot (default 0)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="the sender's sends at once (default 8)")
    parser.add_argument(
        "--margin", type=float, default=RateLimits().margin, help="the limiter's safety margin in seconds"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="time the fake takes to answer (default 0)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed for the run (default 3600)"
    )
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/fanout.db"
        log.info("database: %s", url.split("@")[-1])
        try:
            correct = asyncio.run(run(args, url))
        except TimeoutError:
            log.error("FAILED: the fan-out took longer than --timeout %.0f s", args.timeout)
            sys.exit(1)
    if not correct:
        log.error("FAILED: invitations were lost or sent twice")
        sys.exit(1)


if __name__ == "__main__":
    main()
