"""A framework as an Excel workbook, the way partnerships keep their matrices: written, read and checked.

Pure: bytes in, bytes or a `Framework` out; no Teams, no database. Every workbook is treated as hostile:
the zip is inspected before openpyxl parses anything, and `read_workbook` reports every problem at once,
each with its sheet and cell (`Elements!D14: descriptor for 'maturing' is empty`).

Layout (one header row on each sheet, frozen; column order is free, header names are not)
    Framework  `Field` | `Value` rows: id, title, version, source, description, then one `note` row
               per note (optional).
    Scale      `Scale for` | `Kind` | `Id` | `Value` | `Label` | `RAG` | `Description`. One row per
               level (kind levels: id, value, label, description), per end of a score range (kind
               score: id `min` or `max`, value, label) or per status (kind status: id, label, RAG
               colour, description). `Scale for` is empty for the framework's scale, or a domain id
               whose questions use another scale.
    Domains    `Domain id` | `Title` | `Description` | `Lead in` | `Empty note`, in survey order.
               `Empty note` says why a domain has no questions (required then).
    Elements   `Domain` | `Element id` | `Title` | one column per level, headed with the level id,
               holding that level's descriptor | `Text` (the question or outcome statement, for score
               and status scales) | `Guidance` | `Group` | `Milestone` | `Due` (a date) |
               `In development` (yes/no: shown, never scored) | `Development note`. Rows in survey order.
    Repairs    optional: `Where` | `Original` | `Corrected` | `Reason`.

Refused: formulas (we never take cached values: a workbook saved by a tool that does not calculate has
none, and a number that silently differs from what the lead typed is worse than a clear error; paste
values instead), merged cells, hidden sheets, macros (.xlsm, a vbaProject part), files over
`MAX_FILE_BYTES`, zips that unpack to more than `MAX_UNPACKED_BYTES`, hold more than `MAX_ENTRIES` parts
or compress any part more than `MAX_RATIO` times, sheets over `MAX_ROWS` rows or `MAX_COLUMNS` columns,
control characters, and texts over `MAX_TEXT` characters (`MAX_SHORT_TEXT` for titles and labels).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from io import BytesIO
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError

from frameworks.schema import (
    AnyScale,
    Framework,
    LevelsScale,
    Rag,
    ScaleKind,
    ScoreScale,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 200
MAX_RATIO = 100
"""Spreadsheet XML compresses 10-30 times; a zip bomb compresses thousands of times."""
MAX_ROWS = 5000
MAX_COLUMNS = 40
MAX_TEXT = 4000
MAX_SHORT_TEXT = 300
MAX_ID = 80

FRAMEWORK, SCALE, DOMAINS, ELEMENTS, REPAIRS = "Framework", "Scale", "Domains", "Elements", "Repairs"
REQUIRED_SHEETS = (FRAMEWORK, SCALE, DOMAINS, ELEMENTS)
MACRO_SUFFIXES = (".xlsm", ".xltm", ".xlsb", ".xlam", ".xls")
YES, NO = "yes", "no"
SCORE_ENDS = ("min", "max")

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+\d+)(?::([A-Z]+\d+))?"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+\d+:[A-Z]+\d+)"')
_ALLOWED_CONTROLS = {"\n", "\t"}


class Column(StrEnum):
    """Header names; matched without regard to case or surrounding spaces."""

    FIELD = "Field"
    VALUE = "Value"
    SCALE_FOR = "Scale for"
    KIND = "Kind"
    ID = "Id"
    LABEL = "Label"
    RAG = "RAG"
    DESCRIPTION = "Description"
    DOMAIN_ID = "Domain id"
    TITLE = "Title"
    LEAD_IN = "Lead in"
    EMPTY_NOTE = "Empty note"
    DOMAIN = "Domain"
    ELEMENT_ID = "Element id"
    TEXT = "Text"
    GUIDANCE = "Guidance"
    GROUP = "Group"
    MILESTONE = "Milestone"
    DUE = "Due"
    IN_DEVELOPMENT = "In development"
    DEVELOPMENT_NOTE = "Development note"
    WHERE = "Where"
    ORIGINAL = "Original"
    CORRECTED = "Corrected"
    REASON = "Reason"


C = Column
_COLUMN_NAMES = {c.value for c in Column}
COLUMNS: dict[str, list[Column]] = {
    FRAMEWORK: [C.FIELD, C.VALUE],
    SCALE: [C.SCALE_FOR, C.KIND, C.ID, C.VALUE, C.LABEL, C.RAG, C.DESCRIPTION],
    DOMAINS: [C.DOMAIN_ID, C.TITLE, C.DESCRIPTION, C.LEAD_IN, C.EMPTY_NOTE],
    ELEMENTS: [C.DOMAIN, C.ELEMENT_ID, C.TITLE],
    REPAIRS: [C.WHERE, C.ORIGINAL, C.CORRECTED, C.REASON],
}
ELEMENT_TAIL = [C.TEXT, C.GUIDANCE, C.GROUP, C.MILESTONE, C.DUE, C.IN_DEVELOPMENT, C.DEVELOPMENT_NOTE]
"""Elements columns after the descriptor columns."""
REQUIRED: dict[str, set[Column]] = {
    FRAMEWORK: {C.FIELD, C.VALUE},
    SCALE: {C.KIND, C.ID, C.LABEL},
    DOMAINS: {C.DOMAIN_ID, C.TITLE},
    ELEMENTS: {C.DOMAIN, C.ELEMENT_ID, C.TITLE},
    REPAIRS: {C.WHERE, C.ORIGINAL, C.CORRECTED, C.REASON},
}
FRAMEWORK_FIELDS = ("id", "title", "version", "source", "description")
SHORT_COLUMNS = {C.TITLE, C.LABEL, C.GROUP, C.MILESTONE, C.ID, C.DOMAIN, C.ELEMENT_ID, C.DOMAIN_ID}

COMMENTS: dict[Column, str] = {
    C.SCALE_FOR: "Empty for the framework's scale; a domain id for a domain answered on another scale.",
    C.KIND: "levels (a descriptor per level), score (an integer range: rows 'min' and 'max') or status.",
    C.ID: "Lower-case letters, digits and hyphens. Levels: the Elements sheet has one column headed so.",
    C.VALUE: "Levels: a whole number, increasing down the rows. Score: the end of the range.",
    C.RAG: "Status scales only: blue, green, amber, red or grey.",
    C.DOMAIN_ID: "Lower-case letters, digits and hyphens; the Elements sheet names it in 'Domain'.",
    C.EMPTY_NOTE: "Only for a domain without questions: why it has none.",
    C.DOMAIN: "The domain id from the Domains sheet.",
    C.ELEMENT_ID: "Unique in the framework: answers are matched to it across versions.",
    C.TEXT: "The question or outcome statement (score and status scales).",
    C.DUE: "A date, when the outcome is due.",
    C.IN_DEVELOPMENT: "yes: shown to partners but never scored (descriptors may be missing).",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workbook, where a lead can find it."""

    message: str
    sheet: str | None = None
    cell: str | None = None

    def __str__(self) -> str:
        if self.sheet is None:
            return self.message
        return f"{self.sheet}!{self.cell}: {self.message}" if self.cell else f"{self.sheet}: {self.message}"


