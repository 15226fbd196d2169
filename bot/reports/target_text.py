"""Where partners want to be, in words (card, plain text and weekly post say the same): per domain and
per element, "now 2.0 → target 3.5 (gap 1.5)", and the biggest gaps partners agree on. Only for surveys
asked with a target; the figures obey the summary's weighting and anonymity like every other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frameworks.schema import ScaleKind
from frameworks.summary import Headline, ScaleInfo, SurveySummary, TargetFigures, biggest_agreed_gaps

if TYPE_CHECKING:  # summary_text shows these sections: it imports this module, not the other way round
    from bot.reports.summary_text import Style


def _value(scale: ScaleInfo, value: float) -> str:
    """One decimal, as partners read a median: '2.0', '3.5' on levels; '+1.5', '-2.0' on scores."""
    if scale.kind is ScaleKind.SCORE:
        return "0.0" if abs(value) < 0.05 else f"{value:+.1f}"
    return f"{value:.1f}"


def gap_text(scale: ScaleInfo, now: float, target: float, gap: float) -> str:
    """'now 2.0 → target 3.5 (gap 1.5)'; the gap in levels or points, negative when the target is lower."""
    unit = "points" if scale.kind is ScaleKind.SCORE else "levels"
    sign = "-" if gap < -0.05 else ""
    return f"now {_value(scale, now)} → target {_value(scale, target)} (gap {sign}{abs(gap):.1f} {unit})"


def target_text(scale: ScaleInfo, now: Headline | None, target: TargetFigures | None) -> str | None:
    """The target beside the current headline, or None when there is none to show."""
    if target is None or target.headline is None or target.headline.median is None:
        return None
    if now is None or now.median is None or target.gap is None:
        return f"target {_value(scale, target.headline.median)}"
    return gap_text(scale, now.median, target.headline.median, target.gap)


def target_sections(summary: SurveySummary, style: Style) -> list[tuple[str, list[str]]]:
    """'Where we want to be in 12 months' (each domain with a shown target) and 'Biggest agreed gaps'."""
    if summary.target_months is None or summary.respondents is None:
        return []
    domains = []
    for domain in summary.domains:
        text = target_text(domain.scale, domain.headline, domain.target)
        if text is not None:
            domains.append(f"{style.said(domain.title)}: {text}")
    if not domains:
        return []
    sections = [(f"Where we want to be in {summary.target_months} months", domains)]
    gaps = biggest_agreed_gaps(summary)
    scales = {domain.domain_id: domain.scale for domain in summary.domains}
    if gaps:
        lines = [
            f"{style.said(gap.title)} ({style.said(gap.domain_title)}): "
            + gap_text(scales[gap.domain_id], gap.now_median, gap.target_median, gap.gap)
            for gap in gaps
        ]
        sections.append(("Biggest agreed gaps (partners agree on the target)", lines))
    return sections


TargetRow = tuple[str, str, str | None, str | None, float | None, int | None, str]
"""Domain, element ('' for the domain itself), now, target, gap, targets given, 'split' or ''."""


def target_rows(summary: SurveySummary) -> list[TargetRow]:
    """The targets as a table (the export's summary sheet): each domain, then its elements."""
    if summary.target_months is None or summary.respondents is None:
        return []
    rows: list[TargetRow] = []
    for domain in summary.domains:
        if domain.target is None:
            continue
        for element, target, now in [
            ("", domain.target, domain.headline),
            *((e.title, e.target, e.headline) for e in domain.elements if e.target is not None),
        ]:
            shown = target.headline
            rows.append(
                (
                    domain.title,
                    element,
                    now.median_label if now else None,
                    shown.median_label if shown else "Not shown",
                    round(target.gap, 2) if target.gap is not None else None,
                    target.n,
                    "split" if target.split else "",
                )
            )
    return rows
