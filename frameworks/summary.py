"""Partnership summaries: statistics, consensus rules and anonymity, computed from counted answers.

Pure and synchronous. `storage.summaries` runs the GROUP BY queries; everything here works on what they
return, histograms with one bucket per scale point, element and organisation, so the cost does not grow
with the number of answers.

Statistics
    Levels and scores are ordinal, so every cell gives n, the distribution and the median first, the
    mean second. The median and quartiles interpolate between order statistics (Hyndman & Fan type 7,
    the default of R, NumPy and Excel's QUARTILE.INC): an even count whose middle answers differ has a
    half-way median, labelled "Developing–Maturing" or "+2.5". SD is the sample SD (n − 1). "Steps"
    measure distances along a scale: one level of a matrix, one point of a score. Statuses are
    categorical: counts and shares, the most common status (a tie goes to the more worrying colour) and
    the concern share (amber or red among the ratings that carry a RAG colour). Skipped answers count
    as skipped, never in n. Elements in development (`Framework.scored_elements`) are listed, never
    scored.

Weighting (`SummaryRules.weighting`; every `Headline` says which was used)
    respondent: one respondent, one vote: the pooled answers.
    organisation: one organisation, one vote: each organisation's median (mean, status shares) first,
    then the median (mean, average shares) across organisations, so a large trust cannot swamp a small
    VCSE partner. People without an organisation vote together as "Unassigned". Organisations whose own
    figures are suppressed keep one vote each, all cast with the median of their pooled answers (the
    only figure about them a summary may hold, see Anonymity). The respondent figures are always kept.

Consensus and divergence: an element is "split" when partners disagree. The rule adapts the RAND/UCLA
appropriateness method (Fitch et al. 2001, user's manual: a panel of nine agrees when no more than two
panellists rate outside the 3-point region containing the median) and the Delphi convention of reading
consensus off the interquartile range (IQR ≤ 1 on 4- or 5-point scales; von der Gracht 2012,
Technological Forecasting & Social Change 79:1525). With the default `SummaryRules`:
    score scales: split when at least `min_outside` (2) ratings, and at least `outside_share` (1/3) of
        them, lie further than `score_band` (1) from the median: outside the band median−1..median+1.
        (A half-way median such as 2.5 keeps only 2 and 3 inside.)
    level scales: split when the IQR spans at least `level_iqr_split` (2) levels.
    both: split when two shown organisations' medians are `level_org_gap` (2) levels or `score_org_gap`
        (3) points apart: their 3-point bands no longer overlap.
    statuses: split when each side, blue/green and amber/red, holds at least `min_outside` ratings and
        `status_minority_share` (1/3) of the RAG-coloured ones; or when one shown organisation's most
        common status is amber/red and another's blue/green.
An outcome on a status scale is "at risk" when its headline concern share reaches `at_risk_share`.

Anonymity. Nothing about a group below `k` respondents is ever in a summary: its figures are left out,
not flagged, and a `Suppressed` note says how many groups are missing and why.
    - A survey with fewer than k respondents shows only how many people were invited.
    - An element's figures need k answers; an organisation's figures on an element need k answers from it.
    - An organisation type's figures need k answers and `k_orgs` organisations, so a type that is one
      organisation (a lone VCSE partner) is never shown as a type.
    - Comments (counts, and the lead-only texts) of an element need k people who answered it.
      Texts are never attributed, and are sorted so their order reveals nothing.
    "Answered" means one thing for every k rule (`is_answer`): an answer row that is not a skip (a
    value, or a comment on a question that takes none, such as one still being written). A skip, with
    or without a comment, is not an answer. Exports and erasure count people by the same rule
    (storage.summaries.answered).
    - Response rates by organisation and by type follow the same rules on the number who started;
      an organisation where nobody started is hidden too, as showing it would single out its invitees.
Differencing. The overall figure minus the shown groups is the pooled figure of the hidden ones, so the
hidden groups are also checked as pools (complementary suppression, as statistics offices do it):
    - types: if the hidden types together have fewer than k answers or fewer than k_orgs organisations,
      the smallest shown type is hidden too, until they pass (or no type is shown);
    - organisations: within each shown type, and among the organisations whose type is not shown, the
      hidden organisations together need k answers, else the smallest shown one is hidden as well.
The shown figures form a tree of sums (overall ⊃ types ⊃ organisations). What a tree of sums lets anyone
derive is exactly these pools (each shown figure minus the shown figures just below it), and each pool is
empty or has k answers or more; a pool that is a single organisation has k answers, so showing it
outright would have been allowed. Domain figures, organisation votes, spreads and changes are computed
only from element figures that are shown and from these pools, so they disclose nothing further.
Known limit: numbers of people, unlike answers, can sometimes be bounded across breakdowns (a pool's
answer count against a shown organisation's number who started); no answer of a hidden group can.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from frameworks.schema import Domain, Element, Framework, LevelsScale, Rag, ScaleKind, ScoreScale
from frameworks.versions import descriptor_fingerprint

OrgKey = int | None
KindKey = str | None

UNASSIGNED = "Unassigned"
"""How people without an organisation are shown."""
NO_KIND = "Type not recorded"

_CONCERN = frozenset({Rag.AMBER, Rag.RED})
_POSITIVE = frozenset({Rag.BLUE, Rag.GREEN})
_WORRY = {Rag.RED: 0, Rag.AMBER: 1, Rag.GREY: 2, Rag.GREEN: 3, Rag.BLUE: 4}
"""Order in which a tie between statuses is settled: the more worrying colour wins."""


# Rules ---------------------------------------------------------------------------------------------


class Weighting(StrEnum):
    RESPONDENT = "respondent"
    ORGANISATION = "organisation"


class SummaryRules(BaseModel):
    """Every threshold of a summary, so settings can change them; defaults are explained in the module."""

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


# What the queries return ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerCount:
    """How many answer rows of one element and organisation carry one value (None: skipped or comment)."""

    element_id: str
    organisation_id: int | None
    value: str | None
    skipped: bool
    count: int
    comments: int


def is_answer(*, skipped: bool) -> bool:
    """Whether an answer row counts as answered for a k rule: anything but a skip (module docstring)."""
    return not skipped


@dataclass(frozen=True, slots=True)
class ResponseCount:
    organisation_id: int | None
    invited: int
    started: int
    completed: int


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    id: int
    name: str
    kind: str | None


@dataclass(frozen=True)
class SurveyData:
    """Everything a summary of one survey is computed from; the framework is the survey's snapshot."""

    survey_id: int
    title: str
    framework: Framework
    created_at: datetime
    answers: Sequence[AnswerCount]
    responses: Sequence[ResponseCount]
    organisations: Mapping[int, OrganisationInfo]
    partnership_id: int | None = None
    partnership_name: str | None = None


