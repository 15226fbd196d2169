"""The "First round" block of a consensus round's question card: how everyone answered as bars, the
reasons given (only when at least k people gave one, never who), and the partner's own first answer,
which the choices then mark (or preselect, for a score) so confirming it is one press."""

from __future__ import annotations

from bot.cards.blocks import Card, said_block, text_block
from bot.reports.first_round_text import (
    CONFIRM_PROMPT,
    bar_lines,
    heading,
    own_line,
    reason_lines,
    reasons_note,
    unshown_note,
)
from dialogs.views import QuestionView

FIRST_ANSWER_MARK = "◆ Your first-round answer"
REASON_PLACEHOLDER = "Why? Your reason for confirming or changing it"


def first_round_block(view: QuestionView) -> list[Card]:
    """The block above the choices; nothing outside a consensus round."""
    block = view.first_round
    if block is None:
        return []
    items: list[Card] = [text_block(f"**{heading(block)}**")]
    items += [said_block(line, fontType="monospace", spacing="none") for line in bar_lines(block)]
    note = unshown_note(block)
    if note:
        items.append(text_block(note, isSubtle=True, spacing="small"))
    items.append(text_block(reasons_note(block), isSubtle=True, spacing="small"))
    items += [said_block(reason, spacing="none") for reason in reason_lines(block)]
    items.append(said_block(own_line(block), weight="bolder", spacing="small"))
    items.append(text_block(CONFIRM_PROMPT, isSubtle=True, spacing="none"))
    return [{"type": "Container", "style": "emphasis", "items": items, "spacing": "medium"}]


def first_answer(view: QuestionView) -> str | None:
    """The partner's first-round answer, for the choices to mark or preselect."""
    return view.first_round.own_value if view.first_round is not None else None
