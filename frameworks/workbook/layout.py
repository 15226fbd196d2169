"""The documented layout: sheet names, header names, which are required, the limits and the header notes.

What both writing and reading agree on; changing a name here changes the files leads keep.
"""

from __future__ import annotations

import re
from enum import StrEnum

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

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""An id: lower-case letters, digits and hyphens."""


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
COLUMN_NAMES = {c.value for c in Column}
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
TARGET_MONTHS = "target_months"
"""An optional Framework row: surveys also ask where partners want to be in this many months."""
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