# Result models ---------------------------------------------------------------------------------------


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
        return _buckets(scale.points, self.counts)


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


# Statistics over histograms ------------------------------------------------------------------------


class _Ranked:
    """(steps, value, count) triples in scale order: order statistics and moments of a histogram,
    without expanding it into answers. Steps and values rise together, so one scan serves both."""

    __slots__ = ("items", "n")

    def __init__(self, items: list[tuple[float, float, int]]) -> None:
        self.items = items
        self.n = sum(count for _, _, count in items)

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float, int]]) -> _Ranked:
        merged: dict[tuple[float, float], int] = defaultdict(int)
        for steps, value, count in pairs:
            merged[steps, value] += count
        return cls(sorted((steps, value, count) for (steps, value), count in merged.items() if count > 0))

    def _order(self, index: int) -> tuple[float, float]:
        seen = 0
        for steps, value, count in self.items:
            seen += count
            if index < seen:
                return steps, value
        raise IndexError(index)

    def quantile(self, p: float) -> tuple[float, float]:
        """Hyndman & Fan type 7, in steps and in values: linear between the order statistics around
        (n − 1)p."""
        h = (self.n - 1) * p
        low = math.floor(h)
        fraction = h - low
        s0, v0 = self._order(low)
        s1, v1 = self._order(min(low + 1, self.n - 1))
        return s0 + fraction * (s1 - s0), v0 + fraction * (v1 - v0)

    def mean(self) -> float:
        return sum(value * count for _, value, count in self.items) / self.n

    def sd(self) -> float | None:
        if self.n < 2:
            return None
        mean = self.mean()
        return math.sqrt(sum(count * (value - mean) ** 2 for _, value, count in self.items) / (self.n - 1))

    def spread(self) -> Spread:
        (q1_steps, q1), (q3_steps, q3) = self.quantile(0.25), self.quantile(0.75)
        return Spread(
            min=float(self.items[0][1]),
            max=float(self.items[-1][1]),
            range_steps=float(self.items[-1][0] - self.items[0][0]),
            q1=q1,
            q3=q3,
            iqr=q3 - q1,
            iqr_steps=q3_steps - q1_steps,
            sd=self.sd(),
        )


@dataclass(frozen=True)
class _Scale:
    info: ScaleInfo
    by_key: dict[str, ScalePoint]
    position: dict[str, int]

    @property
    def numeric(self) -> bool:
        return self.info.kind is not ScaleKind.STATUS

    def label(self, value: float) -> str:
        if self.info.kind is ScaleKind.SCORE:
            return _signed(value)
        points = self.info.points
        for point in points:
            if point.value == value:
                return point.label
        low = max((p for p in points if (p.value or 0) < value), key=lambda p: p.value or 0)
        high = min((p for p in points if (p.value or 0) > value), key=lambda p: p.value or 0)
        return f"{low.label}–{high.label}"


def _buckets(points: Sequence[ScalePoint], counts: Sequence[int]) -> list[Bucket]:
    total = sum(counts)
    return [
        Bucket(key=p.key, label=p.label, value=p.value, rag=p.rag, count=c, share=c / total if total else 0.0)
        for p, c in zip(points, counts, strict=True)
    ]


def _steps(scale: ScaleInfo, value: float) -> float:
    """A value's distance from the bottom of the scale, in steps (level values may have gaps)."""
    values = [point.value or 0 for point in scale.points]
    if scale.kind is ScaleKind.SCORE:
        return value - values[0]
    for index in range(len(values) - 1):
        low, high = values[index], values[index + 1]
        if value <= high:
            return index + (value - low) / (high - low)
    return float(len(values) - 1)


def _signed(value: float) -> str:
    if value == 0:
        return "0"
    text = f"{value:+.2f}".rstrip("0").rstrip(".")
    return text


def _scale_of(framework: Framework, domain: Domain) -> _Scale:
    scale = framework.scale_for(domain)
    if isinstance(scale, LevelsScale):
        info = ScaleInfo(
            kind=ScaleKind.LEVELS,
            points=[ScalePoint(key=lv.id, label=lv.label, value=lv.value) for lv in scale.levels],
        )
    elif isinstance(scale, ScoreScale):
        info = ScaleInfo(
            kind=ScaleKind.SCORE,
            points=[ScalePoint(key=_signed(v), label=_signed(v), value=v) for v in scale.values],
            min_label=scale.min_label,
            max_label=scale.max_label,
        )
    else:
        info = ScaleInfo(
            kind=ScaleKind.STATUS,
            points=[ScalePoint(key=s.id, label=s.label, rag=s.rag) for s in scale.statuses],
        )
    return _Scale(
        info,
        {point.key: point for point in info.points},
        {point.key: index for index, point in enumerate(info.points)},
    )


@dataclass
class _Fig:
    """A cell's figures while the summary is built; `_figure_fields` turns it into the model."""

    counts: Mapping[str, int]
    skipped: int
    n: int
    median: float | None = None
    median_steps: float | None = None
    mean: float | None = None
    spread: Spread | None = None
    ranked: _Ranked | None = None
    status: str | None = None
    concern: float | None = None
    shares: dict[str, float] = field(default_factory=dict)


