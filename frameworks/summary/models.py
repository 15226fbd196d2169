"""The summary as it is published: frozen models, no comment texts, no group below the anonymity
thresholds. Cards, texts, charts and exports render these; stored posts keep them as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from frameworks.schema import Rag, ScaleKind
from frameworks.summary.delphi_models import ConsensusSummary
from frameworks.summary.rules import SummaryRules, Weighting


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScalePoint(_Out):
    key: str
    """The answer token: a level id, a signed score such as '+2', or a status id."""
    label: str
    value: int | None = None
    """Level value or score; None for statuses."""
    rag: Rag | None = None


class ScaleInfo(_Out):
    kind: ScaleKind
    points: list[ScalePoint]
    min_label: str | None = None
    max_label: str | None = None

    @property
    def width(self) -> int:
        """Steps from one end of the scale to the other."""
        return len(self.points) - 1


class Bucket(_Out):
    key: str
    label: str
    value: int | None = None
    rag: Rag | None = None
    count: int
    share: float
    """Of n (the answers given, skips excluded)."""


class Spread(_Out):
    """How far apart the answers (or the organisations' medians) are, in scale values and in steps."""

    min: float
    max: float
    range_steps: float
    q1: float
    q3: float
    iqr: float
    iqr_steps: float
    sd: float | None = None
    """Sample SD; None below two values."""


class Figures(_Out):
    """One group's answers to one element, or pooled over a domain's elements."""

    n: int
    skipped: int
    counts: list[int]
    """The distribution: answers per point of the scale, in the order of `ScaleInfo.points`."""
    median: float | None = None
    median_label: str | None = None
    mean: float | None = None
    spread: Spread | None = None
    status: str | None = None
    """Status scales: the most common status id."""
    status_label: str | None = None
    concern_share: float | None = None
    """Status scales: amber or red among the RAG-coloured ratings."""

    def buckets(self, scale: ScaleInfo) -> list[Bucket]:
        """The distribution with its labels, for rendering; `scale` is the element's domain scale."""
        return buckets_of(scale.points, self.counts)


class OrganisationFigures(Figures):
    organisation_id: int | None
    name: str
    kind: str | None = None
    elements: int | None = None
    """Domain cells: how many of the domain's elements the figures cover."""


class KindFigures(Figures):
    kind: str | None
    label: str
    organisations: int
    elements: int | None = None


class StatusShare(_Out):
    key: str
    label: str
    rag: Rag
    share: float


class Headline(_Out):
    """The figure to lead with, under the summary's weighting."""

    weighting: Weighting
    votes: int
    """Respondents' answers or organisations, depending on the weighting."""
    median: float | None = None
    median_label: str | None = None
    mean: float | None = None
    status: str | None = None
    status_label: str | None = None
    concern_share: float | None = None
    shares: list[StatusShare] = Field(default_factory=list)
    """Status scales: each status's share of the votes."""


class SplitReason(StrEnum):
    OUTSIDE_BAND = "outside_band"
    WIDE_IQR = "wide_iqr"
    ORGANISATIONS_APART = "organisations_apart"
    STATUS_MIX = "status_mix"
    ORGANISATIONS_DISAGREE = "organisations_disagree"


class Divergence(_Out):
    split: bool
    reasons: list[SplitReason] = Field(default_factory=list)
    outside: int | None = None
    outside_share: float | None = None
    iqr_steps: float | None = None
    organisation_gap_steps: float | None = None
    minority_share: float | None = None
    score: float = 0.0
    """0..1, larger is more divided: used to rank the biggest divergences."""


class SuppressionScope(StrEnum):
    SURVEY = "survey"
    ELEMENT = "element"
    ORGANISATIONS = "organisations"
    KINDS = "kinds"
    COMMENTS = "comments"


class SuppressionReason(StrEnum):
    FEW_RESPONDENTS = "few_respondents"
    FEW_ORGANISATIONS = "few_organisations"
    COMPLEMENTARY = "complementary"
    """Hidden so the other hidden groups cannot be worked out from the totals."""


class Suppressed(_Out):
    """Figures left out of the summary: how many groups, and why. Never which ones."""

    scope: SuppressionScope
    reason: SuppressionReason
    count: int = 1
    message: str


class TargetFigures(_Out):
    """Where partners want to be (a survey asked with a target): the headline of the targets given, under
    the summary's weighting and anonymity rules exactly as the current headline, and the gap from now."""

    n: int | None = None
    """Targets given (pooled over a domain's elements); None when fewer than k, and nothing is shown."""
    headline: Headline | None = None
    gap: float | None = None
    """Target headline median minus the current one, in steps (levels or points); None unless both show."""
    split: bool | None = None
    """Elements: partners split on the target (the same rule as on answers); None for domains."""
    suppressed: list[Suppressed] = Field(default_factory=list)


class ElementSummary(_Out):
    element_id: str
    title: str
    domain_id: str
    position: int
    """Order of the element in the framework."""
    group: str | None = None
    milestone: str | None = None
    scale: ScaleKind
    scored: bool
    not_scored_note: str | None = None
    respondents: int | None = None
    """People who answered, skipped or commented; None when fewer than k answered (`is_answer`)."""
    overall: Figures | None = None
    """One respondent, one vote; None when not scored or suppressed."""
    headline: Headline | None = None
    organisation_spread: Spread | None = None
    """Between the shown organisations' medians."""
    organisations: list[OrganisationFigures] = Field(default_factory=list)
    kinds: list[KindFigures] = Field(default_factory=list)
    divergence: Divergence | None = None
    at_risk: bool | None = None
    comments: int | None = None
    suppressed: list[Suppressed] = Field(default_factory=list)
    wording: str | None = None
    """`frameworks.versions.descriptor_fingerprint` of the words answered against, so rounds of two
    framework versions can tell a reworded element (None in summaries stored before it was kept)."""
    target: TargetFigures | None = None
    """A target survey's levels and scores: where partners want to be, and the gap."""


class DomainSummary(_Out):
    domain_id: str
    title: str
    scale: ScaleInfo
    elements: list[ElementSummary]
    overall: Figures | None = None
    """Every shown answer to the domain's scored elements, pooled (n counts ratings, not people)."""
    headline: Headline | None = None
    organisation_spread: Spread | None = None
    organisations: list[OrganisationFigures] = Field(default_factory=list)
    kinds: list[KindFigures] = Field(default_factory=list)
    split_elements: int = 0
    comments: int | None = None
    notes: list[str] = Field(default_factory=list)
    target: TargetFigures | None = None
    """A target survey's levels and scores: the targets pooled over the domain's shown elements."""


class RateFigures(_Out):
    invited: int
    started: int | None = None
    completed: int | None = None
    started_share: float | None = None
    """Of those invited; None when nobody was invited."""
    completed_share: float | None = None


class OrganisationRate(RateFigures):
    organisation_id: int | None
    name: str
    kind: str | None = None


class KindRate(RateFigures):
    kind: str | None
    label: str
    organisations: int


class ResponseRate(_Out):
    overall: RateFigures
    organisations: list[OrganisationRate] = Field(default_factory=list)
    kinds: list[KindRate] = Field(default_factory=list)
    suppressed: list[Suppressed] = Field(default_factory=list)


class ElementRef(_Out):
    element_id: str
    title: str
    domain_id: str
    group: str | None = None
    milestone: str | None = None
    concern_share: float | None = None


class WorkstreamRisk(_Out):
    group: str | None
    label: str
    elements: list[ElementRef]


class StatusOverview(_Out):
    answers: list[Bucket]
    """Every shown status rating, pooled."""
    outcomes: list[Bucket]
    """Outcomes counted by their headline status."""
    at_risk: list[WorkstreamRisk]
    """At-risk outcomes by workstream (element group), in framework order."""


class HighlightItem(_Out):
    element_id: str
    title: str
    domain_id: str
    domain_title: str
    median: float | None = None
    median_label: str | None = None
    mean: float | None = None
    status_label: str | None = None
    measure: float
    """What the list is ranked on: the median's place on the scale (0..1), the divergence score, or the
    change (-1..1, positive is better)."""
    change: float | None = None
    reasons: list[SplitReason] = Field(default_factory=list)


class Highlights(_Out):
    strengths: list[HighlightItem] = Field(default_factory=list)
    gaps: list[HighlightItem] = Field(default_factory=list)
    divergences: list[HighlightItem] = Field(default_factory=list)
    movers: list[HighlightItem] = Field(default_factory=list)
    at_risk: list[HighlightItem] = Field(default_factory=list)


class FigureChange(_Out):
    before_median: float | None = None
    after_median: float | None = None
    median_change: float | None = None
    before_mean: float | None = None
    after_mean: float | None = None
    mean_change: float | None = None
    before_status: str | None = None
    after_status: str | None = None
    before_concern: float | None = None
    after_concern: float | None = None
    concern_change: float | None = None
    shift: float
    """The change as a share of the scale (-1..1); for statuses, the fall in concern. Positive is better."""
    moved: bool


class ElementChange(FigureChange):
    element_id: str
    title: str
    domain_id: str
    reworded: bool = False
    """Its descriptors (or question) were reworded since the earlier round: compared, and flagged."""


class DomainChange(FigureChange):
    domain_id: str
    title: str


class Changes(_Out):
    previous_survey_id: int
    previous_title: str
    previous_generated_at: datetime
    previous_respondents: int | None = None
    basis: Weighting
    """Headlines are compared when both summaries used the same weighting, else respondent figures."""
    elements: list[ElementChange] = Field(default_factory=list)
    domains: list[DomainChange] = Field(default_factory=list)
    not_compared: list[str] = Field(default_factory=list)
    """Element ids in both rounds that could not be compared (their scale changed)."""
    left_out: int = 0
    """Scored elements in only one of the two rounds (the framework gained or lost them between
    versions): left out of the comparison, as are the domains whose scored elements differ."""


class SurveySummary(_Out):
    """The channel-facing summary: no comment texts, no group below the anonymity thresholds."""

    survey_id: int
    title: str
    framework_id: str
    framework_title: str
    framework_version: str
    partnership_id: int | None = None
    partnership_name: str | None = None
    created_at: datetime
    generated_at: datetime
    rules: SummaryRules
    weighting: Weighting
    respondents: int | None = None
    """None when below k: then no results are shown at all."""
    response_rate: ResponseRate
    domains: list[DomainSummary]
    statuses: StatusOverview | None = None
    highlights: Highlights
    changes: Changes | None = None
    """Since the previous round of the framework (or a given earlier summary): drives trends and movers."""
    since_last: Changes | None = None
    """Since the summary last posted to the same channel, when there was one (`since_last_post`)."""
    suppressed: list[Suppressed] = Field(default_factory=list)
    target_months: int | None = None
    """The survey also asked where partners want to be in this many months; None: current only."""
    consensus: ConsensusSummary | None = None
    """A consensus round's agreement before and after, in its own summary and in the round it revisited
    (frameworks.summary.delphi)."""


class ElementComments(_Out):
    element_id: str
    title: str
    domain_id: str
    comments: list[str]


class LeadComments(_Out):
    """Comment texts for the lead only: never attributed, never part of `SurveySummary`."""

    survey_id: int
    title: str
    elements: list[ElementComments]
    suppressed: list[Suppressed] = Field(default_factory=list)


def buckets_of(points: Sequence[ScalePoint], counts: Sequence[int]) -> list[Bucket]:
    total = sum(counts)
    return [
        Bucket(key=p.key, label=p.label, value=p.value, rag=p.rag, count=c, share=c / total if total else 0.0)
        for p, c in zip(points, counts, strict=True)
    ]
