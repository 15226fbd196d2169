"""The lead's report of a fan-out: when its last row is done, one message with the counts and the
reasons for failures, never names (it may go to a channel)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from bot.outbox.policy import Reason
from dialogs.messages import Message, to_json
from storage.db import Session
from storage.outbox import NewMessage, enqueue
from storage.outbox_fanouts import fanout_tally, lock_fanout, remaining_in_fanout
from storage.tables import OutboxKind

log = logging.getLogger(__name__)


_LABELS = {
    OutboxKind.INVITE: "Invitations",
    OutboxKind.REMIND: "Reminders",
    OutboxKind.ACTION_CHECKIN: "Action check-ins",
}
_REASON_PHRASES: dict[str, tuple[str, str]] = {
    Reason.BLOCKED: ("has blocked the bot", "have blocked the bot"),
    Reason.GONE: ("left the organisation", "left the organisation"),
    Reason.TOO_LARGE: ("was too large for Teams", "were too large for Teams"),
    Reason.REJECTED: ("was refused by Teams", "were refused by Teams"),
    Reason.NO_ADDRESS: ("had no Teams address", "had no Teams address"),
}
_OTHER_PHRASE = ("could not be reached", "could not be reached")


def report_text(label: str, title: str, *, sent: int, skipped: int, failures: Counter[str]) -> str:
    """The lead's summary of a fan-out: counts and reasons only, never names (it may go to a channel)."""
    parts = [f"sent {sent}"]
    if skipped:
        parts.append(f"{skipped} no longer needed")
    failed = sum(failures.values())
    if not failed:
        return f"{label} for “{title}”: {', '.join(parts)}, none failed."
    reasons = []
    for reason, count in sorted(failures.items(), key=lambda item: (-item[1], item[0])):
        singular, plural = _REASON_PHRASES.get(reason, _OTHER_PHRASE)
        reasons.append(f"{count} {singular if count == 1 else plural}")
    return f"{label} for “{title}”: {', '.join(parts)}, {failed} failed ({', '.join(reasons)})."


async def report_if_done(session: Session, fanout: str, report_to: int, *, now: datetime) -> bool:
    """Enqueue the fan-out's report if this was its last row (once: the dedupe key is unique).

    Senders finishing the last rows at once must not each see the other's row as pending: the
    per-fan-out lock orders them (the later one sees the earlier's commit).
    """
    await lock_fanout(session, fanout=fanout)
    if await remaining_in_fanout(session, fanout=fanout):
        return False
    tally = await fanout_tally(session, fanout=fanout)
    if tally is None:
        return False
    kind, survey_id = tally.kind, tally.survey_id
    text = report_text(
        _LABELS.get(kind, "Messages"),
        tally.title or fanout,
        sent=tally.sent,
        skipped=tally.skipped,
        failures=tally.failures,
    )
    added = await enqueue(
        session,
        [
            NewMessage(
                dedupe_key=f"report:{fanout}",
                kind=OutboxKind.FANOUT_REPORT,
                survey_id=survey_id,
                payload={
                    "conversation_reference_id": report_to,
                    "report_of": fanout,
                    "activity": to_json(Message(text=text)),
                },
            )
        ],
        now=now,
    )
    if added:
        log.info("fan-out %s done: %s", fanout, text)
    return bool(added)
