"""What can be refused from the zip archive alone, before openpyxl parses any of it.

The file name, the archive's central directory and the first bytes of each sheet: macros, zip bombs and
absurd sizes are refused here. Merged ranges are found here too, as openpyxl's read-only mode hides them.
"""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from typing import Any

from frameworks.workbook.layout import (
    MACRO_SUFFIXES,
    MAX_COLUMNS,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    MAX_RATIO,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
)
from frameworks.workbook.problems import Problem

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+\d+)(?::([A-Z]+\d+))?"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+\d+:[A-Z]+\d+)"')


def container_problems(data: bytes, filename: str) -> list[Problem]:
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
    from openpyxl.utils import range_boundaries  # with the first workbook read, not with the bot

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


def merged_ranges(data: bytes, book: Any) -> dict[str, list[str]]:
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
