"""A lead starts a survey that also asks where partners want to be: `with target [in N months]`."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.commands import CommandError, Scope, StartCommand, help_text, parse_command
from bot.leads.starting import target_months

FRAMEWORKS = [("place-partnership-maturity", "Place partnership maturity matrix")]
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _start(text: str) -> StartCommand:
    parsed = parse_command(text, frameworks=FRAMEWORKS, now=NOW, tz=ZoneInfo("Europe/London"))
    assert isinstance(parsed, StartCommand)
    return parsed


@pytest.mark.parametrize(
    ("text", "target", "months"),
    [
        ("start place with target", True, None),
        ("start place with targets in 18 months", True, 18),
        ("start place with target in 2 years", True, 24),
        ("start place with target 6 months", True, 6),
        ("start place with target in 9months", True, 9),
        ("start place without target", False, None),
        ("start place", None, None),
    ],
)
def test_the_lead_says_whether_and_how_far_ahead_to_ask_the_target(
    text: str, target: bool | None, months: int | None
) -> None:
    command = _start(text)
    assert (command.framework_id, command.target, command.target_months) == (
        "place-partnership-maturity",
        target,
        months,
    )


def test_the_target_clause_sits_anywhere_among_the_others() -> None:
    command = _start('start place with target in 18 months for Anytown title "Winter review"')
    assert (command.partnership, command.title, command.target_months) == ("Anytown", "Winter review", 18)
    command = _start('start place for Anytown with target title "Winter review"')
    assert (command.partnership, command.title, command.target) == ("Anytown", "Winter review", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start place with target in months", "In how many months?"),
        ("start place with target in 18 weeks", "In how many months?"),
        ("start place with target in 200 months", "1 to 120 months"),
        ("start place without target in 12 months", "say without target alone"),
    ],
)
def test_a_horizon_that_cannot_be_read_is_asked_back(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _start(text)


@pytest.mark.parametrize(
    ("text", "framework_default", "months"),
    [
        ("start place", None, None),
        ("start place", 18, 18),
        ("start place with target", None, 12),
        ("start place with target", 18, 18),
        ("start place with target in 6 months", 18, 6),
        ("start place without target", 18, None),
    ],
)
def test_the_survey_asks_the_leads_horizon_else_the_frameworks_else_a_year(
    text: str, framework_default: int | None, months: int | None
) -> None:
    assert target_months(_start(text), framework_default) == months


def test_help_start_tells_a_lead_how_to_ask_the_target() -> None:
    details = help_text(Scope.TEAM, is_lead=True, topic="start")
    assert "With target (or with target in 18 months)" in details
