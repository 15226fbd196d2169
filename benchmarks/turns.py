"""What an answer turn costs the survey bot's server, compared with a bare echo bot, run by hand.

    .venv/bin/python benchmarks/turns.py                                  # SQLite in a temp dir
    .venv/bin/python benchmarks/turns.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/turns.py --respondents 50 --think-ms 2000 # people's pace, either database

N partners (default 10), each in their own 1:1 chat with a survey open for them, answer one question
at a time and wait for the next before answering again, as a person does: alternately typing the
answer and pressing the answer button of the question card the bot sent last (an `adaptiveCard/action`
invoke, shaped as Teams sends it), so half the turns are typed and half are presses. Each partner
first says "resume" and answers two questions (one of each kind) to warm up; then the measured
answers (default 30 each, 300 turns) go to new questions, so every measured turn records one answer.

The survey bot runs as its own process, its real entry point (`python -m bot serve`, local mode: no
app id) on 127.0.0.1, on a fresh database migrated as `make run` migrates it (`python -m bot db
upgrade`): a SQLite file in a temporary directory, or on PostgreSQL a database created for the run and
dropped at the end (the server's settings cannot name a schema: DATABASE_URL carries no
search_path). The same load goes first to the echo bot (benchmarks/echo_bot.py: the same adapter, a
reply with the text to a typed turn, an invoke response to a press), also a process of its own. The
fake Bot Connector the replies go to (the activities' serviceUrl) and the load generator run in this
process.

A turn's latency runs from sending the activity until the partner has what the turn gives back: the
HTTP response, and the reply at the fake connector (the survey bot's next question card; the echo's
text for a typed turn, while a press's reply is the invoke response itself). CPU is each server
process's utime + stime, all threads (/proc/<pid>/stat), read just before and just after the
measured turns; RSS is the server's VmRSS once ready and after the turns, with its peak (VmHWM).
`--think-ms` adds a random pause before each measured answer, the same pauses for both bots; the
pauses are not part of the latency. Linux only (/proc).

Targets (issue 14):
- CPU per answer turn ≤ 2× the echo bot's, on SQLite and on PostgreSQL (the defaults: 10 partners,
  300 measured turns, half typed and half pressed).
- On SQLite, p95 ≤ 150 ms with 50 respondents answering every 2 s (`--respondents 50 --think-ms 2000`).

Exit status 1 if a turn failed or the database does not hold exactly one answer per answer turn
(warm-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fanout import serving
from benchmarks.idle_rss import Memory, free_port, server_environment, status_mb, wait_ready
from dialogs.survey_views import choices_for
from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.db import create_engine, session_factory, transaction
from storage.invitations import invite
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import Answer, Response, stored_id, table_of
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_wire import ADAPTIVE_CARD, Member, TeamsShapes

log = logging.getLogger("turns")

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
TARGET_CPU_RATIO = 2.0
TARGET_P95_MS = 150.0
"""At 50 respondents answering every 2 s, on SQLite."""
WARM_UP_ANSWERS = 2
"""Answers per partner before the measured ones (one typed, one pressed), after "resume"."""
REPLY_TIMEOUT = 60.0
"""Seconds a turn's reply may take to reach the fake connector before the run fails."""
FAILURE_MARK = "something went wrong"
"""In the reply `bot.teams.adapter` sends when a turn raises: counted as a failed turn."""
STOP_TIMEOUT = 30.0


# The servers ----------------------------------------------------------------------------------------


