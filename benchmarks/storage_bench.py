"""Storage throughput, run by hand: answers recorded per second and bot-state round trips.

    .venv/bin/python benchmarks/storage_bench.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/storage_bench.py postgresql+asyncpg://postgres@127.0.0.1:5432/test

Each run uses a fresh database (SQLite file or a PostgreSQL schema dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frameworks.loader import load_directory
from storage.answers import record_answer
from storage.bot_state import SqlStorage
from storage.db import create_engine, session_factory, transaction
from storage.invitations import invite
from storage.migrate import upgrade
from storage.people import upsert_person
from storage.surveys import create_survey, framework_of

log = logging.getLogger("bench")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def timed(label: str, count: int, action: Callable[[int], Awaitable[object]]) -> None:
    samples = []
    start = time.perf_counter()
    for index in range(count):
        began = time.perf_counter()
        await action(index)
        samples.append(time.perf_counter() - began)
    total = time.perf_counter() - start
    samples.sort()
    log.info(
        "%-44s %6d ops %8.0f ops/s  p50 %6.2f ms  p95 %6.2f ms",
        label,
        count,
        count / total,
        statistics.median(samples) * 1000,
        samples[int(len(samples) * 0.95)] * 1000,
    )


async def run(url: str, count: int, concurrency: int) -> None:
    schema = None
    kwargs: dict[str, object] = {}
    if url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url)
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        kwargs = {"connect_args": {"server_settings": {"search_path": schema}}}
    engine = create_engine(url, **kwargs)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        framework = load_directory().frameworks["ics-development-roadmap"]
        elements = [element.id for _, element in framework.scored_elements]
        async with transaction(sessions) as session:
            survey = await create_survey(session, framework, now=NOW)
            people = [await upsert_person(session, teams_user_id=f"29:p{i}", now=NOW) for i in range(50)]
            await invite(session, survey.id, [p.id for p in people], now=NOW)

        await timed("framework snapshot parse (124 outcomes)", 200, lambda _: _parse(survey))

        async def answer(index: int) -> None:
            async with transaction(sessions) as session:
                person = people[index % len(people)]
                await record_answer(
                    session, survey, person, elements[index % len(elements)], "on-track", now=NOW
                )

        await timed("record_answer, one per transaction", count, answer)

        async def burst(index: int) -> None:
            await asyncio.gather(*(answer(index * concurrency + j) for j in range(concurrency)))

        await timed(
            f"record_answer, {concurrency} concurrent (per batch)", max(1, count // concurrency), burst
        )

        storage = SqlStorage(sessions)
        state = {"DialogState": {"stack": [{"id": "survey", "state": {"element": "x" * 200}}]}}

        async def turn(index: int) -> None:
            key = f"msteams/conversations/c{index % 100}"
            item = (await storage.read([key])).get(key, dict(state))
            item["n"] = index
            await storage.write({key: item})

        await timed("bot state read + conditional write (a turn)", count, turn)
    finally:
        await engine.dispose()
        if schema:
            async with admin.begin() as connection:
                await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


async def _parse(survey) -> None:  # type: ignore[no-untyped-def]
    framework_of(survey)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        log.info("database: %s", url.split("@")[-1])
        asyncio.run(run(url, args.count, args.concurrency))


if __name__ == "__main__":
    main()
