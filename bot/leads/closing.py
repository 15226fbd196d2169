"""A survey's course: `remind` those who have not submitted, `close` it now, `reopen` it, and `share
results` of a closed consensus round (they are the lead's until then)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, auto
from zoneinfo import ZoneInfo

from bot.cards import Card, escape
from bot.commands import (
    CloseCommand,
    PersonalViewsCommand,
    RemindCommand,
    ReopenCommand,
    ShareResultsCommand,
    SurveyRef,
    format_date,
)
from bot.leads.targets import missing, survey_keywords
from bot.leads.tracking import results_card
from bot.leads.turn import NOT_CLOSING, LeadTurn
from bot.outbox.personal_views import views_note
from frameworks.summary import ConsensusHidden
from storage.consensus import share_results
from storage.conversations import reference_for
from storage.db import Session, transaction
from storage.personal_views import queue_personal_views
from storage.reminders import queue_reminders
from storage.surveys import close_survey, find_survey, open_survey, why_hidden
from storage.tables import Survey, SurveyKind, SurveyState, stored_id


async def remind(turn: LeadTurn, command: RemindCommand) -> None:
    """Queue a reminder for everyone who has not submitted (nobody twice within a day)."""
    now = turn.now()
    async with transaction(turn.services.sessions) as session:
        survey = await _survey_in(turn, session, command.survey, SurveyState.OPEN)
        if survey is None:
            return
        reference = await reference_for(session, turn.conversation_id)
        added, skipped = await queue_reminders(
            session,
            survey=survey,
            now=now,
            payload=turn.delivery(survey, reference.id if reference else None),
        )
    turn.services.notify_sender()
    note = f" ({skipped} were reminded in the last day and are left alone)" if skipped else ""
    await turn.say(f"Reminding {added} people who have not submitted “{escape(survey.title)}”{note}.")


async def close(turn: LeadTurn, command: CloseCommand) -> None:
    """Close now; each partner who answered gets their own view (queued with the close) if allowed."""
    async with transaction(turn.services.sessions) as session:
        survey = await _survey_in(turn, session, command.survey, SurveyState.OPEN)
        if survey is None:
            return
        if command.personal_views is not None:
            survey.share_results = command.personal_views
        await close_survey(session, survey, now=turn.now())
        views = await queue_personal_views(session, survey, now=turn.now(), k=turn.services.rules.k)
    if views:
        turn.services.notify_sender()
    if survey.kind == SurveyKind.CONSENSUS:
        note = (
            " Its results stay hidden from partners until you share them: read them first with results "
            f"#{survey.id} in a 1:1 chat with me, then share results #{survey.id}."
        )
    else:
        note = " " + views_note(views, shared=survey.share_results)
    await turn.say(
        f"Closed “{escape(survey.title)}”. Answers given so far are kept; no more are taken.{note}"
    )


CONSENSUS_NO_VIEWS = (
    "A consensus round sends no personal views: its results are yours to share when it closes (share "
    "results, then results or the weekly post show them)."
)


class Sharing(Enum):
    """What `share results` does with the survey named."""

    SHARE = auto()
    ALREADY_SHARED = auto()
    STILL_OPEN = auto()
    NOT_CONSENSUS = auto()


def sharing(survey: Survey, now: datetime) -> Sharing:
    """Only a consensus round hides its results (`why_hidden`, the one rule), and it is shared once,
    after it stops taking answers."""
    if survey.kind != SurveyKind.CONSENSUS:
        return Sharing.NOT_CONSENSUS
    match why_hidden(survey, now):
        case ConsensusHidden.TAKING_ANSWERS:
            return Sharing.STILL_OPEN
        case ConsensusHidden.NOT_SHARED:
            return Sharing.SHARE
        case None:
            return Sharing.ALREADY_SHARED


async def share(turn: LeadTurn, command: ShareResultsCommand) -> None:
    """Share a closed consensus round's results with partners and channels (once; again changes nothing).
    In its channel the results card follows at once; in a 1:1 chat, where they can be seen."""
    now = turn.now()
    rules = turn.services.rules
    card: Card | None = None
    async with transaction(turn.services.sessions) as session:
        survey = await find_survey(
            session, reach=turn.reach, **survey_keywords(command.survey), for_update=True
        )
        if survey is None:
            await turn.say(missing(command.survey, reach=turn.reach))
            return
        decided = sharing(survey, now)
        if decided is Sharing.SHARE:
            share_results(survey, now=now)
        if decided in (Sharing.SHARE, Sharing.ALREADY_SHARED) and not turn.personal:
            # Shown again when already shared: a redelivery after the bot died between the share's
            # commit and its reply must still post the card (replies at least once).
            card = await results_card(turn, session, stored_id(survey.id), rules)
    await turn.say(_shared_text(survey, decided, personal=turn.personal, tz=turn.services.tz))
    if card is not None:
        await turn.send_card(card)


def _shared_text(survey: Survey, decided: Sharing, *, personal: bool, tz: ZoneInfo) -> str:
    number, title = survey.id, escape(survey.title)
    if decided is Sharing.NOT_CONSENSUS:
        return (
            f"“{title}” (#{number}) is not a consensus round: its results are already visible to the "
            f"channel (results #{number}), so there is nothing to share."
        )
    if decided is Sharing.STILL_OPEN:
        return (
            f"Consensus round #{number} is still taking answers, so its results cannot be shared yet: "
            f"close it first: close #{number}."
        )
    if decided is Sharing.ALREADY_SHARED:
        when = format_date(survey.results_shared_at, tz) if survey.results_shared_at else "earlier"
        if not personal:
            return (
                f"The results of consensus round #{number} are already shared (since {when}); nothing "
                "changed. Here they are again:"
            )
        return (
            f"The results of consensus round #{number} are already shared (since {when}): results "
            f"#{number} shows them. Nothing changed."
        )
    if personal:
        return (
            f"Shared the results of consensus round #{number} “{title}”: results #{number} in its channel "
            "shows them, and the next weekly post there includes them."
        )
    return f"Shared the results of consensus round #{number} “{title}” with everyone here:"


async def personal_views(turn: LeadTurn, command: PersonalViewsCommand) -> None:
    """Turn partners' own views on or off for an open survey (they are sent when it closes)."""
    async with transaction(turn.services.sessions) as session:
        survey = await _survey_in(turn, session, command.survey, SurveyState.OPEN)
        if survey is None:
            return
        if survey.kind == SurveyKind.CONSENSUS:
            await turn.say(CONSENSUS_NO_VIEWS)
            return
        survey.share_results = command.on
        session.add(survey)
    if command.on:
        await turn.say(
            f"When “{escape(survey.title)}” closes, each partner who answered gets their own view in a "
            "1:1 chat with me."
        )
    else:
        await turn.say(f"Partners get no view of their own when “{escape(survey.title)}” closes.")


async def reopen(turn: LeadTurn, command: ReopenCommand) -> None:
    """Open a closed survey again; a closing date already passed needs a new one."""
    now = turn.now()
    async with transaction(turn.services.sessions) as session:
        survey = await _survey_in(turn, session, command.survey, SurveyState.CLOSED)
        if survey is None:
            return
        if command.closes is not None:
            survey.closes_at = command.closes.at
        elif survey.closes_at is not None and survey.closes_at <= now:
            await turn.say(
                "Its closing date has passed: say when it should close, e.g. reopen closes Friday."
            )
            return
        await open_survey(session, survey, now=now)
    closes = format_date(survey.closes_at, turn.services.tz) if survey.closes_at else NOT_CLOSING
    await turn.say(f"Reopened “{escape(survey.title)}” ({closes}).")


async def _survey_in(
    turn: LeadTurn, session: Session, ref: SurveyRef | None, state: SurveyState
) -> Survey | None:
    """The survey the lead means, in `state`; when there is none, the lead is told why."""
    survey = await find_survey(session, reach=turn.reach, states=(state,), **survey_keywords(ref))
    if survey is None:
        await turn.say(missing(ref, state, reach=turn.reach))
    return survey
