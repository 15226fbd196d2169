"""The headline figure under the summary's weighting, and whether partners are split on an element.

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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from frameworks.schema import ScaleKind
from frameworks.summary.models import Divergence, Headline, SplitReason, Spread, StatusShare
from frameworks.summary.rules import SummaryRules, Weighting
from frameworks.summary.stats import (
    CONCERN,
    POSITIVE,
    Cell,
    Ranked,
    ScaleIndex,
    concern_share_of,
    modal_status,
)


def headline_of(
    scale: ScaleIndex,
    rules: SummaryRules,
    overall: Cell,
    groups: Sequence[Cell],
    pooled: Cell | None,
    pooled_votes: int,
) -> Headline:
    if rules.weighting is Weighting.RESPONDENT:
        return _headline_from(scale, Weighting.RESPONDENT, overall.n, overall)
    voters: list[tuple[Cell, int]] = [(group, 1) for group in groups if group.n > 0]
    if pooled is not None and pooled.n > 0 and pooled_votes > 0:
        voters.append((pooled, pooled_votes))
    votes = sum(weight for _, weight in voters)
    if not votes:
        return _headline_from(scale, Weighting.ORGANISATION, 0, overall)
    if scale.numeric:
        medians = Ranked.of((fig.median or 0.0, fig.median or 0.0, weight) for fig, weight in voters)
        means = Ranked.of((fig.mean or 0.0, fig.mean or 0.0, weight) for fig, weight in voters)
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
    averaged = Cell(Counter(), 0, 0, shares=dict(shares))
    averaged.status = modal_status(scale, averaged.shares)
    averaged.concern = concern_share_of(scale, averaged.shares)
    return _headline_from(scale, Weighting.ORGANISATION, votes, averaged)


def _headline_from(scale: ScaleIndex, weighting: Weighting, votes: int, fig: Cell) -> Headline:
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


def organisation_spread(scale: ScaleIndex, groups: Sequence[Cell]) -> Spread | None:
    medians = [g for g in groups if g.median is not None and g.median_steps is not None]
    if len(medians) < 2:
        return None
    return Ranked.of((g.median_steps or 0.0, g.median or 0.0, 1) for g in medians).spread()


def divergence_of(
    scale: ScaleIndex, rules: SummaryRules, overall: Cell, groups: Sequence[Cell]
) -> Divergence:
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
        concern = sum(c for key, c in overall.counts.items() if scale.by_key[key].rag in CONCERN)
        positive = sum(c for key, c in overall.counts.items() if scale.by_key[key].rag in POSITIVE)
        if concern + positive:
            minority = min(concern, positive)
            share = minority / (concern + positive)
            fields["minority_share"] = share
            measures.append(2 * share)
            if minority >= rules.min_outside and share >= rules.status_minority_share - 1e-9:
                reasons.append(SplitReason.STATUS_MIX)
        colours = {scale.by_key[g.status].rag for g in groups if g.status is not None}
        if colours & CONCERN and colours & POSITIVE:
            reasons.append(SplitReason.ORGANISATIONS_DISAGREE)
            measures.append(1.0)
    return Divergence(
        split=bool(reasons), reasons=reasons, score=min(max(measures, default=0.0), 1.0), **fields
    )
