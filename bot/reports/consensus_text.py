"""A consensus round in a summary, in words (card, plain text and the weekly post say the same): per
element revisited, agreement before and after by the split rule and by SCIROCCO's, how many who rated it
twice changed, and the verdict; then the elements still split, named. While the round takes answers a
summary says only that it runs (no figures: partners must not be anchored), and once closed, until a lead
shares its results, only that it waits for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frameworks.summary import Agreement, ConsensusHidden, ConsensusRule, ElementConsensus, SurveySummary

if TYPE_CHECKING:  # summary_text shows this section: it imports this module, not the other way round
    from bot.reports.summary_text import Style

RULE_TEXT = {
    ConsensusRule.SPLIT: "the split rule above",
    ConsensusRule.SCIROCCO: "SCIROCCO's rule (fewer than 4 ratings outside the 3-point band)",
}


def _split_word(agreement: Agreement) -> str:
    if agreement.split is None:
        return "not shown"
    return "split" if agreement.split else "agreed"


def _scirocco_word(agreement: Agreement) -> str | None:
    if agreement.outside is None:
        return None
    return str(agreement.outside)


def _verdict(element: ElementConsensus) -> str:
    if element.reached is None:
        return "too few answers to tell"
    return "consensus reached" if element.reached else "still split"


def element_text(element: ElementConsensus, style: Style) -> str:
    """'Vision: split → agreed, consensus reached · median Maturing → Maturing · outside the band 3 → 0
    · 4 of 6 changed their rating'."""
    added = " (added by the lead)" if element.added else ""
    parts = [
        f"{style.said(element.title)}{added}: {_split_word(element.before)} → {_split_word(element.after)}, "
        f"{style.strong(_verdict(element))}"
    ]
    if element.before.median_label or element.after.median_label:
        parts.append(
            f"median {style.said(element.before.median_label or '–')} → "
            f"{style.said(element.after.median_label or '–')}"
        )
    before, after = _scirocco_word(element.before), _scirocco_word(element.after)
    if before is not None or after is not None:
        parts.append(f"SCIROCCO: {before or '–'} → {after or '–'} outside the band")
    if element.changed is not None and element.answered_both is not None:
        parts.append(f"{element.changed} of {element.answered_both} changed their rating")
    return " · ".join(parts)


def consensus_section(summary: SurveySummary, style: Style) -> tuple[str, list[str]] | None:
    """The heading and lines of the summary's consensus round; None when it has none."""
    consensus = summary.consensus
    if consensus is None:
        return None
    heading = f"Consensus round #{consensus.consensus_survey_id}"
    asked = f"{consensus.asked} element{'' if consensus.asked == 1 else 's'}"
    if not consensus.elements:
        looked = f"A second look at {asked} of “{style.said(consensus.parent_title)}”"
        if consensus.hidden is ConsensusHidden.NOT_SHARED:
            return heading, [f"{looked} has closed; the lead has not shared its results yet."]
        return heading, [f"{looked} is under way; its results are shown once it closes."]
    lines = [element_text(element, style) for element in consensus.elements]
    still = consensus.still_split
    if still:
        named = ", ".join(style.said(element.title) for element in still)
        lines.append(f"{style.strong('Still split after the consensus round')}: {named}.")
    elif consensus.reached and len(consensus.reached) == len(consensus.elements):
        lines.append(style.strong("Consensus reached on every element revisited."))
    lines.append(
        f"Before: “{style.said(consensus.parent_title)}” (#{consensus.parent_survey_id}). "
        f"Reached or still split by {RULE_TEXT[consensus.rule]}; SCIROCCO counts ratings outside the "
        "3-point band containing the median (fewer than 4: agreed)."
        + _for_leads(consensus.hidden, consensus.consensus_survey_id)
    )
    return f"{heading}: agreement before and after", lines


def _for_leads(hidden: ConsensusHidden | None, survey_id: int) -> str:
    """A lead's own view of figures partners cannot see yet says so."""
    if hidden is ConsensusHidden.TAKING_ANSWERS:
        return " The round is still open: these figures are for leads."
    if hidden is ConsensusHidden.NOT_SHARED:
        return (
            " Its results are not shared yet: these figures are for leads until one shares them "
            f"(share results #{survey_id})."
        )
    return ""