def _fig(scale: _Scale, counts: Mapping[str, int], skipped: int) -> _Fig:
    points = scale.info.points
    present = [(index, point, counts.get(point.key, 0)) for index, point in enumerate(points)]
    present = [item for item in present if item[2] > 0]
    n = sum(count for _, _, count in present)
    fig = _Fig({point.key: count for _, point, count in present}, skipped, n)
    if n == 0:
        return fig
    fig.shares = {point.key: count / n for _, point, count in present}
    if scale.numeric:
        ranked = _Ranked([(index, point.value or 0, count) for index, point, count in present])
        fig.median_steps, fig.median = ranked.quantile(0.5)
        fig.mean = ranked.mean()
        fig.ranked = ranked
        fig.spread = ranked.spread()
    else:
        fig.status = _modal_status(scale, fig.shares)
        fig.concern = _concern(scale, fig.shares)
    return fig


def _modal_status(scale: _Scale, shares: Mapping[str, float]) -> str | None:
    if not shares:
        return None
    return min(
        shares,
        key=lambda key: (
            -round(shares[key], 9),
            _WORRY[scale.by_key[key].rag or Rag.GREY],
            scale.position[key],
        ),
    )


def _concern(scale: _Scale, shares: Mapping[str, float]) -> float | None:
    coloured = sum(share for key, share in shares.items() if scale.by_key[key].rag in _CONCERN | _POSITIVE)
    if coloured <= 0:
        return None
    return sum(share for key, share in shares.items() if scale.by_key[key].rag in _CONCERN) / coloured


def _figures(scale: _Scale, fig: _Fig) -> Figures:
    return Figures(**_figure_fields(scale, fig))


def _figure_fields(scale: _Scale, fig: _Fig) -> dict[str, Any]:
    status = scale.by_key[fig.status] if fig.status else None
    return {
        "n": fig.n,
        "skipped": fig.skipped,
        "counts": [fig.counts.get(point.key, 0) for point in scale.info.points],
        "median": fig.median,
        "median_label": scale.label(fig.median) if fig.median is not None else None,
        "mean": fig.mean,
        "spread": fig.spread,
        "status": fig.status,
        "status_label": status.label if status else None,
        "concern_share": fig.concern,
    }


# Anonymity -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leaf:
    """One organisation (or the unassigned) in one breakdown: `n` is what k protects."""

    key: OrgKey
    kind: KindKey
    n: int
    label: str


@dataclass
class _Publication:
    root: bool
    kinds: set[KindKey] = field(default_factory=set)
    orgs: set[OrgKey] = field(default_factory=set)
    hidden_kinds: Counter[SuppressionReason] = field(default_factory=Counter)
    hidden_orgs: Counter[SuppressionReason] = field(default_factory=Counter)


def _publish(leaves: Sequence[_Leaf], rules: SummaryRules) -> _Publication:
    """Which types and organisations of one breakdown may be shown (module docstring, Anonymity)."""
    k, k_orgs = rules.k, rules.k_orgs
    if not leaves or sum(leaf.n for leaf in leaves) < k:
        return _Publication(root=False)
    result = _Publication(root=True)
    by_kind: dict[KindKey, list[_Leaf]] = defaultdict(list)
    for leaf in leaves:
        by_kind[leaf.kind].append(leaf)

    def total(group: Iterable[_Leaf]) -> int:
        return sum(leaf.n for leaf in group)

    def active(group: Iterable[_Leaf]) -> int:
        return sum(1 for leaf in group if leaf.n > 0)

    for kind, members in by_kind.items():
        if total(members) < k:
            result.hidden_kinds[SuppressionReason.FEW_RESPONDENTS] += 1
        elif active(members) < k_orgs:
            result.hidden_kinds[SuppressionReason.FEW_ORGANISATIONS] += 1
        else:
            result.kinds.add(kind)
    while result.kinds:
        rest = [leaf for leaf in leaves if leaf.kind not in result.kinds]
        if not rest or (total(rest) >= k and active(rest) >= k_orgs):
            break
        smallest = min(result.kinds, key=lambda kind: (total(by_kind[kind]), _kind_label(kind)))
        result.kinds.discard(smallest)
        result.hidden_kinds[SuppressionReason.COMPLEMENTARY] += 1

    result.orgs = {leaf.key for leaf in leaves if leaf.n >= k}
    result.hidden_orgs[SuppressionReason.FEW_RESPONDENTS] = len(leaves) - len(result.orgs)
    # The pools are disjoint: each shown type's members, and everyone whose type is not shown.
    pools = [by_kind[kind] for kind in result.kinds]
    pools.append([leaf for leaf in leaves if leaf.kind not in result.kinds])
    for pool in pools:
        while True:
            hidden = [leaf for leaf in pool if leaf.key not in result.orgs]
            shown = [leaf for leaf in pool if leaf.key in result.orgs]
            if not hidden or total(hidden) >= k or not shown:
                break  # without shown members the pool is the type (or the overall), already checked
            smallest_org = min(shown, key=lambda leaf: (leaf.n, leaf.label))
            result.orgs.discard(smallest_org.key)
            result.hidden_orgs[SuppressionReason.COMPLEMENTARY] += 1
    return result


def _kind_label(kind: KindKey) -> str:
    return kind if kind is not None else NO_KIND


def _org_label(key: OrgKey, organisations: Mapping[int, OrganisationInfo]) -> str:
    if key is None:
        return UNASSIGNED
    info = organisations.get(key)
    return info.name if info else f"Organisation {key}"


def _org_kind(key: OrgKey, organisations: Mapping[int, OrganisationInfo]) -> KindKey:
    info = organisations.get(key) if key is not None else None
    return info.kind if info else None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


_REASONS = (
    SuppressionReason.FEW_RESPONDENTS,
    SuppressionReason.FEW_ORGANISATIONS,
    SuppressionReason.COMPLEMENTARY,
)


