"""The Scale sheet read into each scale as pydantic reads it, by owner ('' for the framework's own)."""

from __future__ import annotations

from typing import Any

from frameworks.schema import Rag, ScaleKind
from frameworks.workbook.cells import Cells, Row
from frameworks.workbook.layout import SCALE, SCORE_ENDS, C


def read_scales(cells: Cells, sheet_rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Each scale as pydantic reads it, by owner ('' for the framework, else a domain id)."""
    groups: dict[str, list[Row]] = {}
    for row in sheet_rows:
        owner = str(row.value(C.SCALE_FOR) or "")
        groups.setdefault(owner, []).append(row)
    scales = {}
    for owner, rows in groups.items():
        first = rows[0]
        cells.places[(owner, "scale")] = (SCALE, first.where(C.KIND))
        kinds = {str(r.value(C.KIND) or "").strip().lower() for r in rows}
        kind = next(iter(kinds)) if len(kinds) == 1 else None
        if kind not in {k.value for k in ScaleKind}:
            cells.problem(
                SCALE,
                first.where(C.KIND),
                f"kind must be one of levels, score, status (one kind per scale), found {sorted(kinds)}",
            )
            continue
        if kind == ScaleKind.LEVELS:
            scales[owner] = _levels(cells, owner, rows)
        elif kind == ScaleKind.SCORE:
            scales[owner] = _score(cells, owner, rows)
        else:
            scales[owner] = _statuses(cells, owner, rows)
    return scales


def _levels(cells: Cells, owner: str, rows: list[Row]) -> dict[str, Any]:
    levels = []
    previous: tuple[int, str] | None = None
    ids: dict[str, str] = {}
    for index, row in enumerate(rows):
        here = (owner, "levels", index)
        level_id = cells.slug(row, C.ID, (*here, "id"))
        value = cells.integer(row, C.VALUE, (*here, "value"))
        label = cells.text(row, C.LABEL, (*here, "label"), required=True)
        description = cells.text(row, C.DESCRIPTION, (*here, "description"))
        cells.first_use(ids, SCALE, "level", level_id, row.where(C.ID))
        if value is not None:
            if previous is not None and value <= previous[0]:
                cells.problem(
                    SCALE,
                    row.where(C.VALUE),
                    f"levels out of order: {value} comes after {previous[0]} ({previous[1]}); "
                    "values must increase down the rows",
                )
            previous = (value, row.where(C.VALUE))
        levels.append({"id": level_id, "value": value, "label": label, "description": description})
    return {"kind": "levels", "levels": levels}


def _score(cells: Cells, owner: str, rows: list[Row]) -> dict[str, Any]:
    ends: dict[str, Row] = {}
    for row in rows:
        end = str(row.value(C.ID) or "").strip().lower()
        if end not in SCORE_ENDS or end in ends:
            cells.problem(
                SCALE, row.where(C.ID), "a score scale has one row with id 'min' and one with id 'max'"
            )
            continue
        ends[end] = row
    scale: dict[str, Any] = {"kind": "score"}
    for end in SCORE_ENDS:
        end_row = ends.get(end)
        if end_row is None:
            cells.problem(SCALE, None, f"the score scale{' of ' + owner if owner else ''} has no '{end}' row")
            continue
        scale[end] = cells.integer(end_row, C.VALUE, (owner, end))
        scale[f"{end}_label"] = cells.text(end_row, C.LABEL, (owner, f"{end}_label"), required=True)
    if (
        isinstance(scale.get("min"), int)
        and isinstance(scale.get("max"), int)
        and scale["min"] >= scale["max"]
    ):
        cells.problem(
            SCALE, ends["max"].where(C.VALUE), f"max ({scale['max']}) must be above min ({scale['min']})"
        )
    return scale


def _statuses(cells: Cells, owner: str, rows: list[Row]) -> dict[str, Any]:
    statuses = []
    ids: dict[str, str] = {}
    for index, row in enumerate(rows):
        here = (owner, "statuses", index)
        status_id = cells.slug(row, C.ID, (*here, "id"))
        cells.first_use(ids, SCALE, "status", status_id, row.where(C.ID))
        rag = str(row.value(C.RAG) or "").strip().lower()
        if rag not in {r.value for r in Rag}:
            cells.problem(SCALE, row.where(C.RAG), f"RAG must be one of {', '.join(r.value for r in Rag)}")
        statuses.append(
            {
                "id": status_id,
                "label": cells.text(row, C.LABEL, (*here, "label"), required=True),
                "rag": rag,
                "description": cells.text(row, C.DESCRIPTION, (*here, "description")),
            }
        )
    return {"kind": "status", "statuses": statuses}
