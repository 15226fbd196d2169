"""A lead exports every answer of a survey as CSV or Excel: labelled, safe to open, and when anonymised,
naming nobody and no organisation too small to hide in. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import load_workbook

from bot.reports.exports import export_file, export_filename, neutralise, to_csv, to_xlsx, xlsx_bytes
from frameworks.schema import Framework
from frameworks.summary import SummaryRules, SurveySummary
from storage.answers import record_answer, record_comment, submit_response
from storage.db import transaction
from storage.exports import AnswerExport, export_rows
from storage.invitations import invite
from storage.organisations import ensure_organisation, ensure_partnership
from storage.people import upsert_person
from storage.summaries import survey_summary
from storage.surveys import create_survey
from tests.conftest import Database
from tests.storage.test_summary_aggregation import MATRIX

HOSTILE_COMMENTS = ['=HYPERLINK("http://evil","click")', "+1 from me", "-cmd|' /C calc'!A0", "@SUM(A1:A9)"]


@dataclass
class Someone:
    name: str
    organisation: str | None
    answers: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    submits: bool = True


async def record(db: Database, framework: Framework, people: list[Someone], *, now: datetime) -> int:
    """A survey of the partnership with everyone's answers, recorded through storage as the bot does."""
    async with transaction(db.sessions) as session:
        place = await ensure_partnership(session, "Anytown place")
        survey = await create_survey(
            session, framework, now=now, title="Autumn round", partnership_id=place.id
        )
        for index, someone in enumerate(people):
            person = await upsert_person(session, teams_user_id=f"29:{index}", name=someone.name, now=now)
            if someone.organisation is not None:
                org = await ensure_organisation(session, someone.organisation, kind="NHS trust")
                person.organisation_id = org.id
            session.add(person)
            await invite(session, survey.id, [person.id], now=now)
            later = now + timedelta(minutes=index)
            for element_id, value in someone.answers.items():
                await record_answer(
                    session,
                    survey,
                    person,
                    element_id,
                    value,
                    now=later,
                    comment=someone.comments.get(element_id),
                    framework=framework,
                )
            for element_id, text in someone.comments.items():
                if element_id not in someone.answers:
                    await record_comment(
                        session, survey, person, element_id, text, now=later, framework=framework
                    )
            if someone.submits:
                await submit_response(session, survey, person, now=later)
        return survey.id


async def exported(db: Database, survey_id: int, *, anonymise: bool) -> AnswerExport:
    async with transaction(db.sessions) as session:
        return await export_rows(session, survey_id, anonymise=anonymise, rules=SummaryRules())


async def summary_of(db: Database, survey_id: int, now: datetime) -> SurveySummary:
    async with transaction(db.sessions) as session:
        return await survey_summary(session, survey_id, rules=SummaryRules(), now=now)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def workbook_rows(data: bytes, sheet: str) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(data))
    return [tuple(cell.value for cell in row) for row in book[sheet].iter_rows()]


def round_of_three(hostile: bool = False) -> list[Someone]:
    comments = (
        HOSTILE_COMMENTS if hostile else ["Board minutes", "Agreed in March", "Not yet", "Scored at board"]
    )
    return [
        Someone(
            "Amina Khan",
            "Trust A",
            {"vision": "maturing", "plans": None, "steady": "-2"},
            {"vision": comments[0], "steady": comments[3]},
        ),
        Someone("Ben Ode", "Trust A", {"vision": "developing", "steady": "+3"}, {"plans": comments[1]}),
        Someone("Chloé Brontë", "Trust A", {"vision": "thriving"}, {"digital": comments[2]}, submits=False),
    ]


# Identified exports ---------------------------------------------------------------------------------------


