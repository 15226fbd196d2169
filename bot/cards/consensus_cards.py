"""What partners are told of a consensus round whose results are hidden: while it takes answers, that they
wait for its close, so nobody's second answer is anchored on the others'; once closed, that they wait for
the lead to share them (the weekly post and `results` say the same)."""

from __future__ import annotations

from bot.cards.blocks import adaptive_card, card_message, said_block, text_block
from dialogs.messages import Message
from frameworks.summary import ConsensusHidden


def hidden_text(survey_id: int, why: ConsensusHidden, *, lead: bool) -> str:
    """Why `results` shows nothing of it here; a lead is also told what they can do."""
    if why is ConsensusHidden.NOT_SHARED:
        text = f"Consensus round #{survey_id} has closed; the lead has not shared its results yet."
        if lead:
            text += (
                f" Share them with everyone here with share results #{survey_id}; you can see them "
                "first in a 1:1 chat with me."
            )
        return text
    text = (
        f"The results of consensus round #{survey_id} stay hidden until it closes, so everyone's second "
        "answer is their own."
    )
    if lead:
        text += (
            f" As a lead you can see them so far in a 1:1 chat with me, or close it with close #{survey_id}."
        )
    return text


def hidden_results(survey_id: int, title: str, why: ConsensusHidden) -> Message:
    """The weekly post of a subscription to a consensus round whose results are hidden."""
    body = [
        said_block(title, weight="bolder", style="heading"),
        text_block(hidden_text(survey_id, why, lead=False), spacing="small"),
    ]
    waiting = "results when it closes" if why is ConsensusHidden.TAKING_ANSWERS else "results when shared"
    return card_message(adaptive_card(body, f"{title}: {waiting}."))
