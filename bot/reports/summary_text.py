"""Partnership summaries in words: the plain text for the terminal and logs, and the wording the card and
the Excel summary sheet share, so all three say the same thing.

Every line builder takes a `Style`: how words from a framework or a person are made safe (kept as
typed here, escaped in a card) and how our own words are emphasised. Figures lead with the median (or
the most common status) and its distribution; the mean comes second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.reports.consensus_text import consensus_section
from bot.reports.target_text import target_sections, target_text
from bot.reports.text import RAG_MARKS, clean, clip
from frameworks.schema import ScaleKind
from frameworks.summary import (
    DomainSummary,
    ElementSummary,
    FigureChange,
    Figures,
    Headline,
    HighlightItem,
    RateFigures,
    ScaleInfo,
    SplitReason,
    SuppressionScope,
    SurveySummary,
    Weighting,
)

WEIGHTING_TEXT = {
    Weighting.ORGANISATION: "one organisation, one vote",
    Weighting.RESPONDENT: "one respondent, one vote",
}
WEIGHTING_DETAIL = {
    Weighting.ORGANISATION: (
        "each organisation's median counts once, so a large partner cannot swamp a small one"
    ),
    Weighting.RESPONDENT: "every answer counts once",
}
TREND_LEGEND = "▲ better · ▼ worse · = about the same"
REWORDED = "descriptor reworded since the last round"
SPLIT_REASONS = {
    SplitReason.OUTSIDE_BAND: "many answers far from the middle",
    SplitReason.WIDE_IQR: "answers spread across the scale",
    SplitReason.ORGANISATIONS_APART: "organisations far apart",
    SplitReason.STATUS_MIX: "both on-track and at-risk ratings common",
    SplitReason.ORGANISATIONS_DISAGREE: "organisations disagree on the status",
}
"""Why an element counts as split, in the words a partner reads (the thresholds are `SummaryRules`)."""


@dataclass(frozen=True)
class Style:
    """How words are written: `said` makes a framework's or a person's words safe, `strong` emphasises
    our own (already safe) words."""

    said: Callable[[str], str]
    strong: Callable[[str], str]


PLAIN = Style(said=lambda text: clip(text, 200), strong=lambda text: text)


# Figures ---------------------------------------------------------------------------------------------


def percent(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)}%"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def day(when: datetime) -> str:
    """'23 Nov 2026'."""
    return f"{when.day} {when:%b %Y}"


def number(scale: ScaleInfo, value: float) -> str:
    """A value on the scale's own numbers: '+1.5' on a score, '2.6' on level values."""
    text = f"{value:+.1f}" if scale.kind is ScaleKind.SCORE else f"{value:.1f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("+0", "-0") else text


def value_label(scale: ScaleInfo, value: float | None) -> str | None:
    """A median as the scale names it: a level, a half-way 'Developing–Maturing', a signed score."""
    if value is None or scale.kind is ScaleKind.STATUS:
        return None
    if scale.kind is ScaleKind.SCORE:
        return number(scale, value)
    points = [p for p in scale.points if p.value is not None]
    for point in points:
        if point.value == value:
            return point.label
    below = [p for p in points if (p.value or 0) < value]
    above = [p for p in points if (p.value or 0) > value]
    if not below or not above:
        return number(scale, value)
    low = max(below, key=lambda p: p.value or 0)
    high = min(above, key=lambda p: p.value or 0)
    return f"{low.label}–{high.label}"


def status_mark(scale: ScaleInfo, status: str | None) -> str:
    point = next((p for p in scale.points if p.key == status), None)
    rag = point.rag.value if point is not None and point.rag is not None else "grey"
    return RAG_MARKS.get(rag, RAG_MARKS["grey"])


def figure(scale: ScaleInfo, headline: Headline | Figures | None) -> str | None:
    """The figure to lead with: the median's label, or the most common status (unescaped)."""
    if headline is None:
        return None
    if scale.kind is ScaleKind.STATUS:
        return headline.status_label
    return headline.median_label


def secondary(scale: ScaleInfo, headline: Headline | Figures | None) -> str:
    """What follows the lead figure: the mean, or the share of amber and red ratings."""
    if headline is None:
        return ""
    if scale.kind is ScaleKind.STATUS:
        return "" if headline.concern_share is None else f"{percent(headline.concern_share)} amber or red"
    return "" if headline.mean is None else f"mean {number(scale, headline.mean)}"


