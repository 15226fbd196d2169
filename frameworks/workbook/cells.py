"""Cell values checked for what they must be (text within its limit, an id, a whole number, a date).

Each value taken is remembered with the cell it came from, so a problem pydantic finds later in the
framework is reported at that cell.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from frameworks.workbook.layout import (
    ELEMENTS,
    MAX_ID,
    MAX_SHORT_TEXT,
    MAX_TEXT,
    SHORT_COLUMNS,
    SLUG,
    C,
    Column,
)
from frameworks.workbook.problems import Problem


@dataclass
class Row:
    """One row of a sheet below its header."""

    sheet: str
    number: int
    cells: dict[str, tuple[str, Any]]
    """Header (case-folded) to (cell reference, value)."""

    def value(self, column: Column | str) -> Any:
        return self.cells.get(str(column).casefold(), ("", None))[1]

    def where(self, column: Column | str) -> str:
        return self.cells.get(str(column).casefold(), (f"{self.number}", None))[0] or f"{self.number}"


@dataclass(kw_only=True)
class Cells:
    """Problems found so far, and where each value taken from the workbook came from."""

    problems: list[Problem] = field(default_factory=list)
    places: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)
    """Where each value taken came from, by its pydantic location in the framework: (sheet, cell)."""

    def problem(self, sheet: str, cell: str | None, message: str) -> None:
        self.problems.append(Problem(message, sheet, cell))

    def first_use(self, seen: dict[str, str], sheet: str, kind: str, value: str | None, cell: str) -> None:
        """Remember the cell an id is first used in; a second use is a problem naming the first."""
        if value is None:
            return
        if value in seen:
            self.problem(sheet, cell, f"duplicate {kind} id {value!r} (also {seen[value]})")
        else:
            seen[value] = cell

    def place(self, loc: tuple[Any, ...]) -> tuple[str | None, str | None]:
        while loc:
            if loc in self.places:
                return self.places[loc]
            loc = loc[:-1]
        return None, None

    def text(
        self, row: Row, column: Column | str, loc: tuple[Any, ...], *, required: bool = False
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

    def slug(self, row: Row, column: Column, loc: tuple[Any, ...], *, required: bool = True) -> str | None:
        text = self.text(row, column, loc, required=required)
        if text is None:
            return None
        if len(text) > MAX_ID or not SLUG.match(text):
            self.problem(
                row.sheet,
                row.where(column),
                f"{text[:40]!r} is not an id: use lower-case letters, digits and hyphens",
            )
            return None
        return text

    def integer(self, row: Row, column: Column, loc: tuple[Any, ...]) -> int | None:
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

    def due(self, row: Row, loc: tuple[Any, ...]) -> date | None:
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
