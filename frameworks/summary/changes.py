"""What moved between two summaries: another round of the framework, or the summary last posted."""

from __future__ import annotations

from typing import Any

from frameworks.schema import ScaleKind
from frameworks.summary.models import (
    Changes,
    DomainChange,
    DomainSummary,
    ElementChange,
    ElementSummary,
    Figures,
    Headline,
    ScaleInfo,
    SurveySummary,
)
from frameworks.summary.rules import SummaryRules, Weighting
from frameworks.summary.stats import place_on_scale


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
    before_place, after_place = place_on_scale(scale, before.median), place_on_scale(scale, after.median)
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