def distribution(scale: ScaleInfo, figures: Figures | None) -> str:
    """'Emerging 1 · Developing 3 · Maturing 2 · Thriving 2' (unescaped labels)."""
    if figures is None:
        return ""
    return " · ".join(f"{b.label} {b.count}" for b in figures.buckets(scale))


def trend(change: FigureChange | None) -> str:
    """▲ better, ▼ worse, = about the same; '' when there is nothing to compare with."""
    if change is None:
        return ""
    if not change.moved:
        return "="
    return "▲" if change.shift > 0 else "▼"


def domain_trends(summary: SurveySummary) -> dict[str, str]:
    changes = summary.changes
    return {c.domain_id: trend(c) for c in changes.domains} if changes else {}


def element_trends(summary: SurveySummary) -> dict[str, str]:
    changes = summary.changes
    return {c.element_id: trend(c) for c in changes.elements} if changes else {}


def reworded_elements(summary: SurveySummary) -> set[str]:
    """Elements compared with the last round although their descriptors (or question) were reworded."""
    changes = summary.changes
    return {c.element_id for c in changes.elements if c.reworded} if changes else set()


def shown_elements(domain: DomainSummary) -> list[ElementSummary]:
    return [e for e in domain.elements if e.overall is not None and e.headline is not None]


def split_text(domain: DomainSummary) -> str:
    """The domain's split flag: how many of its shown elements are split."""
    shown = len(shown_elements(domain))
    if not shown:
        return "–"
    return f"{domain.split_elements} of {shown}" if domain.split_elements else "none"


def lead_column(summary: SurveySummary) -> str:
    kinds = {d.scale.kind for d in summary.domains if d.headline is not None}
    if kinds == {ScaleKind.STATUS}:
        return "Most common"
    if ScaleKind.STATUS in kinds:
        return "Median or status"
    return "Median"


# Headline lines ----------------------------------------------------------------------------------------


def subtitle(summary: SurveySummary, style: Style = PLAIN) -> str:
    parts = [style.said(summary.framework_title)]
    if summary.partnership_name:
        parts.append(style.said(summary.partnership_name))
    parts.append(day(summary.generated_at))
    return " · ".join(parts)


def responses(summary: SurveySummary) -> str:
    """'8 of 10 invited responded (80%) · 6 submitted', or only the number invited below k."""
    rate = summary.response_rate.overall
    if rate.started is None:
        return f"{plural(rate.invited, 'person', 'people')} invited"
    if rate.invited:
        text = f"{rate.started} of {rate.invited} invited responded ({percent(rate.started_share)})"
    else:
        text = f"{plural(rate.started, 'person', 'people')} responded"
    if rate.completed is not None:
        text += f" · {rate.completed} submitted"
    return text


def weighting(summary: SurveySummary) -> str:
    return f"{WEIGHTING_TEXT[summary.weighting]}: {WEIGHTING_DETAIL[summary.weighting]}"


def compared_with(summary: SurveySummary, style: Style = PLAIN) -> str | None:
    changes = summary.changes
    if changes is None:
        return None
    text = f"{style.said(changes.previous_title)} ({day(changes.previous_generated_at)})"
    if changes.basis is not summary.weighting:
        text += f", on {WEIGHTING_TEXT[changes.basis]} (the earlier round was weighted differently)"
    if changes.left_out:
        text += (
            f"; {plural(changes.left_out, 'question')} in only one of the two rounds "
            "(the framework changed) left out"
        )
    return text


def unscored_count(summary: SurveySummary) -> int:
    return sum(1 for d in summary.domains for e in d.elements if not e.scored)


def comment_count(summary: SurveySummary) -> int:
    return sum(d.comments or 0 for d in summary.domains)


