"""What is wrong with a workbook, said so that a lead can find it (`Elements!D14: ...`)."""

from __future__ import annotations

from dataclasses import dataclass


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
