"""A lead's workbook read into a framework, in three passes that each report every problem they find.

The zip is checked before openpyxl parses anything (`container`), then the sheets are read into rows
(`sheets`), then the rows are built into a framework (`building`).
"""

from __future__ import annotations

from io import BytesIO

from frameworks.schema import Framework
from frameworks.workbook.building import FrameworkBuilder
from frameworks.workbook.container import container_problems
from frameworks.workbook.problems import Problem, WorkbookError
from frameworks.workbook.sheets import SheetReader


def read_workbook(data: bytes, *, filename: str) -> Framework:
    """The framework a lead's workbook holds, or a `WorkbookError` listing every problem in it."""
    problems = container_problems(data, filename)
    if problems:
        raise WorkbookError(filename, problems)
    from openpyxl import load_workbook  # heavy: loaded with the first workbook read, not with the bot

    try:
        book = load_workbook(BytesIO(data), read_only=True, data_only=False, keep_links=False, keep_vba=False)
    except Exception as exc:  # openpyxl raises many kinds for damaged files: all mean the same to a lead
        raise WorkbookError(
            filename, [Problem(f"not a readable .xlsx workbook ({type(exc).__name__})")]
        ) from exc
    try:
        reader = SheetReader()
        reader.read(book, data)
    finally:
        book.close()
    builder = FrameworkBuilder(
        filename=filename,
        problems=reader.problems,
        rows=reader.rows,
        headers=reader.headers,
        sheets_unusable=reader.sheets_unusable,
    )
    return builder.framework()
