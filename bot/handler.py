"""The activity handler: who is talking, where the bot may reply later, and what it can do for them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.schema import ChannelAccount
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frameworks.loader import Catalogue
from storage.conversations import save_reference
from storage.db import transaction
from storage.invitations import PendingSurvey, pending_surveys_for
from storage.people import upsert_person
from storage.surveys import framework_of
from storage.tables import Person

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class SurveyBot(ActivityHandler):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self._clock = clock

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        async with transaction(self._sessions) as session:
            person = await self._remember(session, turn_context)
            pending = await pending_surveys_for(session, person.id or 0, now=self._clock())
        await turn_context.send_activity(MessageFactory.text(self._overview(pending)))

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added):
            async with transaction(self._sessions) as session:
                await self._save_reference(session, turn_context, person_id=None)
            await turn_context.send_activity(MessageFactory.text(self._greeting()))

    async def _remember(self, session: AsyncSession, turn_context: TurnContext) -> Person:
        activity = turn_context.activity
        sender = activity.from_property
        tenant = (activity.conversation.tenant_id if activity.conversation else None) or _tenant(activity)
        person = await upsert_person(
            session,
            teams_user_id=sender.id,
            aad_object_id=sender.aad_object_id,
            name=sender.name,
            tenant_id=tenant,
            now=self._clock(),
        )
        personal = activity.conversation and activity.conversation.conversation_type in (None, "personal")
        await self._save_reference(session, turn_context, person_id=person.id if personal else None)
        return person

    async def _save_reference(
        self, session: AsyncSession, turn_context: TurnContext, person_id: int | None
    ) -> None:
        activity = turn_context.activity
        reference = TurnContext.get_conversation_reference(activity)
        conversation = activity.conversation
        await save_reference(
            session,
            conversation_id=conversation.id,
            service_url=activity.service_url,
            reference=reference.serialize(),
            conversation_type=conversation.conversation_type or "personal",
            tenant_id=conversation.tenant_id or _tenant(activity),
            team_id=_team(activity),
            bot_id=activity.recipient.id if activity.recipient else None,
            person_id=person_id,
            now=self._clock(),
        )

    def _greeting(self) -> str:
        return (
            "Hello! I run partnership self-assessments in Teams: maturity matrices, -5 to +5 "
            "self-assessments and delivery check-ins. " + self._frameworks_line()
        )

    def _frameworks_line(self) -> str:
        titles = sorted(framework.title for framework in self._catalogue.frameworks.values())
        return "Frameworks available: " + "; ".join(titles) + "." if titles else "No frameworks are loaded."

    def _overview(self, pending: list[PendingSurvey]) -> str:
        if not pending:
            return "You have no open surveys at the moment. " + self._frameworks_line()
        lines = ["Your open surveys:"]
        for item in pending:
            total = len(framework_of(item.survey).scored_elements)
            state = "submitted" if item.submitted else f"{item.answered} of {total} answered"
            lines.append(f"- {item.survey.title} ({state})")
        return "\n".join(lines)


def _tenant(activity: object) -> str | None:
    channel_data = getattr(activity, "channel_data", None) or {}
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    return tenant.get("id") if isinstance(tenant, dict) else None


def _team(activity: object) -> str | None:
    channel_data = getattr(activity, "channel_data", None) or {}
    team = channel_data.get("team") if isinstance(channel_data, dict) else None
    return team.get("id") if isinstance(team, dict) else None
