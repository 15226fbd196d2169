"""Action check-ins: each owner is asked, in their 1:1 chat, how their action is going, on the schedule
the lead set (monthly by default, as the seed's plan is reported).

The deadlines job queues a row per action due (the dedupe key names the action and the check-in's due
time, and the same transaction moves the next check-in on, so a job run twice, or on two instances,
queues it once); an owner's first card goes with the action itself (`assignment`). The card is built
when the row is sent: an action closed, completed or given to someone else since is not asked about.
Rows of one run for one lead's actions are a fan-out reported to that lead's 1:1 chat (counts and
reasons, never names), so an owner the bot cannot reach is known.

A channel's weekly post ends with the plan in figures (`plan_blocks`): never an action's text.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.cards import Card, card_of
from bot.cards.action_cards import CheckinView, checkin_card, day_text, plan_section
from bot.outbox.composers import Compose
from dialogs.messages import Message, card_message
from frameworks.clock import Clock
from storage.actions import (
    ActionNotFound,
    action_by_id,
    action_counts,
    advance_checkin,
    due_checkins,
    is_overdue,
)
from storage.conversations import reference_for
from storage.db import Session
from storage.outbox import NewMessage, enqueue
from storage.outbox_addresses import personal_chats
from storage.outbox_summaries import subscription_reach
from storage.surveys import survey_by_id
from storage.tables import (
    Action,
    ActionRag,
    ActionState,
    OutboxKind,
    OutboxMessage,
    SummarySubscription,
    stored_id,
)

__all__ = ["assignment", "checkin_composer", "checkin_view", "plan_blocks", "queue_due_checkins", "with_plan"]

PLAN_PLACE = "your partnership's action plan"


async def queue_due_checkins(session: Session, *, now: datetime) -> int:
    """Queue one check-in per action due, and move each action's next check-in on; returns how many."""
    due = await due_checkins(session, now=now)
    creators = {a.created_by_id for a in due if a.created_by_id is not None}
    reports = await personal_chats(session, person_ids=creators)
    messages = []
    for action in due:
        assert action.next_checkin_at is not None  # due_checkins reads only those with one
        channel = await reference_for(session, action.conversation_id)
        payload: dict[str, object] = {
            "action_id": action.id,
            "service_url": channel.service_url if channel is not None else None,
            "tenant_id": action.tenant_id,
            "title": "your actions",
        }
        report = reports.get(action.created_by_id) if action.created_by_id is not None else None
        if report is not None and report.id is not None:
            payload["fanout"] = f"checkins:{action.created_by_id}:{now.isoformat()}"
            payload["report_to"] = report.id
        messages.append(
            NewMessage(
                dedupe_key=f"checkin:{action.id}:{action.next_checkin_at.isoformat()}",
                kind=OutboxKind.ACTION_CHECKIN,
                survey_id=action.survey_id,
                person_id=action.owner_id,
                payload=payload,
            )
        )
        await advance_checkin(session, action, now=now)
    return await enqueue(session, messages, now=now)


def assignment(action: Action, *, service_url: str | None, tenant_id: str | None) -> NewMessage:
    """The owner's first card, queued with the action: they learn they own it, and can answer at once."""
    return NewMessage(
        dedupe_key=f"action-assigned:{action.id}:{action.owner_id}",
        kind=OutboxKind.ACTION_CHECKIN,
        survey_id=action.survey_id,
        person_id=action.owner_id,
        payload={
            "action_id": action.id,
            "assigned": True,
            "service_url": service_url,
            "tenant_id": tenant_id or action.tenant_id,
        },
    )


async def checkin_view(
    session: Session, action: Action, *, today: date, assigned: bool = False
) -> CheckinView:
    """What the owner's card shows of the action."""
    survey = await survey_by_id(session, survey_id=action.survey_id) if action.survey_id is not None else None
    rag, state = ActionRag(action.rag), ActionState(action.state)
    return CheckinView(
        action_id=stored_id(action.id),
        reference=f"A{action.number}",
        text=action.text,
        element_title=action.element_title,
        rag=rag,
        state=state,
        due=day_text(action.due_on) if action.due_on is not None else "no due date",
        overdue=is_overdue(due_on=action.due_on, rag=rag, state=state, today=today),
        place=f"the plan of “{survey.title}”" if survey is not None else PLAN_PLACE,
        every_days=action.checkin_days,
        assigned=assigned,
    )


def checkin_composer(*, clock: Clock, tz: ZoneInfo) -> Compose:
    """Check-in cards (OutboxKind.ACTION_CHECKIN), each built at the moment it is sent."""

    async def compose(session: Session, message: OutboxMessage) -> Message | None:
        action_id = (message.payload or {}).get("action_id")
        if not isinstance(action_id, int):
            return None
        try:
            action = await action_by_id(session, action_id)
        except ActionNotFound:
            return None
        if (
            action.owner_id != message.person_id
            or ActionState(action.state) is ActionState.CLOSED
            or ActionRag(action.rag) is ActionRag.COMPLETE
        ):
            return None  # closed, completed or handed on since it was queued
        assigned = (message.payload or {}).get("assigned") is True
        view = await checkin_view(session, action, today=clock().astimezone(tz).date(), assigned=assigned)
        return card_message(checkin_card(view))

    return compose


async def plan_blocks(
    session: Session, subscription: SummarySubscription, *, now: datetime, since: datetime | None
) -> list[Card]:
    """The weekly post's action-plan figures for the subscribed channel (none when it has no plan)."""
    reach = await subscription_reach(session, subscription=subscription)
    if reach.tenant_id is None or reach.place_id is None:
        return []
    counts = await action_counts(
        session,
        tenant_id=reach.tenant_id,
        conversation_id=reach.place_id,
        today=now.astimezone(ZoneInfo(subscription.time_zone)).date(),
        since=since or now - timedelta(days=7),  # a first post: changed in the last week
    )
    return plan_section(counts)


def with_plan(message: Message, blocks: list[Card]) -> Message:
    """A summary post with the plan's section at its end."""
    if not blocks:
        return message
    card = card_of(message)
    return card_message({**card, "body": [*card["body"], *blocks]})
