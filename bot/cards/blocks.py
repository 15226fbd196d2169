"""The building blocks of every Adaptive Card the bot sends (schema 1.5, Universal Actions).

Each card travels alone in its activity, with no `text` beside the attachment: Teams would split the
two and the id kept for updating the card would point at the wrong half.

Every word from a framework file or a person goes through `escape()` before it reaches a TextBlock,
a Fact or an expanded choice (Teams renders a markdown subset in all three). Compact dropdown
options, button titles and input values are plain text on every client: they are only clipped.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from bot.reports.text import (
    clip,
)
from dialogs.messages import Card, Message, card_message
from dialogs.payloads import ACTION_VERB, CardActionKind

__all__ = [
    "BUTTON_TITLE_LIMIT",
    "CARD_VERSION",
    "MAX_CARD_BYTES",
    "SCHEMA_URL",
    "Card",
    "action_set",
    "adaptive_card",
    "card_action",
    "card_message",
    "card_of",
    "card_size",
    "escape",
    "execute_action",
    "lines_of",
    "said_block",
    "text_block",
]

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
MAX_CARD_BYTES = 24_000
"""Our ceiling for one serialised card: Teams refuses oversized messages (413), older docs say ~28 KB."""
BUTTON_TITLE_LIMIT = 60


_INLINE = str.maketrans(
    {
        "\\": "\\\\",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "~": "\\~",
        "[": "\\[",
        "]": "\\]",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
    }
)
_HEADING = re.compile(r"^#(?=#{0,5}(?:\s|$))")
_BULLET = re.compile(r"^([-+])(?=[\s-]|$)")
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_TEMPLATE = re.compile(r"(?<=\{)\{")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@functools.lru_cache(maxsize=4096)
def escape(text: str) -> str:
    """Text from a framework file or a person, made to show literally in a TextBlock or Fact.

    Results are kept for the texts met most: a question card escapes every level's descriptor again on
    each turn, which was 3–6% of a turn's CPU in a sampling profile.

    Markdown specials are backslash-escaped (`**x**`, `_x_`, `[x](url)`, `` `x` ``, `~~x~~`), and so
    are the marks that only count at the start of a line (`# `, `- `, `+ `, `1. `). `&`, `<` and `>`
    become entities: Adaptive Cards renderers decode `&amp;`/`&lt;`/`&gt;` and never treat them as markup, so
    `<at>…</at>` or `<b>` show as typed and cannot become a mention or HTML. `{{` is broken up so
    `{{DATE(…)}}` is not run as a date function. Each line becomes its own paragraph (a TextBlock
    needs a blank line to break one), with outer spaces dropped so nothing turns into a code block.
    """
    lines = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return "\n\n".join(_escape_line(line.strip()) for line in lines if line.strip())


def _escape_line(line: str) -> str:
    line = _TEMPLATE.sub(r"\\{", line.translate(_INLINE))
    line = _HEADING.sub(r"\\#", line)
    line = _BULLET.sub(r"\\\1", line)
    return _ORDERED.sub(r"\1\\\2", line)


def card_action(
    title: str,
    kind: CardActionKind,
    survey_id: int,
    *,
    element_id: str | None = None,
    value: str | None = None,
    style: str | None = None,
    with_inputs: bool = True,
) -> Card:
    """A Universal Action button, with an Action.Submit fallback carrying the same data.

    The data holds only what is known here (`action`, `survey_id`, maybe `element_id`, `value`);
    the card's inputs (`value`, `comment`, `element_id`) are merged in by the client unless
    `with_inputs` is False, which navigation buttons use so they never carry half-filled inputs.
    """
    data: dict[str, Any] = {"action": kind.value, "survey_id": survey_id}
    if element_id is not None:
        data["element_id"] = element_id
    if value is not None:
        data["value"] = value
    return execute_action(title, ACTION_VERB, data, style=style, with_inputs=with_inputs)


def execute_action(
    title: str, verb: str, data: dict[str, Any], *, style: str | None = None, with_inputs: bool = True
) -> Card:
    """An `Action.Execute` with `verb` and `data`, and an `Action.Submit` fallback carrying the same."""
    common: Card = {"title": clip(title, BUTTON_TITLE_LIMIT)}
    if style is not None:
        common["style"] = style
    if not with_inputs:
        common["associatedInputs"] = "None"
    fallback = {"type": "Action.Submit", **common, "data": dict(data)}
    return {"type": "Action.Execute", "verb": verb, **common, "data": data, "fallback": fallback}


def text_block(markdown: str, **style: Any) -> Card:
    """A TextBlock of our own words (markdown on purpose); always wraps, so nothing is cut on mobile."""
    return {"type": "TextBlock", "text": markdown, "wrap": True, **style}


def said_block(text: str, **style: Any) -> Card:
    """A TextBlock of words from a framework file or a person: always escaped."""
    return text_block(escape(text), **style)


def action_set(*actions: Card, **style: Any) -> Card:
    return {"type": "ActionSet", "actions": list(actions), **style}


def adaptive_card(body: list[Card], fallback: str, actions: list[Card] | None = None) -> Card:
    """A version 1.5 card; `fallback` (shown where cards do not render) is escaped here."""
    card: Card = {
        "$schema": SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": escape(fallback),
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def card_size(card: Card) -> int:
    """Bytes of the card as sent (compact JSON, non-ASCII escaped): what MAX_CARD_BYTES bounds."""
    return len(json.dumps(card, separators=(",", ":")).encode())


def card_of(message: Message) -> Card:
    """The card dict inside a message from `CardRenderer`: the value of an invoke response."""
    if not message.cards or not isinstance(message.cards[0], dict):
        raise ValueError("the message carries no Adaptive Card")
    return message.cards[0]


def lines_of(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