async def test_a_lead_gets_every_answer_as_a_labelled_row_with_organisation_and_person(
    database: Database, now: datetime
) -> None:
    survey_id = await record(database, MATRIX, round_of_three(), now=now)

    export = await exported(database, survey_id, anonymise=False)
    rows = csv_rows(to_csv(export))

    assert list(rows[0]) == [
        "Framework",
        "Domain",
        "Element",
        "Element id",
        "Workstream",
        "Answer",
        "Value",
        "Comment",
        "Organisation",
        "Person",
        "Started (UTC)",
        "Answered (UTC)",
        "Last changed (UTC)",
        "Submitted (UTC)",
    ]
    brief = [(r["Element id"], r["Person"], r["Answer"], r["Value"], r["Comment"]) for r in rows]
    assert brief == [  # framework order, then organisation and person
        ("vision", "Amina Khan", "Maturing", "3", "Board minutes"),
        ("vision", "Ben Ode", "Developing", "2", ""),
        ("vision", "Chloé Brontë", "Thriving", "4", ""),
        ("plans", "Amina Khan", "Skipped", "", ""),
        ("plans", "Ben Ode", "", "", "Agreed in March"),
        ("digital", "Chloé Brontë", "", "", "Not yet"),
        ("steady", "Amina Khan", "-2", "-2", "Scored at board"),
        ("steady", "Ben Ode", "+3", "3", ""),
    ]
    first = rows[0]
    assert (first["Framework"], first["Domain"], first["Element"], first["Organisation"]) == (
        "Mini matrix",
        "Ambition and vision",
        "Shared vision",
        "Trust A",
    )
    assert first["Answered (UTC)"] == "2026-11-23 09:30:00"
    assert rows[2]["Submitted (UTC)"] == ""  # Chloé has not submitted
    assert rows[1]["Submitted (UTC)"] == "2026-11-23 09:31:00"


async def test_csv_cells_that_could_run_as_formulas_are_neutralised(
    database: Database, now: datetime
) -> None:
    people = round_of_three(hostile=True)
    people[0].organisation = "=IMPORTXML(evil) Trust"
    people[1].name = "@Ben"
    survey_id = await record(database, MATRIX, people, now=now)

    rows = csv_rows(to_csv(await exported(database, survey_id, anonymise=False)))

    comments = [r["Comment"] for r in rows if r["Comment"]]
    assert sorted(comments) == sorted("'" + comment for comment in HOSTILE_COMMENTS)
    assert {r["Organisation"] for r in rows} == {"'=IMPORTXML(evil) Trust", "Trust A"}
    assert "'@Ben" in {r["Person"] for r in rows}
    steady = next(r for r in rows if r["Element id"] == "steady" and r["Value"] == "-2")
    assert steady["Answer"] == "-2"  # a plain number cannot run: left as it is


def test_neutralise_guards_every_formula_start_but_not_plain_numbers() -> None:
    assert [neutralise(text) for text in ("=1+1", "+A1", "-A1", "@SUM(A1)", "\t=1", "\r=1")] == [
        "'=1+1",
        "'+A1",
        "'-A1",
        "'@SUM(A1)",
        "'\t=1",
        "'\r=1",
    ]
    assert [neutralise(text) for text in ("-2", "+3", "-2.5", "Trust = good", "a@b.nhs.uk")] == [
        "-2",
        "+3",
        "-2.5",
        "Trust = good",
        "a@b.nhs.uk",
    ]


