"""What a summary leads with: strengths, gaps, divergences, movers, and the status overview."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from frameworks.schema import ScaleKind
from frameworks.summary.models import (
    Changes,
    DomainSummary,
    ElementRef,
    ElementSummary,
    HighlightItem,
    Highlights,
    ScalePoint,
    StatusOverview,
    SurveySummary,
    WorkstreamRisk,
    buckets_of,
)
from frameworks.summary.stats import place_on_scale


def status_overview(domains: Sequence[DomainSummary]) -> StatusOverview | None:
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
        answers=buckets_of(scale, [answers.get(p.key, 0) for p in scale]),
        outcomes=buckets_of(scale, [outcomes.get(p.key, 0) for p in scale]),
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


def highlights_of(summary: SurveySummary, changes: Changes | None) -> Highlights:
    limit = summary.rules.highlights
    scored = _scored_elements(summary)
    numeric = []
    for domain, element in scored:
        headline = element.headline
        assert headline is not None
        place = place_on_scale(domain.scale, headline.median)
        if place is not None:
            mean_place = place_on_scale(domain.scale, headline.mean) or 0.0
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