@dataclass
class Server:
    """A bot's process on loopback; stopped with SIGTERM."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    ready: Memory = field(default_factory=lambda: Memory(rss=0.0, hwm=0.0))
    """Its memory once GET /readyz answered."""

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/api/messages"

    def cpu_seconds(self) -> float:
        """utime + stime of all the process's threads so far (/proc/<pid>/stat, fields 14 and 15)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self) -> Memory:
        return status_mb(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def running(
    name: str, argv: list[str], environment: dict[str, str], folder: Path
) -> AsyncIterator[Server]:
    """Start `argv` with `--host 127.0.0.1 --port <free>` from `folder` (so no `.env` of the checkout is
    read), wait until GET /readyz answers 200, and stop it at the end. Its output goes to a file, shown
    if anything fails."""
    port = free_port()
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as output:
        process = await asyncio.to_thread(
            subprocess.Popen,
            [*argv, "--host", LOOPBACK, "--port", str(port)],
            cwd=folder,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, f"http://{LOOPBACK}:{port}", log_path)
    try:
        await asyncio.to_thread(wait_ready, f"{server.base_url}/readyz", process)
        server.ready = server.memory()
        yield server
    except BaseException:
        log.error("%s's output ends:\n%s", name, log_path.read_text(errors="replace")[-4000:])
        raise
    finally:
        await asyncio.to_thread(server.stop)


# The database ---------------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(url: str | None, folder: Path) -> AsyncIterator[str]:
    """Yields the URL of an empty database: a SQLite file in `folder`, or a PostgreSQL database created
    on `url`'s server for the run and dropped at the end."""
    if url is None:
        yield f"sqlite+aiosqlite:///{folder / 'surveybot.db'}"
        return
    if not url.startswith("postgresql"):
        raise SystemExit("--database-url: a postgresql+asyncpg:// URL (SQLite is the default)")
    name = f"bench_turns_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        log.info("database %s created for the run (dropped at the end)", name)
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def migrate(environment: dict[str, str], folder: Path) -> None:
    """`python -m bot db upgrade`, as `make run` migrates."""
    upgrade = [sys.executable, "-m", "bot", "db", "upgrade"]
    done = await asyncio.to_thread(subprocess.run, upgrade, cwd=folder, env=environment, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"db upgrade failed:\n{done.stderr.decode(errors='replace')}")


async def open_survey(url: str, framework: Framework, members: list[Member]) -> int:
    """The survey, open for every partner, before the server starts."""
    engine = create_engine(url)
    try:
        now = datetime.now(UTC)
        async with transaction(session_factory(engine)) as session:
            survey = await create_survey(session, framework, now=now)
            survey_id = stored_id(survey.id)
            people = [
                await upsert_person(
                    session, teams_user_id=m.id, aad_object_id=m.aad_object_id, name=m.name, now=now
                )
                for m in members
            ]
            await invite(session, survey_id, [stored_id(p.id) for p in people], now=now)
        return survey_id
    finally:
        await engine.dispose()


async def answers_per_respondent(url: str, survey_id: int) -> list[int]:
    answers, responses = table_of(Answer), table_of(Response)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(sa.func.count(answers.c.id))
                .select_from(answers.join(responses, responses.c.id == answers.c.response_id))
                .where(responses.c.survey_id == survey_id)
                .group_by(responses.c.id)
            )
            return [int(count) for (count,) in rows]
    finally:
        await engine.dispose()


# The partners and what the fake connector receives for them ---------------------------------------


@dataclass
class Chat:
    """One partner's 1:1 chat: what the bot sent to it through the fake Bot Connector."""

    index: int
    member: Member
    replies: int = 0
    cards: int = 0
    last_card: dict[str, Any] | None = None
    failures: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def received(self, activity: dict[str, Any]) -> None:
        self.replies += 1
        cards = [
            attachment["content"]
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == ADAPTIVE_CARD
        ]
        if cards:
            self.cards += 1
            self.last_card = cards[-1]
        if FAILURE_MARK in (activity.get("text") or ""):
            self.failures += 1
        async with self.changed:
            self.changed.notify_all()

    async def until(self, arrived: Callable[[], bool]) -> None:
        async with asyncio.timeout(REPLY_TIMEOUT), self.changed:
            await self.changed.wait_for(arrived)


