"""Partnership summaries as one Adaptive Card (1.5) for a channel: readable on a phone, within Teams'
message size, never showing a comment or a group below the anonymity threshold (the model holds neither).

The card leads with the response rate and the weighting, then a narrow domain table (median, split
flag, trend), the highlights and, for delivery frameworks, outcomes by status and at-risk outcomes by
workstream. Detail follows. When the card would exceed `MAX_CARD_BYTES`, detail sections are left out
in `DROP_ORDER` and a line says what was left out and how to get it; if even that is too much, the
domain table is shortened, and last of all only the headline stays.

Every word from a framework or a person goes through `escape` (the `CARD` style); our own words are
markdown on purpose.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.cards.blocks import (
    MAX_CARD_BYTES,
    Card,
    adaptive_card,
    card_message,
    card_size,
    escape,
    said_block,
    text_block,
)
from bot.reports.chart_links import ChartUrls
from bot.reports.consensus_text import consensus_section
from bot.reports.summary_text import (
    TREND_LEGEND,
    WEIGHTING_DETAIL,
    WEIGHTING_TEXT,
    Style,
    comment_count,
    compared_with,
    day,
    domain_trends,
    element_line,
    element_trends,
    figure,
    highlight_sections,
    lead_column,
    notes,
    organisation_line,
    percent,
    plural,
    rate_text,
    responses,
    reworded_elements,
    secondary,
    since_last_section,
    split_text,
    status_counts,
    status_mark,
    subtitle,
)
from bot.reports.target_text import target_sections
from bot.reports.text import clip
from dialogs.messages import Message
from frameworks.schema import ScaleKind
from frameworks.summary import DomainSummary, SurveySummary

TITLE_LIMIT = 80
"""Characters of an element, domain or organisation name in the card (the export has them whole)."""

CARD = Style(said=lambda text: escape(clip(text, TITLE_LIMIT)), strong=lambda text: f"**{text}**")

MORE_HINT = "For every element and every answer, a lead can type **export xlsx**."


PROFILE_ALT = "Domain profile chart: each domain's median, the partnership beside each organisation"


class Detail(StrEnum):
    """Sections the card can do without, named as the 'left out' line names them."""

    ELEMENTS = "every question's figures"
    ORGANISATIONS = "each organisation's figures"
    RATES = "responses by organisation"
    RISK_TITLES = "the names of at-risk outcomes"
    HIGHLIGHTS = "the highlights"
    CHART_LINKS = "the links to each domain's chart"


DROP_ORDER: tuple[Detail, ...] = (
    Detail.ELEMENTS,
    Detail.ORGANISATIONS,
    Detail.RATES,
    Detail.RISK_TITLES,
    Detail.CHART_LINKS,
    Detail.HIGHLIGHTS,
)
"""What goes first when the card is too big: the longest and least read detail first."""


def summary_card(
    summary: SurveySummary, *, limit: int = MAX_CARD_BYTES, charts: ChartUrls | None = None
) -> Card:
    """The summary card, as much of it as fits in `limit` bytes (see the module docstring)."""
    left_out: list[Detail] = []
    card = _summary_card(summary, left_out, None, charts)
    if card_size(card) < limit:
        return card
    for detail in DROP_ORDER:
        if not _has(summary, detail, charts):
            continue
        left_out.append(detail)
        card = _summary_card(summary, left_out, None, charts)
        if card_size(card) < limit:
            return card
    rows = len(summary.domains)
    while rows > 1:
        rows = rows // 2
        card = _summary_card(summary, left_out, rows, charts)
        if card_size(card) < limit:
            return card
    return _headline_card(summary)


def _has(summary: SurveySummary, detail: Detail, charts: ChartUrls | None) -> bool:
    """Whether the summary has anything for this section, so leaving it out would leave something out."""
    if detail is Detail.CHART_LINKS:
        return charts is not None and bool(charts.distributions)
    if detail is Detail.ELEMENTS:
        return any(domain.elements for domain in summary.domains)
    if detail is Detail.ORGANISATIONS:
        return any(domain.organisations or domain.kinds for domain in summary.domains)
    if detail is Detail.RATES:
        return bool(summary.response_rate.organisations or summary.response_rate.kinds)
    if detail is Detail.RISK_TITLES:
        return summary.statuses is not None and bool(summary.statuses.at_risk)
    return bool(highlight_sections(summary, CARD))


def render_summary(
    summary: SurveySummary, *, limit: int = MAX_CARD_BYTES, charts: ChartUrls | None = None
) -> Message:
    """The summary as a message: the card alone, so Teams keeps it as one message. With chart links,
    the domain profile is shown under the heading (Teams fetches it from the bot) and each domain's
    distribution chart is a link."""
    return card_message(summary_card(summary, limit=limit, charts=charts))


def unchanged_card(summary: SurveySummary, since: datetime | None = None) -> Card:
    """The weekly post when nobody has answered since the last one: a few lines, not the whole summary."""
    when = f"since {day(since)}" if since is not None else "since the last summary"
    body = [
        said_block(summary.title, weight="bolder", style="heading"),
        text_block(f"No new answers {when}.", spacing="small"),
        text_block(f"Responses: {responses(summary)}.", isSubtle=True, spacing="small"),
        text_block("Type **results** to see the summary again.", isSubtle=True, spacing="small"),
    ]
    return adaptive_card(body, f"{summary.title}: no new answers {when}.")


def render_unchanged(summary: SurveySummary, since: datetime | None = None) -> Message:
    return card_message(unchanged_card(summary, since))


# Building the card --------------------------------------------------------------------------------------


def _fallback(summary: SurveySummary) -> str:
    return f"Results: {summary.title}. Responses: {responses(summary)}."


def _header(summary: SurveySummary) -> list[Card]:
    facts = [{"title": "Responses", "value": responses(summary)}]
    if summary.respondents is not None:
        facts.append({"title": "Weighting", "value": WEIGHTING_TEXT[summary.weighting]})
        previous = compared_with(summary, CARD)
        if previous:
            facts.append({"title": "Compared with", "value": previous})
    return [
        text_block("Results", size="small", isSubtle=True),
        said_block(summary.title, size="large", weight="bolder", style="heading", spacing="none"),
        text_block(subtitle(summary, CARD), isSubtle=True, spacing="none"),
        {"type": "FactSet", "facts": facts, "spacing": "small"},
    ]


def _headline_card(summary: SurveySummary) -> Card:
    """The last resort, always small: who responded, and where the detail is."""
    body = [
        *_header(summary),
        text_block(
            f"This summary is too long for one Teams message. {MORE_HINT}", isSubtle=True, separator=True
        ),
    ]
    return adaptive_card(body, _fallback(summary))


def _summary_card(
    summary: SurveySummary, left_out: list[Detail], domain_rows: int | None, charts: ChartUrls | None
) -> Card:
    body = _header(summary)
    if summary.respondents is None:
        body += _notes(summary)
        return adaptive_card(body, _fallback(summary))
    if charts is not None:
        body.append(
            {"type": "Image", "url": charts.profile, "altText": "Domain profile chart", "size": "stretch"}
        )
    legend = f"Medians lead, weighted {WEIGHTING_TEXT[summary.weighting]}; the mean follows."
    legend += " **Split**: questions where partners disagree."
    if summary.changes is not None:
        legend += f" Trend: {TREND_LEGEND}."
    body += [
        text_block("Domains", weight="bolder", separator=True, spacing="medium"),
        text_block(legend, size="small", isSubtle=True, spacing="none"),
        _domain_table(summary, domain_rows),
    ]
    if domain_rows is not None and domain_rows < len(summary.domains):
        more = len(summary.domains) - domain_rows
        body.append(text_block(f"… and {plural(more, 'more domain')}.", isSubtle=True, spacing="small"))
    since = since_last_section(summary, CARD)
    if since is not None:
        body += [_heading(since[0]), _bullets(since[1])]
    consensus = consensus_section(summary, CARD)
    if consensus is not None:
        body += [_heading(consensus[0]), _bullets(consensus[1])]
    for heading, lines in target_sections(summary, CARD):
        body += [_heading(heading), _bullets(lines)]
    if Detail.HIGHLIGHTS not in left_out:
        body += _highlights(summary)
    body += _statuses(summary, titles=Detail.RISK_TITLES not in left_out)
    if Detail.ELEMENTS not in left_out:
        body += _elements(summary)
    if Detail.ORGANISATIONS not in left_out:
        body += _organisations(summary)
    if Detail.RATES not in left_out:
        body += _rates(summary)
    if charts is not None and charts.distributions and Detail.CHART_LINKS not in left_out:
        links = " · ".join(f"[{CARD.said(title)}]({url})" for title, url in charts.distributions)
        body += [_heading("How the answers spread, by domain"), text_block(links, spacing="small")]
    comments = comment_count(summary)
    if comments:
        body.append(
            text_block(
                f"💬 {plural(comments, 'comment')}: a lead reads them by saying **comments** in a private "
                "chat with me, never in the channel.",
                isSubtle=True,
                separator=True,
            )
        )
    if left_out:
        names = ", ".join(detail.value for detail in left_out)
        body.append(text_block(f"Left out to fit one Teams message: {names}. {MORE_HINT}", separator=True))
    body += _notes(summary)
    card = adaptive_card(body, _fallback(summary))
    if charts is not None:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the chart", "url": charts.profile}]
    return card


def _cell(items: list[Card]) -> Card:
    return {"type": "TableCell", "items": items}


def _domain_table(summary: SurveySummary, rows: int | None) -> Card:
    trends = domain_trends(summary)
    with_trend = summary.changes is not None
    header = ["Domain", lead_column(summary), "Split", *(["Trend"] if with_trend else [])]
    table_rows = [
        {"type": "TableRow", "cells": [_cell([text_block(name, weight="bolder")]) for name in header]},
    ]
    for domain in summary.domains[:rows]:
        cells = [
            _cell([text_block(CARD.said(domain.title))]),
            _cell(_lead_items(domain)),
            _cell([text_block(split_text(domain))]),
        ]
        if with_trend:
            cells.append(_cell([text_block(trends.get(domain.domain_id) or "–")]))
        table_rows.append({"type": "TableRow", "cells": cells})
    widths = [3, 2, 1, 1] if with_trend else [3, 2, 1]
    return {
        "type": "Table",
        "columns": [{"type": "TableColumnDefinition", "width": width} for width in widths],
        "rows": table_rows,
        "firstRowAsHeader": True,
        "showGridLines": False,
        "spacing": "small",
    }


def _lead_items(domain: DomainSummary) -> list[Card]:
    lead = figure(domain.scale, domain.headline)
    if lead is None or domain.headline is None:
        return [text_block("–", isSubtle=True)]
    mark = (
        status_mark(domain.scale, domain.headline.status) + " "
        if domain.scale.kind is ScaleKind.STATUS
        else ""
    )
    items = [text_block(f"{mark}**{CARD.said(lead)}**")]
    extra = secondary(domain.scale, domain.headline)
    if extra:
        items.append(text_block(extra, size="small", isSubtle=True, spacing="none"))
    return items


def _bullets(lines: list[str], **style: Any) -> Card:
    """Our lines (already escaped where they carry others' words) as one list, one paragraph each."""
    return text_block("\n\n".join(f"• {line}" for line in lines), spacing="small", **style)


def _heading(text: str) -> Card:
    return text_block(text, weight="bolder", separator=True, spacing="medium")


def _highlights(summary: SurveySummary) -> list[Card]:
    body: list[Card] = []
    for heading, lines in highlight_sections(summary, CARD):
        body += [_heading(heading), _bullets(lines)]
    return body


def _statuses(summary: SurveySummary, *, titles: bool) -> list[Card]:
    overview = summary.statuses
    if overview is None:
        return []
    body = [
        _heading("Outcomes by status"),
        {
            "type": "FactSet",
            "facts": [{"title": mark, "value": count} for mark, count in status_counts(summary, CARD)],
            "spacing": "small",
        },
    ]
    if not overview.at_risk:
        return body
    body.append(_heading("At-risk outcomes by workstream"))
    if not titles:
        facts = [
            {"title": CARD.said(risk.label), "value": plural(len(risk.elements), "outcome")}
            for risk in overview.at_risk
        ]
        return [*body, {"type": "FactSet", "facts": facts, "spacing": "small"}]
    for risk in overview.at_risk:
        body.append(
            text_block(f"**{CARD.said(risk.label)}** · {len(risk.elements)} at risk", spacing="small")
        )
        body.append(
            _bullets(
                [
                    f"{CARD.said(ref.title)}: {percent(ref.concern_share)} amber or red"
                    for ref in risk.elements
                ],
                isSubtle=True,
            )
        )
    return body


def _elements(summary: SurveySummary) -> list[Card]:
    trends = element_trends(summary)
    reworded = reworded_elements(summary)
    body = [_heading("Every question")]
    for domain in summary.domains:
        if not domain.elements:
            continue
        facts = [
            {
                "title": CARD.said(element.title),
                "value": element_line(domain, element, trends, CARD, reworded),
            }
            for element in domain.elements
        ]
        body += [
            text_block(CARD.said(domain.title), weight="bolder", spacing="small"),
            {"type": "FactSet", "facts": facts, "spacing": "small"},
        ]
    return body


def _organisations(summary: SurveySummary) -> list[Card]:
    body: list[Card] = []
    for domain in summary.domains:
        facts = [
            {"title": CARD.said(o.name), "value": escape(organisation_line(domain, o))}
            for o in domain.organisations
        ]
        facts += [
            {"title": f"{CARD.said(t.label)} (type)", "value": escape(organisation_line(domain, t))}
            for t in domain.kinds
        ]
        if not facts:
            continue
        body += [
            text_block(CARD.said(domain.title), weight="bolder", spacing="small"),
            {"type": "FactSet", "facts": facts, "spacing": "small"},
        ]
        body += [said_block(note, size="small", isSubtle=True, spacing="none") for note in domain.notes]
    if body:
        detail = WEIGHTING_DETAIL[summary.weighting]
        body = [
            _heading("By organisation"),
            text_block(f"Medians: {detail}.", size="small", isSubtle=True),
            *body,
        ]
    return body


def _rates(summary: SurveySummary) -> list[Card]:
    rate = summary.response_rate
    facts = [{"title": CARD.said(o.name), "value": rate_text(o)} for o in rate.organisations]
    facts += [{"title": f"{CARD.said(t.label)} (type)", "value": rate_text(t)} for t in rate.kinds]
    if not facts:
        return []
    return [_heading("Responses by organisation"), {"type": "FactSet", "facts": facts, "spacing": "small"}]


def _notes(summary: SurveySummary) -> list[Card]:
    lines = notes(summary)
    if not lines:
        return []
    return [_heading("Not shown"), _bullets([escape(line) for line in lines], size="small", isSubtle=True)]
