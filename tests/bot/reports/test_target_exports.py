"""A target survey's export: every answer row carries the target and the gap, and the workbook's summary
sheet sets current, target and gap side by side per domain and element, with the biggest agreed gaps.
A survey without targets keeps its columns as they were. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.reports.exports import to_csv, xlsx_bytes
from frameworks.summary import SummaryRules
from storage.answers import record_answer
from storage.db import transaction
from storage.exports import export_data
from storage.organisations import ensure_organisation
from storage.people import upsert_person
from storage.surveys import create_survey
from tests.bot.reports.test_exports import csv_rows, workbook_rows
from tests.conftest import Database
from tests.storage.test_summary_aggregation import MATRIX

# (now, target) on `vision` for three people of one trust: medians 2 -> 4, a gap of 2 levels
ANSWERS = [("developing", "thriving"), ("developing", "thriving"), ("maturing", "maturing")]


async def _survey(db: Database, now: datetime, target_months: int | None) -> int:
    async with transaction(db.sessions) as session:
        trust = await ensure_organisation(session, "Trust A", kind="NHS trust")
        survey = await create_survey(
            session, MATRIX, now=now, title="Autumn round", target_months=target_months
        )
        for index, (value, target) in enumerate(ANSWERS):
            person = await upsert_person(
                session, teams_user_id=f"29:{index}", name=f"Person {index}", now=now
            )
            person.organisation_id = trust.id
            session.add(person)
            await record_answer(
                session,
                survey,
                person,
                "vision",
                value,
                now=now + timedelta(minutes=index),
                target=target if target_months else None,
            )
        return survey.id or 0


async def _export(db: Database, survey_id: int, now: datetime) -> tuple[bytes, bytes]:
    async with transaction(db.sessions) as session:
        export, summary = await export_data(
            session, survey_id=survey_id, with_summary=True, anonymise=False, rules=SummaryRules(), now=now
        )
    return to_csv(export), xlsx_bytes(export, summary)


async def test_each_answer_row_carries_its_target_and_gap(database: Database, now: datetime) -> None:
    csv_data, _ = await _export(database, await _survey(database, now, 12), now)
    rows = csv_rows(csv_data)
    assert [(r["Answer"], r["Target in 12 months"], r["Target value"], r["Gap"]) for r in rows] == [
        ("Developing", "Thriving", "4", "2"),
        ("Developing", "Thriving", "4", "2"),
        ("Maturing", "Maturing", "3", "0"),
    ]
    assert list(rows[0])[6:10] == ["Value", "Target in 12 months", "Target value", "Gap"]


async def test_the_summary_sheet_sets_now_target_and_gap_side_by_side(
    database: Database, now: datetime
) -> None:
    _, workbook = await _export(database, await _survey(database, now, 12), now)
    rows = workbook_rows(workbook, "Summary")
    start = rows.index(("Where we want to be in 12 months",) + (None,) * (len(rows[0]) - 1))
    assert rows[start + 1][:7] == (
        "Domain",
        "Element",
        "Now (median)",
        "Target (median)",
        "Gap",
        "Targets",
        "Split",
    )
    assert rows[start + 2][:7] == ("Ambition and vision", None, "Developing", "Thriving", 2, 3, None)
    assert rows[start + 3][:7] == (
        "Ambition and vision",
        "Shared vision",
        "Developing",
        "Thriving",
        2,
        3,
        None,
    )
    flat = [cell for row in rows for cell in row if isinstance(cell, str)]
    assert "Biggest agreed gaps (partners agree on the target)" in flat
    assert "Shared vision (Ambition and vision): now 2.0 → target 4.0 (gap 2.0 levels)" in flat


async def test_a_survey_without_targets_exports_no_target_columns(database: Database, now: datetime) -> None:
    csv_data, workbook = await _export(database, await _survey(database, now, None), now)
    assert "Gap" not in csv_rows(csv_data)[0]
    flat = [cell for row in workbook_rows(workbook, "Summary") for cell in row if isinstance(cell, str)]
    assert not any("want to be" in cell for cell in flat)
