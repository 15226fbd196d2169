"""A parsed workbook's sheets turned into rows of cells by header, refusing what the layout does not allow.

Hidden sheets, merged cells, formulas, control characters, missing or unknown headers and oversized
sheets are problems here; the values are only checked for what they mean when the framework is built.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from frameworks.workbook.cells import Row
from frameworks.workbook.container import merged_ranges
from frameworks.workbook.layout import (
    COLUMNS,
    ELEMENT_TAIL,
    ELEMENTS,
    MAX_COLUMNS,
    MAX_ROWS,
    REPAIRS,
    REQUIRED,
    REQUIRED_SHEETS,
)
from frameworks.workbook.problems import Problem

_ALLOWED_CONTROLS = {"\n", "\t"}


@dataclass
class SheetReader:
    """The rows and headers of every sheet of one workbook, and the problems found reading them."""

    problems: list[Problem] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per sheet: header (case-folded) to its cell reference."""
    sheets_unusable: bool = False
    """A required sheet is missing or unreadable: what the other sheets refer to is unknown."""

    def problem(self, sheet: str, cell: str | None, message: str) -> None:
        self.problems.append(Problem(message, sheet, cell))

    def read(self, book: Any, data: bytes) -> None:
        merged = merged_ranges(data, book)
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
        rows: list[Row] = []
        try:
            self._read_rows(sheet, name, rows)
        except Exception:  # openpyxl parses lazily: damaged XML or bytes surface here, with many types
            self.problem(name, None, "the sheet is not readable XML (is its text UTF-8?)")
            self.sheets_unusable = True
            rows.clear()
        self.rows[name] = rows

    def _read_rows(self, sheet: Any, name: str, rows: list[Row]) -> None:
        from openpyxl.utils import get_column_letter  # with the first workbook read, not with the bot

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
            row = Row(name, number, {})
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
        from openpyxl.utils import get_column_letter

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


def _refused_character(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in _ALLOWED_CONTROLS) or category == "Cs"