def notes(summary: SurveySummary) -> list[str]:
    """What is left out to protect small groups, and why: counts only, never which groups.

    Notes of single elements are gathered into one line per kind, so 128 outcomes do not repeat them."""
    k = summary.rules.k
    lines = [note.message for note in summary.suppressed]
    lines += [note.message for note in summary.response_rate.suppressed]
    scopes: Counter[SuppressionScope] = Counter()
    for domain in summary.domains:
        for element in domain.elements:
            scopes.update({note.scope for note in element.suppressed})
    if scopes[SuppressionScope.ELEMENT]:
        what = plural(scopes[SuppressionScope.ELEMENT], "question")
        lines.append(f"{what} not shown: fewer than {k} answers.")
    for scope, noun in ((SuppressionScope.ORGANISATIONS, "organisations"), (SuppressionScope.KINDS, "types")):
        if scopes[scope]:
            lines.append(
                f"On {plural(scopes[scope], 'question')}, some {noun} are not shown separately: fewer than "
                f"{k} answers, or hidden so that hidden ones cannot be worked out from the totals."
            )
    unscored = unscored_count(summary)
    if unscored and summary.respondents is not None:
        lines.append(
            f"{plural(unscored, 'part')} still in development {'is' if unscored == 1 else 'are'} not scored."
        )
    return list(dict.fromkeys(lines))


# Sections -----------------------------------------------------------------------------------------------


def _titled(item: HighlightItem, style: Style) -> str:
    return f"{style.said(item.title)} ({style.said(item.domain_title)})"


def _item_figure(item: HighlightItem) -> str | None:
    return item.median_label or item.status_label


def highlight_sections(summary: SurveySummary, style: Style = PLAIN) -> list[tuple[str, list[str]]]:
    """(heading, lines) for strengths, gaps, divergences, movers and the outcomes most at risk."""
    h = summary.highlights
    sections: list[tuple[str, list[str]]] = []

    def with_figure(item: HighlightItem) -> str:
        shown = _item_figure(item)
        return f"{_titled(item, style)}: {style.strong(style.said(shown))}" if shown else _titled(item, style)

    if h.strengths:
        sections.append(("Strengths", [with_figure(i) for i in h.strengths]))
    if h.gaps:
        sections.append(("Gaps", [with_figure(i) for i in h.gaps]))
    if h.divergences:
        lines = []
        for item in h.divergences:
            why = "; ".join(SPLIT_REASONS[r] for r in item.reasons)
            lines.append(f"{with_figure(item)} — {why}" if why else with_figure(item))
        sections.append(("Where partners differ", lines))
    if h.movers:
        sections.append(("Biggest moves", _mover_lines(summary, h.movers, style)))
    if h.at_risk:
        sections.append(
            ("Most at risk", [f"{_titled(i, style)}: {percent(i.measure)} amber or red" for i in h.at_risk])
        )
    return sections


def _mover_lines(summary: SurveySummary, movers: Sequence[HighlightItem], style: Style) -> list[str]:
    changes = {c.element_id: c for c in summary.changes.elements} if summary.changes else {}
    scales = {e.element_id: d.scale for d in summary.domains for e in d.elements}
    lines = []
    for item in movers:
        change = changes.get(item.element_id)
        arrow = trend(change) or ("▲" if item.measure > 0 else "▼")
        scale = scales.get(item.element_id)
        what = change_text(scale, change, style) if change is not None and scale is not None else ""
        if change is not None and change.reworded:
            what += f" ({REWORDED})" if what else REWORDED
        lines.append(f"{arrow} {_titled(item, style)}{': ' + what if what else ''}")
    return lines


def change_text(scale: ScaleInfo, change: FigureChange, style: Style = PLAIN) -> str:
    """'Developing → Maturing', or '40% → 25% amber or red' on a status scale."""
    if scale.kind is ScaleKind.STATUS:
        return f"{percent(change.before_concern)} → {percent(change.after_concern)} amber or red"
    before, after = value_label(scale, change.before_median), value_label(scale, change.after_median)
    return f"{style.said(before or '–')} → {style.said(after or '–')}"


SINCE_LAST_ELEMENTS = 5
"""Questions named in "since the last summary": the biggest moves; the rest are counted."""


