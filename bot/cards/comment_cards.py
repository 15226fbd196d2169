"""Partners' comments, for a lead's eyes only: one Adaptive Card (1.5) for the lead's 1:1 chat.

The card holds what `frameworks.summary.lead_comments` allows and nothing more: comment texts grouped
by domain and question with a count for each, never a name, an organisation or a time, in alphabetical
order (so the order says nothing about who wrote what), and none for questions answered by fewer than
k people (the rule is stated at the foot of the card). Every comment and title goes through `escape`.

A card has to fit one Teams message (`MAX_CARD_BYTES`): comments are added in order while they fit,
and what is left over is counted in a last line that points to the export, which holds them all.
A comment longer than `COMMENT_SHOWN` characters is shortened, and the card says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

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
from bot.reports.summary_text import plural
from bot.reports.text import clip
from dialogs.messages import Message
from frameworks.summary import LeadComments

COMMENT_SHOWN = 1000
"""Characters of one comment shown in the card (the export has every comment whole)."""
TITLE_SHOWN = 120
"""Characters of a domain's or question's title."""
EXPORT_HINT = "Say **export xlsx** for every comment, each beside its answer."


def comments_card(
    comments: LeadComments, domain_titles: Mapping[str, str], *, limit: int = MAX_CARD_BYTES
) -> Card:
    """The card (see the module docstring); `domain_titles` maps domain ids to their titles."""
    total = sum(len(element.comments) for element in comments.elements)
    header = [
        text_block("Comments (only you can see this)", size="small", isSubtle=True),
        said_block(comments.title, size="large", weight="bolder", style="heading", spacing="none"),
    ]
    footer = [
        text_block(escape(rule.message), size="small", isSubtle=True, separator=True)
        for rule in comments.suppressed
    ]
    fallback = (
        f"Comments on {comments.title}: {plural(total, 'comment')}. Open this chat in Teams to read them."
    )
    if not total:
        header.append(text_block("No comments to show.", spacing="small"))
        return adaptive_card(header + footer, fallback)
    header.append(
        text_block(
            f"{plural(total, 'comment')} on {plural(len(comments.elements), 'question')}, unattributed and "
            "in alphabetical order.",
            isSubtle=True,
            spacing="none",
        )
    )
    blocks, shortened = _blocks(comments, domain_titles)
    if shortened:
        footer.insert(
            0,
            text_block(
                f"Comments longer than {COMMENT_SHOWN:,} characters are shortened here. {EXPORT_HINT}",
                size="small",
                isSubtle=True,
                separator=True,
            ),
        )
    everything = adaptive_card([*header, *(block for block, _ in blocks), *footer], fallback)
    if card_size(everything) <= limit:
        return everything
    # Room for the "left out" line at its longest, then blocks in order while they fit.
    room = limit - card_size(adaptive_card([*header, _left_out(total, total), *footer], fallback))
    kept: list[tuple[Card, str | None]] = []
    for block, element_id in blocks:
        size = card_size(block) + 1  # and its comma in the body
        if size > room:
            break
        kept.append((block, element_id))
        room -= size
    while kept and kept[-1][1] is None:  # a heading with none of its comments after it
        kept.pop()
    wanted = Counter(element_id for _, element_id in blocks if element_id is not None)
    shown = Counter(element_id for _, element_id in kept if element_id is not None)
    questions = sum(1 for element_id, count in wanted.items() if shown[element_id] < count)
    left = total - shown.total()
    body = [*header, *(block for block, _ in kept), _left_out(left, questions), *footer]
    return adaptive_card(body, fallback)


def render_comments(comments: LeadComments, domain_titles: Mapping[str, str]) -> Message:
    """The card as a message of its own, as every card is sent."""
    return card_message(comments_card(comments, domain_titles))


def _blocks(
    comments: LeadComments, domain_titles: Mapping[str, str]
) -> tuple[list[tuple[Card, str | None]], bool]:
    """(block, element id for a comment or None for a heading) in reading order, and whether any
    comment was shortened."""
    blocks: list[tuple[Card, str | None]] = []
    shortened = False
    domain: str | None = None
    for element in comments.elements:
        if element.domain_id != domain:
            domain = element.domain_id
            title = domain_titles.get(domain, domain)
            blocks.append(
                (
                    said_block(clip(title, TITLE_SHOWN), weight="bolder", separator=True, spacing="medium"),
                    None,
                )
            )
        heading = f"{escape(clip(element.title, TITLE_SHOWN))} · {plural(len(element.comments), 'comment')}"
        blocks.append((text_block(heading, weight="bolder", spacing="small"), None))
        for comment in element.comments:
            shown = clip(comment, COMMENT_SHOWN)
            shortened = shortened or len(" ".join(comment.split())) > COMMENT_SHOWN
            blocks.append((text_block(f"• {escape(shown)}", spacing="small"), element.element_id))
    return blocks, shortened


def _left_out(comments: int, questions: int) -> Card:
    where = f" on {plural(questions, 'question')}" if questions else ""
    return text_block(
        f"{plural(comments, 'more comment')}{where} did not fit in one Teams message. {EXPORT_HINT}",
        isSubtle=True,
        separator=True,
    )
