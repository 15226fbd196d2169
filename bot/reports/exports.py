"""A survey's answers as a CSV or Excel file for a lead, and an Excel summary sheet mirroring the card.

CSV is UTF-8 with a byte-order mark, so Excel reads names and comments correctly, and no cell can run as
a formula: text beginning with = + - @ (or a tab or carriage return) gets a leading apostrophe, as
OWASP advises for CSV injection; plain numbers such as '-2' are left alone. In the workbook every text
cell is written as text, never as a formula, so it shows exactly as typed with no apostrophe needed.
Times are UTC. `export_rows` (storage.exports) decides what an anonymised export may hold, and
`storage.exports.export_data` loads what a file is written from; this module only renders it.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from bot.reports.summary_text import (
    PLAIN,
    WEIGHTING_TEXT,
    compared_with,
    distribution,
    domain_trends,
    element_trends,
    figure,
    highlight_sections,
    lead_column,
    notes,
    number,
    percent,
    responses,
    secondary,
    split_text,
    status_counts,
    subtitle,
    weighting,
)
from bot.reports.target_text import target_rows, target_sections
from frameworks.summary import SurveySummary
from storage.actions import PLAN_COLUMNS
from storage.exports import AnswerExport, ExportRow

if TYPE_CHECKING:  # openpyxl loads with the first workbook written, not with the server (issue 14)
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = [
    "export_file",
    "export_filename",
    "neutralise",
    "to_csv",
    "to_xlsx",
    "xlsx_bytes",
]

Value = str | int | float | bool | datetime | date | None

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(text: str) -> str:
    """Text a spreadsheet will show, never run: a leading apostrophe before a formula's first character."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _columns(export: AnswerExport) -> list[tuple[str, Callable[[ExportRow], Value], int]]:
    """(heading, value, width in characters) for each column of the answers."""
    when = "date" if export.anonymised else "UTC"
    columns: list[tuple[str, Callable[[ExportRow], Value], int]] = [
        ("Framework", lambda _row: export.framework_title, 28),
        ("Domain", lambda row: row.domain, 24),
        ("Element", lambda row: row.element, 40),
        ("Element id", lambda row: row.element_id, 18),
        ("Workstream", lambda row: row.workstream, 18),
        ("Answer", lambda row: "Skipped" if row.skipped else row.answer, 16),
        ("Value", lambda row: row.value, 8),
    ]
    if export.target_months is not None:
        columns += [
            (f"Target in {export.target_months} months", lambda row: row.target, 16),
            ("Target value", lambda row: row.target_value, 8),
            ("Gap", lambda row: row.gap, 6),
        ]
    columns += [
        ("Comment", lambda row: row.comment, 60),
        ("Organisation", lambda row: row.organisation, 28),
    ]
    if not export.anonymised:
        columns.append(("Person", lambda row: row.person, 24))
    columns += [
        (f"Started ({when})", lambda row: row.started, 18),
        (f"Answered ({when})", lambda row: row.answered, 18),
        (f"Last changed ({when})", lambda row: row.updated, 18),
        (f"Submitted ({when})", lambda row: row.submitted, 18),
    ]
    return columns


# CSV ----------------------------------------------------------------------------------------------------