def _notes(publication: _Publication, rules: SummaryRules, noun: str) -> list[Suppressed]:
    """Suppression notes for a breakdown: counts and reasons only, never which groups."""
    notes: list[Suppressed] = []
    k = rules.k
    for reason in _REASONS:
        count = publication.hidden_kinds[reason]
        if count <= 0:
            continue
        what = _plural(count, "organisation type", "organisation types")
        message = {
            SuppressionReason.FEW_RESPONDENTS: f"{what} not shown: fewer than {k} {noun}.",
            SuppressionReason.FEW_ORGANISATIONS: (
                f"{what} not shown: fewer than {rules.k_orgs} organisations of that type, "
                "so the figures would identify an organisation."
            ),
            SuppressionReason.COMPLEMENTARY: (
                f"{what} also not shown, so hidden types cannot be worked out from the totals."
            ),
        }[reason]
        notes.append(Suppressed(scope=SuppressionScope.KINDS, reason=reason, count=count, message=message))
    for reason in _REASONS:
        count = publication.hidden_orgs[reason]
        if count <= 0:
            continue
        what = _plural(count, "organisation", "organisations")
        if reason is SuppressionReason.FEW_RESPONDENTS:
            message = f"{what} not shown separately: fewer than {k} {noun} each."
        else:
            message = (
                f"{what} also not shown separately, so hidden ones cannot be worked out from the totals."
            )
        notes.append(
            Suppressed(scope=SuppressionScope.ORGANISATIONS, reason=reason, count=count, message=message)
        )
    return notes


# Voting, divergence ----------------------------------------------------------------------------------


def _headline(
    scale: _Scale,
    rules: SummaryRules,
    overall: _Fig,
    groups: Sequence[_Fig],
    pooled: _Fig | None,
    pooled_votes: int,
) -> Headline:
    if rules.weighting is Weighting.RESPONDENT:
        return _headline_from(scale, Weighting.RESPONDENT, overall.n, overall)
    voters: list[tuple[_Fig, int]] = [(group, 1) for group in groups if group.n > 0]
    if pooled is not None and pooled.n > 0 and pooled_votes > 0:
        voters.append((pooled, pooled_votes))
    votes = sum(weight for _, weight in voters)
    if not votes:
        return _headline_from(scale, Weighting.ORGANISATION, 0, overall)
    if scale.numeric:
        medians = _Ranked.of((fig.median or 0.0, fig.median or 0.0, weight) for fig, weight in voters)
        means = _Ranked.of((fig.mean or 0.0, fig.mean or 0.0, weight) for fig, weight in voters)
        _, median = medians.quantile(0.5)
        return Headline(
            weighting=Weighting.ORGANISATION,
            votes=votes,
            median=median,
            median_label=scale.label(median),
            mean=means.mean(),
        )
    shares: dict[str, float] = defaultdict(float)
    for fig, weight in voters:
        for key, share in fig.shares.items():
            shares[key] += share * weight / votes
    averaged = _Fig(Counter(), 0, 0, shares=dict(shares))
    averaged.status = _modal_status(scale, averaged.shares)
    averaged.concern = _concern(scale, averaged.shares)
    return _headline_from(scale, Weighting.ORGANISATION, votes, averaged)


def _headline_from(scale: _Scale, weighting: Weighting, votes: int, fig: _Fig) -> Headline:
    status = scale.by_key[fig.status] if fig.status else None
    return Headline(
        weighting=weighting,
        votes=votes,
        median=fig.median,
        median_label=scale.label(fig.median) if fig.median is not None else None,
        mean=fig.mean,
        status=fig.status,
        status_label=status.label if status else None,
        concern_share=fig.concern,
        shares=[
            StatusShare(key=p.key, label=p.label, rag=p.rag, share=fig.shares.get(p.key, 0.0))
            for p in scale.info.points
            if p.rag is not None
        ]
        if not scale.numeric
        else [],
    )


def _organisation_spread(scale: _Scale, groups: Sequence[_Fig]) -> Spread | None:
    medians = [g for g in groups if g.median is not None and g.median_steps is not None]
    if len(medians) < 2:
        return None
    return _Ranked.of((g.median_steps or 0.0, g.median or 0.0, 1) for g in medians).spread()


def _divergence(scale: _Scale, rules: SummaryRules, overall: _Fig, groups: Sequence[_Fig]) -> Divergence:
    reasons: list[SplitReason] = []
    width = max(scale.info.width, 1)
    measures: list[float] = []
    fields: dict[str, Any] = {}
    if scale.numeric and overall.ranked is not None and overall.median_steps is not None:
        ranked = overall.ranked
        iqr = ranked.quantile(0.75)[0] - ranked.quantile(0.25)[0]
        fields["iqr_steps"] = iqr
        measures.append(iqr / width)
        if scale.info.kind is ScaleKind.SCORE:
            median = overall.median_steps
            outside = sum(c for steps, _, c in ranked.items if abs(steps - median) > rules.score_band)
            share = outside / overall.n
            fields["outside"], fields["outside_share"] = outside, share
            measures.append(share)
            if outside >= rules.min_outside and share >= rules.outside_share - 1e-9:
                reasons.append(SplitReason.OUTSIDE_BAND)
        elif iqr >= rules.level_iqr_split - 1e-9:
            reasons.append(SplitReason.WIDE_IQR)
        org_medians = [g.median_steps for g in groups if g.median_steps is not None]
        if len(org_medians) >= 2:
            gap = max(org_medians) - min(org_medians)
            fields["organisation_gap_steps"] = gap
            measures.append(gap / width)
            limit = rules.level_org_gap if scale.info.kind is ScaleKind.LEVELS else rules.score_org_gap
            if gap >= limit - 1e-9:
                reasons.append(SplitReason.ORGANISATIONS_APART)
    elif not scale.numeric:
        concern = sum(c for key, c in overall.counts.items() if scale.by_key[key].rag in _CONCERN)
        positive = sum(c for key, c in overall.counts.items() if scale.by_key[key].rag in _POSITIVE)
        if concern + positive:
            minority = min(concern, positive)
            share = minority / (concern + positive)
            fields["minority_share"] = share
            measures.append(2 * share)
            if minority >= rules.min_outside and share >= rules.status_minority_share - 1e-9:
                reasons.append(SplitReason.STATUS_MIX)
        colours = {scale.by_key[g.status].rag for g in groups if g.status is not None}
        if colours & _CONCERN and colours & _POSITIVE:
            reasons.append(SplitReason.ORGANISATIONS_DISAGREE)
            measures.append(1.0)
    return Divergence(
        split=bool(reasons), reasons=reasons, score=min(max(measures, default=0.0), 1.0), **fields
    )


# Building the summary --------------------------------------------------------------------------------


