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

Import from here; the modules, in the order a workbook is read:

    layout      sheet and header names, the limits, the header notes (shared by writing and reading)
    problems    `Problem` (sheet, cell, message) and `WorkbookError` (every problem at once)
    writing     `write_workbook`, `template` and `canonical_json`
    reading     `read_workbook`: the three passes below, in order
    container   what the zip alone refuses, before parsing
    sheets      `SheetReader`: sheets into rows by header; hidden sheets, merges, formulas refused
    cells       `Row` and `Cells`: values checked and remembered with their cell
    scales      the Scale sheet into scales
    building    `FrameworkBuilder`: rows into a `Framework`, pydantic's refusals placed at their cells
"""

from frameworks.workbook.layout import (
    COLUMNS,
    COMMENTS,
    DOMAINS,
    ELEMENT_TAIL,
    ELEMENTS,
    FRAMEWORK,
    FRAMEWORK_FIELDS,
    MACRO_SUFFIXES,
    MAX_COLUMNS,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    MAX_ID,
    MAX_RATIO,
    MAX_ROWS,
    MAX_SHORT_TEXT,
    MAX_TEXT,
    MAX_UNPACKED_BYTES,
    NO,
    REPAIRS,
    REQUIRED,
    REQUIRED_SHEETS,
    SCALE,
    SCORE_ENDS,
    SHORT_COLUMNS,
    YES,
    C,
    Column,
)
from frameworks.workbook.problems import Problem, WorkbookError
from frameworks.workbook.reading import read_workbook
from frameworks.workbook.writing import canonical_json, template, write_workbook

__all__ = [
    "COLUMNS",
    "COMMENTS",
    "DOMAINS",
    "ELEMENTS",
    "ELEMENT_TAIL",
    "FRAMEWORK",
    "FRAMEWORK_FIELDS",
    "MACRO_SUFFIXES",
    "MAX_COLUMNS",
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_ID",
    "MAX_RATIO",
    "MAX_ROWS",
    "MAX_SHORT_TEXT",
    "MAX_TEXT",
    "MAX_UNPACKED_BYTES",
    "NO",
    "REPAIRS",
    "REQUIRED",
    "REQUIRED_SHEETS",
    "SCALE",
    "SCORE_ENDS",
    "SHORT_COLUMNS",
    "YES",
    "C",
    "Column",
    "Problem",
    "WorkbookError",
    "canonical_json",
    "read_workbook",
    "template",
    "write_workbook",
]