class WorkbookError(Exception):
    """A workbook that cannot become a framework, with every problem found in it."""

    def __init__(self, filename: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.problems = problems
        super().__init__(f"{filename}: " + "; ".join(str(p) for p in problems))


def canonical_json(framework: Framework) -> str:
    """The framework as JSON with sorted keys: equal frameworks print the same bytes, a diff is a change."""
    return json.dumps(framework.model_dump(mode="json"), ensure_ascii=False, indent=2, sort_keys=True)


# Writing -------------------------------------------------------------------------------------------------


def write_workbook(framework: Framework) -> bytes:
    """The framework in the documented layout: what `read_workbook` reads back to the same framework."""
    book = Workbook()
    sheets = _sheets(book, _level_ids(framework))
    sheet = sheets[FRAMEWORK]
    for name in FRAMEWORK_FIELDS:
        sheet.append([name, getattr(framework, name)])
    for note in framework.notes:
        sheet.append(["note", note])
    scales = [("", framework.scale)] + [(d.id, d.scale) for d in framework.domains]
    for owner, scale in scales:
        if scale is not None:
            for row in _scale_rows(scale):
                sheets[SCALE].append([owner or None, *row])
    for domain in framework.domains:
        sheets[DOMAINS].append(
            [domain.id, domain.title, domain.description, domain.lead_in, domain.empty_note]
        )
    levels = _level_ids(framework)
    for domain, element in framework.iter_elements():
        milestone = element.milestone
        sheets[ELEMENTS].append(
            [
                domain.id,
                element.id,
                element.title,
                *(element.descriptors.get(level) for level in levels),
                element.text,
                element.guidance,
                element.group,
                milestone.label if milestone else None,
                milestone.due if milestone else None,
                YES if element.in_development else NO,
                element.development_note,
            ]
        )
    for repair in framework.repairs:
        sheets[REPAIRS].append([repair.where, repair.original, repair.corrected, repair.reason])
    for row in sheets[ELEMENTS].iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    return _saved(book)


def template(kind: ScaleKind) -> bytes:
    """An empty workbook for a new framework on one kind of scale, with the scale's rows to fill in."""
    levels = [f"level-{n}" for n in range(1, 5)] if kind == ScaleKind.LEVELS else []
    book = Workbook()
    sheets = _sheets(book, levels)
    for name in FRAMEWORK_FIELDS:
        sheets[FRAMEWORK].append([name, None])
    sheets[FRAMEWORK].append(["note", None])
    if kind == ScaleKind.LEVELS:
        for n, level in enumerate(levels, start=1):
            sheets[SCALE].append([None, kind.value, level, n, None, None, None])
    elif kind == ScaleKind.SCORE:
        for end in SCORE_ENDS:
            sheets[SCALE].append([None, kind.value, end, None, None, None, None])
    else:
        for rag in (Rag.BLUE, Rag.GREEN, Rag.AMBER, Rag.RED):
            sheets[SCALE].append([None, kind.value, None, None, None, rag.value, None])
    return _saved(book)


def _sheets(book: Workbook, levels: list[str]) -> dict[str, Worksheet]:
    sheets: dict[str, Worksheet] = {}
    for index, name in enumerate((*REQUIRED_SHEETS, REPAIRS)):
        sheet = book.active if index == 0 else book.create_sheet()
        assert sheet is not None
        sheet.title = name
        headers = [c.value for c in COLUMNS[name]]
        if name == ELEMENTS:
            headers += levels + [c.value for c in ELEMENT_TAIL]
        sheet.append(headers)
        sheet.freeze_panes = "A2"
        for number, header in enumerate(headers, start=1):
            cell = sheet.cell(row=1, column=number)
            cell.font = Font(bold=True)
            note = (
                COMMENTS.get(Column(header))
                if header in _COLUMN_NAMES
                else f"The descriptor for level '{header}'."
            )
            if note:
                cell.comment = Comment(note, "surveybot")
            sheet.column_dimensions[get_column_letter(number)].width = 40 if number > 2 else 18
        sheets[name] = sheet
    _choices(sheets[SCALE], C.KIND, [k.value for k in ScaleKind])
    _choices(sheets[SCALE], C.RAG, [r.value for r in Rag])
    _choices(sheets[ELEMENTS], C.IN_DEVELOPMENT, [YES, NO])
    return sheets


def _choices(sheet: Worksheet, column: Column, values: list[str]) -> None:
    headers = [cell.value for cell in sheet[1]]
    letter = get_column_letter(headers.index(column.value) + 1)
    validation = DataValidation(type="list", formula1=f'"{",".join(values)}"', allow_blank=True)
    validation.error = f"Choose one of: {', '.join(values)}"
    validation.showErrorMessage = True
    sheet.add_data_validation(validation)
    validation.add(f"{letter}2:{letter}{MAX_ROWS}")


def _saved(book: Workbook) -> bytes:
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _scale_rows(scale: AnyScale) -> list[list[Any]]:
    """Kind, id, value, label, RAG, description."""
    if isinstance(scale, LevelsScale):
        return [[scale.kind, lv.id, lv.value, lv.label, None, lv.description] for lv in scale.levels]
    if isinstance(scale, ScoreScale):
        return [
            [scale.kind, "min", scale.min, scale.min_label, None, None],
            [scale.kind, "max", scale.max, scale.max_label, None, None],
        ]
    return [[scale.kind, s.id, None, s.label, s.rag.value, s.description] for s in scale.statuses]


def _level_ids(framework: Framework) -> list[str]:
    """Every level id of every levels scale in the framework, in scale order, once each."""
    ids: list[str] = []
    for scale in [framework.scale, *(d.scale for d in framework.domains)]:
        if isinstance(scale, LevelsScale):
            ids += [level.id for level in scale.levels if level.id not in ids]
    return ids


# Reading -------------------------------------------------------------------------------------------------


def read_workbook(data: bytes, *, filename: str) -> Framework:
    """The framework a lead's workbook holds, or a `WorkbookError` listing every problem in it."""
    problems = _container_problems(data, filename)
    if problems:
        raise WorkbookError(filename, problems)
    try:
        book = load_workbook(BytesIO(data), read_only=True, data_only=False, keep_links=False, keep_vba=False)
    except Exception as exc:  # openpyxl raises many kinds for damaged files: all mean the same to a lead
        raise WorkbookError(
            filename, [Problem(f"not a readable .xlsx workbook ({type(exc).__name__})")]
        ) from exc
    try:
        reader = _Reader(filename)
        reader.read(book, data)
    finally:
        book.close()
    return reader.framework()


def _container_problems(data: bytes, filename: str) -> list[Problem]:
    """Everything that can be known from the file name and the zip's central directory, before parsing."""
    if filename.lower().endswith(MACRO_SUFFIXES) or not filename.lower().endswith(".xlsx"):
        return [Problem(f"only .xlsx workbooks are accepted (not {filename!r}); macro workbooks are refused")]
    if len(data) > MAX_FILE_BYTES:
        return [Problem(f"the file is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}")]
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile:
        return [Problem("not an .xlsx workbook (an .xlsx file is a zip archive)")]
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            return [Problem(f"the workbook has {len(entries)} parts; the limit is {MAX_ENTRIES}")]
        unpacked = sum(entry.file_size for entry in entries)
        if unpacked > MAX_UNPACKED_BYTES:
            return [
                Problem(f"the workbook unpacks to {unpacked:,} bytes; the limit is {MAX_UNPACKED_BYTES:,}")
            ]
        for entry in entries:
            if entry.file_size > 1024 * 1024 and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
                return [
                    Problem(
                        f"part {entry.filename} is compressed "
                        f"{entry.file_size // max(entry.compress_size, 1)} times: "
                        "refused as a zip bomb"
                    )
                ]
        names = {entry.filename.lower() for entry in entries}
        if any("vbaproject" in name for name in names):
            return [Problem("the workbook contains macros: refused (save it as a plain .xlsx workbook)")]
        if "[content_types].xml" not in names or "xl/workbook.xml" not in names:
            return [Problem("not an .xlsx workbook (no xl/workbook.xml)")]
        try:
            content_types = archive.read("[Content_Types].xml")
        except (KeyError, zipfile.BadZipFile, OSError):
            return [Problem("not a readable .xlsx workbook")]
        if b"macroEnabled" in content_types:
            return [Problem("the workbook is macro-enabled: refused (save it as a plain .xlsx workbook)")]
        return _dimension_problems(archive, entries)


def _dimension_problems(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> list[Problem]:
    """Absurd sizes a sheet declares at its start, read from its first bytes only."""
    problems = []
    for entry in entries:
        if not (entry.filename.startswith("xl/worksheets/") and entry.filename.endswith(".xml")):
            continue
        with archive.open(entry) as part:
            head = part.read(4096)
        match = _DIMENSION.search(head)
        if match is None:
            continue
        _, _, max_col, max_row = range_boundaries((match.group(2) or match.group(1)).decode())
        if (max_row or 0) > MAX_ROWS + 1 or (max_col or 0) > MAX_COLUMNS:
            problems.append(
                Problem(
                    f"a sheet declares {max_row} rows and {max_col} columns; "
                    f"the limit is {MAX_ROWS} rows and {MAX_COLUMNS} columns"
                )
            )
    return problems


@dataclass
class _Row:
    sheet: str
    number: int
    cells: dict[str, tuple[str, Any]]
    """Header (case-folded) to (cell reference, value)."""

    def value(self, column: Column | str) -> Any:
        return self.cells.get(str(column).casefold(), ("", None))[1]

    def where(self, column: Column | str) -> str:
        return self.cells.get(str(column).casefold(), (f"{self.number}", None))[0] or f"{self.number}"


@dataclass
class _Reader:
    filename: str
    problems: list[Problem] = field(default_factory=list)
    rows: dict[str, list[_Row]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per sheet: header (case-folded) to its cell reference."""
    raw: dict[str, Any] = field(default_factory=dict)
    places: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)
    """Where each value of `raw` came from, by its pydantic location: (sheet, cell)."""
    sheets_unusable: bool = False

    def problem(self, sheet: str, cell: str | None, message: str) -> None:
        self.problems.append(Problem(message, sheet, cell))

    def _first_use(self, seen: dict[str, str], sheet: str, kind: str, value: str | None, cell: str) -> None:
        """Remember the cell an id is first used in; a second use is a problem naming the first."""
        if value is None:
            return
        if value in seen:
            self.problem(sheet, cell, f"duplicate {kind} id {value!r} (also {seen[value]})")
        else:
            seen[value] = cell

    def read(self, book: Any, data: bytes) -> None:
        merged = _merged_ranges(data, book)
        for sheet in book.worksheets:
            if sheet.sheet_state != "visible":
                self.problem(sheet.title, None, "hidden sheets are not allowed: unhide it or delete it")
            for ref in merged.get(sheet.title, []):
                self.problem(sheet.title, ref, "merged cells are not allowed: unmerge them")
        names = {sheet.title: sheet for sheet in book.worksheets}
        for name in (*REQUIRED_SHEETS, REPAIRS):
            if name in names:
                self._read_sheet(names[name])
            elif name != REPAIRS:
                self.problem(name, None, "the sheet is missing")
                self.sheets_unusable = True
        for extra in sorted(set(names) - {*REQUIRED_SHEETS, REPAIRS}):
            self.problem(
                extra, None, f"unexpected sheet; the sheets are {', '.join((*REQUIRED_SHEETS, REPAIRS))}"
            )

    def _read_sheet(self, sheet: Any) -> None:
        name = sheet.title
        rows: list[_Row] = []
        try:
            self._read_rows(sheet, name, rows)
        except Exception:  # openpyxl parses lazily: damaged XML or bytes surface here, with many types
            self.problem(name, None, "the sheet is not readable XML (is its text UTF-8?)")
            self.sheets_unusable = True
            rows.clear()
        self.rows[name] = rows

    def _read_rows(self, sheet: Any, name: str, rows: list[_Row]) -> None:
        header: list[str | None] = []
        for number, cells in enumerate(
            sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS + 1), start=1
        ):
            if number > MAX_ROWS + 1:
                self.problem(name, None, f"more than {MAX_ROWS} rows")
                break
            values: list[Any] = []
            for column, cell in enumerate(cells, start=1):
                ref = f"{get_column_letter(column)}{number}"
                value = self._cell_value(name, ref, cell)
                if column > MAX_COLUMNS and value is not None:
                    self.problem(name, ref, f"more than {MAX_COLUMNS} columns")
                    value = None
                values.append(value)
            if number == 1:
                header = self._header(name, values)
                continue
            if all(v is None for v in values):
                continue
            row = _Row(name, number, {})
            for column, (title, value) in enumerate(zip(header, values, strict=False), start=1):
                ref = f"{get_column_letter(column)}{number}"
                if title is None:
                    if value is not None:
                        self.problem(name, ref, "a value in a column without a header")
                    continue
                row.cells[title.casefold()] = (ref, value)
            rows.append(row)
        if not header:
            self.problem(name, "A1", "the header row is missing")

    def _header(self, sheet: str, values: list[Any]) -> list[str | None]:
        titles: list[str | None] = [v.strip() if isinstance(v, str) and v.strip() else None for v in values]
        found = {t.casefold(): f"{get_column_letter(i)}1" for i, t in enumerate(titles, start=1) if t}
        self.headers[sheet] = found
        for title, count in Counter(t.casefold() for t in titles if t).items():
            if count > 1:
                self.problem(sheet, found[title], f"column {title!r} appears {count} times")
        known = {c.value.casefold() for c in COLUMNS[sheet]}
        if sheet == ELEMENTS:
            known |= {c.value.casefold() for c in ELEMENT_TAIL}
        for column in sorted(REQUIRED[sheet], key=lambda c: c.value):
            if column.value.casefold() not in found:
                self.problem(sheet, "1", f"column {column.value!r} is missing")
        for title, ref in found.items():
            if title not in known and sheet != ELEMENTS:
                self.problem(
                    sheet,
                    ref,
                    f"unknown column {title!r}; the columns are {', '.join(c.value for c in COLUMNS[sheet])}",
                )
        return titles

    def _cell_value(self, sheet: str, ref: str, cell: Any) -> Any:
        value = getattr(cell, "value", None)
        if getattr(cell, "data_type", None) == "f":
            self.problem(
                sheet, ref, f"formulas are not allowed (found {str(value)[:40]}): paste the value instead"
            )
            return None
        if isinstance(value, str):
            bad = next((ch for ch in value if _refused_character(ch)), None)
            if bad is not None:
                self.problem(sheet, ref, f"contains the control character U+{ord(bad):04X}")
                return None
            value = value.strip()
            return value or None
        return value

    # From rows to a framework ------------------------------------------------------------------------

    def framework(self) -> Framework:
        if not self.sheets_unusable:  # else what the other sheets refer to is unknown: mostly noise
            self._build()
        if self.problems:
            raise WorkbookError(self.filename, self.problems)
        try:
            return Framework.model_validate(self.raw)
        except ValidationError as exc:
            for error in exc.errors():
                sheet, cell = self._place(tuple(error["loc"]))
                message = error["msg"].removeprefix("Value error, ")
                for line in message.splitlines():
                    self.problems.append(Problem(line, sheet, cell))
            raise WorkbookError(self.filename, self.problems) from exc

    def _place(self, loc: tuple[Any, ...]) -> tuple[str | None, str | None]:
        while loc:
            if loc in self.places:
                return self.places[loc]
            loc = loc[:-1]
        return None, None

    def _text(
        self, row: _Row, column: Column | str, loc: tuple[Any, ...], *, required: bool = False
    ) -> str | None:
        value = row.value(column)
        ref = row.where(column)
        if value is None:
            if required:
                self.problem(row.sheet, ref, f"{str(column).lower()} is empty")
            return None
        if isinstance(value, datetime | date):
            value = value.isoformat()
        text = str(value)
        limit = MAX_SHORT_TEXT if column in SHORT_COLUMNS else MAX_TEXT
        if len(text) > limit:
            self.problem(row.sheet, ref, f"{len(text):,} characters; the limit is {limit:,}")
            return None
        self.places[loc] = (row.sheet, ref)
        return text

    def _slug(self, row: _Row, column: Column, loc: tuple[Any, ...], *, required: bool = True) -> str | None:
        text = self._text(row, column, loc, required=required)
        if text is None:
            return None
        if len(text) > MAX_ID or not _SLUG.match(text):
            self.problem(
                row.sheet,
                row.where(column),
                f"{text[:40]!r} is not an id: use lower-case letters, digits and hyphens",
            )
            return None
        return text

    def _integer(self, row: _Row, column: Column, loc: tuple[Any, ...]) -> int | None:
        value = row.value(column)
        if isinstance(value, bool) or value is None:
            self.problem(row.sheet, row.where(column), f"{str(column).lower()} must be a whole number")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value):
            value = int(value)
        if not isinstance(value, int) or abs(value) > 10**9:
            self.problem(row.sheet, row.where(column), f"{str(value)[:40]!r} is not a whole number")
            return None
        self.places[loc] = (row.sheet, row.where(column))
        return value

    def _build(self) -> None:
        self._framework_sheet()
        scales = self._scale_sheet()
        self.raw["scale"] = scales.pop("", None)
        domains = self._domains_sheet(scales)
        self._elements_sheet(domains)
        self._repairs_sheet()
        if self.raw["scale"] is None:
            del self.raw["scale"]

    def _framework_sheet(self) -> None:
        seen: dict[str, str] = {}
        notes: list[str] = []
        for row in self.rows.get(FRAMEWORK, []):
            name = str(row.value(C.FIELD) or "").strip().lower()
            if name == "note":
                note = self._text(row, C.VALUE, ("notes", len(notes)), required=True)
                if note is not None:
                    notes.append(note)
            elif name in FRAMEWORK_FIELDS:
                if name in seen:
                    self.problem(FRAMEWORK, row.where(C.FIELD), f"{name} is given twice (also {seen[name]})")
                    continue
                seen[name] = row.where(C.FIELD)
                if name == "id":
                    value = self._slug(row, C.VALUE, ("id",))
                else:
                    value = self._text(row, C.VALUE, (name,), required=True)
                if value is not None:
                    self.raw[name] = value
            else:
                self.problem(
                    FRAMEWORK,
                    row.where(C.FIELD),
                    f"unknown field {name!r}; the fields are {', '.join(FRAMEWORK_FIELDS)}, note",
                )
        for name in FRAMEWORK_FIELDS:
            if name not in seen and FRAMEWORK in self.rows:
                self.problem(FRAMEWORK, "A", f"the {name} row is missing")
        self.raw["notes"] = notes

    def _scale_sheet(self) -> dict[str, dict[str, Any]]:
        """Each scale as pydantic reads it, by owner ('' for the framework, else a domain id)."""
        groups: dict[str, list[_Row]] = {}
        for row in self.rows.get(SCALE, []):
            owner = str(row.value(C.SCALE_FOR) or "")
            groups.setdefault(owner, []).append(row)
        scales = {}
        for owner, rows in groups.items():
            first = rows[0]
            self.places[(owner, "scale")] = (SCALE, first.where(C.KIND))
            kinds = {str(r.value(C.KIND) or "").strip().lower() for r in rows}
            kind = next(iter(kinds)) if len(kinds) == 1 else None
            if kind not in {k.value for k in ScaleKind}:
                self.problem(
                    SCALE,
                    first.where(C.KIND),
                    f"kind must be one of levels, score, status (one kind per scale), found {sorted(kinds)}",
                )
                continue
            if kind == ScaleKind.LEVELS:
                scales[owner] = self._levels(owner, rows)
            elif kind == ScaleKind.SCORE:
                scales[owner] = self._score(owner, rows)
            else:
                scales[owner] = self._statuses(owner, rows)
        return scales

    def _levels(self, owner: str, rows: list[_Row]) -> dict[str, Any]:
        levels = []
        previous: tuple[int, str] | None = None
        ids: dict[str, str] = {}
        for index, row in enumerate(rows):
            here = (owner, "levels", index)
            level_id = self._slug(row, C.ID, (*here, "id"))
            value = self._integer(row, C.VALUE, (*here, "value"))
            label = self._text(row, C.LABEL, (*here, "label"), required=True)
            description = self._text(row, C.DESCRIPTION, (*here, "description"))
            self._first_use(ids, SCALE, "level", level_id, row.where(C.ID))
            if value is not None:
                if previous is not None and value <= previous[0]:
                    self.problem(
                        SCALE,
                        row.where(C.VALUE),
                        f"levels out of order: {value} comes after {previous[0]} ({previous[1]}); "
                        "values must increase down the rows",
                    )
                previous = (value, row.where(C.VALUE))
            levels.append({"id": level_id, "value": value, "label": label, "description": description})
        return {"kind": "levels", "levels": levels}

    def _score(self, owner: str, rows: list[_Row]) -> dict[str, Any]:
        ends: dict[str, _Row] = {}
        for row in rows:
            end = str(row.value(C.ID) or "").strip().lower()
            if end not in SCORE_ENDS or end in ends:
                self.problem(
                    SCALE, row.where(C.ID), "a score scale has one row with id 'min' and one with id 'max'"
                )
                continue
            ends[end] = row
        scale: dict[str, Any] = {"kind": "score"}
        for end in SCORE_ENDS:
            end_row = ends.get(end)
            if end_row is None:
                self.problem(
                    SCALE, None, f"the score scale{' of ' + owner if owner else ''} has no '{end}' row"
                )
                continue
            scale[end] = self._integer(end_row, C.VALUE, (owner, end))
            scale[f"{end}_label"] = self._text(end_row, C.LABEL, (owner, f"{end}_label"), required=True)
        if (
            isinstance(scale.get("min"), int)
            and isinstance(scale.get("max"), int)
            and scale["min"] >= scale["max"]
        ):
            self.problem(
                SCALE, ends["max"].where(C.VALUE), f"max ({scale['max']}) must be above min ({scale['min']})"
            )
        return scale

    def _statuses(self, owner: str, rows: list[_Row]) -> dict[str, Any]:
        statuses = []
        ids: dict[str, str] = {}
        for index, row in enumerate(rows):
            here = (owner, "statuses", index)
            status_id = self._slug(row, C.ID, (*here, "id"))
            self._first_use(ids, SCALE, "status", status_id, row.where(C.ID))
            rag = str(row.value(C.RAG) or "").strip().lower()
            if rag not in {r.value for r in Rag}:
                self.problem(SCALE, row.where(C.RAG), f"RAG must be one of {', '.join(r.value for r in Rag)}")
            statuses.append(
                {
                    "id": status_id,
                    "label": self._text(row, C.LABEL, (*here, "label"), required=True),
                    "rag": rag,
                    "description": self._text(row, C.DESCRIPTION, (*here, "description")),
                }
            )
        return {"kind": "status", "statuses": statuses}

    def _domains_sheet(self, scales: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        domains: dict[str, dict[str, Any]] = {}
        for index, row in enumerate(self.rows.get(DOMAINS, [])):
            loc = ("domains", index)
            domain_id = self._slug(row, C.DOMAIN_ID, (*loc, "id"))
            domain: dict[str, Any] = {
                "id": domain_id,
                "title": self._text(row, C.TITLE, (*loc, "title"), required=True),
                "description": self._text(row, C.DESCRIPTION, (*loc, "description")),
                "lead_in": self._text(row, C.LEAD_IN, (*loc, "lead_in")),
                "empty_note": self._text(row, C.EMPTY_NOTE, (*loc, "empty_note")),
                "elements": [],
                "_row": row,
            }
            if domain_id is None:
                continue
            if domain_id in domains:
                self.problem(
                    DOMAINS,
                    row.where(C.DOMAIN_ID),
                    f"duplicate domain id {domain_id!r} "
                    f"(also {domains[domain_id]['_row'].where(C.DOMAIN_ID)})",
                )
                continue
            if domain_id in scales:
                domain["scale"] = scales.pop(domain_id)
                self._relocate((domain_id,), (*loc, "scale"))
            domains[domain_id] = domain
        for owner in scales:
            self.problem(
                SCALE,
                self.places.get((owner, "scale"), (SCALE, None))[1],
                f"scale for {owner!r}: no such domain on the Domains sheet",
            )
        self._relocate(("",), ("scale",))
        self.raw["domains"] = list(domains.values())
        return domains

    def _relocate(self, old: tuple[Any, ...], new: tuple[Any, ...]) -> None:
        for loc in [loc for loc in self.places if loc[: len(old)] == old]:
            rest = loc[len(old) :]
            if rest[:1] == ("scale",):
                rest = rest[1:]
            self.places[new + rest] = self.places.pop(loc)

    def _elements_sheet(self, domains: dict[str, dict[str, Any]]) -> None:
        fixed = {c.value.casefold() for c in (*COLUMNS[ELEMENTS], *ELEMENT_TAIL)}
        level_columns = [title for title in self.headers.get(ELEMENTS, {}) if title not in fixed]
        known_levels = {
            level["id"]
            for scale in [self.raw.get("scale"), *(d.get("scale") for d in domains.values())]
            if scale and scale.get("kind") == "levels"
            for level in scale["levels"]
        }
        for title in level_columns:
            if title not in known_levels:
                self.problem(
                    ELEMENTS,
                    self.headers[ELEMENTS][title],
                    f"unknown column {title!r}: neither a level id on the Scale sheet nor one of "
                    + ", ".join(c.value for c in (*COLUMNS[ELEMENTS], *ELEMENT_TAIL)),
                )
        seen: dict[str, str] = {}
        for row in self.rows.get(ELEMENTS, []):
            domain_id = self._text(row, C.DOMAIN, ("_",), required=True)
            domain = domains.get(domain_id or "")
            if domain_id is not None and domain is None:
                self.problem(
                    ELEMENTS, row.where(C.DOMAIN), f"domain {domain_id!r} is not on the Domains sheet"
                )
            d_index = list(domains).index(domain_id or "") if domain is not None else -1
            e_index = len(domain["elements"]) if domain is not None else 0
            loc = ("domains", d_index, "elements", e_index)
            element_id = self._slug(row, C.ELEMENT_ID, (*loc, "id"))
            self._first_use(seen, ELEMENTS, "element", element_id, row.where(C.ELEMENT_ID))
            development = str(row.value(C.IN_DEVELOPMENT) or NO).strip().lower()
            if development not in (YES, NO):
                self.problem(ELEMENTS, row.where(C.IN_DEVELOPMENT), "in development must be yes or no")
            element: dict[str, Any] = {
                "id": element_id,
                "title": self._text(row, C.TITLE, (*loc, "title"), required=True),
                "text": self._text(row, C.TEXT, (*loc, "text")),
                "guidance": self._text(row, C.GUIDANCE, (*loc, "guidance")),
                "group": self._text(row, C.GROUP, (*loc, "group")),
                "in_development": development == YES,
                "development_note": self._text(row, C.DEVELOPMENT_NOTE, (*loc, "development_note")),
                "descriptors": {},
            }
            milestone = self._text(row, C.MILESTONE, (*loc, "milestone", "label"))
            due = self._date(row, (*loc, "milestone", "due"))
            if due is not None and milestone is None:
                self.problem(
                    ELEMENTS, row.where(C.MILESTONE), "a due date needs the milestone as the source words it"
                )
            if milestone is not None:
                element["milestone"] = {"label": milestone, "due": due}
            scale = (domain or {}).get("scale") or self.raw.get("scale")
            if scale and scale.get("kind") == "levels":
                for level in scale["levels"]:
                    self._descriptor(row, element, level, loc)
            for title in level_columns:
                if row.value(title) is not None and title not in element["descriptors"]:
                    self.problem(
                        ELEMENTS,
                        row.where(title),
                        f"a descriptor for {title!r}, which is not a level of this domain's scale",
                    )
            if (
                scale
                and scale.get("kind") != "levels"
                and element["text"] is None
                and not element["in_development"]
            ):
                self.problem(ELEMENTS, row.where(C.TEXT), "the question or outcome text is empty")
            if domain is not None:
                domain["elements"].append(element)
        for domain in domains.values():
            row = domain.pop("_row")
            if not domain["elements"] and domain["empty_note"] is None:
                self.problem(
                    DOMAINS,
                    row.where(C.EMPTY_NOTE),
                    f"domain {domain['id']!r} has no elements: give an empty note saying why",
                )

    def _descriptor(
        self, row: _Row, element: dict[str, Any], level: dict[str, Any], loc: tuple[Any, ...]
    ) -> None:
        level_id = level["id"]
        if level_id is None:
            return
        if level_id.casefold() not in self.headers.get(ELEMENTS, {}):
            if not element["in_development"]:
                self.problem(ELEMENTS, "1", f"no column for level {level_id!r}")
            return
        text = self._text(row, level_id, (*loc, "descriptors", level_id))
        if text is None:
            if not element["in_development"] and row.value(level_id) is None:
                self.problem(ELEMENTS, row.where(level_id), f"descriptor for {level_id!r} is empty")
            return
        element["descriptors"][level_id] = text

    def _date(self, row: _Row, loc: tuple[Any, ...]) -> date | None:
        value = row.value(C.DUE)
        if value is None:
            return None
        if isinstance(value, datetime):
            value = value.date()
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value)
        if not isinstance(value, date):
            self.problem(ELEMENTS, row.where(C.DUE), f"{str(value)[:40]!r} is not a date")
            return None
        self.places[loc] = (ELEMENTS, row.where(C.DUE))
        return value

    def _repairs_sheet(self) -> None:
        repairs = []
        for index, row in enumerate(self.rows.get(REPAIRS, [])):
            loc = ("repairs", index)
            repairs.append(
                {
                    name: self._text(row, column, (*loc, name), required=True)
                    for name, column in (
                        ("where", C.WHERE),
                        ("original", C.ORIGINAL),
                        ("corrected", C.CORRECTED),
                        ("reason", C.REASON),
                    )
                }
            )
        self.raw["repairs"] = repairs


def _refused_character(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in _ALLOWED_CONTROLS) or category == "Cs"


def _merged_ranges(data: bytes, book: Any) -> dict[str, list[str]]:
    """Merged ranges by sheet title. openpyxl's read-only mode does not report them, so the sheet XML
    (bounded by the checks before parsing) is searched for its mergeCell elements."""
    found: dict[str, list[str]] = {}
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for sheet in book.worksheets:
            path = getattr(sheet, "_worksheet_path", None)
            if not path:
                continue
            try:
                xml = archive.read(path.lstrip("/"))
            except KeyError:
                continue
            refs = [match.group(1).decode() for match in _MERGE.finditer(xml)]
            if refs:
                found[sheet.title] = refs
    return found
