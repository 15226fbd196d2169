"""A lead types `consensus`: which round, and the elements they add to the split ones; then, once it has
closed, `share results` of it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.commands import (
    CommandError,
    ConsensusCommand,
    ShareResultsCommand,
    SurveyRef,
    help_text,
    parse_command,
    refusal,
)
from bot.commands.models import Scope
from tests.conftest import FIXED_NOW


def _parse(text: str) -> ConsensusCommand:
    command = parse_command(text, frameworks=[], now=FIXED_NOW, tz=ZoneInfo("Europe/London"))
    assert isinstance(command, ConsensusCommand)
    return command


def test_a_lead_names_the_round_and_the_elements_to_add() -> None:
    command = _parse("consensus 12 add vision, data")
    assert command.survey == SurveyRef(number=12)
    assert command.elements == ("vision", "data")


def test_names_are_split_at_commas_but_quoted_names_stay_whole() -> None:
    command = _parse(
        'consensus #12 add "Membership, neighbourhood", Health and Care Needs Assessment; culture'
    )
    assert command.elements == ("Membership, neighbourhood", "Health and Care Needs Assessment", "culture")


def test_without_a_survey_it_means_the_latest_here_and_without_add_only_the_split_ones() -> None:
    assert _parse("consensus") == ConsensusCommand()
    assert _parse("consensus add vision") == ConsensusCommand(elements=("vision",))
    assert _parse("consensus Winter review") == ConsensusCommand(survey=SurveyRef(fragment="Winter review"))


def test_add_without_names_asks_which() -> None:
    with pytest.raises(CommandError) as error:
        parse_command("consensus 12 add", frameworks=[], now=FIXED_NOW, tz=ZoneInfo("Europe/London"))
    assert "Add which elements?" in error.value.message
    assert error.value.kind == "consensus"


def test_only_leads_open_one() -> None:
    assert refusal("consensus", Scope.TEAM, is_lead=False) is not None
    assert refusal("consensus", Scope.TEAM, is_lead=True) is None


def test_a_lead_shares_a_closed_rounds_results_by_number_or_the_latest_here() -> None:
    def parsed(text: str) -> object:
        return parse_command(text, frameworks=[], now=FIXED_NOW, tz=ZoneInfo("Europe/London"))

    assert parsed("share results #13") == ShareResultsCommand(survey=SurveyRef(number=13))
    assert parsed("share results") == ShareResultsCommand()
    assert parsed("share result winter") == ShareResultsCommand(survey=SurveyRef(fragment="winter"))
    assert refusal("share_results", Scope.TEAM, is_lead=False) is not None
    assert refusal("share_results", Scope.PERSONAL, is_lead=True) is None


def test_help_on_consensus_tells_the_lead_to_share_the_results_once_closed() -> None:
    assert "share results #N" in help_text(Scope.TEAM, True, "consensus")
    assert "share results [survey]" in help_text(Scope.TEAM, True, "share results")
