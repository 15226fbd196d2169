"""Which rule gives a consensus round's verdict is a deployment's choice (CONSENSUS_RULE)."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from frameworks.summary import ConsensusRule


def test_the_consensus_verdict_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).summary_rules.consensus_rule is ConsensusRule.SPLIT
    monkeypatch.setenv("CONSENSUS_RULE", "scirocco")
    assert Settings(_env_file=None).summary_rules.consensus_rule is ConsensusRule.SCIROCCO


def test_an_unknown_consensus_rule_stops_the_bot_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSENSUS_RULE", "delphi")
    with pytest.raises(Exception, match="'split' or 'scirocco'"):
        Settings(_env_file=None)
