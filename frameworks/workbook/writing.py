"""A framework written as a workbook in the documented layout, and the empty templates leads fill in."""

from __future__ import annotations

import json
from datetime import date
from io import BytesIO
from typing import TYPE_CHECKING, Any

from frameworks.schema import AnyScale, Framework, LevelsScale, Rag, ScaleKind, ScoreScale
from frameworks.workbook.layout import (
    COLUMN_NAMES,
    COLUMNS,
    COMMENTS,
    DOMAINS,
    ELEMENT_TAIL,
    ELEMENTS,
    FRAMEWORK,
    FRAMEWORK_FIELDS,
    MAX_ROWS,
    NO,
    REPAIRS,
    REQUIRED_SHEETS,
    SCALE,
    SCORE_ENDS,
    TARGET_MONTHS,
    YES,
    C,
    Column,
)

if TYPE_CHECKING:  # openpyxl loads with the first workbook written, not with the bot (issue 14)
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet


def canonical_json(framework: Framework) -> str:
    """The framework as JSON with sorted keys: equal frameworks print the same bytes, a diff is a change."""
    return json.dumps(framework.model_dump(mode="json"), ensure_ascii=False, indent=2, sort_keys=True)


def write_workbook(framework: Framework) -> bytes:
    """The framework in the documented layout: what `read_workbook` reads back to the same framework."""
    from openpyxl import Workbook

    book = Workbook()
    sheets = _sheets(book, _level_ids(framework))
    sheet = sheets[FRAMEWORK]
    for name in FRAMEWORK_FIELDS:
        sheet.append([name, getattr(framework, name)])
    if framework.target_months is not None:
        sheet.append([TARGET_MONTHS, framework.target_months])
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
    from openpyxl import Workbook

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
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

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
                if header in COLUMN_NAMES
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
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    headers = [cell.value for cell in sheet[1]]
    letter = get_column_letter(headers.index(column.value) + 1)
    validation = DataValidation(type="list", formula1=f'"{",".join(values)}"', allow_blank=True)
    validation.error = f"Choose one of: {', '.join(values)}"
    validation.showErrorMessage = True
    sheet.add_data_validation(validation)
    validation.add(f"{letter}2:{letter}{MAX_ROWS}")


def _saved(book: Workbook) -> bytes:
    from openpyxl.styles import Alignment

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
