"""A framework may say its surveys also ask where partners want to be, and in how many months: kept in
YAML (the schema) and in the workbook a lead edits."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from pydantic import ValidationError

from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.workbook import WorkbookError, read_workbook, write_workbook

PLACE = load_directory().frameworks["place-partnership-maturity"]


def test_a_framework_without_a_horizon_asks_only_where_partners_are_now() -> None:
    assert PLACE.target_months is None


def test_a_framework_may_default_its_surveys_to_a_target_in_n_months() -> None:
    with_target = Framework.model_validate({**PLACE.model_dump(mode="json"), "target_months": 18})
    assert with_target.target_months == 18


@pytest.mark.parametrize("months", [0, -3, 121])
def test_a_horizon_outside_one_month_to_ten_years_is_refused(months: int) -> None:
    with pytest.raises(ValidationError, match="target_months"):
        Framework.model_validate({**PLACE.model_dump(mode="json"), "target_months": months})


def test_the_horizon_survives_the_workbook_round_trip_as_its_own_framework_row() -> None:
    with_target = PLACE.model_copy(update={"target_months": 12})
    data = write_workbook(with_target)
    rows = list(load_workbook(BytesIO(data))["Framework"].iter_rows(values_only=True))
    assert ("target_months", 12) in rows
    assert read_workbook(data, filename="place.xlsx").target_months == 12
    assert read_workbook(write_workbook(PLACE), filename="place.xlsx").target_months is None


def test_a_horizon_that_is_not_a_whole_number_is_reported_at_its_cell() -> None:
    book = load_workbook(BytesIO(write_workbook(PLACE)))
    book["Framework"].append(["target_months", "a year"])
    buffer = BytesIO()
    book.save(buffer)
    with pytest.raises(WorkbookError) as caught:
        read_workbook(buffer.getvalue(), filename="place.xlsx")
    assert any("is not a whole number" in str(problem) for problem in caught.value.problems)
