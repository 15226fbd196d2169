"""What an invitation or a reminder says, built when it is sent: the survey may have closed, or the
person finished, since the row was queued, and then nothing is sent at all."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.cards.survey import CardRenderer
from bot.commands.dates import format_date
from bot.outbox.composers import Compose, compose_from_payload
from dialogs.messages import Message
from dialogs.progress import survey_list_item
from dialogs.views import SurveyListView
from frameworks.clock import Clock
from storage.db import Session
from storage.invitations import pending_surveys_for
from storage.surveys import SnapshotCache
from storage.tables import OutboxKind, OutboxMessage

KINDS = (OutboxKind.INVITE, OutboxKind.REMIND)


def invitation_composer(
    renderer: CardRenderer, snapshots: SnapshotCache, *, clock: Clock, tz: ZoneInfo
) -> Compose:
    """Invitations and reminders (`KINDS`), each built at the moment it is sent."""

    async def compose(session: Session, message: OutboxMessage) -> Message | None:
        if message.kind not in KINDS or message.person_id is None or message.survey_id is None:
            return await compose_from_payload(session, message)
        now = clock()
        pending = {
            p.survey.id: p
            for p in await pending_surveys_for(session, message.person_id, now=now, snapshots=snapshots)
        }
        found = pending.get(message.survey_id)
        if found is None:
            return None  # closed, or no longer theirs
        if message.kind == OutboxKind.REMIND and found.submitted:
            return None
        survey = found.survey
        item = survey_list_item(found)
        intro = _intro(message.kind, survey.closes_at, tz)
        if survey.revisits is not None:
            intro = consensus_intro(message.kind, len(found.framework.scored_elements), survey.closes_at, tz)
        view = SurveyListView(items=[item], intro=intro)
        return renderer.survey_list(view)

    return compose


def _intro(kind: OutboxKind, closes_at: datetime | None, tz: ZoneInfo) -> str:
    closes = f" It closes {format_date(closes_at, tz)}." if closes_at else ""
    if kind == OutboxKind.REMIND:
        return (
            "A reminder: your partnership is waiting for your view. Your answers so far are saved; "
            f"it takes one question at a time.{closes}"
        )
    return (
        "Your partnership lead has asked you to take part in a self-assessment. I'll ask one question at "
        f"a time and save each answer as you go; you can stop and come back whenever you like.{closes}"
    )


def consensus_intro(kind: OutboxKind, elements: int, closes_at: datetime | None, tz: ZoneInfo) -> str:
    """A consensus round's invitation: why they are asked again, and what they will see."""
    closes = f" It closes {format_date(closes_at, tz)}." if closes_at else ""
    what = "1 element" if elements == 1 else f"{elements} elements"
    if kind == OutboxKind.REMIND:
        return f"A reminder: your partnership is waiting for your second look at {what}.{closes}"
    return (
        f"Your partnership lead asks for a second look at {what} where partners differed in the first "
        "round. For each you'll see how everyone answered (anonymously), the reasons given and your own "
        f"answer: confirm it or change it, and say why.{closes}"
    )
