"""One partner's own view of a closed round: their answers beside the partnership's published figures.

Pure. It reads only the published `SurveySummary` (already k-anonymous) and the partner's own answers,
so it can show nothing the channel could not see, plus what the partner said themselves.
    - Per domain: their figure is the median of their ratings on the domain's *shown* elements (the ones
      the partnership's domain figure pools), by the summary's rules (type 7, a half-way median between
      two levels); beside it the partnership's median and middle half (Q1 to Q3) of the pooled ratings.
      Status scales (categorical) compare their most common status with the partnership's.
      A domain whose figure is suppressed is listed as "too few answers to show", with no figure.
    - Where they differ most: the elements (levels and scores only) whose shown median is furthest from
      their answer, measured in steps and ranked on the share of the scale, top 3, ties in framework order.
The partnership's figures include the partner's own answer, as the published summary does: with k >= 3
the rest alone would be a figure of k - 1 people, which the anonymity rules never publish.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from frameworks.schema import ScaleKind
from frameworks.summary.models import DomainSummary, ScaleInfo, SurveySummary
from frameworks.summary.stats import ScaleIndex, cell_of, modal_status, steps_from_bottom

TOP_DIFFERENCES = 3


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainComparison(_Out):
    """A domain's row: the partner's figure beside the partnership's, or why there is none."""

    domain_id: str
    title: str
    scale: ScaleKind
    shown: bool
    """False: the partnership's figure is suppressed (too few answers); nothing else is filled in."""
    you: float | None = None
    you_label: str | None = None
    """None when they rated none of the domain's shown elements."""
    median: float | None = None
    median_label: str | None = None
    q1_label: str | None = None
    q3_label: str | None = None
    ratings: int = 0
    """How many of their ratings the figure is made of."""


class ElementDifference(_Out):
    element_id: str
    title: str
    domain_title: str
    you_label: str
    median_label: str
    steps: float
    """Their answer minus the partnership's median, in steps of the scale (negative: below it)."""
    share: float
    """|steps| as a share of the scale's width (0..1): what the list is ranked on."""


class PersonalView(_Out):
    survey_id: int
    title: str
    framework_title: str
    partnership_name: str | None = None
    respondents: int | None = None
    domains: list[DomainComparison] = Field(default_factory=list)
    differences: list[ElementDifference] = Field(default_factory=list)

    @property
    def has_figures(self) -> bool:
        """Whether any partnership figure may be shown at all (else there is nothing to send)."""
        return self.respondents is not None and any(d.shown for d in self.domains)


def personal_view(
    summary: SurveySummary, answers: Mapping[str, str], *, top: int = TOP_DIFFERENCES
) -> PersonalView:
    """The partner's view: `answers` maps element id to the token they gave (skips left out)."""
    domains: list[DomainComparison] = []
    differences: list[tuple[float, int, ElementDifference]] = []
    for domain in summary.domains:
        if not any(element.scored for element in domain.elements):
            continue
        domains.append(_domain(summary, domain, answers))
        if summary.respondents is None or domain.scale.kind is ScaleKind.STATUS:
            continue
        differences.extend(_differences(domain, answers))
    differences.sort(key=lambda item: (-item[0], item[1]))
    return PersonalView(
        survey_id=summary.survey_id,
        title=summary.title,
        framework_title=summary.framework_title,
        partnership_name=summary.partnership_name,
        respondents=summary.respondents,
        domains=domains,
        differences=[difference for _, _, difference in differences[:top]],
    )


def _index(scale: ScaleInfo) -> ScaleIndex:
    return ScaleIndex(
        scale,
        {point.key: point for point in scale.points},
        {point.key: index for index, point in enumerate(scale.points)},
    )


def _domain(summary: SurveySummary, domain: DomainSummary, answers: Mapping[str, str]) -> DomainComparison:
    base: dict[str, Any] = {"domain_id": domain.domain_id, "title": domain.title, "scale": domain.scale.kind}
    overall = domain.overall
    if summary.respondents is None or overall is None:
        return DomainComparison(**base, shown=False)
    scale = _index(domain.scale)
    theirs = Counter(
        answers[element.element_id]
        for element in domain.elements
        if element.overall is not None
        and element.element_id in answers
        and answers[element.element_id] in scale.by_key
    )
    ratings = sum(theirs.values())
    if not scale.numeric:
        status = (
            modal_status(scale, {key: count / ratings for key, count in theirs.items()}) if ratings else None
        )
        return DomainComparison(
            **base,
            shown=True,
            you_label=scale.by_key[status].label if status else None,
            median_label=overall.status_label,
            ratings=ratings,
        )
    mine = cell_of(scale, theirs, 0)
    spread = overall.spread
    return DomainComparison(
        **base,
        shown=True,
        you=mine.median,
        you_label=scale.label(mine.median) if mine.median is not None else None,
        median=overall.median,
        median_label=overall.median_label,
        q1_label=scale.label(spread.q1) if spread else None,
        q3_label=scale.label(spread.q3) if spread else None,
        ratings=ratings,
    )


def _differences(
    domain: DomainSummary, answers: Mapping[str, str]
) -> list[tuple[float, int, ElementDifference]]:
    scale = _index(domain.scale)
    width = max(domain.scale.width, 1)
    found: list[tuple[float, int, ElementDifference]] = []
    for element in domain.elements:
        overall = element.overall
        token = answers.get(element.element_id)
        if overall is None or overall.median is None or token not in scale.by_key:
            continue
        point = scale.by_key[token]
        steps = steps_from_bottom(domain.scale, float(point.value or 0)) - steps_from_bottom(
            domain.scale, overall.median
        )
        if abs(steps) < 1e-9:
            continue
        share = abs(steps) / width
        found.append(
            (
                share,
                element.position,
                ElementDifference(
                    element_id=element.element_id,
                    title=element.title,
                    domain_title=domain.title,
                    you_label=point.label,
                    median_label=overall.median_label or scale.label(overall.median),
                    steps=steps,
                    share=share,
                ),
            )
        )
    return found