def since_last_section(summary: SurveySummary, style: Style = PLAIN) -> tuple[str, list[str]] | None:
    """(heading, lines): what moved since the summary last posted to this channel, domain by domain."""
    changes = summary.since_last
    if changes is None or summary.respondents is None:
        return None
    lines: list[str] = []
    before = changes.previous_respondents
    if before is None:
        lines.append(f"Results are shown now: {plural(summary.respondents, 'person', 'people')} responded.")
    elif summary.respondents != before:
        lines.append(f"Respondents: {before} → {summary.respondents}.")
    else:
        lines.append(f"Respondents: {before}, as then.")
    scales = {d.domain_id: d.scale for d in summary.domains}
    moved = [c for c in changes.domains if c.moved]
    for change in moved:
        what = change_text(scales[change.domain_id], change, style)
        lines.append(f"{trend(change)} {style.said(change.title)}: {what}")
    elements = [c for c in changes.elements if c.moved]
    if elements:
        up = sum(1 for c in elements if c.shift > 0)
        lines.append(f"{plural(len(elements), 'question')} moved: {up} ▲, {len(elements) - up} ▼.")
        element_scales = {e.element_id: d.scale for d in summary.domains for e in d.elements}
        biggest = sorted(elements, key=lambda c: (-abs(c.shift), c.element_id))[:SINCE_LAST_ELEMENTS]
        for element_change in biggest:
            what = change_text(element_scales[element_change.element_id], element_change, style)
            lines.append(f"{trend(element_change)} {style.said(element_change.title)}: {what}")
    elif not moved and before is not None:
        lines.append("No domain or question moved.")
    if changes.basis is not summary.weighting:
        basis = WEIGHTING_TEXT[changes.basis]
        lines.append(f"Compared on {basis}: the last summary was weighted differently.")
    return f"Since the last summary ({day(changes.previous_generated_at)})", lines


def status_counts(summary: SurveySummary, style: Style = PLAIN) -> list[tuple[str, str]]:
    """(status with its colour mark, 'n outcomes') for status frameworks; [] otherwise."""
    overview = summary.statuses
    if overview is None:
        return []
    return [
        (
            f"{RAG_MARKS.get(b.rag.value if b.rag else 'grey', RAG_MARKS['grey'])} {style.said(b.label)}",
            plural(b.count, "outcome"),
        )
        for b in overview.outcomes
    ]


def element_line(
    domain: DomainSummary,
    element: ElementSummary,
    trends: dict[str, str],
    style: Style = PLAIN,
    reworded: Collection[str] = (),
) -> str:
    """'**Maturing** · mean 2.6 · split ▲' (what follows an element's title)."""
    if not element.scored:
        return "not scored (in development)"
    if element.headline is None:
        return "not shown"
    lead = figure(domain.scale, element.headline)
    mark = (
        status_mark(domain.scale, element.headline.status) + " "
        if domain.scale.kind is ScaleKind.STATUS
        else ""
    )
    parts = [mark + style.strong(style.said(lead)) if lead else "–"]
    extra = secondary(domain.scale, element.headline)
    if extra:
        parts.append(extra)
    if element.overall is not None:
        parts.append(f"n {element.overall.n}")
    if element.divergence is not None and element.divergence.split:
        parts.append(style.strong("split"))
    wanted = target_text(domain.scale, element.headline, element.target)
    if wanted is not None:
        parts.append(wanted + (" · target split" if element.target and element.target.split else ""))
    if trends.get(element.element_id):
        parts.append(trends[element.element_id])
    if element.element_id in reworded:
        parts.append(REWORDED)
    return " · ".join(parts)


def organisation_line(domain: DomainSummary, figures: Figures) -> str:
    """An organisation's (or a type's) figures on a domain, unescaped: 'Maturing · mean 2.6 · n 40'."""
    lead = figure(domain.scale, figures) or "–"
    parts = [lead]
    extra = secondary(domain.scale, figures)
    if extra:
        parts.append(extra)
    parts.append(f"n {figures.n}")
    return " · ".join(parts)


# The plain-text summary -------------------------------------------------------------------------------


