"""What a claimed turn owes Teams and how it is paid: replies and an invoke's answer are kept with the
activity's claim in the turn's transaction, sent only after the commit, then marked sent. A redelivery
sends what its first delivery kept and never confirmed sent."""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import ActivityTypes, InvokeResponse
from pydantic import BaseModel

from bot.ops.logs import set_turn_outcome
from bot.teams.invokes import answer_invoke, send_invoke_message
from bot.teams.unfinished import RepliesNotSent
from dialogs import outgoing
from dialogs.outgoing import ConnectorError
from storage.activities import owed_replies, replies_sent
from storage.db import Session, Sessions, single_statement

__all__ = ["KeptReplies", "deliver", "failure", "redelivered", "still_owed"]

log = logging.getLogger(__name__)


async def redelivered(turn_context: TurnContext) -> None:
    """A redelivery with nothing left to do: logged, and a press told it was already received."""
    set_turn_outcome("duplicate")
    log.info("redelivered activity %s ignored", turn_context.activity.id)
    if turn_context.activity.type == ActivityTypes.invoke:
        await send_invoke_message(turn_context, "Already received.")


class KeptReplies(BaseModel):
    """What a claimed turn owes Teams, kept with its claim until sent: its replies and, for an
    `adaptiveCard/action`, the answer's body (always sent with HTTP 200)."""

    replies: list[outgoing.HeldReply]
    invoke: dict[str, Any] | None = None

    def owes_anything(self) -> bool:
        return bool(self.replies) or self.invoke is not None

    def to_keep(self) -> str | None:
        """What the claim keeps until it is sent (JSON), or None when the turn owes nothing."""
        return self.model_dump_json() if self.owes_anything() else None


async def still_owed(session: Session, turn_context: TurnContext, key: str) -> KeptReplies | None:
    """A redelivery: queue again what its first delivery kept and never confirmed sent."""
    stored = await owed_replies(session, key)
    if stored is None:
        return None
    kept = KeptReplies.model_validate_json(stored)
    outgoing.hold_again(turn_context, kept.replies)
    set_turn_outcome("duplicate")
    log.info(
        "redelivered activity %s: sending the replies its first delivery did not", turn_context.activity.id
    )
    return kept


def failure(error: BaseException) -> str:
    """What failed a send, for one log line: the error's kind and Teams' HTTP status, no details."""
    status = error.status if isinstance(error, ConnectorError) else None
    return f"{type(error).__name__} {status}" if status is not None else type(error).__name__


async def deliver(
    turn_context: TurnContext, key: str | None, kept: KeptReplies, *, sessions: Sessions
) -> None:
    """After the commit: answer the invoke, send the replies, then mark them sent with the id Teams gave
    the question card among them (one statement)."""
    if kept.invoke is not None:  # kept as the JSON it is answered with
        await answer_invoke(turn_context, InvokeResponse(status=200, body=kept.invoke))
    try:
        await outgoing.flush(turn_context)
    except Exception as error:
        if key is None or not kept.owes_anything():
            raise
        raise RepliesNotSent(failure(error)) from error
    card_id = outgoing.sent_card(turn_context)
    if key is not None and (kept.owes_anything() or card_id is not None):
        async with single_statement(sessions) as session:
            await replies_sent(session, key, card_id=card_id)
