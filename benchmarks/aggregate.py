"""Summary computation at partnership scale, run by hand: 10,000 respondents × 40 elements in PostgreSQL.

    .venv/bin/python benchmarks/aggregate.py                  # postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/aggregate.py URL --respondents 20000 --repeat 20
    .venv/bin/python benchmarks/aggregate.py --surveys 5   # the summarised survey plus 4 others as big

Loads 400,000 answers with COPY into a schema of its own (dropped afterwards): 30 organisations of five
types, from a 3,000-person trust down to VCSE partners of one or two, so suppression is exercised; 5% of
answers skipped, 3% with a comment. Then times the whole summary (queries and statistics), its
rendering (the Teams card and the plain text) and, apart, the chart PNGs a card's links serve (drawn when
a link is opened, from the summary loaded for it): the domain profile and each page of the answer
distributions, made and drawn as the chart route does. The first chart of the process also imports
matplotlib, numpy and PIL (loaded with the first chart only), so it is reported on its own and the
medians are over the other runs. Reports the peak RSS of the process and the Python allocations of one
summary.

Targets (issue 14): the summary ≤ 0.5 s on PostgreSQL; the chart PNG for it ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cards import card_size
from bot.cards.summary_cards import summary_card
from bot.reports.charts import distributions, domain_profile, render
from bot.reports.summary_text import summary_text
from frameworks.schema import Framework
from frameworks.summary import SummaryRules, SurveySummary, summarise
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.organisations import ensure_organisation, ensure_partnership
from storage.summaries import survey_data, survey_summary
from storage.surveys import SnapshotCache, create_survey

log = logging.getLogger("bench")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_SECONDS = 0.5
"""For the summary, and for one chart PNG."""
LEVELS = ["emerging", "developing", "maturing", "thriving"]
SIZES = [3000, 1500, 1200, 900, 700, 600, 450, 400, 300, 250, 200, 150, 120, 100, 80]
SIZES += [60, 40, 30, 20, 12, 8, 6, 5, 4, 3, 3, 2, 2, 1, 1]
KINDS = ["NHS trust", "council", "primary care", "VCSE", "hospice"]


def framework() -> Framework:
    """Forty scored elements: two maturity-matrix domains and two -5..+5 domains of ten each."""
    levels = {
        "kind": "levels",
        "levels": [{"id": lv, "value": i, "label": lv.title()} for i, lv in enumerate(LEVELS, 1)],
    }
    score = {"kind": "score", "min": -5, "max": 5, "min_label": "Not at all", "max_label": "Fully"}

    def matrix(domain: str) -> list[dict[str, Any]]:
        return [
            {"id": f"{domain}-{i}", "title": f"{domain} {i}", "descriptors": {lv: lv for lv in LEVELS}}
            for i in range(10)
        ]

    def questions(domain: str) -> list[dict[str, Any]]:
        return [{"id": f"{domain}-{i}", "title": f"{domain} {i}", "text": "How far?"} for i in range(10)]

    return Framework.model_validate(
        {
            "id": "bench-40",
            "title": "Benchmark framework",
            "version": "1.0",
            "source": "benchmark",
            "description": "Forty elements",
            "scale": levels,
            "domains": [
                {"id": "vision", "title": "Vision", "elements": matrix("vision")},
                {"id": "leadership", "title": "Leadership", "elements": matrix("leadership")},
                {"id": "delivery", "title": "Delivery", "scale": score, "elements": questions("delivery")},
                {"id": "enablers", "title": "Enablers", "scale": score, "elements": questions("enablers")},
            ],
        }
    )


def answer_rows(
    responses: list[tuple[int, int]], elements: list[tuple[str, bool]], rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    """(response_id, element_id, value, score, skipped, comment, answered_at, updated_at) rows."""
    for response_id, org_index in responses:
        lean = org_index % 3  # organisations lean differently, so some elements split
        for element_id, is_levels in elements:
            if rng.random() < 0.05:
                yield (response_id, element_id, None, None, True, None, NOW, NOW)
                continue
            if is_levels:
                score = min(4, max(1, int(rng.gauss(1.5 + lean, 0.9) + 0.5)))
                value = LEVELS[score - 1]
            else:
                score = min(5, max(-5, round(rng.gauss(lean * 2 - 2, 2))))
                value = f"{score:+d}" if score else "0"
            comment = "Evidence in the board papers" if rng.random() < 0.03 else None
            yield (response_id, element_id, value, score, False, comment, NOW, NOW)


def chunks(rows: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def load(engine: Any, schema: str, respondents: int, round_no: int = 0) -> int:
    """The survey, its organisations, people, invitations, responses and answers; returns the survey id."""
    rng = random.Random(7 + round_no)
    bench = framework()
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        orgs = [
            await ensure_organisation(session, f"Organisation {i:02d}", kind=KINDS[i % len(KINDS)])
            for i in range(len(SIZES))
        ]
        place = await ensure_partnership(session, "Benchmark place", kind="place", members=orgs)
        created = NOW - timedelta(days=30 * (round_no + 1))
        survey = await create_survey(session, bench, now=created, partnership_id=place.id)
        survey_id = survey.id or 0
    scale = respondents / sum(SIZES)
    members = [max(1, round(size * scale)) if size > 12 else size for size in SIZES]
    members[0] += respondents - sum(members)
    people = [
        (org.id, index)
        for index, (org, count) in enumerate(zip(orgs, members, strict=True))
        for _ in range(count)
    ]
    elements = [(element.id, domain.scale is None) for domain, element in bench.scored_elements]

    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(
            "people",
            schema_name=schema,
            columns=["teams_user_id", "name", "organisation_id", "created_at", "updated_at"],
            records=[
                (f"29:bench-{round_no}-{i}", f"Person {i}", org_id, NOW, NOW)
                for i, (org_id, _) in enumerate(people)
            ],
        )
        ids = [
            row["id"]
            for row in await raw.fetch(
                f'SELECT id FROM "{schema}".people WHERE teams_user_id LIKE $1 ORDER BY id',
                f"29:bench-{round_no}-%",
            )
        ]
        invited = list(ids)
        extra = await raw.fetch(
            f"""INSERT INTO "{schema}".people (teams_user_id, organisation_id, created_at, updated_at)
                SELECT '29:not-started-{round_no}-' || g, $1, $2, $2 FROM generate_series(1, $3) AS g
                RETURNING id""",
            orgs[1].id,
            NOW,
            respondents // 20,
        )
        invited += [row["id"] for row in extra]
        await raw.copy_records_to_table(
            "invitations",
            schema_name=schema,
            columns=[
                "survey_id",
                "person_id",
                "invited_at",
                "reminder_count",
                "delivery_state",
                "delivery_attempts",
            ],
            records=[(survey_id, pid, NOW, 0, "sent", 1) for pid in invited],
        )
        await raw.copy_records_to_table(
            "responses",
            schema_name=schema,
            columns=["survey_id", "person_id", "organisation_id", "started_at", "updated_at", "submitted_at"],
            records=[
                (survey_id, pid, org_id, NOW, NOW, NOW if rng.random() < 0.85 else None)
                for pid, (org_id, _) in zip(ids, people, strict=True)
            ],
        )
        rows = await raw.fetch(
            f'SELECT id, person_id FROM "{schema}".responses WHERE survey_id = $1 ORDER BY id', survey_id
        )
        org_index = {pid: index for pid, (_, index) in zip(ids, people, strict=True)}
        responses = [(row["id"], org_index[row["person_id"]]) for row in rows]
        columns = [
            "response_id",
            "element_id",
            "value",
            "score",
            "skipped",
            "comment",
            "answered_at",
            "updated_at",
        ]
        count = 0
        for batch in chunks(answer_rows(responses, elements, rng)):
            await raw.copy_records_to_table("answers", schema_name=schema, columns=columns, records=batch)
            count += len(batch)
        await raw.execute(f'ANALYZE "{schema}".answers, "{schema}".responses, "{schema}".invitations')
        await connection.commit()
    log.info("loaded: %d respondents, %d invitations, %d answers", len(ids), len(invited), count)
    return survey_id


async def run(url: str, respondents: int, repeat: int, surveys: int) -> None:
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark loads with COPY: give a PostgreSQL URL")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade(engine)
        began = time.perf_counter()
        for round_no in range(surveys - 1, -1, -1):  # older rounds first; the newest is summarised
            survey_id = await load(engine, schema, respondents, round_no)
        log.info("load time: %.1f s", time.perf_counter() - began)
        sessions = session_factory(engine)
        rules = SummaryRules()
        cache = SnapshotCache()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        totals, queries, pure, rendered, pages = [], [], [], [], []
        profiles: list[float] = []
        cold = False
        for _ in range(repeat):
            async with transaction(sessions) as session:
                start = time.perf_counter()
                summary = await survey_summary(session, survey_id, rules=rules, now=NOW, cache=cache)
                totals.append(time.perf_counter() - start)
                start = time.perf_counter()
                data = await survey_data(session, [survey_id], cache=cache)
                queries.append(time.perf_counter() - start)
            start = time.perf_counter()
            summarise(data[survey_id], rules, now=NOW)
            pure.append(time.perf_counter() - start)
            start = time.perf_counter()
            card = summary_card(summary)
            summary_text(summary)
            rendered.append(time.perf_counter() - start)
            if not profiles:
                cold = "matplotlib" not in sys.modules
            start = time.perf_counter()
            profile = domain_profile(summary)
            png = render(profile) if profile is not None else b""
            profiles.append(time.perf_counter() - start)
            names = [chart.name for chart in distributions(summary)]
            pages.append(max((page_seconds(summary, name) for name in names), default=0.0))

        tracemalloc.start()
        summarise(data[survey_id], rules, now=NOW)
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        split = sum(1 for d in summary.domains for e in d.elements if e.divergence and e.divergence.split)
        hidden = sum(n.count for d in summary.domains for e in d.elements for n in e.suppressed)
        answers = data[survey_id].answers
        shown = len(summary.response_rate.organisations)
        median = statistics.median
        whole = [total + render_time for total, render_time in zip(totals, rendered, strict=True)]
        lines = [
            f"summary of {summary.respondents} respondents × 40 elements: {sum(r.count for r in answers)} "
            f"answer rows counted into {len(answers)} groups; {repeat} runs; "
            f"{'compared with the previous round' if summary.changes else 'no previous round'}",
            f"  full summary (queries + statistics)  median {_ms(median(totals))}  min {_ms(min(totals))}"
            f"  max {_ms(max(totals))}",
            f"  SQL alone (survey_data)              median {_ms(median(queries))}  min {_ms(min(queries))}",
            f"  statistics alone (summarise)         median {_ms(median(pure))}  min {_ms(min(pure))}",
            f"  card and plain text rendered         median {_ms(median(rendered))}  min {_ms(min(rendered))}"
            f"  ({card_size(card) / 1024:.1f} KB card)",
            f"  computed and rendered                median {_ms(median(whole))}",
            f"  chart PNG, domain profile            median {_ms(median(warm(profiles)))}  max"
            f" {_ms(max(warm(profiles)))}  ({len(png) / 1024:.0f} KB; drawn when its link is opened)",
            f"  chart PNG, slowest distribution page median {_ms(median(warm(pages)))}  max"
            f" {_ms(max(warm(pages)))}  ({len(names)} pages)",
            f"  first chart of the process           {_ms(profiles[0])}"
            f"  ({'with' if cold else 'without'} importing matplotlib, numpy and PIL)",
            f"  targets ≤ {_ms(TARGET_SECONDS).strip()}: summary {verdict(median(totals))}, chart PNG"
            f" {verdict(max(median(warm(profiles)), median(warm(pages))))}",
            f"  peak RSS {rss_before / 1024:.0f} MiB after loading, {rss_after / 1024:.0f} MiB after the"
            f" summaries; Python allocations of one summarise() {python_peak / 2**20:.1f} MiB",
            f"  split elements {split}; suppressed groups noted {hidden}; organisations on the response rates"
            f" {shown} of {len(SIZES)}",
        ]
        print("\n".join(lines))  # noqa: T201
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def page_seconds(summary: SurveySummary, name: str) -> float:
    """One distribution page, made from the summary and drawn, as the chart route serves its link."""
    start = time.perf_counter()
    render(next(chart for chart in distributions(summary) if chart.name == name))
    return time.perf_counter() - start


def warm(seconds: list[float]) -> list[float]:
    """The runs after the first, which also imported the chart libraries (all of them for one run)."""
    return seconds[1:] or seconds


def verdict(seconds: float) -> str:
    return "met" if seconds <= TARGET_SECONDS else "NOT MET"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"PostgreSQL URL (default {DEFAULT_URL})")
    parser.add_argument("--respondents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--surveys", type=int, default=1, help="surveys of that size in the tables")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(run(args.url, args.respondents, args.repeat, args.surveys))


if __name__ == "__main__":
    main()
