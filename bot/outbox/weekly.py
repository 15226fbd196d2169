"""Weekly summaries: due subscriptions become outbox rows, and the summary is built when sent.

Claiming a subscription and queueing its post commit together, so with several instances exactly one
posts; the outbox then retries with backoff, and a post counts as sent only once Teams accepted it.
After downtime, one post covers every missed week. A partnership's subscription follows its latest
round of the framework within the channel's reach (storage.surveys.Reach), chosen when the post is
built. Each full post is stored (`storage.summary_posts`) so the next one can say what changed since
the channel last saw it. Posts go to the channel itself, a new post each week, never into the thread
the subscription was typed in (storage.conversations).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.cards.consensus_cards import hidden_results
from bot.cards.summary_cards import render_summary, render_unchanged
from bot.outbox.checkins import plan_blocks, with_plan
from bot.outbox.composers import Compose
from bot.reports.chart_links import ChartUrls
from dialogs.messages import Message
from frameworks.clock import Clock
from frameworks.summary import SummaryRules, SurveySummary, since_last_post
from storage.consensus import changed_since, hidden_consensus
from storage.db import Session
from storage.outbox import NewMessage, enqueue
from storage.outbox_summaries import answered_since, subscription_by_id, subscription_reach
from storage.subscriptions import claim_due
from storage.summaries import latest_round, survey_summary
from storage.summary_posts import last_posted, record_post
from storage.tables import OutboxKind, OutboxMessage


async def queue_due_summaries(session: Session, *, now: datetime) -> int:
    """Queue one post per subscription now owed; returns how many."""
    messages = [
        NewMessage(
            dedupe_key=f"summary:{claim.subscription.id}:{claim.due_at.isoformat()}",
            kind=OutboxKind.SUMMARY,
            survey_id=claim.subscription.survey_id,
            payload={
                "conversation_reference_id": claim.subscription.conversation_reference_id,
                "subscription_id": claim.subscription.id,
                "since": claim.previous_last_sent_at.isoformat() if claim.previous_last_sent_at else None,
            },
        )
        for claim in await claim_due(session, now=now)
    ]
    return await enqueue(session, messages, now=now)


def summary_composer(
    *,
    rules: SummaryRules,
    clock: Clock,
    chart_link: Callable[[SurveySummary], ChartUrls | None] = lambda _summary: None,
) -> Compose:
    """Weekly summary posts (OutboxKind.SUMMARY), each built at the moment it is sent."""

    async def compose(session: Session, message: OutboxMessage) -> Message | None:
        return await compose_summary(session, message, rules=rules, now=clock(), chart_link=chart_link)

    return compose


async def compose_summary(
    session: Session,
    message: OutboxMessage,
    *,
    rules: SummaryRules,
    now: datetime,
    chart_link: Callable[[SurveySummary], ChartUrls | None] = lambda _summary: None,
) -> Message | None:
    """The summary card, or a brief "no new answers" card when nothing changed since the last post,
    either ending with the channel's action plan in figures; None (nothing sent) when a partnership has
    no round of the framework yet."""
    payload = message.payload or {}
    subscription_id = payload.get("subscription_id")
    subscription = (
        await subscription_by_id(session, subscription_id=subscription_id)
        if isinstance(subscription_id, int)
        else None
    )
    survey_id = message.survey_id
    if subscription is not None:
        rules = rules.weighted(subscription.weighting)
        if survey_id is None and subscription.partnership_id is not None and subscription.framework_id:
            survey_id = await latest_round(
                session,
                subscription.partnership_id,
                subscription.framework_id,
                reach=await subscription_reach(session, subscription=subscription),
            )
    if survey_id is None:
        return None
    hidden = await hidden_consensus(session, survey_id=survey_id, now=now)
    if hidden is not None:  # a consensus round taking answers (no anchoring) or waiting for the lead
        return hidden_results(survey_id, hidden.survey.title, hidden.why)
    summary = await survey_summary(session, survey_id, rules=rules, now=now)
    since_text = payload.get("since")
    since = datetime.fromisoformat(since_text) if since_text else None
    plan = await plan_blocks(session, subscription, now=now, since=since) if subscription is not None else []
    if since is not None and not await answered_since(session, survey_id=survey_id, since=since):
        consensus = summary.consensus
        if consensus is None or not await changed_since(
            session, survey_id=consensus.consensus_survey_id, since=since
        ):
            return with_plan(render_unchanged(summary, since), plan)
    if subscription is not None and subscription.id is not None and message.id is not None:
        posted = await last_posted(session, survey_id, subscription_id=subscription.id)
        summary = since_last_post(summary, posted)
        await record_post(
            session, outbox_message_id=message.id, subscription_id=subscription.id, summary=summary, now=now
        )
    return with_plan(render_summary(summary, charts=chart_link(summary)), plan)
