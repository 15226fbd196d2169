"""A lead types the action plan's commands as people do: the text quoted or not, clauses in any order,
RAG as words or colours, check-in periods in days, weeks or months; and what cannot be read is said."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bot.commands import ActionAddCommand, ActionChangeCommand, ActionsCommand, CommandError, parse_command
from tests.conftest import FIXED_NOW

TZ = ZoneInfo("Europe/London")


def _parse(text: str) -> object:
    return parse_command(text, frameworks=[], now=FIXED_NOW, tz=TZ)


def test_an_action_with_a_mentioned_owner_an_element_and_a_due_date() -> None:
    command = _parse('action add "Agree a data plan" for enabler data owner <at>Amina Khan</at> due 4 Dec')
    assert isinstance(command, ActionAddCommand)
    assert command.text == "Agree a data plan"
    assert command.element == "enabler data"
    assert command.owner is not None
    assert (command.owner.name, command.owner.mentioned) == ("Amina Khan", True)
    assert command.due.local_date == date(2026, 12, 4)


def test_clauses_come_in_any_order_and_an_email_or_a_typed_name_can_own_it() -> None:
    by_email = _parse("action add Publish the dashboard due end of month owner Amina@Trust.nhs.uk survey #3")
    assert isinstance(by_email, ActionAddCommand)
    assert (by_email.text, by_email.owner_email) == ("Publish the dashboard", "amina@trust.nhs.uk")
    assert by_email.survey is not None
    assert by_email.survey.number == 3
    assert by_email.due.local_date == date(2026, 11, 30)
    typed = _parse('action add "Map the data flows" owner @Amina Khan due Friday')
    assert isinstance(typed, ActionAddCommand)
    assert typed.owner is not None
    assert (typed.owner.name, typed.owner.mentioned) == ("Amina Khan", False)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('action add "Agree a data plan" due Friday', "Who owns it?"),
        ('action add "Agree a data plan" owner <at>Amina Khan</at>', "When is it due?"),
        ("action add owner <at>Amina Khan</at> due Friday", "What is the action?"),
        ('action add "x" owner <at>Amina Khan</at> due 4/5', "Say the date again"),
        ('action add "x" owner <at>Amina Khan</at> due Friday survey soon', "Which survey?"),
    ],
)
def test_an_action_missing_a_part_is_refused_saying_what_to_add(text: str, said: str) -> None:
    with pytest.raises(CommandError) as refused:
        _parse(text)
    assert said in refused.value.message


@pytest.mark.parametrize(
    ("text", "rag", "state", "days"),
    [
        ("action A3 rag at risk", "at-risk", None, None),
        ("action a3 amber", "at-risk", None, None),
        ("action A3 status red", "off-track", None, None),
        ("action A3 done", "complete", None, None),
        ("action A3 close", None, "closed", None),
        ("action A3 reopen", None, "open", None),
        ("action A3 live", None, "live", None),
        ("action A3 checkin every 2 weeks", None, None, 14),
        ("action A3 check-in monthly", None, None, 30),
        ("action A3 checkin every 10 days", None, None, 10),
    ],
)
def test_a_change_reads_rag_state_or_check_in_period(
    text: str, rag: str | None, state: str | None, days: int | None
) -> None:
    command = _parse(text)
    assert isinstance(command, ActionChangeCommand)
    assert (command.number, command.rag, command.state, command.checkin_days) == (3, rag, state, days)


def test_a_change_can_carry_a_note_and_nonsense_is_refused() -> None:
    noted = _parse('action A2 rag off track note "Funding fell through"')
    assert isinstance(noted, ActionChangeCommand)
    assert (noted.rag, noted.note) == ("off-track", "Funding fell through")
    with pytest.raises(CommandError) as refused:
        _parse("action A2 purple")
    assert "What should change for A2?" in refused.value.message
    with pytest.raises(CommandError):
        _parse("action A2 checkin every 3 years")


def test_actions_lists_a_survey_or_a_partnership() -> None:
    assert _parse("actions") == ActionsCommand()
    survey = _parse("actions #12")
    assert isinstance(survey, ActionsCommand)
    assert survey.target.survey is not None
    assert survey.target.survey.number == 12
    partnership = _parse('actions partnership "Anytown place"')
    assert isinstance(partnership, ActionsCommand)
    assert partnership.target.partnership == "Anytown place"
