"""The first round as a consensus round's question shows it, in words: bars per level or score, the
reasons (unattributed), and what the partner said. Shared by the card and the plain-text renderer
(bot.reports.text imports this module, so it tidies text itself rather than with that module's clip)."""

from __future__ import annotations

from dialogs.views import FirstRoundView

BAR_WIDTH = 12
"""Characters of the longest bar."""
REASON_LIMIT = 200
CONFIRM_PROMPT = "Confirm your answer or choose another, and say why in the comment box."


def tidy(text: str, limit: int = REASON_LIMIT) -> str:
    """One printable line of at most `limit` characters: a reason must not drive the terminal."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def heading(block: FirstRoundView) -> str:
    why = "your lead added it" if block.added else "partners differed here"
    return f"First round ({why})"


def bar_lines(block: FirstRoundView) -> list[str]:
    """'Developing  ███ 3' per point of the scale, labels padded so the bars line up."""
    if not block.bars:
        return []
    labels = [tidy(bar.label, 60) for bar in block.bars]
    width = max(len(label) for label in labels)
    top = max((bar.count for bar in block.bars), default=0) or 1
    lines = []
    for label, bar in zip(labels, block.bars, strict=True):
        length = round(bar.count * BAR_WIDTH / top)
        drawn = "█" * (length or (1 if bar.count else 0))
        mark = "  ← you" if bar.own else ""
        lines.append(f"{label.ljust(width)}  {drawn} {bar.count}{mark}".rstrip())
    return lines


def unshown_note(block: FirstRoundView) -> str | None:
    if block.bars:
        return None
    return f"Fewer than {block.k} people answered it in the first round, so how they answered isn't shown."


def reason_lines(block: FirstRoundView) -> list[str]:
    return [f"“{tidy(reason)}”" for reason in block.reasons]


def reasons_note(block: FirstRoundView) -> str:
    if not block.reasons:
        return f"Reasons are shown when at least {block.k} people gave one."
    more = f" …and {block.more_reasons} more." if block.more_reasons else ""
    return f"Reasons given, unattributed and in alphabetical order:{more}"


def own_line(block: FirstRoundView) -> str:
    if block.own_label is None:
        return "You didn't answer it in the first round."
    return f"You said: {tidy(block.own_label, 80)}"


def first_round_lines(block: FirstRoundView | None) -> list[str]:
    """The whole block as plain text (the terminal chat); empty outside a consensus round."""
    if block is None:
        return []
    lines = [heading(block), *bar_lines(block)]
    note = unshown_note(block)
    if note:
        lines.append(note)
    lines.append(reasons_note(block))
    lines += [f"  {reason}" for reason in reason_lines(block)]
    return [*lines, own_line(block), CONFIRM_PROMPT, ""]
