"""Replies held back until the turn's transaction has committed.

A reply must never promise what the database does not hold: when the handler runs a turn in one
transaction it opens a queue here, the conversation queues its replies, and the handler sends them
after the commit (a rolled-back turn sends nothing). Outside such a turn, replies go at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ResourceResponse
from msrest.exceptions import HttpOperationError

log = logging.getLogger(__name__)

_QUEUE = "outgoing.queue"

THROTTLED_WAIT = 5.0
"""The longest Retry-After a reply waits out in the turn; a longer one fails the send as before."""
THROTTLED_ATTEMPTS = 3

OnSent = Callable[[ResourceResponse | None], None]


@dataclass(frozen=True)
class _Pending:
    activity: Activity
    replace: bool
    on_sent: OnSent | None


def hold(context: TurnContext) -> None:
    """Queue this turn's replies from now on, until `flush`."""
    context.turn_state[_QUEUE] = []


def discard(context: TurnContext) -> None:
    """Drop queued replies (the turn was rolled back) and send directly again."""
    context.turn_state.pop(_QUEUE, None)


async def send(context: TurnContext, activity: Activity, on_sent: OnSent | None = None) -> None:
    """Send a reply, or queue it; `on_sent` receives Teams' response (the new message's id)."""
    queue: list[_Pending] | None = context.turn_state.get(_QUEUE)
    if queue is not None:
        queue.append(_Pending(activity, replace=False, on_sent=on_sent))
        return
    response = await _send(context, activity)
    if on_sent is not None:
        on_sent(response)


async def replace(context: TurnContext, activity: Activity) -> None:
    """Replace an earlier message in place (an answered card by its read-only version)."""
    queue: list[_Pending] | None = context.turn_state.get(_QUEUE)
    if queue is not None:
        queue.append(_Pending(activity, replace=True, on_sent=None))
        return
    await _replace(context, activity)


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
    """Send, and when Teams throttles the reply (429) and asks for a short wait, wait and send again:
    the person is waiting for it, and the answer it follows is saved already."""
    for attempt in range(1, THROTTLED_ATTEMPTS + 1):
        try:
            return await context.send_activity(activity)
        except HttpOperationError as error:
            wait = _throttled_for(error)
            if wait is None or wait > THROTTLED_WAIT or attempt == THROTTLED_ATTEMPTS:
                raise
            log.info("reply throttled by Teams; sending again in %.1f s", wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _throttled_for(error: HttpOperationError) -> float | None:
    """Seconds Teams asked to wait before a throttled request (1 when it did not say); None when the
    failure was not throttling, or the wait is given as a date."""
    response = error.response
    if response is None or getattr(response, "status_code", None) != 429:
        return None
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def _replace(context: TurnContext, activity: Activity) -> None:
    try:
        await context.update_activity(activity)
    except Exception:  # the answer is saved; an old card left editable is only cosmetic
        log.warning("could not replace answered card %s", activity.id, exc_info=True)
