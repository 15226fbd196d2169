"""Partnership summaries: statistics, consensus rules and anonymity, computed from counted answers.

Pure and synchronous. `storage.summaries` runs the GROUP BY queries; everything here works on what they
return, histograms with one bucket per scale point, element and organisation, so the cost does not grow
with the number of answers. Import from here; the modules, in the order a summary is made:

    rules       `SummaryRules` and `Weighting`: every threshold, so settings can change them
    inputs      what the queries return (`SurveyData`, `AnswerCount`, ...) and the `is_answer` rule
    models      the published summary (`SurveySummary` and its parts), rendered by cards and exports
    stats       medians, quartiles and shares over histograms; where a value sits on its scale
    anonymity   which groups may be shown (k, k_orgs, complementary suppression) and the notes saying so
    consensus   the headline under the weighting, and when partners are split
    build       `summarise`: elements, domains and response rates
    targets     where partners want to be: target headlines, gaps, `biggest_agreed_gaps`
    highlights  strengths, gaps, divergences, movers, at-risk outcomes
    changes     `compare`: what moved between two summaries
    comments    `lead_comments`: comment texts for the lead only
    delphi      consensus rounds: the elements asked again, the first round shown, before and after
    personal    `personal_view`: one partner's answers beside the published figures (import it from there)
"""

from frameworks.summary.build import since_last_post, summarise, with_changes
from frameworks.summary.changes import compare
from frameworks.summary.comments import lead_comments
from frameworks.summary.delphi import (
    Chosen,
    Unknown,
    choose_elements,
    compare_rounds,
    consensus_framework,
    first_round,
    hidden_round,
    scirocco,
    with_consensus,
)
from frameworks.summary.delphi_models import (
    Agreement,
    ConsensusHidden,
    ConsensusRule,
    ConsensusSummary,
    ElementConsensus,
    FirstRound,
    FirstRoundElement,
)
from frameworks.summary.inputs import (
    NO_KIND,
    UNASSIGNED,
    AnswerCount,
    OrganisationInfo,
    ResponseCount,
    SurveyData,
    is_answer,
)
from frameworks.summary.models import (
    Bucket,
    Changes,
    Divergence,
    DomainChange,
    DomainSummary,
    ElementChange,
    ElementComments,
    ElementRef,
    ElementSummary,
    FigureChange,
    Figures,
    Headline,
    HighlightItem,
    Highlights,
    KindFigures,
    KindRate,
    LeadComments,
    OrganisationFigures,
    OrganisationRate,
    RateFigures,
    ResponseRate,
    ScaleInfo,
    ScalePoint,
    SplitReason,
    Spread,
    StatusOverview,
    StatusShare,
    Suppressed,
    SuppressionReason,
    SuppressionScope,
    SurveySummary,
    TargetFigures,
    WorkstreamRisk,
)
from frameworks.summary.rules import THRESHOLDS, SummaryRules, Weighting
from frameworks.summary.targets import AGREED_GAPS, AgreedGap, biggest_agreed_gaps

__all__ = [
    "AGREED_GAPS",
    "NO_KIND",
    "THRESHOLDS",
    "UNASSIGNED",
    "AgreedGap",
    "Agreement",
    "AnswerCount",
    "Bucket",
    "Changes",
    "Chosen",
    "ConsensusHidden",
    "ConsensusRule",
    "ConsensusSummary",
    "Divergence",
    "DomainChange",
    "DomainSummary",
    "ElementChange",
    "ElementComments",
    "ElementConsensus",
    "ElementRef",
    "ElementSummary",
    "FigureChange",
    "Figures",
    "FirstRound",
    "FirstRoundElement",
    "Headline",
    "HighlightItem",
    "Highlights",
    "KindFigures",
    "KindRate",
    "LeadComments",
    "OrganisationFigures",
    "OrganisationInfo",
    "OrganisationRate",
    "RateFigures",
    "ResponseCount",
    "ResponseRate",
    "ScaleInfo",
    "ScalePoint",
    "SplitReason",
    "Spread",
    "StatusOverview",
    "StatusShare",
    "SummaryRules",
    "Suppressed",
    "SuppressionReason",
    "SuppressionScope",
    "SurveyData",
    "SurveySummary",
    "TargetFigures",
    "Unknown",
    "Weighting",
    "WorkstreamRisk",
    "biggest_agreed_gaps",
    "choose_elements",
    "compare",
    "compare_rounds",
    "consensus_framework",
    "first_round",
    "hidden_round",
    "is_answer",
    "lead_comments",
    "scirocco",
    "since_last_post",
    "summarise",
    "with_changes",
    "with_consensus",
]