def noting_replies(chats: dict[str, Chat]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware for the fake connector's app: each send it accepts is handed to its chat."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        chat = chats.get(request.match_info.get("conversation_id", ""))
        if request.method == "POST" and chat is not None and response.status in (200, 201):
            await chat.received(json.loads(await request.read()))
        return response

    return middleware


def answer_texts(framework: Framework, count: int) -> list[str]:
    """What a partner types to the first `count` questions, in order: a choice's name, cycling through
    the first three (delivered, on track, at risk on a status scale), or a comment on an unscored
    question (which records a row and moves on, like an answer)."""
    elements = framework.iter_elements()
    if count > len(elements):
        raise SystemExit(f"{count} answers: {framework.id} has only {len(elements)} questions")
    texts = []
    for index, (domain, element) in enumerate(elements[:count]):
        choices = choices_for(framework.scale_for(domain), element)
        if choices:
            texts.append(choices[index % min(3, len(choices))].label.casefold())
        else:
            texts.append(f"comment: benchmark note on question {index + 1}")
    return texts


def _executes(card: Any) -> Iterator[dict[str, Any]]:
    """The data of every Action.Execute in a card, wherever it sits."""
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute":
            yield card.get("data") or {}
        for value in card.values():
            yield from _executes(value)
    elif isinstance(card, list):
        for value in card:
            yield from _executes(value)


def _choice_values(card: Any) -> list[str]:
    """The values of the card's choice set (a score scale asks with one), in order."""
    if isinstance(card, dict):
        if card.get("type") == "Input.ChoiceSet":
            return [choice["value"] for choice in card.get("choices") or []]
        return next((found for value in card.values() if (found := _choice_values(value))), [])
    if isinstance(card, list):
        return next((found for value in card if (found := _choice_values(value))), [])
    return []


def press_on(card: dict[str, Any] | None, index: int) -> dict[str, Any]:
    """What pressing the question card's answer button sends, as Teams merges the inputs into its data:
    a level's own button (cycling through the first three), the one answer button with a choice from
    the choice set, or, on an unscored question, the comment button with a comment."""
    executes = list(_executes(card))
    answers = [data for data in executes if data.get("action") == "answer"]
    levels = [data for data in answers if data.get("value")]
    if levels:
        return levels[index % min(3, len(levels))]
    if answers:
        values = _choice_values(card)
        return {**answers[0], "value": values[index % min(3, len(values))]}
    comment = next((data for data in executes if data.get("action") == "comment"), None)
    if comment is None:
        raise RuntimeError(f"question {index + 1}: the last card has no answer or comment button")
    return {**comment, "comment": f"benchmark note on question {index + 1}"}


# The load -------------------------------------------------------------------------------------------


@dataclass
class Latencies:
    typed: list[float] = field(default_factory=list)
    pressed: list[float] = field(default_factory=list)

    @property
    def all(self) -> list[float]:
        return self.typed + self.pressed


def percentile_ms(seconds: list[float], percent: int) -> float:
    if len(seconds) < 2:
        return seconds[0] * 1000 if seconds else float("nan")
    return statistics.quantiles(seconds, n=100, method="inclusive")[percent - 1] * 1000


@dataclass
class Result:
    name: str
    latencies: Latencies
    wall: float
    cpu: float
    """The server process's CPU seconds (all threads) during the measured turns."""
    driver_cpu: float
    """This process's CPU seconds meanwhile: the load generator and the fake connector."""
    ready: Memory
    after: Memory

    @property
    def turns(self) -> int:
        return len(self.latencies.all)

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.turns * 1000

    def lines(self) -> list[str]:
        every, typed, pressed = self.latencies.all, self.latencies.typed, self.latencies.pressed
        return [
            f"{self.name:<6} {self.turns} turns ({len(typed)} typed, {len(pressed)} pressed)"
            f" in {self.wall:.2f} s, {self.turns / self.wall:.1f} turns/s;"
            f" server CPU {self.cpu_ms:.2f} ms/turn ({self.cpu:.2f} s); load generator and fake connector"
            f" {self.driver_cpu / self.turns * 1000:.2f} ms/turn",
            f"       latency p50 {percentile_ms(every, 50):.1f} ms  p95 {percentile_ms(every, 95):.1f} ms"
            f"  p99 {percentile_ms(every, 99):.1f} ms  max {max(every) * 1000:.1f} ms"
            f"  (p95 typed {percentile_ms(typed, 95):.1f} ms, pressed {percentile_ms(pressed, 95):.1f} ms)",
            f"       server RSS {self.ready.rss:.0f} MB once ready, {self.after.rss:.0f} MB after the turns"
            f" (peak {self.after.hwm:.0f} MB)",
        ]


@dataclass
class Load:
    """The partners' turns against one bot. The survey bot answers every turn with the next question's
    card (a press's card comes from the last one it sent); the echo answers a typed turn with a text and
    a press in the invoke response, and its presses carry made-up data of the same shape."""

    survey: bool
    client: aiohttp.ClientSession
    server: Server
    teams: TeamsShapes
    texts: list[str]

    async def turn(self, chat: Chat, position: int, latencies: Latencies | None) -> None:
        """Answer question `position` (0-based); typed when partner and position have the same parity."""
        typed = (chat.index + position) % 2 == 0
        text = self.texts[position]
        if typed:
            activity = self.teams.personal_message(chat.member, text)
        elif self.survey:
            activity = self.teams.execute(chat.member, press_on(chat.last_card, position))
        else:
            data = {"action": "answer", "survey_id": 1, "element_id": f"element-{position}", "value": text}
            activity = self.teams.execute(chat.member, data)
        elapsed = await self.send(chat, activity, invoke=not typed)
        if latencies is not None:
            (latencies.typed if typed else latencies.pressed).append(elapsed)

    async def send(self, chat: Chat, activity: dict[str, Any], *, invoke: bool) -> float:
        """POST the activity and wait for what it gives back; returns the seconds that took."""
        cards, replies = chat.cards, chat.replies
        began = time.perf_counter()
        async with self.client.post(self.server.endpoint, json=activity) as response:
            body = await response.read()
        if response.status not in (200, 201) or (invoke and json.loads(body).get("statusCode") != 200):
            raise RuntimeError(
                f"{self.server.name}: {activity['type']} answered {response.status} {body[:300]!r}"
            )
        if self.survey:
            await chat.until(lambda: chat.cards > cards)
        elif not invoke:
            await chat.until(lambda: chat.replies > replies)
        return time.perf_counter() - began

    async def warm_up(self, chat: Chat) -> None:
        await self.send(chat, self.teams.personal_message(chat.member, "resume"), invoke=False)
        for position in range(WARM_UP_ANSWERS):
            await self.turn(chat, position, None)

    async def answer(self, chat: Chat, answers: int, think: float, latencies: Latencies) -> None:
        pauses = random.Random(chat.index)
        for position in range(WARM_UP_ANSWERS, WARM_UP_ANSWERS + answers):
            if think > 0:
                await asyncio.sleep(pauses.uniform(0, 2 * think))
            await self.turn(chat, position, latencies)


async def drive(load: Load, chats: list[Chat], answers: int, think: float) -> Result:
    """Every partner warms up, then all answer concurrently while the server's CPU is counted."""
    await asyncio.gather(*(load.warm_up(chat) for chat in chats))
    latencies = Latencies()
    server = load.server
    cpu, driver_cpu, began = server.cpu_seconds(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(load.answer(chat, answers, think, latencies) for chat in chats))
    wall = time.perf_counter() - began
    cpu, driver_cpu = server.cpu_seconds() - cpu, time.process_time() - driver_cpu
    return Result(server.name, latencies, wall, cpu, driver_cpu, server.ready, server.memory())


# The run --------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, folder: Path) -> bool:
    framework = load_directory().frameworks[args.framework]
    texts = answer_texts(framework, WARM_UP_ANSWERS + args.answers)
    members = [Member(f"29:bench-{i}", f"Partner {i}", f"aad-bench-{i}") for i in range(args.respondents)]
    connector = FakeConnector(keep_activities=False)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database(args.database_url, folder))
        environment = server_environment(folder)
        environment["DATABASE_URL"] = url
        await migrate(environment, folder)
        survey_id = await open_survey(url, framework, members)

        by_conversation: dict[str, Chat] = {}
        app = connector.app()
        app.middlewares.append(noting_replies(by_conversation))
        teams = TeamsShapes(await stack.enter_async_context(serving(app)))
        chats = [Chat(index, member) for index, member in enumerate(members)]
        by_conversation.update((teams.personal(chat.member)["id"], chat) for chat in chats)
        client = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=120)
            )
        )
        log.info(
            "%d partners × (%d warm-up + %d measured) answers to %s (survey %d), half typed, half pressed;"
            " %s",
            args.respondents,
            WARM_UP_ANSWERS,
            args.answers,
            framework.id,
            survey_id,
            f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs",
        )
        if args.think_ms > 0:
            log.info("partners pause %.0f ms on average (0 to twice that) before each answer", args.think_ms)

        async def phase(name: str, argv: list[str], survey: bool) -> Result:
            async with asyncio.timeout(args.timeout), running(name, argv, environment, folder) as server:
                load = Load(survey, client, server, teams, texts)
                result = await drive(load, chats, args.answers, args.think_ms / 1000)
            for line in result.lines():
                log.info("%s", line)
            return result

        failures = sum(chat.failures for chat in chats)
        echo = await phase("echo", [sys.executable, str(ROOT / "benchmarks" / "echo_bot.py")], survey=False)
        survey = await phase("survey", [sys.executable, "-m", "bot", "serve"], survey=True)
        failures = sum(chat.failures for chat in chats) - failures
        counts = await answers_per_respondent(url, survey_id)

    ratio = survey.cpu_ms / echo.cpu_ms
    log.info(
        "ratio  survey/echo CPU per answer turn %.2f× (%.2f / %.2f ms; target ≤ %.0f×): %s",
        ratio,
        survey.cpu_ms,
        echo.cpu_ms,
        TARGET_CPU_RATIO,
        "meets the target" if ratio <= TARGET_CPU_RATIO else "ABOVE THE TARGET",
    )
    if args.think_ms > 0:
        p95 = percentile_ms(survey.latencies.all, 95)
        log.info(
            "pace   survey p95 %.1f ms (target ≤ %.0f ms on SQLite at 50 partners, --think-ms 2000): %s",
            p95,
            TARGET_P95_MS,
            "meets the target" if p95 <= TARGET_P95_MS else "ABOVE THE TARGET",
        )
    per_respondent = WARM_UP_ANSWERS + args.answers
    correct = counts == [per_respondent] * args.respondents and failures == 0
    log.info(
        "check  %d answer rows for %d partners (expected %d = %d × %d, one per answer turn, warm-up"
        " included); %d card updates; %d failed turns: %s",
        sum(counts),
        len(counts),
        args.respondents * per_respondent,
        args.respondents,
        per_respondent,
        len(connector.updated),
        failures,
        "OK" if correct else "FAILED",
    )
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server's URL (default: a temporary SQLite file)")
    parser.add_argument("--respondents", type=int, default=10, help="concurrent partners (default 10)")
    parser.add_argument("--answers", type=int, default=30, help="measured answers per partner (default 30)")
    parser.add_argument(
        "--framework", default="ics-development-roadmap", help="framework of the survey answered"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds allowed for each of the two bots (default 600)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause before each answer, in ms (default 0: answer as soon as the question arrives)",
    )
    args = parser.parse_args()
    if args.respondents < 1 or args.answers < 2:
        parser.error("needs at least 1 respondent and 2 answers")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for name in ("bot", "dialogs", "storage", "frameworks", "botbuilder", "aiohttp", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="turns-") as folder:
        try:
            correct = asyncio.run(run(args, Path(folder)))
        except TimeoutError:
            log.error("FAILED: a bot took longer than --timeout %.0f s", args.timeout)
            sys.exit(1)
    if not correct:
        log.error("FAILED: a turn failed, or the database does not hold one answer per answer turn")
        sys.exit(1)


if __name__ == "__main__":
    main()
