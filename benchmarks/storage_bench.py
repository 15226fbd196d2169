"""Storage throughput, run by hand: answers recorded per second and bot-state round trips.

    .venv/bin/python benchmarks/storage_bench.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/storage_bench.py postgresql+asyncpg://postgres@127.0.0.1:5432/test

Each run uses a fresh database (SQLite file or a PostgreSQL schema dropped afterwards).

It starts with the conversation-state codec alone (no database): one turn's read, change check, write
and re-hash of a partner's survey state through botbuilder's state machinery, with the jsonpickle codec
of earlier releases (and of the SDK's own stores) against storage.bot_state's JSON codec.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonpickle  # the codec before storage.bot_state's own (botbuilder-core still depends on it)
import sqlalchemy as sa
from botbuilder.core import ConversationState, Storage, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frameworks.loader import load_directory
from storage.answers import record_answer
from storage.bot_state import DIALOG_STATE, JsonConversationState, SqlStorage, dump_state, load_state
from storage.db import create_engine, session_factory, transaction
from storage.invitations import invite
from storage.migrate import upgrade
from storage.people import upsert_person
from storage.surveys import create_survey, framework_of

log = logging.getLogger("bench")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SURVEY_PLACE = {
    "survey_id": 12,
    "element_id": "mergers-acquisitions-and-disposals",
    "review": False,
    "back_to_review": False,
    "return_to": None,
    "invited": 12,
    "turn_at": "2026-11-23T09:30:00+00:00",
    "card": {"id": "1:1f3Xq9bZkXyJvU8nQ2sM", "element_id": "mergers-acquisitions-and-disposals"},
}
"""A partner's dialog state mid-survey, as the survey dialog keeps it."""


class _RowStorage(Storage):
    """One stored row in memory, kept as the text the database would hold, through a codec."""

    def __init__(self, dump: Callable[[Any], str], load: Callable[[str], Any]) -> None:
        self._dump, self._load, self._rows = dump, load, {}

    async def read(self, keys: list[str]) -> dict[str, Any]:
        return {key: {**self._load(self._rows[key]), "e_tag": "1"} for key in keys if key in self._rows}

    async def write(self, changes: dict[str, Any]) -> None:
        self._rows.update({key: self._dump(item) for key, item in changes.items()})

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._rows.pop(key, None)


def _pickled(item: Any) -> str:
    """What the jsonpickle release stored (SqlStorage._flatten before the JSON codec)."""
    flat = jsonpickle.Pickler().flatten(item)
    flat.pop("e_tag", None)
    return json.dumps(flat, separators=(",", ":"))


class _DialogState:
    """botbuilder.dialogs' DialogState (no longer installed) as jsonpickle saw it: the same fields."""

    def __init__(self, stack: list[_DialogInstance]) -> None:
        self._dialog_stack = stack

    @property
    def dialog_stack(self) -> list[_DialogInstance]:
        return self._dialog_stack


class _DialogInstance:
    def __init__(self, dialog_id: str, state: dict[str, Any]) -> None:
        self.id, self.state = dialog_id, state


async def codec_turns(
    label: str,
    state: ConversationState,
    storage: _RowStorage,
    place: object,
    survey_state: Callable[[Any], dict[str, Any]],
    count: int,
) -> None:
    """Read, change check, write and re-hash of the survey state `place`, `count` turns, best of five."""
    context = TurnContext(
        TestAdapter(),
        Activity(
            type="message",
            channel_id="msteams",
            conversation=ConversationAccount(id="a:29:amina"),
            from_property=ChannelAccount(id="29:amina"),
        ),
    )
    await storage.write({state.get_storage_key(context): {DIALOG_STATE: place}})
    dialog_state = state.create_property(DIALOG_STATE)
    best = float("inf")
    for _ in range(5):
        began = time.process_time()
        for index in range(count):
            await state.load(context, force=True)
            turn_at = f"2026-11-23T09:{index % 60:02d}:00+00:00"
            survey_state(await dialog_state.get(context))["turn_at"] = turn_at
            await state.save_changes(context)
        best = min(best, time.process_time() - began)
    log.info("%-44s %6d turns %8.1f µs CPU per turn (best of 5)", label, count, best / count * 1e6)


async def codec_bench(count: int) -> None:
    old = _RowStorage(_pickled, lambda data: jsonpickle.Unpickler().restore(json.loads(data)))
    pickled = _DialogState([_DialogInstance("survey", dict(SURVEY_PLACE))])
    await codec_turns(
        "state codec turn, jsonpickle (before)",
        ConversationState(old),
        old,
        pickled,
        lambda stack: stack.dialog_stack[0].state,
        count,
    )
    new = _RowStorage(dump_state, lambda data: load_state("bench", data))
    await codec_turns(
        "state codec turn, JSON codec",
        JsonConversationState(new),
        new,
        [{"id": "survey", "state": dict(SURVEY_PLACE)}],
        lambda stack: stack[0]["state"],
        count,
    )


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

        async def turn(index: int) -> None:
            key = f"msteams/conversations/c{index % 100}"
            fresh = {DIALOG_STATE: [{"id": "survey", "state": dict(SURVEY_PLACE)}]}
            item = (await storage.read([key])).get(key, fresh)
            item[DIALOG_STATE][0]["state"]["turn_at"] = NOW.replace(second=index % 60).isoformat()
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
        asyncio.run(codec_bench(args.count))
        asyncio.run(run(url, args.count, args.concurrency))


if __name__ == "__main__":
    main()