@dataclass
class _ElementCounts:
    by_org: dict[OrgKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    skipped: dict[OrgKey, int] = field(default_factory=lambda: defaultdict(int))
    rows: int = 0
    comments: int = 0

    @property
    def answered(self) -> int:
        """Rows that are answers (`is_answer`): what every k rule on this element counts."""
        return self.rows - sum(self.skipped.values())


@dataclass
class _Shown:
    """What an element contributes to its domain: only figures that were shown, and the hidden pool."""

    overall: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    orgs: dict[OrgKey, Counter[str]] = field(default_factory=dict)
    org_skipped: dict[OrgKey, int] = field(default_factory=dict)
    kinds: dict[KindKey, Counter[str]] = field(default_factory=dict)
    kind_skipped: dict[KindKey, int] = field(default_factory=dict)
    kind_members: dict[KindKey, set[OrgKey]] = field(default_factory=dict)
    answering_orgs: set[OrgKey] = field(default_factory=set)
    hidden_any: bool = False


@dataclass
class _Context:
    data: SurveyData
    rules: SummaryRules
    suppressed: bool
    counts: dict[str, _ElementCounts]


def _count_answers(rows: Iterable[AnswerCount]) -> dict[str, _ElementCounts]:
    counts: dict[str, _ElementCounts] = defaultdict(_ElementCounts)
    for row in rows:
        element = counts[row.element_id]
        element.rows += row.count
        element.comments += row.comments
        if row.value is not None:
            element.by_org[row.organisation_id][row.value] += row.count
        elif not is_answer(skipped=row.skipped):
            element.skipped[row.organisation_id] += row.count
    return counts


def _element(
    ctx: _Context, domain: Domain, element: Element, scale: _Scale, position: int
) -> tuple[ElementSummary, _Shown | None]:
    rules, organisations = ctx.rules, ctx.data.organisations
    counts = ctx.counts.get(element.id, _ElementCounts())
    base: dict[str, Any] = {
        "element_id": element.id,
        "title": element.title,
        "domain_id": domain.id,
        "position": position,
        "group": element.group,
        "milestone": element.milestone.label if element.milestone else None,
        "scale": scale.info.kind,
        "scored": not element.in_development,
        "not_scored_note": element.development_note
        or ("Still being written in the source framework: not scored." if element.in_development else None),
        "wording": descriptor_fingerprint(element),
    }
    notes: list[Suppressed] = []
    if ctx.suppressed:
        return ElementSummary(**base), None
    if counts.answered >= rules.k:  # below k, even whether anyone commented stays unsaid
        base["respondents"] = counts.rows
        base["comments"] = counts.comments
    if element.in_development:
        return ElementSummary(**base, suppressed=notes), None

    # Values the scale does not know (none, unless a snapshot was edited) are dropped before anything
    # is counted, so that k is checked on exactly the answers each figure is made of.
    by_org = {
        key: Counter({value: n for value, n in values.items() if value in scale.by_key})
        for key, values in counts.by_org.items()
    }
    leaves = [
        _Leaf(key, _org_kind(key, organisations), sum(values.values()), _org_label(key, organisations))
        for key, values in by_org.items()
        if sum(values.values()) > 0
    ]
    publication = _publish(leaves, rules)
    if not publication.root:
        notes.append(
            Suppressed(
                scope=SuppressionScope.ELEMENT,
                reason=SuppressionReason.FEW_RESPONDENTS,
                message=f"Not shown: fewer than {rules.k} answers.",
            )
        )
        return ElementSummary(**base, suppressed=notes), None

    notes.extend(_notes(publication, rules, "answers"))
    overall_counts: Counter[str] = Counter()
    for values in by_org.values():
        overall_counts.update(values)
    overall_skipped = sum(counts.skipped.values())
    overall = _fig(scale, overall_counts, overall_skipped)

    shown = _Shown(overall=overall_counts, skipped=overall_skipped)
    shown.answering_orgs = {leaf.key for leaf in leaves}
    shown.hidden_any = len(publication.orgs) < len(leaves) or len(publication.kinds) < len(
        {leaf.kind for leaf in leaves}
    )
    org_figs: list[tuple[OrgKey, _Fig]] = []
    pooled_counts = Counter(overall_counts)
    for leaf in sorted(leaves, key=lambda leaf: (leaf.key is None, leaf.label)):
        if leaf.key not in publication.orgs:
            continue
        values = by_org[leaf.key]
        fig = _fig(scale, values, counts.skipped.get(leaf.key, 0))
        org_figs.append((leaf.key, fig))
        shown.orgs[leaf.key] = values
        shown.org_skipped[leaf.key] = counts.skipped.get(leaf.key, 0)
        pooled_counts.subtract(values)
    kind_figs: list[tuple[KindKey, _Fig, int]] = []
    for kind in sorted(publication.kinds, key=lambda kind: (kind is None, _kind_label(kind))):
        members = [leaf.key for leaf in leaves if leaf.kind == kind]
        merged: Counter[str] = Counter()
        for key in members:
            merged.update(by_org[key])
        skipped = sum(counts.skipped.get(key, 0) for key in members)
        kind_figs.append((kind, _fig(scale, merged, skipped), len(members)))
        shown.kinds[kind] = merged
        shown.kind_skipped[kind] = skipped
        shown.kind_members[kind] = set(members)

    hidden_votes = len(leaves) - len(publication.orgs)
    pooled = _fig(scale, +pooled_counts, 0) if hidden_votes else None
    groups = [fig for _, fig in org_figs]
    headline = _headline(scale, rules, overall, groups, pooled, hidden_votes)
    summary = ElementSummary(
        **base,
        overall=_figures(scale, overall),
        headline=headline,
        organisation_spread=_organisation_spread(scale, groups),
        organisations=[_org_figures(scale, key, fig, organisations) for key, fig in org_figs],
        kinds=[
            KindFigures(
                kind=kind, label=_kind_label(kind), organisations=members, **_figure_fields(scale, fig)
            )
            for kind, fig, members in kind_figs
        ],
        divergence=_divergence(scale, rules, overall, groups),
        at_risk=None
        if scale.numeric
        else (headline.concern_share is not None and headline.concern_share >= rules.at_risk_share - 1e-9),
        suppressed=notes,
    )
    return summary, shown


def _org_figures(
    scale: _Scale,
    key: OrgKey,
    fig: _Fig,
    organisations: Mapping[int, OrganisationInfo],
    elements: int | None = None,
) -> OrganisationFigures:
    return OrganisationFigures(
        organisation_id=key,
        name=_org_label(key, organisations),
        kind=_org_kind(key, organisations),
        elements=elements,
        **_figure_fields(scale, fig),
    )


def _domain(
    ctx: _Context, domain: Domain, scale: _Scale, elements: list[ElementSummary], shown: list[_Shown]
) -> DomainSummary:
    rules, organisations = ctx.rules, ctx.data.organisations
    comments = [e.comments for e in elements if e.comments is not None]
    base: dict[str, Any] = {
        "domain_id": domain.id,
        "title": domain.title,
        "scale": scale.info,
        "elements": elements,
        "split_elements": sum(1 for e in elements if e.divergence and e.divergence.split),
        "comments": sum(comments) if comments else None,
    }
    if not shown:
        return DomainSummary(**base)
    overall_counts: Counter[str] = Counter()
    org_counts: dict[OrgKey, Counter[str]] = defaultdict(Counter)
    org_skipped: dict[OrgKey, int] = defaultdict(int)
    org_elements: Counter[OrgKey] = Counter()
    kind_counts: dict[KindKey, Counter[str]] = defaultdict(Counter)
    kind_skipped: dict[KindKey, int] = defaultdict(int)
    kind_elements: Counter[KindKey] = Counter()
    kind_members: dict[KindKey, set[OrgKey]] = defaultdict(set)
    answering: set[OrgKey] = set()
    skipped = 0
    for item in shown:
        overall_counts.update(item.overall)
        skipped += item.skipped
        answering |= item.answering_orgs
        for key, values in item.orgs.items():
            org_counts[key].update(values)
            org_skipped[key] += item.org_skipped[key]
            org_elements[key] += 1
        for kind, values in item.kinds.items():
            kind_counts[kind].update(values)
            kind_skipped[kind] += item.kind_skipped[kind]
            kind_elements[kind] += 1
            kind_members[kind] |= item.kind_members[kind]
    overall = _fig(scale, overall_counts, skipped)
    order = sorted(org_counts, key=lambda key: (key is None, _org_label(key, organisations)))
    org_figs = [(key, _fig(scale, org_counts[key], org_skipped[key])) for key in order]
    pooled_counts = Counter(overall_counts)
    for values in org_counts.values():
        pooled_counts.subtract(values)
    hidden_votes = len(answering - set(org_counts))
    pooled = _fig(scale, +pooled_counts, 0) if +pooled_counts else None
    groups = [fig for _, fig in org_figs]
    kinds = sorted(kind_counts, key=lambda kind: (kind is None, _kind_label(kind)))
    notes = []
    if any(item.hidden_any for item in shown):
        notes.append(
            "Figures for organisations and types cover only the elements where their own figures are shown."
        )
    return DomainSummary(
        **base,
        overall=_figures(scale, overall),
        headline=_headline(scale, rules, overall, groups, pooled, hidden_votes),
        organisation_spread=_organisation_spread(scale, groups),
        organisations=[
            _org_figures(scale, key, fig, organisations, org_elements[key]) for key, fig in org_figs
        ],
        kinds=[
            KindFigures(
                kind=kind,
                label=_kind_label(kind),
                organisations=len(kind_members[kind]),
                elements=kind_elements[kind],
                **_figure_fields(scale, _fig(scale, kind_counts[kind], kind_skipped[kind])),
            )
            for kind in kinds
        ],
        notes=notes,
    )


def _response_rate(data: SurveyData, rules: SummaryRules) -> ResponseRate:
    by_org: dict[OrgKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in data.responses:
        totals = by_org[row.organisation_id]
        totals[0] += row.invited
        totals[1] += row.started
        totals[2] += row.completed
    invited = sum(t[0] for t in by_org.values())
    started = sum(t[1] for t in by_org.values())
    completed = sum(t[2] for t in by_org.values())
    leaves = [
        _Leaf(key, _org_kind(key, data.organisations), totals[1], _org_label(key, data.organisations))
        for key, totals in by_org.items()
        if totals[0] or totals[1]
    ]
    publication = _publish(leaves, rules)
    if not publication.root:
        return ResponseRate(
            overall=RateFigures(invited=invited),
            suppressed=[
                Suppressed(
                    scope=SuppressionScope.SURVEY,
                    reason=SuppressionReason.FEW_RESPONDENTS,
                    message=f"Response counts are shown once at least {rules.k} people have started.",
                )
            ],
        )

    def rate(totals: Sequence[int]) -> dict[str, Any]:
        return {
            "invited": totals[0],
            "started": totals[1],
            "completed": totals[2],
            "started_share": totals[1] / totals[0] if totals[0] else None,
            "completed_share": totals[2] / totals[0] if totals[0] else None,
        }

    organisations = [
        OrganisationRate(
            organisation_id=leaf.key,
            name=leaf.label,
            kind=leaf.kind,
            **rate(by_org[leaf.key]),
        )
        for leaf in sorted(leaves, key=lambda leaf: (leaf.key is None, leaf.label))
        if leaf.key in publication.orgs
    ]
    kinds = []
    for kind in sorted(publication.kinds, key=lambda kind: (kind is None, _kind_label(kind))):
        members = [leaf.key for leaf in leaves if leaf.kind == kind]
        totals = [sum(by_org[key][i] for key in members) for i in range(3)]
        kinds.append(KindRate(kind=kind, label=_kind_label(kind), organisations=len(members), **rate(totals)))
    return ResponseRate(
        overall=RateFigures(**rate([invited, started, completed])),
        organisations=organisations,
        kinds=kinds,
        suppressed=_notes(publication, rules, "people who started"),
    )


def _respondents(data: SurveyData, rules: SummaryRules) -> int:
    if rules.submitted_only:
        return sum(row.completed for row in data.responses)
    return sum(row.started for row in data.responses)


def summarise(
    data: SurveyData, rules: SummaryRules, *, now: datetime, previous: SurveySummary | None = None
) -> SurveySummary:
    """The summary of one survey; with `previous` (an earlier round or stored summary), what changed."""
    framework = data.framework
    respondents = _respondents(data, rules)
    suppressed = respondents < rules.k
    ctx = _Context(data, rules, suppressed, _count_answers(data.answers))
    domains: list[DomainSummary] = []
    position = 0
    for domain in framework.domains:
        scale = _scale_of(framework, domain)
        elements: list[ElementSummary] = []
        shown: list[_Shown] = []
        for element in domain.elements:
            summary, contribution = _element(ctx, domain, element, scale, position)
            position += 1
            elements.append(summary)
            if contribution is not None:
                shown.append(contribution)
        domains.append(_domain(ctx, domain, scale, elements, shown))
    notes = []
    if suppressed:
        notes.append(
            Suppressed(
                scope=SuppressionScope.SURVEY,
                reason=SuppressionReason.FEW_RESPONDENTS,
                message=f"Results are shown once at least {rules.k} people have responded.",
            )
        )
    summary = SurveySummary(
        survey_id=data.survey_id,
        title=data.title,
        framework_id=framework.id,
        framework_title=framework.title,
        framework_version=framework.version,
        partnership_id=data.partnership_id,
        partnership_name=data.partnership_name,
        created_at=data.created_at,
        generated_at=now,
        rules=rules,
        weighting=rules.weighting,
        respondents=None if suppressed else respondents,
        response_rate=_response_rate(data, rules),
        domains=domains,
        statuses=_status_overview(domains),
        highlights=Highlights(),
        suppressed=notes,
    )
    return with_changes(summary, previous)


def with_changes(summary: SurveySummary, previous: SurveySummary | None) -> SurveySummary:
    """The summary with its highlights, and its changes since `previous` when one is given."""
    changes = compare(summary, previous) if previous is not None else None
    return summary.model_copy(update={"changes": changes, "highlights": _highlights(summary, changes)})


def since_last_post(summary: SurveySummary, posted: SurveySummary | None) -> SurveySummary:
    """The summary with what changed since `posted`, the summary a channel was last shown.

    Only a summary of the same survey is compared: another round is what `changes` is for."""
    if posted is None or posted.survey_id != summary.survey_id:
        return summary
    return summary.model_copy(update={"since_last": compare(summary, posted)})


# Status frameworks, highlights -----------------------------------------------------------------------


def _status_overview(domains: Sequence[DomainSummary]) -> StatusOverview | None:
    status_domains = [d for d in domains if d.scale.kind is ScaleKind.STATUS]
    if not status_domains:
        return None
    points: dict[str, ScalePoint] = {}
    answers: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    risks: dict[str | None, list[ElementRef]] = {}
    for domain in status_domains:
        for point in domain.scale.points:
            points.setdefault(point.key, point)
        for element in domain.elements:
            if element.overall is None or element.headline is None:
                continue
            answers.update(
                dict(zip((p.key for p in domain.scale.points), element.overall.counts, strict=True))
            )
            if element.headline.status:
                outcomes[element.headline.status] += 1
            if element.at_risk:
                risks.setdefault(element.group, []).append(
                    ElementRef(
                        element_id=element.element_id,
                        title=element.title,
                        domain_id=element.domain_id,
                        group=element.group,
                        milestone=element.milestone,
                        concern_share=element.headline.concern_share,
                    )
                )

    scale = list(points.values())
    return StatusOverview(
        answers=_buckets(scale, [answers.get(p.key, 0) for p in scale]),
        outcomes=_buckets(scale, [outcomes.get(p.key, 0) for p in scale]),
        at_risk=[
            WorkstreamRisk(group=group, label=group or "Other outcomes", elements=refs)
            for group, refs in risks.items()
        ],
    )


def _scored_elements(summary: SurveySummary) -> list[tuple[DomainSummary, ElementSummary]]:
    return [
        (domain, element)
        for domain in summary.domains
        for element in domain.elements
        if element.headline is not None and element.overall is not None
    ]


def _item(domain: DomainSummary, element: ElementSummary, measure: float, **extra: Any) -> HighlightItem:
    headline = element.headline
    assert headline is not None
    return HighlightItem(
        element_id=element.element_id,
        title=element.title,
        domain_id=domain.domain_id,
        domain_title=domain.title,
        median=headline.median,
        median_label=headline.median_label,
        mean=headline.mean,
        status_label=headline.status_label,
        measure=measure,
        **extra,
    )


def _place(scale: ScaleInfo, value: float | None) -> float | None:
    """Where a value sits on its scale, 0 at the bottom and 1 at the top."""
    if value is None or scale.kind is ScaleKind.STATUS:
        return None
    return _steps(scale, value) / max(scale.width, 1)


def _highlights(summary: SurveySummary, changes: Changes | None) -> Highlights:
    limit = summary.rules.highlights
    scored = _scored_elements(summary)
    numeric = []
    for domain, element in scored:
        headline = element.headline
        assert headline is not None
        place = _place(domain.scale, headline.median)
        if place is not None:
            mean_place = _place(domain.scale, headline.mean) or 0.0
            numeric.append((place, mean_place, element.position, domain, element))
    each = min(limit, len(numeric) // 2)
    best_first = sorted(numeric, key=lambda t: (-t[0], -t[1], t[2]))
    top = best_first[:each]
    bottom = sorted(best_first[len(best_first) - each :], key=lambda t: (t[0], t[1], t[2]))
    # A strength must stand above every gap, and a gap below every strength: elements tied across the
    # line are neither (when everything is rated alike there are no strengths or gaps at all).
    strengths = [t for t in top if bottom and (t[0], t[1]) > max((b[0], b[1]) for b in bottom)]
    gaps = [t for t in bottom if top and (t[0], t[1]) < min((b[0], b[1]) for b in top)]
    split = [
        (element.divergence.score, element.position, domain, element)
        for domain, element in scored
        if element.divergence and element.divergence.split
    ]
    divergences = sorted(split, key=lambda t: (-t[0], t[1]))[:limit]
    at_risk = sorted(
        (
            (element.headline.concern_share or 0.0, element.position, domain, element)
            for domain, element in scored
            if element.at_risk and element.headline
        ),
        key=lambda t: (-t[0], t[1]),
    )[:limit]
    movers: list[HighlightItem] = []
    if changes is not None:
        located = {element.element_id: (domain, element) for domain, element in scored}
        moved = sorted(
            (c for c in changes.elements if c.moved and c.element_id in located),
            key=lambda c: (-abs(c.shift), located[c.element_id][1].position),
        )[:limit]
        movers = [
            _item(*located[c.element_id], measure=c.shift, change=c.median_change or c.concern_change)
            for c in moved
        ]
    return Highlights(
        strengths=[_item(d, e, place) for place, _, _, d, e in strengths],
        gaps=[_item(d, e, place) for place, _, _, d, e in gaps],
        divergences=[
            _item(d, e, score, reasons=list(e.divergence.reasons) if e.divergence else [])
            for score, _, d, e in divergences
        ],
        movers=movers,
        at_risk=[_item(d, e, share) for share, _, d, e in at_risk],
    )


# Change between rounds -------------------------------------------------------------------------------


def _change_fields(
    scale: ScaleInfo, rules: SummaryRules, before: Headline | Figures, after: Headline | Figures
) -> dict[str, Any] | None:
    if scale.kind is ScaleKind.STATUS:
        if before.concern_share is None or after.concern_share is None:
            return None
        change = after.concern_share - before.concern_share
        return {
            "before_status": before.status,
            "after_status": after.status,
            "before_concern": before.concern_share,
            "after_concern": after.concern_share,
            "concern_change": change,
            "shift": -change,
            "moved": abs(change) >= rules.min_move_share - 1e-9,
        }
    if before.median is None or after.median is None:
        return None
    before_place, after_place = _place(scale, before.median), _place(scale, after.median)
    assert before_place is not None
    assert after_place is not None
    steps = (after_place - before_place) * max(scale.width, 1)
    return {
        "before_median": before.median,
        "after_median": after.median,
        "median_change": after.median - before.median,
        "before_mean": before.mean,
        "after_mean": after.mean,
        "mean_change": after.mean - before.mean
        if after.mean is not None and before.mean is not None
        else None,
        "shift": after_place - before_place,
        "moved": abs(steps) >= rules.min_move_steps - 1e-9,
    }


def compare(current: SurveySummary, previous: SurveySummary) -> Changes:
    """What moved between two summaries (rounds, or a stored earlier summary) per element and domain.

    Only figures both summaries show are compared, so a change never reveals a suppressed group. Rounds
    of two framework versions compare only the elements in both (and domains whose elements are all in
    both), count the others as left out, and flag elements whose descriptors were reworded."""
    rules = current.rules
    same = current.weighting is previous.weighting
    basis = current.weighting if same else Weighting.RESPONDENT

    def figure(item: ElementSummary | DomainSummary) -> Headline | Figures | None:
        return item.headline if same else item.overall

    before_elements = {e.element_id: (d.scale, e) for d in previous.domains for e in d.elements if e.scored}
    after_ids = {e.element_id for d in current.domains for e in d.elements if e.scored}
    elements: list[ElementChange] = []
    not_compared: list[str] = []
    for domain in current.domains:
        for element in domain.elements:
            if not element.scored or element.element_id not in before_elements:
                continue
            before_scale, before = before_elements[element.element_id]
            if before_scale != domain.scale:
                not_compared.append(element.element_id)
                continue
            old, new = figure(before), figure(element)
            if old is None or new is None:
                continue
            fields = _change_fields(domain.scale, rules, old, new)
            if fields is not None:
                elements.append(
                    ElementChange(
                        element_id=element.element_id,
                        title=element.title,
                        domain_id=domain.domain_id,
                        reworded=None not in (before.wording, element.wording)
                        and before.wording != element.wording,
                        **fields,
                    )
                )
    before_domains = {d.domain_id: d for d in previous.domains}
    domains: list[DomainChange] = []
    for domain in current.domains:
        earlier = before_domains.get(domain.domain_id)
        if earlier is None or earlier.scale != domain.scale or _scored_ids(earlier) != _scored_ids(domain):
            continue
        old, new = figure(earlier), figure(domain)
        if old is None or new is None:
            continue
        fields = _change_fields(domain.scale, rules, old, new)
        if fields is not None:
            domains.append(DomainChange(domain_id=domain.domain_id, title=domain.title, **fields))
    return Changes(
        previous_survey_id=previous.survey_id,
        previous_title=previous.title,
        previous_generated_at=previous.generated_at,
        previous_respondents=previous.respondents,
        basis=basis,
        elements=elements,
        domains=domains,
        not_compared=not_compared,
        left_out=len(after_ids ^ before_elements.keys()),
    )


def _scored_ids(domain: DomainSummary) -> set[str]:
    return {element.element_id for element in domain.elements if element.scored}


# Comments for the lead -------------------------------------------------------------------------------


def lead_comments(data: SurveyData, texts: Iterable[tuple[str, str]], rules: SummaryRules) -> LeadComments:
    """Comment texts by element, for the lead only: unattributed, sorted, withheld below k respondents.

    Elements below k are left out silently (a note there would say that someone commented)."""
    rule = Suppressed(
        scope=SuppressionScope.COMMENTS,
        reason=SuppressionReason.FEW_RESPONDENTS,
        message=f"Comments are shown only for questions that at least {rules.k} people answered.",
    )
    if _respondents(data, rules) < rules.k:
        return LeadComments(survey_id=data.survey_id, title=data.title, elements=[], suppressed=[rule])
    counts = _count_answers(data.answers)
    by_element: dict[str, list[str]] = defaultdict(list)
    for element_id, text in texts:
        by_element[element_id].append(text)
    elements = [
        ElementComments(
            element_id=element.id,
            title=element.title,
            domain_id=domain.id,
            comments=sorted(by_element[element.id]),
        )
        for domain, element in data.framework.iter_elements()
        if by_element.get(element.id) and element.id in counts and counts[element.id].answered >= rules.k
    ]
    return LeadComments(survey_id=data.survey_id, title=data.title, elements=elements, suppressed=[rule])
