"""A lead keeps their framework in Excel: the bot writes it out, reads it back unchanged, and answers a
broken or hostile workbook with every problem at once, by sheet and cell, storing nothing (issue 15)."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from bot.cli import main
from frameworks.loader import load_directory, load_framework
from frameworks.schema import Framework, ScaleKind
from frameworks.workbook import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_TEXT,
    WorkbookError,
    read_workbook,
    template,
    write_workbook,
)

SEEDS = load_directory().frameworks
PLACE = SEEDS["place-partnership-maturity"]


def _canonical(framework: Framework) -> str:
    return json.dumps(framework.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def _problems(data: bytes, filename: str = "matrix.xlsx") -> list[str]:
    with pytest.raises(WorkbookError) as caught:
        read_workbook(data, filename=filename)
    return [str(problem) for problem in caught.value.problems]


def _edited(change: Callable[[Workbook], None], framework: Framework = PLACE) -> bytes:
    """The framework's workbook, changed the way a lead might change it in Excel."""
    book = load_workbook(BytesIO(write_workbook(framework)))
    change(book)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _zip(parts: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _compressed(data: bytes, name: str) -> int:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return archive.getinfo(name).compress_size


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# Round trip ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework_id", sorted(SEEDS))
def test_each_seed_comes_back_from_its_workbook_unchanged(framework_id: str) -> None:
    framework = SEEDS[framework_id]
    again = read_workbook(write_workbook(framework), filename=f"{framework_id}.xlsx")
    assert _canonical(again) == _canonical(framework)
    for (_, element), (_, original) in zip(again.iter_elements(), framework.iter_elements(), strict=True):
        for level, text in original.descriptors.items():
            assert element.descriptors[level].encode() == text.encode()


def test_place_matrix_workbook_has_a_row_per_element_and_a_column_per_level() -> None:
    book = load_workbook(BytesIO(write_workbook(PLACE)), read_only=True)
    rows = list(book["Elements"].iter_rows(values_only=True))
    assert rows[0][:7] == ("Domain", "Element id", "Title", "emerging", "developing", "maturing", "thriving")
    assert len(rows) - 1 == len(PLACE.iter_elements())
    assert rows[1][:3] == ("ambition-and-vision", "vision", "Vision")
    assert rows[1][3] == PLACE.iter_elements()[0][1].descriptors["emerging"]


# Template ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ScaleKind))
def test_template_opens_with_frozen_headers_comments_and_kind_choices(kind: ScaleKind) -> None:
    book = load_workbook(BytesIO(template(kind)))
    assert book.sheetnames == ["Framework", "Scale", "Domains", "Elements", "Repairs"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
    scale, elements = book["Scale"], book["Elements"]
    assert scale["B1"].value == "Kind"
    assert scale["B1"].comment is not None
    assert {row[1].value for row in scale.iter_rows(min_row=2)} == {kind.value}
    lists = {dv.formula1 for dv in scale.data_validations.dataValidation}
    assert lists == {'"levels,score,status"', '"blue,green,amber,red,grey"'}
    assert [dv.formula1 for dv in elements.data_validations.dataValidation] == ['"yes,no"']
    headers = [cell.value for cell in elements[1]]
    assert ("level-1" in headers) == (kind == ScaleKind.LEVELS)


def test_an_unfilled_template_is_refused_with_what_to_fill_in() -> None:
    problems = _problems(template(ScaleKind.LEVELS))
    assert "Framework!B2: value is empty" in problems
    assert "Scale!E2: label is empty" in problems


# Mistakes a lead makes -----------------------------------------------------------------------------------


def test_every_mistake_in_a_matrix_is_reported_at_once_by_sheet_and_cell() -> None:
    def mistakes(book: Workbook) -> None:
        book["Elements"]["F14"] = None  # maturing descriptor of the 13th element
        book["Elements"]["B5"] = book["Elements"]["B4"].value  # duplicate element id
        book["Scale"]["D4"] = 1  # maturing (value 3) now comes after developing (2) as 1
        book["Domains"]["A3"] = "Not a slug"
        book["Elements"]["C7"] = "x" * (MAX_TEXT + 1)

    problems = _problems(_edited(mistakes))
    element_13 = PLACE.iter_elements()[12][1].id
    for expected in (
        "Elements!F14: descriptor for 'maturing' is empty",
        f"Elements!B5: duplicate element id {PLACE.iter_elements()[2][1].id!r} (also B4)",
        "Scale!D4: levels out of order: 1 comes after 2 (D3); values must increase down the rows",
        "Domains!A3: 'Not a slug' is not an id: use lower-case letters, digits and hyphens",
        "Elements!C7: 4,001 characters; the limit is 300",
    ):
        assert expected in problems, (expected, problems)
    assert element_13


def test_missing_and_unknown_columns_and_sheets_are_named() -> None:
    def columns(book: Workbook) -> None:
        book["Domains"]["B1"] = "Name"
        book["Elements"].delete_cols(7)  # thriving
        book.create_sheet("Notes")
        del book["Repairs"]

    problems = _problems(_edited(columns))
    assert "Domains!1: column 'Title' is missing" in problems
    assert any(p.startswith("Domains!B1: unknown column 'name'") for p in problems)
    assert "Elements!1: no column for level 'thriving'" in problems
    assert any(p.startswith("Notes: unexpected sheet") for p in problems)


def test_formulas_are_refused_not_taken_from_their_cached_value() -> None:
    problems = _problems(
        _edited(lambda book: book["Elements"].__setitem__("D2", '=CONCAT("All ", "partners")'))
    )
    assert any(p.startswith("Elements!D2: formulas are not allowed (found =CONCAT(") for p in problems), (
        problems
    )


def test_merged_cells_and_hidden_sheets_are_refused() -> None:
    def hide_and_merge(book: Workbook) -> None:
        book["Elements"].merge_cells("D2:E2")
        book["Repairs"].sheet_state = "hidden"

    problems = _problems(_edited(hide_and_merge))
    assert "Elements!D2:E2: merged cells are not allowed: unmerge them" in problems
    assert "Repairs: hidden sheets are not allowed: unhide it or delete it" in problems


def test_control_characters_are_refused_with_their_cell() -> None:
    parts = _parts(write_workbook(PLACE))
    sheet = "xl/worksheets/sheet4.xml"
    parts[sheet] = parts[sheet].replace(b"<t>Vision</t>", b"<t>Vi&#155;sion</t>", 1)  # CSI: a terminal escape
    assert "Elements!C2: contains the control character U+009B" in _problems(_zip(parts))


def test_text_that_is_not_utf8_is_refused_as_unreadable() -> None:
    parts = _parts(write_workbook(PLACE))
    sheet = "xl/worksheets/sheet4.xml"
    parts[sheet] = parts[sheet].replace(b"<t>Vision</t>", b"<t>Vi\xff\xfesion</t>", 1)
    problems = _problems(_zip(parts))
    assert problems == ["Elements: the sheet is not readable XML (is its text UTF-8?)"]


# Hostile files, refused before parsing -------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["matrix.xlsm", "matrix.xls", "matrix.xlsb", "matrix.csv"])
def test_macro_workbooks_and_other_formats_are_refused_by_name(filename: str) -> None:
    assert _problems(write_workbook(PLACE), filename) == [
        f"only .xlsx workbooks are accepted (not {filename!r}); macro workbooks are refused"
    ]


def test_a_workbook_carrying_macros_is_refused_whatever_its_name() -> None:
    parts = _parts(write_workbook(PLACE)) | {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}
    assert _problems(_zip(parts)) == [
        "the workbook contains macros: refused (save it as a plain .xlsx workbook)"
    ]


def test_files_over_the_size_limit_are_refused() -> None:
    assert _problems(b"PK" + b"\0" * MAX_FILE_BYTES) == [
        f"the file is {MAX_FILE_BYTES + 2:,} bytes; the limit is {MAX_FILE_BYTES:,}"
    ]


def test_a_zip_bomb_is_refused_from_its_central_directory() -> None:
    parts = _parts(write_workbook(PLACE)) | {"xl/media/padding.xml": b"\0" * (20 * 1024 * 1024)}
    bomb = _zip(parts)
    assert len(bomb) < MAX_FILE_BYTES
    problems = _problems(bomb)
    ratio = 20 * 1024 * 1024 // _compressed(bomb, "xl/media/padding.xml")
    assert problems == [f"part xl/media/padding.xml is compressed {ratio} times: refused as a zip bomb"]


def test_too_many_parts_or_too_much_unpacked_are_refused() -> None:
    many = _parts(write_workbook(PLACE)) | {f"xl/media/{n}.bin": b"" for n in range(300)}
    assert _problems(_zip(many)) == ["the workbook has 325 parts; the limit is 200"]
    big = _parts(write_workbook(PLACE)) | {f"xl/media/{n}.bin": b"\0" * (1024 * 1024) for n in range(60)}
    huge = _zip(big, zipfile.ZIP_DEFLATED)
    assert len(huge) < MAX_FILE_BYTES
    assert _problems(huge)[0].startswith("the workbook unpacks to ")


def test_a_sheet_declaring_absurd_dimensions_is_refused_before_its_rows_are_read() -> None:
    parts = _parts(write_workbook(PLACE))
    sheet = "xl/worksheets/sheet4.xml"
    parts[sheet] = parts[sheet].replace(b'<dimension ref="A1:', b'<dimension ref="A1:XFD1048576" x="', 1)
    problems = _problems(_zip(parts))
    assert problems == [
        f"a sheet declares 1048576 rows and 16384 columns; the limit is 5000 rows and {MAX_COLUMNS} columns"
    ]


def test_not_a_zip_at_all_is_refused() -> None:
    assert _problems(b"<html>not a workbook</html>") == [
        "not an .xlsx workbook (an .xlsx file is a zip archive)"
    ]


# The command line ----------------------------------------------------------------------------------------


def test_it_colleague_exports_a_seed_and_imports_it_under_a_new_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    monkeypatch.setenv("FRAMEWORKS_DIR", str(folder))
    out = tmp_path / "place.xlsx"
    assert main(["frameworks", "export", PLACE.id, "--out", str(out)]) == 0
    assert read_workbook(out.read_bytes(), filename=out.name) == PLACE
    assert main(["frameworks", "import", str(out), "--id", "our-place", "--dry-run"]) == 0
    assert list(folder.iterdir()) == []
    assert main(["frameworks", "import", str(out), "--id", "our-place"]) == 0
    stored = load_framework(folder / "our-place.yaml")
    assert stored.id == "our-place"
    assert _canonical(stored.model_copy(update={"id": PLACE.id})) == _canonical(PLACE)
    capsys.readouterr()
    assert main(["frameworks", "show", "our-place", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {**PLACE.model_dump(mode="json"), "id": "our-place"}


def test_import_of_a_broken_workbook_lists_every_problem_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    monkeypatch.setenv("FRAMEWORKS_DIR", str(folder))

    def mistakes(book: Workbook) -> None:
        book["Elements"]["F14"] = None
        book["Scale"]["D4"] = 1

    path = tmp_path / "mine.xlsx"
    path.write_bytes(_edited(mistakes))
    assert main(["frameworks", "import", str(path), "--id", "mine"]) == 2
    report = capsys.readouterr().out
    assert "Elements!F14: descriptor for 'maturing' is empty" in report
    assert "Scale!D4: levels out of order" in report
    assert list(folder.iterdir()) == []


def test_import_refuses_without_frameworks_dir_and_an_id_the_bot_already_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "place.xlsx"
    path.write_bytes(write_workbook(PLACE))
    monkeypatch.delenv("FRAMEWORKS_DIR", raising=False)
    assert main(["frameworks", "import", str(path), "--id", "ours"]) == 2
    assert "FRAMEWORKS_DIR" in capsys.readouterr().out
    folder = tmp_path / "frameworks"
    folder.mkdir()
    monkeypatch.setenv("FRAMEWORKS_DIR", str(folder))
    assert main(["frameworks", "import", str(path)]) == 2
    assert f"id {PLACE.id!r} is already used" in capsys.readouterr().out
    assert list(folder.iterdir()) == []


def test_template_command_writes_a_workbook_for_the_chosen_kind(tmp_path: Path) -> None:
    out = tmp_path / "new.xlsx"
    assert main(["frameworks", "template", "--kind", "status", "--out", str(out)]) == 0
    book = load_workbook(out)
    assert {row[1].value for row in book["Scale"].iter_rows(min_row=2)} == {"status"}


def test_export_of_an_unknown_framework_says_which_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FRAMEWORKS_DIR", raising=False)
    assert main(["frameworks", "export", "nope", "--out", str(tmp_path / "x.xlsx")]) == 1
    assert "No framework 'nope'" in capsys.readouterr().out
    assert not (tmp_path / "x.xlsx").exists()


def test_yaml_written_by_import_reads_as_plain_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    monkeypatch.setenv("FRAMEWORKS_DIR", str(folder))
    path = tmp_path / "audit.xlsx"
    path.write_bytes(write_workbook(SEEDS["audit-committee-maturity"]))
    assert main(["frameworks", "import", str(path), "--id", "our-audit"]) == 0
    raw = yaml.safe_load((folder / "our-audit.yaml").read_text("utf-8"))
    assert raw["id"] == "our-audit"
    assert raw["title"] == SEEDS["audit-committee-maturity"].title


def test_a_domain_answered_on_its_own_scale_keeps_it_through_the_workbook() -> None:
    raw = PLACE.model_dump(mode="json")
    raw["domains"][1]["scale"] = {
        "kind": "score",
        "min": -5,
        "max": 5,
        "min_label": "Not at all",
        "max_label": "Fully",
    }
    raw["domains"][1]["elements"] = [
        {"id": f"q{n}", "title": f"Question {n}", "text": f"How far, {n}?"} for n in range(1, 3)
    ]
    mixed = Framework.model_validate(raw)
    book = load_workbook(BytesIO(write_workbook(mixed)), read_only=True)
    owners = {row[0] for row in book["Scale"].iter_rows(min_row=2, values_only=True)}
    assert owners == {None, mixed.domains[1].id}
    assert _canonical(read_workbook(write_workbook(mixed), filename="mixed.xlsx")) == _canonical(mixed)


def test_a_sheet_longer_than_the_limit_is_refused_even_when_it_hides_its_size() -> None:
    def long(book: Workbook) -> None:
        book["Repairs"].append(["x"] * 4)
        book["Repairs"].cell(row=MAX_ROWS + 5, column=1, value="far below")

    parts = _parts(_edited(long))
    sheet = "xl/worksheets/sheet5.xml"
    parts[sheet] = re.sub(rb'<dimension ref="[^"]*" ?/>', b"", parts[sheet])
    assert f"Repairs: more than {MAX_ROWS} rows" in _problems(_zip(parts))
