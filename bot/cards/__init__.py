"""Adaptive Cards the bot sends in Teams: rendering only, from views and summaries (no query, no ORM row).

blocks          escaping and the building blocks every card is made of (size limit, actions, message)
survey          `CardRenderer`: the partner's conversation as cards
questions       the question card
review          the review card and the survey and domain lists
summary_cards   a partnership summary as one card
comment_cards   comment texts for the lead, split over cards that fit
"""

from bot.cards.blocks import (
    MAX_CARD_BYTES,
    Card,
    adaptive_card,
    card_action,
    card_message,
    card_of,
    card_size,
    escape,
    execute_action,
    said_block,
    text_block,
)
from bot.cards.comment_cards import comments_card, render_comments
from bot.cards.summary_cards import Detail, render_summary, render_unchanged, summary_card, unchanged_card
from bot.cards.survey import CardRenderer

__all__ = [
    "MAX_CARD_BYTES",
    "Card",
    "CardRenderer",
    "Detail",
    "adaptive_card",
    "card_action",
    "card_message",
    "card_of",
    "card_size",
    "comments_card",
    "escape",
    "execute_action",
    "render_comments",
    "render_summary",
    "render_unchanged",
    "said_block",
    "summary_card",
    "text_block",
    "unchanged_card",
]
