"""Who is talking and where to reach them: each turn records its sender (a person) and the
conversation's reference, for the proactive messages the outbox sends later."""

from __future__ import annotations

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from bot.teams.edge import tenant_of
from frameworks.clock import Clock
from storage.conversations import save_reference
from storage.db import Session
from storage.lru import BoundedCache
from storage.people import upsert_person

__all__ = ["References", "is_personal", "team_of"]


class References:
    """Records senders and conversation references, skipping what this instance already wrote."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seen: BoundedCache[tuple[object, ...], tuple[object, ...]] = BoundedCache(10_000)
        """Who was last recorded in which conversation, so a chat's every turn doesn't rewrite it."""

    async def remember(self, session: Session, turn_context: TurnContext) -> None:
        """Record who is talking and where to reach them, unless this instance already wrote exactly that."""
        activity = turn_context.activity
        sender = activity.from_property
        if sender is None or not sender.id:
            return
        details = (sender.id, sender.aad_object_id, sender.name, tenant_of(activity))
        conversation = activity.conversation.id if activity.conversation else None
        seen = self._seen.get(details)
        if seen is not None and seen[0] == (conversation, activity.service_url):
            return
        person = await upsert_person(
            session,
            teams_user_id=sender.id,
            aad_object_id=sender.aad_object_id,
            name=sender.name,
            tenant_id=tenant_of(activity),
            now=self._clock(),
        )
        await self.save_reference(
            session, turn_context, person_id=person.id if is_personal(activity) else None
        )
        self._seen.put(details, ((conversation, activity.service_url),))

    async def save_reference(
        self, session: Session, turn_context: TurnContext, person_id: int | None
    ) -> None:
        """Keep where to reach this conversation later (proactive messages), and whose 1:1 chat it is."""
        activity = turn_context.activity
        if activity.conversation is None or not activity.service_url:
            return
        reference = TurnContext.get_conversation_reference(activity)
        await save_reference(
            session,
            conversation_id=activity.conversation.id,
            service_url=activity.service_url,
            reference=reference.serialize(),
            conversation_type=activity.conversation.conversation_type or "personal",
            tenant_id=tenant_of(activity),
            team_id=team_of(activity),
            bot_id=activity.recipient.id if activity.recipient else None,
            person_id=person_id,
            now=self._clock(),
        )


def is_personal(activity: Activity) -> bool:
    """A 1:1 chat with the bot (Teams omits the type in some personal activities)."""
    return activity.conversation is None or activity.conversation.conversation_type in (None, "personal")


def team_of(activity: Activity) -> str | None:
    """The team a channel activity came from, if any."""
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team")
    return team.get("id") if isinstance(team, dict) and isinstance(team.get("id"), str) else None
