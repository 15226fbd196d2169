"""Rows of the Framework, Domains, Elements and Repairs sheets built into a `Framework`, or every problem.

The sheets are read into the plain structure pydantic validates (`raw`), remembering each value's cell;
what pydantic then refuses is reported at that cell too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from frameworks.schema import Framework
from frameworks.workbook.cells import Cells, Row
from frameworks.workbook.layout import (
    COLUMNS,
    DOMAINS,
    ELEMENT_TAIL,
    ELEMENTS,
    FRAMEWORK,
    FRAMEWORK_FIELDS,
    NO,
    REPAIRS,
    SCALE,
    TARGET_MONTHS,
    YES,
    C,
)
from frameworks.workbook.problems import Problem, WorkbookError
from frameworks.workbook.scales import read_scales


@dataclass(kw_only=True)
class FrameworkBuilder(Cells):
    """One workbook's rows, as `SheetReader` left them, on their way to a framework."""

    filename: str
    rows: dict[str, list[Row]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per sheet: header (case-folded) to its cell reference."""
    sheets_unusable: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    """The framework as pydantic reads it."""

    def framework(self) -> Framework:
        if not self.sheets_unusable:  # else what the other sheets refer to is unknown: mostly noise
            self._build()
        if self.problems:
            raise WorkbookError(self.filename, self.problems)
        try:
            return Framework.model_validate(self.raw)
        except ValidationError as exc:
            for error in exc.errors():
                sheet, cell = self.place(tuple(error["loc"]))
                message = error["msg"].removeprefix("Value error, ")
                for line in message.splitlines():
                    self.problems.append(Problem(line, sheet, cell))
            raise WorkbookError(self.filename, self.problems) from exc

    def _build(self) -> None:
        self._framework_sheet()
        scales = read_scales(self, self.rows.get(SCALE, []))
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
                note = self.text(row, C.VALUE, ("notes", len(notes)), required=True)
                if note is not None:
                    notes.append(note)
            elif name in FRAMEWORK_FIELDS or name == TARGET_MONTHS:
                if name in seen:
                    self.problem(FRAMEWORK, row.where(C.FIELD), f"{name} is given twice (also {seen[name]})")
                    continue
                seen[name] = row.where(C.FIELD)
                value: str | int | None
                if name == "id":
                    value = self.slug(row, C.VALUE, ("id",))
                elif name == TARGET_MONTHS:  # optional: surveys also ask where partners want to be
                    value = self.integer(row, C.VALUE, (name,))
                else:
                    value = self.text(row, C.VALUE, (name,), required=True)
                if value is not None:
                    self.raw[name] = value
            else:
                self.problem(
                    FRAMEWORK,
                    row.where(C.FIELD),
                    f"unknown field {name!r}; the fields are "
                    f"{', '.join(FRAMEWORK_FIELDS)}, {TARGET_MONTHS}, note",
                )
        for name in FRAMEWORK_FIELDS:
            if name not in seen and FRAMEWORK in self.rows:
                self.problem(FRAMEWORK, "A", f"the {name} row is missing")
        self.raw["notes"] = notes

    def _domains_sheet(self, scales: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        domains: dict[str, dict[str, Any]] = {}
        for index, row in enumerate(self.rows.get(DOMAINS, [])):
            loc = ("domains", index)
            domain_id = self.slug(row, C.DOMAIN_ID, (*loc, "id"))
            domain: dict[str, Any] = {
                "id": domain_id,
                "title": self.text(row, C.TITLE, (*loc, "title"), required=True),
                "description": self.text(row, C.DESCRIPTION, (*loc, "description")),
                "lead_in": self.text(row, C.LEAD_IN, (*loc, "lead_in")),
                "empty_note": self.text(row, C.EMPTY_NOTE, (*loc, "empty_note")),
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
            domain_id = self.text(row, C.DOMAIN, ("_",), required=True)
            domain = domains.get(domain_id or "")
            if domain_id is not None and domain is None:
                self.problem(
                    ELEMENTS, row.where(C.DOMAIN), f"domain {domain_id!r} is not on the Domains sheet"
                )
            d_index = list(domains).index(domain_id or "") if domain is not None else -1
            e_index = len(domain["elements"]) if domain is not None else 0
            loc = ("domains", d_index, "elements", e_index)
            element_id = self.slug(row, C.ELEMENT_ID, (*loc, "id"))
            self.first_use(seen, ELEMENTS, "element", element_id, row.where(C.ELEMENT_ID))
            development = str(row.value(C.IN_DEVELOPMENT) or NO).strip().lower()
            if development not in (YES, NO):
                self.problem(ELEMENTS, row.where(C.IN_DEVELOPMENT), "in development must be yes or no")
            element: dict[str, Any] = {
                "id": element_id,
                "title": self.text(row, C.TITLE, (*loc, "title"), required=True),
                "text": self.text(row, C.TEXT, (*loc, "text")),
                "guidance": self.text(row, C.GUIDANCE, (*loc, "guidance")),
                "group": self.text(row, C.GROUP, (*loc, "group")),
                "in_development": development == YES,
                "development_note": self.text(row, C.DEVELOPMENT_NOTE, (*loc, "development_note")),
                "descriptors": {},
            }
            milestone = self.text(row, C.MILESTONE, (*loc, "milestone", "label"))
            due = self.due(row, (*loc, "milestone", "due"))
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
        self, row: Row, element: dict[str, Any], level: dict[str, Any], loc: tuple[Any, ...]
    ) -> None:
        level_id = level["id"]
        if level_id is None:
            return
        if level_id.casefold() not in self.headers.get(ELEMENTS, {}):
            if not element["in_development"]:
                self.problem(ELEMENTS, "1", f"no column for level {level_id!r}")
            return
        text = self.text(row, level_id, (*loc, "descriptors", level_id))
        if text is None:
            if not element["in_development"] and row.value(level_id) is None:
                self.problem(ELEMENTS, row.where(level_id), f"descriptor for {level_id!r} is empty")
            return
        element["descriptors"][level_id] = text

    def _repairs_sheet(self) -> None:
        repairs = []
        for index, row in enumerate(self.rows.get(REPAIRS, [])):
            loc = ("repairs", index)
            repairs.append(
                {
                    name: self.text(row, column, (*loc, name), required=True)
                    for name, column in (
                        ("where", C.WHERE),
                        ("original", C.ORIGINAL),
                        ("corrected", C.CORRECTED),
                        ("reason", C.REASON),
                    )
                }
            )
        self.raw["repairs"] = repairs
