"""Where partners want to be: each element's and domain's target beside where they are now, the gap
between them, and the biggest gaps partners agree on (what the action plan starts from).

The targets are summarised by the same code as the answers (`build`), so the same weighting, the same
k-anonymity and complementary suppression apply, counted on the targets given. The gap is the target
headline's median minus the current one, in steps along the scale (levels or points), so a matrix whose
level values have gaps still reads in levels. Statuses have no target.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from frameworks.schema import ScaleKind
from frameworks.summary.models import (
    DomainSummary,
    ElementSummary,
    Headline,
    ScaleInfo,
    Suppressed,
    SuppressionReason,
    SuppressionScope,
    SurveySummary,
    TargetFigures,
)
from frameworks.summary.rules import SummaryRules
from frameworks.summary.stats import steps_from_bottom

AGREED_GAPS = 5
"""How many of the biggest agreed gaps a summary names."""


class AgreedGap(BaseModel):
    """An element where partners agree where they want to be (the target is not split), how far that is
    from where they are now: a candidate for the action plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    element_id: str
    title: str
    domain_id: str
    domain_title: str
    now_median: float
    now_label: str | None = None
    target_median: float
    target_label: str | None = None
    gap: float
    """In steps (levels or points), above zero."""


def with_targets(
    domains: list[DomainSummary], wanted: list[DomainSummary], rules: SummaryRules
) -> list[DomainSummary]:
    """`domains` (the answers' summary) with each levels or score domain's and element's target, taken
    from `wanted` (the same framework summarised from the targets given)."""
    return [_domain(current, aim, rules) for current, aim in zip(domains, wanted, strict=True)]


def _domain(current: DomainSummary, aim: DomainSummary, rules: SummaryRules) -> DomainSummary:
    if current.scale.kind is ScaleKind.STATUS or not any(e.scored for e in current.elements):
        return current
    elements = [
        element.model_copy(update={"target": _element(element, wanted, current.scale, rules)})
        if element.scored
        else element
        for element, wanted in zip(current.elements, aim.elements, strict=True)
    ]
    target = target_figures(
        current.headline, aim.headline, aim.overall.n if aim.overall else None, current.scale, rules
    )
    return current.model_copy(update={"elements": elements, "target": target})


def _element(
    current: ElementSummary, aim: ElementSummary, scale: ScaleInfo, rules: SummaryRules
) -> TargetFigures:
    figures = target_figures(
        current.headline, aim.headline, aim.overall.n if aim.overall else None, scale, rules
    )
    if figures.headline is None or aim.divergence is None:
        return figures
    return figures.model_copy(update={"split": aim.divergence.split})


def target_figures(
    now: Headline | None, wanted: Headline | None, n: int | None, scale: ScaleInfo, rules: SummaryRules
) -> TargetFigures:
    """The target's headline and its gap from `now`; nothing but a note below k targets."""
    if wanted is None or wanted.median is None or n is None:
        note = Suppressed(
            scope=SuppressionScope.ELEMENT,
            reason=SuppressionReason.FEW_RESPONDENTS,
            message=f"Target not shown: fewer than {rules.k} targets given.",
        )
        return TargetFigures(suppressed=[note])
    gap = None
    if now is not None and now.median is not None:
        gap = steps_from_bottom(scale, wanted.median) - steps_from_bottom(scale, now.median)
    return TargetFigures(n=n, headline=wanted, gap=gap)


def biggest_agreed_gaps(summary: SurveySummary, limit: int = AGREED_GAPS) -> list[AgreedGap]:
    """The elements furthest from where partners agree they want to be: a target that is shown and not
    split, above where they are now; the biggest gap first (framework order between equal gaps). This is
    what the action plan offers to act on."""
    found: list[tuple[float, int, AgreedGap]] = []
    for domain in summary.domains:
        for element in domain.elements:
            target, now = element.target, element.headline
            if target is None or target.headline is None or target.split is not False:
                continue
            if target.gap is None or target.gap <= 1e-9 or now is None or now.median is None:
                continue
            assert target.headline.median is not None  # a shown target has a median (target_figures)
            gap = AgreedGap(
                element_id=element.element_id,
                title=element.title,
                domain_id=domain.domain_id,
                domain_title=domain.title,
                now_median=now.median,
                now_label=now.median_label,
                target_median=target.headline.median,
                target_label=target.headline.median_label,
                gap=target.gap,
            )
            found.append((-target.gap, element.position, gap))
    return [gap for _, _, gap in sorted(found, key=lambda item: item[:2])[:limit]]