async def test_the_workbook_holds_every_answer_as_typed_and_a_summary_sheet(
    database: Database, now: datetime
) -> None:
    people = round_of_three(hostile=True)
    survey_id = await record(database, MATRIX, people, now=now)
    export = await exported(database, survey_id, anonymise=False)
    summary = await summary_of(database, survey_id, now)

    data = await to_xlsx(export, summary)

    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Summary", "Answers"]
    answers = book["Answers"]
    header = [cell.value for cell in answers[1]]
    assert header[:10] == [
        "Framework",
        "Domain",
        "Element",
        "Element id",
        "Workstream",
        "Answer",
        "Value",
        "Comment",
        "Organisation",
        "Person",
    ]
    first = [cell for cell in answers[2]]
    assert [cell.value for cell in first[:10]] == [
        "Mini matrix",
        "Ambition and vision",
        "Shared vision",
        "vision",
        None,
        "Maturing",
        3,
        HOSTILE_COMMENTS[0],
        "Trust A",
        "Amina Khan",
    ]
    assert first[7].data_type == "s"  # shown as typed, never run as a formula
    assert first[11].value == now.replace(tzinfo=None)  # UTC
    assert answers.freeze_panes == "A2"
    assert answers.max_row == 1 + len(export.rows)
    formulas = [cell for row in answers.iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == []

    summary_rows = workbook_rows(data, "Summary")
    assert summary_rows[0][0] == "Results: Autumn round"
    assert summary_rows[2][:2] == ("Responses", "3 of 3 invited responded (100%) · 2 submitted")
    labels = [row[0] for row in summary_rows]
    assert "Domains" in labels
    domains = labels.index("Domains")
    assert summary_rows[domains + 1][:5] == ("Domain", "Median", "Mean or amber/red", "Split", "Trend")
    assert summary_rows[domains + 2][:2] == ("Ambition and vision", "Maturing")
    assert summary_rows[domains + 2][8] == "Emerging 0 · Developing 1 · Maturing 1 · Thriving 1"
    assert "Every question" in labels
    vision = next(row for row in summary_rows if row[1] == "Shared vision")
    assert vision[2:6] == ("Maturing", "mean 3", "2.5 to 3.5", 3)


async def test_an_anonymised_export_names_nobody_and_blanks_organisations_too_small_to_hide_in(
    database: Database, now: datetime
) -> None:
    people = [
        *(Someone(f"Trust person {i}", "Big Trust", {"vision": "maturing"}) for i in range(4)),
        *(Someone(f"Council person {i}", "City Council", {"vision": "developing"}) for i in range(3)),
        Someone("Vera Lone", "Tiny VCSE", {"vision": "emerging"}, {"vision": "Only we run the carers' cafe"}),
    ]
    survey_id = await record(database, MATRIX, people, now=now)

    export = await exported(database, survey_id, anonymise=True)
    summary = await summary_of(database, survey_id, now)
    csv_data = to_csv(export)
    xlsx_data = xlsx_bytes(export, summary)

    rows = csv_rows(csv_data)
    assert "Person" not in rows[0]
    # Tiny VCSE alone would be one person; City Council is blanked too, else the blank is Tiny VCSE.
    assert [(r["Organisation"], r["Answer"]) for r in rows] == [
        ("", "Emerging"),
        ("", "Developing"),
        ("", "Developing"),
        ("", "Developing"),
        ("Big Trust", "Maturing"),
        ("Big Trust", "Maturing"),
        ("Big Trust", "Maturing"),
        ("Big Trust", "Maturing"),
    ]
    assert export.hidden_organisations == 2
    assert {r["Answered (date)"] for r in rows} == {"2026-11-23"}  # dates, not times
    text = csv_data.decode("utf-8-sig")
    cells = [str(value) for row in workbook_rows(xlsx_data, "Answers") for value in row if value is not None]
    for someone in people:
        assert someone.name not in text
        assert not [cell for cell in cells if someone.name in cell]
    for hidden in ("Tiny VCSE", "City Council"):
        assert hidden not in text
        assert not [cell for cell in cells if hidden in cell]
    assert workbook_rows(xlsx_data, "Answers")[0][10] == "Answered (date)"
    answered = workbook_rows(xlsx_data, "Answers")[1][10]
    assert isinstance(answered, datetime)
    assert (answered.date(), answered.time()) == (date(2026, 11, 23), time(0, 0))  # a date: no time of day
    summary_labels = {row[0]: row[1] for row in workbook_rows(xlsx_data, "Summary") if row and row[0]}
    assert summary_labels["Anonymised"].startswith(
        "No names. Organisation left blank where fewer than 3 people"
    )


async def test_an_anonymised_export_with_every_organisation_large_enough_names_them_all(
    database: Database, now: datetime
) -> None:
    people = [Someone(f"P{i}", "Big Trust" if i < 3 else None, {"vision": "thriving"}) for i in range(6)]
    survey_id = await record(database, MATRIX, people, now=now)

    export = await exported(database, survey_id, anonymise=True)

    assert sorted({row.organisation for row in export.rows}) == ["Big Trust", "Unassigned"]
    assert export.hidden_organisations == 0
    assert all(row.person is None for row in export.rows)


async def test_export_files_are_written_off_the_event_loop_and_named_for_what_they_hold() -> None:
    export = AnswerExport(
        survey_id=12,
        title="Autumn round",
        framework_id="place-partnership-maturity",
        framework_title="Place partnership maturity matrix",
        framework_version="1.0",
        anonymised=True,
        k=3,
        rows=[],
    )
    assert export_filename(export, "xlsx", date(2026, 11, 23)) == (
        "place-partnership-maturity-survey-12-2026-11-23-anonymised.xlsx"
    )
    assert await export_file(export, "csv") == to_csv(export)
    assert to_csv(export).decode("utf-8-sig").splitlines()[0].startswith("Framework,Domain,Element")
    book = load_workbook(io.BytesIO(await export_file(export, "xlsx")))
    assert book.sheetnames == ["Answers"]  # no summary given: the answers alone
