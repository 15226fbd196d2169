"""Replies held back until the turn's transaction has committed.

A reply must never promise what the database does not hold: when the handler runs a turn in one
transaction it opens a queue here, the conversation queues its replies, and the handler sends them
after the commit (a rolled-back turn sends nothing). Outside such a turn, replies go at once.
The queue can be written out as JSON (`held`) and queued again (`hold_again`), so the handler can keep
a turn's replies with its claim and send them on Teams' redelivery if the first delivery never did.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ResourceResponse
from pydantic import BaseModel

from dialogs.activity_json import model_json
from dialogs.messages import Message, to_activity

log = logging.getLogger(__name__)

_QUEUE = "outgoing.queue"

THROTTLED_WAIT = 5.0
"""The longest Retry-After a reply waits out in the turn; a longer one fails the send as before."""
THROTTLED_ATTEMPTS = 3

OnSent = Callable[[ResourceResponse | None], None]
T = TypeVar("T")


class ConnectorError(Exception):
    """A Bot Connector request that failed, as the bot's transport (bot.teams.connector) raises it;
    declared here, where replies are sent, because the conversation layer cannot import the edge.

    Refused by Teams: `status` (a non-2xx HTTP status), Teams' error `code` when its body named one,
    and `retry_after` as the header said it. Without a usable answer (the connection failed, the
    request timed out, a body that should be JSON was not): `status` is None, and `reason` says which.
    """

    def __init__(
        self,
        request: str,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{request}: {reason}")
        self.reason = reason
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """No answer to act on: worth trying again (a refusal is judged by its status)."""
        return self.status is None


@dataclass(frozen=True)
class _Pending:
    activity: Activity
    replace: bool
    on_sent: OnSent | None


class ReplyKind(StrEnum):
    SEND = "send"
    REPLACE = "replace"
    """An update of an earlier message (an answered card by its read-only copy)."""


class HeldReply(BaseModel):
    """A queued reply as JSON. Its `on_sent` callback is not kept: sent again after a crash, a
    question card's id is not learned, and typing an answer then leaves that card pressable."""

    kind: ReplyKind
    activity: dict[str, Any]


def hold(context: TurnContext) -> None:
    """Queue this turn's replies from now on, until `flush`."""
    context.turn_state[_QUEUE] = []


def discard(context: TurnContext) -> None:
    """Drop queued replies (the turn was rolled back) and send directly again."""
    context.turn_state.pop(_QUEUE, None)


async def send(context: TurnContext, reply: Message | Activity, on_sent: OnSent | None = None) -> None:
    """Send a reply, or queue it; `on_sent` receives Teams' response (the new message's id). A `Message`
    becomes its Activity here (`to_activity`)."""
    activity = _activity_of(reply)
    queue: list[_Pending] | None = context.turn_state.get(_QUEUE)
    if queue is not None:
        queue.append(_Pending(activity, replace=False, on_sent=on_sent))
        return
    response = await _send(context, activity)
    if on_sent is not None:
        on_sent(response)


async def replace(context: TurnContext, activity: Activity) -> None:
    """Replace an earlier message in place (an answered card by its read-only version); the activity
    carries the id of the message it replaces."""
    queue: list[_Pending] | None = context.turn_state.get(_QUEUE)
    if queue is not None:
        queue.append(_Pending(activity, replace=True, on_sent=None))
        return
    await _replace(context, activity)


def _activity_of(reply: Message | Activity) -> Activity:
    return to_activity(reply) if isinstance(reply, Message) else reply


def held(context: TurnContext) -> list[HeldReply]:
    """The replies queued so far, as JSON (the queue stays as it is)."""
    queue: list[_Pending] = context.turn_state.get(_QUEUE) or []
    return [
        HeldReply(kind=ReplyKind.REPLACE if p.replace else ReplyKind.SEND, activity=_as_json(p.activity))
        for p in queue
    ]


def hold_again(context: TurnContext, replies: list[HeldReply]) -> None:
    """Queue replies written out by `held` (in an earlier delivery of this activity), until `flush`."""
    context.turn_state[_QUEUE] = [
        _Pending(Activity.deserialize(reply.activity), replace=reply.kind == ReplyKind.REPLACE, on_sent=None)
        for reply in replies
    ]


def _as_json(activity: Activity) -> dict[str, Any]:
    """The activity as Teams will receive it (and as msrest wrote it), cards included as they are."""
    return model_json(activity)


async def flush(context: TurnContext) -> None:
    """Send what was queued, in order; replies go straight out from here on."""
    queue: list[_Pending] = context.turn_state.pop(_QUEUE, None) or []
    for pending in queue:
        if pending.replace:
            await _replace(context, pending.activity)
            continue
        response = await _send(context, pending.activity)
        if pending.on_sent is not None:
            pending.on_sent(response)


async def _send(context: TurnContext, activity: Activity) -> ResourceResponse | None:
    return await _through_throttling("reply", lambda: context.send_activity(activity))


async def _through_throttling(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Call, and when Teams throttles it (429) and asks for a short wait, wait and call again: the
    person is waiting for the reply or the card's update, and the answer it follows is saved already."""
    for attempt in range(1, THROTTLED_ATTEMPTS + 1):
        try:
            return await call()
        except ConnectorError as error:
            wait = _throttled_for(error)
            if wait is None or wait > THROTTLED_WAIT or attempt == THROTTLED_ATTEMPTS:
                raise
            log.info("%s throttled by Teams; sending again in %.1f s", what, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _throttled_for(error: ConnectorError) -> float | None:
    """Seconds Teams asked to wait before a throttled request (1 when it did not say); None when the
    failure was not throttling, or the wait is given as a date."""
    if error.status != 429:
        return None
    value = error.retry_after
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def _replace(context: TurnContext, activity: Activity) -> None:
    try:
        await _through_throttling("card update", lambda: context.update_activity(activity))
    except Exception:  # the answer is saved; an old card left editable is only cosmetic
        log.warning("could not replace answered card %s", activity.id, exc_info=True)


# What the turn's replies taught: the id Teams gave its question card ----------------------------------

_RECEIPT_KEY = "outgoing.receipt_key"
_SENT_CARD = "outgoing.sent_card"


def set_receipt_key(context: TurnContext, key: str | None) -> None:
    """The claim this turn's replies are recorded against once sent (None: they are not recorded)."""
    context.turn_state[_RECEIPT_KEY] = key


def receipt_key(context: TurnContext) -> str | None:
    key: str | None = context.turn_state.get(_RECEIPT_KEY)
    return key


def note_sent_card(context: TurnContext) -> OnSent:
    """An `on_sent` that keeps the sent card's id in the turn, for the handler to record (`sent_card`)."""

    def note(response: ResourceResponse | None) -> None:
        if response is not None and response.id:
            context.turn_state[_SENT_CARD] = response.id

    return note


def sent_card(context: TurnContext) -> str | None:
    """The id Teams gave the question card this turn sent, once sent."""
    card: str | None = context.turn_state.get(_SENT_CARD)
    return card