def _csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(export: AnswerExport) -> bytes:
    """One row per answer, UTF-8 with BOM, safe to open in Excel."""
    columns = _columns(export)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([heading for heading, _, _ in columns])
    for row in export.rows:
        writer.writerow([_csv_value(value(row)) for _, value, _ in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# Excel --------------------------------------------------------------------------------------------------

ILLEGAL_IN_XML = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
"""Control characters XML cannot hold, dropped from text cells: openpyxl's ILLEGAL_CHARACTERS_RE, kept
here so that this module does not load openpyxl until a workbook is written."""


class Emphasis(Enum):
    """How a row's text stands out."""

    BOLD = "bold"
    HEADING = "heading"


_BOLD = Emphasis.BOLD
_HEADING = Emphasis.HEADING


@functools.cache
def _styles() -> tuple[dict[Emphasis, Font], Alignment]:
    """The fonts and the wrapping alignment, made (and openpyxl imported) with the first workbook."""
    from openpyxl.styles import Alignment, Font

    fonts = {Emphasis.BOLD: Font(bold=True), Emphasis.HEADING: Font(bold=True, size=14)}
    return fonts, Alignment(wrap_text=True, vertical="top")


def _cell(
    sheet: WriteOnlyWorksheet, value: Value, *, font: Emphasis | None = None, wrap: bool = False
) -> Any:
    """A value that shows as typed: text is always text (never a formula), times are UTC.

    Plain values are passed as they are (openpyxl formats dates itself); a styled cell is made only
    where needed, as each one costs far more to write."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).replace(tzinfo=None)
    elif isinstance(value, str):
        value = ILLEGAL_IN_XML.sub("", value)
    formula_like = isinstance(value, str) and value.startswith("=")
    if not (formula_like or font or (wrap and value)):
        return value
    from openpyxl.cell import WriteOnlyCell  # already loaded by xlsx_bytes: a lookup

    fonts, wrapping = _styles()
    cell = WriteOnlyCell(sheet, value=value)
    if formula_like:
        cell.data_type = "s"
    if font is not None:
        cell.font = fonts[font]
    if wrap:
        cell.alignment = wrapping
    return cell


def _row(sheet: WriteOnlyWorksheet, values: Sequence[Value], *, font: Emphasis | None = None) -> None:
    sheet.append([_cell(sheet, value, font=font) for value in values])


def xlsx_bytes(export: AnswerExport, summary: SurveySummary | None = None) -> bytes:
    """The workbook: a Summary sheet mirroring the card (when given a summary), then every answer."""
    from openpyxl import Workbook  # heavy: loaded with the first workbook only
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    if summary is not None:
        _summary_sheet(book.create_sheet("Summary"), summary, export)
    sheet = book.create_sheet("Answers")
    columns = _columns(export)
    for index, (_, _, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(export.rows) + 1}"
    _row(sheet, [heading for heading, _, _ in columns], font=_BOLD)
    for row in export.rows:
        sheet.append([_cell(sheet, value(row), wrap=heading == "Comment") for heading, value, _ in columns])
    if export.plan:
        _plan_sheet(book.create_sheet("Action plan"), export.plan)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def to_xlsx(export: AnswerExport, summary: SurveySummary | None = None) -> bytes:
    """`xlsx_bytes` in a worker thread: 128 outcomes answered by 200 people take some seconds to write."""
    return await asyncio.to_thread(xlsx_bytes, export, summary)


async def export_file(
    export: AnswerExport, extension: Literal["csv", "xlsx"], summary: SurveySummary | None = None
) -> bytes:
    """The export as a file's bytes, written in a worker thread whichever the format."""
    if extension == "csv":
        return await asyncio.to_thread(to_csv, export)
    return await to_xlsx(export, summary)


def _plan_sheet(sheet: WriteOnlyWorksheet, plan: Sequence[Sequence[str]]) -> None:
    """The action plan in the seed tracker's columns (Ref, Requirement, Action, Due Date, GB Owner, RAG,
    Status); text is always text, as in every sheet."""
    for letter, width in zip("ABCDEFG", (6, 40, 60, 12, 24, 12, 10), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    _row(sheet, list(PLAN_COLUMNS), font=_BOLD)
    for row in plan:
        sheet.append([_cell(sheet, value, wrap=index in (1, 2)) for index, value in enumerate(row)])


def _summary_sheet(sheet: WriteOnlyWorksheet, summary: SurveySummary, export: AnswerExport) -> None:
    for letter, width in zip("ABCDEFGHI", (36, 44, 22, 12, 12, 10, 12, 8, 60), strict=True):
        sheet.column_dimensions[letter].width = width
    _row(sheet, [f"Results: {summary.title}"], font=_HEADING)
    _row(sheet, [subtitle(summary)])
    _row(sheet, ["Responses", responses(summary)])
    if export.anonymised:
        _row(
            sheet,
            [
                "Anonymised",
                f"No names. Organisation left blank where fewer than {export.k} people answered "
                f"from it, or to protect those ({export.hidden_organisations} blanked). Dates, not times.",
            ],
        )
    if summary.respondents is None:
        for line in notes(summary):
            _row(sheet, ["Not shown", line])
        return
    _row(sheet, ["Weighting", weighting(summary)])
    previous = compared_with(summary)
    if previous:
        _row(sheet, ["Compared with", previous])

    trends = domain_trends(summary)
    sheet.append([])
    _row(sheet, ["Domains"], font=_BOLD)
    _row(
        sheet,
        ["Domain", lead_column(summary), "Mean or amber/red", "Split", "Trend", "n", "", "", "Distribution"],
        font=_BOLD,
    )
    for domain in summary.domains:
        _row(
            sheet,
            [
                domain.title,
                figure(domain.scale, domain.headline),
                secondary(domain.scale, domain.headline),
                split_text(domain),
                trends.get(domain.domain_id, ""),
                domain.overall.n if domain.overall else None,
                None,
                None,
                distribution(domain.scale, domain.overall),
            ],
        )

    _target_block(sheet, summary)
    for heading, lines in highlight_sections(summary, PLAIN):
        sheet.append([])
        _row(sheet, [heading], font=_BOLD)
        for line in lines:
            _row(sheet, ["", line])

    if summary.statuses is not None:
        sheet.append([])
        _row(sheet, ["Outcomes by status"], font=_BOLD)
        for status, count in status_counts(summary):
            _row(sheet, [status, count])
        for risk in summary.statuses.at_risk:
            for ref in risk.elements:
                _row(
                    sheet, [f"At risk: {risk.label}", ref.title, f"{percent(ref.concern_share)} amber or red"]
                )

    element_trend = element_trends(summary)
    sheet.append([])
    _row(sheet, ["Every question"], font=_BOLD)
    _row(
        sheet,
        ["Domain", "Element", "Median or status", "Mean", "Q1–Q3", "n", "Split", "Trend", "Distribution"],
        font=_BOLD,
    )
    for domain in summary.domains:
        for element in domain.elements:
            overall = element.overall
            spread = overall.spread if overall else None
            if not element.scored:
                lead: Value = "Not scored (in development)"
            elif element.headline is None:
                lead = "Not shown"
            else:
                lead = figure(domain.scale, element.headline)
            _row(
                sheet,
                [
                    domain.title,
                    element.title,
                    lead,
                    secondary(domain.scale, element.headline),
                    f"{number(domain.scale, spread.q1)} to {number(domain.scale, spread.q3)}"
                    if spread
                    else None,
                    overall.n if overall else None,
                    "split" if element.divergence and element.divergence.split else "",
                    element_trend.get(element.element_id, ""),
                    distribution(domain.scale, overall),
                ],
            )

    organisations = [
        (domain, group, name)
        for domain in summary.domains
        for group, name in [(o, o.name) for o in domain.organisations]
        + [(t, f"{t.label} (type)") for t in domain.kinds]
    ]
    if organisations:
        sheet.append([])
        _row(
            sheet, [f"By organisation ({WEIGHTING_TEXT[summary.weighting]} for the partnership)"], font=_BOLD
        )
        _row(sheet, ["Domain", "Organisation", "Median or status", "Mean or amber/red", "", "n"], font=_BOLD)
        for domain, group, name in organisations:
            _row(
                sheet,
                [
                    domain.title,
                    name,
                    figure(domain.scale, group),
                    secondary(domain.scale, group),
                    None,
                    group.n,
                ],
            )

    lines = notes(summary)
    if lines:
        sheet.append([])
        _row(sheet, ["Not shown"], font=_BOLD)
        for line in lines:
            _row(sheet, ["", line])


def _target_block(sheet: WriteOnlyWorksheet, summary: SurveySummary) -> None:
    """A target survey's current, target and gap per domain and element, then the biggest agreed gaps."""
    rows = target_rows(summary)
    if not rows:
        return
    sheet.append([])
    _row(sheet, [f"Where we want to be in {summary.target_months} months"], font=_BOLD)
    _row(
        sheet, ["Domain", "Element", "Now (median)", "Target (median)", "Gap", "Targets", "Split"], font=_BOLD
    )
    for row in rows:
        _row(sheet, list(row))
    for heading, lines in target_sections(summary, PLAIN)[1:]:  # the first is the domain list above
        sheet.append([])
        _row(sheet, [heading], font=_BOLD)
        for line in lines:
            _row(sheet, ["", line])


def export_filename(export: AnswerExport, extension: str, today: date) -> str:
    """'place-partnership-maturity-survey-12-2026-11-23.xlsx' (with '-anonymised' when it is)."""
    slug = re.sub(r"[^a-z0-9]+", "-", export.framework_id.lower()).strip("-") or "survey"
    anonymised = "-anonymised" if export.anonymised else ""
    return f"{slug}-survey-{export.survey_id}-{today.isoformat()}{anonymised}.{extension}"
