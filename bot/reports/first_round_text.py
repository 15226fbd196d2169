"""The first round as a consensus round's question shows it, in words: bars per level or score, the
reasons (unattributed), and what the partner said. Shared by the card and the plain-text renderer."""

from __future__ import annotations

from bot.reports.text import clean, clip
from dialogs.views import FirstRoundView

BAR_WIDTH = 12
"""Characters of the longest bar."""
REASON_LIMIT = 200
CONFIRM_PROMPT = "Confirm your answer or choose another, and say why in the comment box."


def heading(block: FirstRoundView) -> str:
    why = "your lead added it" if block.added else "partners differed here"
    return f"First round ({why})"


def bar_lines(block: FirstRoundView) -> list[str]:
    """'Developing  ███ 3' per point of the scale, labels padded so the bars line up."""
    if not block.bars:
        return []
    width = max(len(bar.label) for bar in block.bars)
    top = max((bar.count for bar in block.bars), default=0) or 1
    lines = []
    for bar in block.bars:
        length = round(bar.count * BAR_WIDTH / top)
        drawn = "█" * (length or (1 if bar.count else 0))
        mark = "  ← you" if bar.own else ""
        lines.append(f"{clean(bar.label).ljust(width)}  {drawn} {bar.count}{mark}".rstrip())
    return lines


def unshown_note(block: FirstRoundView) -> str | None:
    if block.bars:
        return None
    return f"Fewer than {block.k} people answered it in the first round, so how they answered isn't shown."


def reason_lines(block: FirstRoundView) -> list[str]:
    return [f"“{clip(clean(reason), REASON_LIMIT)}”" for reason in block.reasons]


def reasons_note(block: FirstRoundView) -> str:
    if not block.reasons:
        return f"Reasons are shown when at least {block.k} people gave one."
    more = f" …and {block.more_reasons} more." if block.more_reasons else ""
    return f"Reasons given, unattributed and in alphabetical order:{more}"


def own_line(block: FirstRoundView) -> str:
    if block.own_label is None:
        return "You didn't answer it in the first round."
    return f"You said: {clean(block.own_label)}"
