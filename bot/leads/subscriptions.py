"""Weekly summaries of a survey, or of a partnership's latest round, posted to this channel (a new post,
whichever thread asked) in the bot's time zone: `subscribe`, `unsubscribe`, `subscriptions`."""

from __future__ import annotations

from bot.cards import escape
from bot.commands import SubscribeCommand, SubscriptionsCommand, UnsubscribeCommand
from bot.leads.targets import summary_target
from bot.leads.turn import LeadTurn
from bot.reports.summary_text import WEIGHTING_TEXT
from frameworks.summary import Weighting
from storage.conversations import reference_for
from storage.db import Session, transaction
from storage.subscriptions import subscribe as add_subscription
from storage.subscriptions import subscriptions_for
from storage.subscriptions import unsubscribe as remove_subscription
from storage.surveys import partnership_by_id, survey_by_id
from storage.tables import SummarySubscription

CANNOT_POST = "I can't post here yet: remove and add me again, then retry."


async def subscribe(turn: LeadTurn, command: SubscribeCommand) -> None:
    services = turn.services
    async with transaction(services.sessions) as session:
        posting_here = await _reference_here(turn, session)
        if posting_here is None:
            return
        found = await summary_target(session, reach=turn.reach, target=command.target)
        if isinstance(found, str):
            await turn.say(found)
            return
        await add_subscription(
            session,
            conversation_reference_id=posting_here,
            weekday=command.weekday,
            at=command.at,
            time_zone=services.tz.key,
            now=turn.now(),
            created_by_id=(await turn.sender(session)).id,
            weighting=command.weighting,
            **found.keys(),
        )
    weighting = WEIGHTING_TEXT[command.weighting or services.rules.weighting]
    await turn.say(
        f"Every {_WEEKDAYS[command.weekday]} at {command.at:%H:%M} ({services.tz.key}) I'll post the "
        f"summary of {found.label} here, weighted {weighting}, with what changed since the last post; "
        "a week with no new answers gets one line instead."
    )


async def unsubscribe(turn: LeadTurn, command: UnsubscribeCommand) -> None:
    async with transaction(turn.services.sessions) as session:
        posting_here = await _reference_here(turn, session)
        if posting_here is None:
            return
        found = await summary_target(session, reach=turn.reach, target=command.target)
        if isinstance(found, str):
            await turn.say(found)
            return
        gone = await remove_subscription(session, conversation_reference_id=posting_here, **found.keys())
    await turn.say(
        f"Stopped the weekly summary of {found.label}."
        if gone
        else f"There was no weekly summary of {found.label} here."
    )


async def subscriptions(turn: LeadTurn, _command: SubscriptionsCommand) -> None:
    async with transaction(turn.services.sessions) as session:
        posting_here = await _reference_here(turn, session)
        if posting_here is None:
            return
        listed = await subscriptions_for(session, posting_here)
        lines = [f"- {await _subscription_line(session, x)}" for x in listed]
    await turn.say("\n".join(["Weekly summaries posted here:", *lines]) if lines else _NO_SUBSCRIPTIONS)


async def _reference_here(turn: LeadTurn, session: Session) -> int | None:
    """The id of this conversation's stored reference, which a weekly post goes to; else the lead is told."""
    reference = await reference_for(session, turn.conversation_id)
    if reference is None or reference.id is None:
        await turn.say(CANNOT_POST)
        return None
    return reference.id


async def _subscription_line(session: Session, subscription: SummarySubscription) -> str:
    if subscription.partnership_id is not None:
        partnership = await partnership_by_id(session, partnership_id=subscription.partnership_id)
        what = (
            f"partnership “{escape(partnership.name if partnership else '?')}”, {subscription.framework_id}"
        )
    else:
        survey = (
            await survey_by_id(session, survey_id=subscription.survey_id) if subscription.survey_id else None
        )
        what = f"#{subscription.survey_id} “{escape(survey.title)}”" if survey else "a survey"
    weighting = (
        f", weighted {WEIGHTING_TEXT[Weighting(subscription.weighting)]}" if subscription.weighting else ""
    )
    when = (
        f"{_WEEKDAYS[subscription.weekday]}s at {subscription.time_of_day:%H:%M} ({subscription.time_zone})"
    )
    return f"{what}: {when}{weighting}"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NO_SUBSCRIPTIONS = (
    "No weekly summaries are posted here. A lead can start one: subscribe weekly Monday 09:00."
)