def summary_text(summary: SurveySummary) -> str:
    """The whole summary as plain text: nothing is left out, people's words are shown as typed."""
    lines = [f"Results: {clean(summary.title)}", subtitle(summary), f"Responses: {responses(summary)}"]
    if summary.respondents is None:
        lines += ["", *notes(summary)]
        return "\n".join(lines)
    lines.append(f"Weighting: {weighting(summary)}. Medians lead, means follow.")
    lines.append("Split: how many questions partners disagree on.")
    previous = compared_with(summary)
    if previous:
        lines.append(f"Trend since {previous}: {TREND_LEGEND}")
    lines += ["", "Domains", *_domain_table(summary)]
    since = since_last_section(summary)
    if since is not None:
        lines += ["", since[0], *(f"  {item}" for item in since[1])]
    consensus = consensus_section(summary, PLAIN)
    if consensus is not None:
        lines += ["", consensus[0], *(f"  • {item}" for item in consensus[1])]
    for heading, items in target_sections(summary, PLAIN):
        lines += ["", heading, *(f"  • {item}" for item in items)]
    for heading, items in highlight_sections(summary):
        lines += ["", heading, *(f"  • {item}" for item in items)]
    if summary.statuses is not None:
        lines += ["", "Outcomes by status", *(f"  {mark}: {count}" for mark, count in status_counts(summary))]
        if summary.statuses.at_risk:
            lines += ["", "At-risk outcomes by workstream"]
            for risk in summary.statuses.at_risk:
                lines.append(f"  {clip(risk.label, 200)} ({len(risk.elements)})")
                lines += [
                    f"    • {clip(ref.title, 200)}: {percent(ref.concern_share)} amber or red"
                    for ref in risk.elements
                ]
    lines += ["", "Every question", *_element_lines(summary)]
    organisations = _organisation_lines(summary)
    if organisations:
        lines += ["", "By organisation", *organisations]
    rates = _rate_lines(summary)
    if rates:
        lines += ["", "Responses by organisation", *rates]
    comments = comment_count(summary)
    if comments:
        lines += [
            "",
            f"{plural(comments, 'comment')}: a lead reads them by saying “comments” in a private chat "
            "with the bot, never in a channel.",
        ]
    left_out = notes(summary)
    if left_out:
        lines += ["", "Not shown", *(f"  • {note}" for note in left_out)]
    return "\n".join(lines)


def _domain_table(summary: SurveySummary) -> list[str]:
    trends = domain_trends(summary)
    rows = [("Domain", lead_column(summary), "Split", "Trend" if summary.changes else "")]
    for domain in summary.domains:
        lead = figure(domain.scale, domain.headline) or "–"
        extra = secondary(domain.scale, domain.headline)
        if domain.scale.kind is ScaleKind.STATUS and domain.headline is not None:
            lead = f"{status_mark(domain.scale, domain.headline.status)} {lead}"
        rows.append(
            (
                clip(domain.title, 40),
                f"{lead} ({extra})" if extra else lead,
                split_text(domain),
                trends.get(domain.domain_id, ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  " + "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]


def _element_lines(summary: SurveySummary) -> list[str]:
    trends = element_trends(summary)
    reworded = reworded_elements(summary)
    lines = []
    for domain in summary.domains:
        if not domain.elements:
            continue
        points = " · ".join(p.label for p in domain.scale.points)
        lines.append(f"  {clip(domain.title, 200)} ({points})")
        for element in domain.elements:
            line = (
                f"    {clip(element.title, 200)} — {element_line(domain, element, trends, reworded=reworded)}"
            )
            if element.overall is not None:
                line += f" · [{' · '.join(str(c) for c in element.overall.counts)}]"
            lines.append(line)
    return lines


def _organisation_lines(summary: SurveySummary) -> list[str]:
    lines = []
    for domain in summary.domains:
        if not domain.organisations and not domain.kinds:
            continue
        lines.append(f"  {clip(domain.title, 200)}")
        lines += [f"    {clip(o.name, 200)} — {organisation_line(domain, o)}" for o in domain.organisations]
        lines += [f"    {clip(t.label, 200)} (type) — {organisation_line(domain, t)}" for t in domain.kinds]
        lines += [f"    {note}" for note in domain.notes]
    return lines


def _rate_lines(summary: SurveySummary) -> list[str]:
    rate = summary.response_rate
    named = [(o.name, o) for o in rate.organisations] + [(f"{t.label} (type)", t) for t in rate.kinds]
    return [f"  {clip(name, 200)}: {rate_text(row)}" for name, row in named]


def rate_text(rate: RateFigures) -> str:
    """'12 of 20 responded (60%) · 9 submitted'."""
    share = f" ({percent(rate.started_share)})" if rate.started_share is not None else ""
    return f"{rate.started or 0} of {rate.invited} responded{share} · {rate.completed or 0} submitted"


def unchanged_text(summary: SurveySummary, since: datetime | None = None) -> str:
    """The weekly post when nobody has answered since the last one: a line, not the whole summary."""
    when = f" since {day(since)}" if since is not None else " since the last summary"
    return "\n".join(
        [
            f"{clean(summary.title)}: no new answers{when}.",
            f"Responses: {responses(summary)}.",
            "Type “results” to see the summary again.",
        ]
    )
