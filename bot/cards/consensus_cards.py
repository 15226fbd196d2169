"""What partners are told of a consensus round still taking answers: that its results wait for its close,
so nobody's second answer is anchored on the others' (the weekly post and `results` say the same)."""

from __future__ import annotations

from bot.cards.blocks import adaptive_card, card_message, said_block, text_block
from dialogs.messages import Message


def hidden_text(survey_id: int, *, lead: bool) -> str:
    text = (
        f"The results of consensus round #{survey_id} stay hidden until it closes, so everyone's second "
        "answer is their own."
    )
    if lead:
        text += (
            f" As a lead you can see them so far in a 1:1 chat with me, or close it with close #{survey_id}."
        )
    return text


def hidden_results(survey_id: int, title: str) -> Message:
    """The weekly post of a subscription to a consensus round that is still open."""
    body = [
        said_block(title, weight="bolder", style="heading"),
        text_block(hidden_text(survey_id, lead=False), spacing="small"),
    ]
    return card_message(adaptive_card(body, f"{title}: results when it closes."))
