"""An owner answers their action's check-in card: the RAG, a note and whether it is live are kept in the
action's history, and the next check-in is one period away. Only the action's owner (or a lead of the
same tenant) may answer, checked against the stored action; the card's data is read for the action's
id and the answers only.
"""

from __future__ import annotations

from bot.cards import Card
from bot.cards.action_cards import checkin_done_card
from bot.leads.turn import LeadTurn
from dialogs.action_payloads import CheckinPress
from storage.actions import ActionNotFound, action_by_id, advance_checkin, update_action
from storage.db import transaction
from storage.tables import ActionRag, ActionState

GONE = "That action is no longer in a plan I can find."


async def on_checkin(turn: LeadTurn, press: CheckinPress | None) -> str | Card:
    """Record the owner's update and replace the card with a read-only thank-you."""
    if press is None:
        return "I couldn't read that card's answers. Please use the latest check-in card."
    async with transaction(turn.services.sessions) as session:
        try:
            action = await action_by_id(session, press.action_id, for_update=True)
        except ActionNotFound:
            return GONE
        if action.tenant_id != turn.tenant_id:
            return GONE
        person = await turn.sender(session)
        if person.id != action.owner_id and not turn.lead:
            return "Only the action's owner can send its check-in."
        if ActionState(action.state) is ActionState.CLOSED:
            return f"A{action.number} is closed: there is nothing to update."
        await update_action(
            session,
            action,
            person_id=person.id,
            rag=ActionRag(press.rag) if press.rag else None,
            state=ActionState(press.state) if press.state else None,
            note=press.note,
            now=turn.now(),
        )
        await advance_checkin(session, action, now=turn.now())
        return checkin_done_card(f"A{action.number}", ActionRag(action.rag), press.note)
