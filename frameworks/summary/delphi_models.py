"""The models of a consensus (Delphi) round: what partners are shown of the first round, frozen when the
round opens (`FirstRound`, stored as `Survey.first_round`), and what the round changed (`ConsensusSummary`,
part of the survey's summary). How they are computed is `frameworks.summary.delphi`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsensusRule(StrEnum):
    """Which agreement rule decides "consensus reached": the summary's split rule (`SummaryRules`), or
    SCIROCCO's (fewer than 4 ratings outside the 3-point band containing the median). Both are always
    reported; this one gives the verdict."""

    SPLIT = "split"
    SCIROCCO = "scirocco"


class ConsensusHidden(StrEnum):
    """Why a consensus round's results are kept from partners and channels: it still takes answers (no
    anchoring), or it has closed and no lead has shared them yet (`share results`)."""

    TAKING_ANSWERS = "taking answers"
    NOT_SHARED = "not shared"


class FirstRoundElement(_Frozen):
    """One element as partners see the first round in a consensus round: no figure below k, no name."""

    element_id: str
    title: str
    labels: list[str]
    """The scale's points, in order: level labels, scores or statuses."""
    counts: list[int] | None = None
    """Answers per point, as the first round's summary showed them; None when it showed none (below k)."""
    reasons: list[str] = Field(default_factory=list)
    """Comments given, sorted, never attributed; empty unless at least k people commented."""
    more_reasons: int = 0
    """Reasons left out to keep the card short."""
    added: bool = False
    """Asked again because the lead added it, not because partners split on it."""


class FirstRound(_Frozen):
    """What every partner of a consensus round is shown of the round before it (`Survey.first_round`)."""

    parent_survey_id: int
    parent_title: str
    k: int
    elements: list[FirstRoundElement]

    def element(self, element_id: str) -> FirstRoundElement | None:
        return next((e for e in self.elements if e.element_id == element_id), None)


class Agreement(_Frozen):
    """Whether partners agreed on an element in one round, by both rules; None where nothing is shown."""

    n: int | None = None
    median_label: str | None = None
    split: bool | None = None
    """The summary's split rule (frameworks.summary.consensus)."""
    scirocco: bool | None = None
    """SCIROCCO: agreed when fewer than 4 ratings fall outside the 3-point band containing the median
    (levels and scores only)."""
    outside: int | None = None
    """Ratings outside that band."""

    def agreed(self, rule: ConsensusRule) -> bool | None:
        if rule is ConsensusRule.SCIROCCO:
            return self.scirocco
        return None if self.split is None else not self.split


class ElementConsensus(_Frozen):
    element_id: str
    title: str
    domain_id: str
    added: bool = False
    before: Agreement
    after: Agreement
    answered_both: int | None = None
    """People who rated it in both rounds; None below k."""
    changed: int | None = None
    """Of those, how many changed their rating (stability: fewer is more stable)."""
    reached: bool | None = None
    """Consensus reached after the round, by the summary's rule; None when the round shows no figures."""


class ConsensusSummary(_Frozen):
    """A consensus round beside the round it revisited: per element, agreement before and after."""

    consensus_survey_id: int
    consensus_title: str
    parent_survey_id: int
    parent_title: str
    rule: ConsensusRule
    open: bool = False
    """Still taking answers: a round's summary then says only that it is running (no anchoring)."""
    hidden: ConsensusHidden | None = None
    """Why its results are not for partners yet (None: shared). Without elements, a round's summary says
    only that; with them, the figures are a lead's own view."""
    asked: int = 0
    """How many elements it asks again."""
    elements: list[ElementConsensus] = Field(default_factory=list)

    @property
    def still_split(self) -> list[ElementConsensus]:
        return [e for e in self.elements if e.reached is False]

    @property
    def reached(self) -> list[ElementConsensus]:
        return [e for e in self.elements if e.reached is True]
