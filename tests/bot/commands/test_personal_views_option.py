"""A lead says whether partners get their own view at close: `start … without personal views`, and
`close … with|without personal views` to change it as the round closes."""

from __future__ import annotations

from datetime import datetime

from bot.commands import CloseCommand, PersonalViewsCommand, StartCommand, SurveyRef
from tests.bot.commands.test_commands import parse, refused
from tests.conftest import FIXED_NOW


def _start(text: str, now: datetime = FIXED_NOW) -> StartCommand:
    command = parse(text, now)
    assert isinstance(command, StartCommand)
    return command


def _close(text: str) -> CloseCommand:
    command = parse(text, FIXED_NOW)
    assert isinstance(command, CloseCommand)
    return command


def test_a_survey_shares_personal_views_unless_the_lead_starts_it_without() -> None:
    assert _start("start place-partnership-maturity").personal_views is True
    plain = _start('start place-partnership-maturity without personal views title "Autumn round"')
    assert plain.personal_views is False
    assert plain.title == "Autumn round"
    assert plain.framework_id == "place-partnership-maturity"
    assert _start("start place-partnership-maturity no personal views").personal_views is False


def test_the_option_sits_beside_a_target_and_never_eats_a_quoted_title() -> None:
    both = _start("start place-partnership-maturity with target in 18 months without personal views")
    assert (both.target, both.target_months, both.personal_views) == (True, 18, False)
    quoted = _start('start place-partnership-maturity title "Without personal views"')
    assert quoted.personal_views is True
    assert quoted.title == "Without personal views"


def test_close_can_turn_personal_views_on_or_off_or_leave_them_as_they_are() -> None:
    assert _close("close #12") == CloseCommand(survey=SurveyRef(number=12))
    assert _close("close #12 without personal views").personal_views is False
    assert _close("close with personal views").personal_views is True
    off = _close("close autumn round no views")
    assert off.personal_views is False
    assert off.survey == SurveyRef(fragment="autumn round")


def test_a_lead_turns_personal_views_on_or_off_for_a_survey() -> None:
    assert parse("personal views #12 off", FIXED_NOW) == PersonalViewsCommand(
        survey=SurveyRef(number=12), on=False
    )
    assert parse("personal views on", FIXED_NOW) == PersonalViewsCommand(on=True)
    assert "On or off?" in refused("personal views #12", FIXED_NOW)
