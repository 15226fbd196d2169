"""Each partner's own view (OutboxKind.PERSONAL_VIEW), built when the row is sent.

The rows are queued with the close (storage.personal_views); the card is made here from the answers
as stored at send time: the round's published summary (the same anonymity rules as the channel's) and
the partner's own answers. A round's summary is computed once per close and reused for every partner
while the sender works through them. Nothing is sent when the round was reopened meanwhile (results
stay hidden while answers are taken) or when no partnership figure may be shown at all.
"""

from __future__ import annotations

from datetime import datetime

from bot.cards.personal_view import render_personal_view
from bot.outbox.composers import Compose
from dialogs.messages import Message
from frameworks.clock import Clock
from frameworks.summary import SummaryRules, SurveySummary
from frameworks.summary.personal import personal_view
from storage.db import Session
from storage.errors import SurveyNotFound
from storage.lru import BoundedCache
from storage.personal_views import gets_views, own_answers
from storage.summaries import survey_summary
from storage.surveys import SnapshotCache, is_accepting_answers
from storage.tables import OutboxMessage

SUMMARIES_KEPT = 16


def personal_view_composer(*, rules: SummaryRules, clock: Clock, snapshots: SnapshotCache) -> Compose:
    """The composer for OutboxKind.PERSONAL_VIEW, with its own small cache of closed rounds' summaries."""
    summaries: BoundedCache[tuple[int, datetime | None], SurveySummary] = BoundedCache(SUMMARIES_KEPT)

    async def compose(session: Session, message: OutboxMessage) -> Message | None:
        if message.survey_id is None or message.person_id is None:
            return None
        now = clock()
        try:
            survey, _ = await snapshots.survey(session, message.survey_id)
        except SurveyNotFound:
            return None  # erased since
        if not gets_views(survey) or is_accepting_answers(survey, now):
            return None
        key = (message.survey_id, survey.closed_at)
        summary = summaries.get(key)
        if summary is None:
            summary = await survey_summary(
                session, message.survey_id, rules=rules, now=now, cache=snapshots, with_previous=False
            )
            summaries.put(key, summary)
        answers = await own_answers(session, survey_id=message.survey_id, person_id=message.person_id)
        view = personal_view(summary, answers)
        if not view.has_figures:
            return None
        return render_personal_view(view)

    return compose


def views_note(queued: int, *, shared: bool) -> str:
    """What the lead's close confirmation says about the partners' own views."""
    if not shared:
        return "Personal views are off for this round, so partners get no card of their own."
    if queued == 0:
        return (
            "No personal views to send: too few answered for the partnership's figures to be shown, or "
            "everyone who answered already has theirs."
        )
    if queued == 1:
        return "1 partner will get their own view in a 1:1 chat with me."
    return f"{queued} partners will get their own view in a 1:1 chat with me."
