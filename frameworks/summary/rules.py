"""What a summary may show and how it decides: every threshold in one frozen model, so settings can
change them (each rule is explained where it is applied: consensus, anonymity, highlights, changes)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from frameworks.summary.delphi_models import ConsensusRule


class Weighting(StrEnum):
    RESPONDENT = "respondent"
    ORGANISATION = "organisation"


class SummaryRules(BaseModel):
    """Every threshold of a summary, so settings can change them; defaults are explained where
    they apply (`frameworks.summary.consensus`, `.anonymity`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(default=3, ge=2)
    """Fewest respondents (answers) behind any figure that is shown."""
    k_orgs: int = Field(default=2, ge=1)
    """Fewest organisations behind a figure shown for an organisation type."""
    weighting: Weighting = Weighting.ORGANISATION
    submitted_only: bool = False
    """Count only submitted responses' answers (response rates always count everyone)."""
    score_band: float = Field(default=1.0, ge=0)
    outside_share: float = Field(default=1 / 3, gt=0, le=1)
    min_outside: int = Field(default=2, ge=1)
    level_iqr_split: float = Field(default=2.0, gt=0)
    level_org_gap: float = Field(default=2.0, gt=0)
    score_org_gap: float = Field(default=3.0, gt=0)
    status_minority_share: float = Field(default=1 / 3, gt=0, le=0.5)
    at_risk_share: float = Field(default=1 / 3, gt=0, le=1)
    highlights: int = Field(default=3, ge=0)
    """How many elements each highlight list names at most."""
    min_move_steps: float = Field(default=0.5, gt=0)
    """A change of the headline median by this many steps (or more) makes an element a mover."""
    min_move_share: float = Field(default=0.25, gt=0, le=1)
    """A change of a status outcome's concern share by this much (or more) makes it a mover."""
    consensus_rule: ConsensusRule = ConsensusRule.SPLIT
    """Which agreement rule gives a consensus round's verdict (both are reported: summary.delphi)."""

    def weighted(self, weighting: Weighting | str | None) -> SummaryRules:
        """These rules with the weighting a lead chose for one summary (None: unchanged)."""
        if weighting is None or Weighting(weighting) is self.weighting:
            return self
        return self.model_copy(update={"weighting": Weighting(weighting)})


THRESHOLDS = (
    "score_band",
    "outside_share",
    "min_outside",
    "level_iqr_split",
    "level_org_gap",
    "score_org_gap",
    "status_minority_share",
    "at_risk_share",
    "min_move_steps",
    "min_move_share",
    "highlights",
)
"""The rules a deployment may tune (the `SUMMARY_THRESHOLDS` setting); anonymity and weighting have
settings of their own."""
