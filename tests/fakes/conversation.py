"""A partner chatting with the bot through botbuilder's TestAdapter (no Teams, no HTTP)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botbuilder.core import Storage
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_bot
from bot.reports.text import TextRenderer
from bot.settings import Settings
from bot.teams.handler import SurveyBot
from frameworks.loader import Catalogue, load_directory
from frameworks.schema import Framework
from storage.bot_state import SqlStorage
from storage.db import transaction
from storage.invitations import invite
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import Survey

_ids = itertools.count(1)


def text_bot(
    sessions: async_sessionmaker[AsyncSession],
    clock: Any,
    catalogue: Catalogue | None = None,
    storage: Storage | None = None,
) -> SurveyBot:
    catalogue = catalogue or load_directory()
    return create_bot(Settings(_env_file=None), sessions, catalogue, clock, TextRenderer(), storage=storage)


class HeldStorage(SqlStorage):
    """The real SQL storage of a slow instance: once armed, its next turn stalls just after reading
    the conversation's state, until the test lets it go."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self.armed = False
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self, keys: list[str]) -> dict[str, Any]:
        items = await super().read(keys)
        if self.armed and not self.read_done.is_set():
            self.read_done.set()
            await self.release.wait()
        return items


@dataclass
class Partner:
    """One person in a 1:1 chat; `says` and `clicks` return the texts of the bot's replies."""

    adapter: TestAdapter
    user_id: str

    @classmethod
    def chatting_with(cls, bot: SurveyBot, user_id: str = "29:amina", name: str = "Amina") -> Partner:
        template = Activity(
            channel_id="msteams",
            conversation=ConversationAccount(id=f"a:{user_id}", conversation_type="personal", tenant_id="t1"),
            from_property=ChannelAccount(id=user_id, name=name, aad_object_id=f"aad-{user_id}"),
            recipient=ChannelAccount(id="28:bot", name="Survey bot"),
            channel_data={"tenant": {"id": "t1"}},
        )
        return cls(TestAdapter(bot.on_turn, template), user_id)

    async def says(self, text: str, *, activity_id: str | None = None) -> list[str]:
        activity = Activity(type=ActivityTypes.message, text=text, id=activity_id or f"m{next(_ids)}")
        return await self._send(activity)

    async def clicks(self, data: dict[str, Any], *, reply_to_id: str | None = None) -> list[str]:
        """An Action.Submit fallback: a message whose value is the card's data and inputs."""
        activity = Activity(
            type=ActivityTypes.message, value=data, id=f"m{next(_ids)}", reply_to_id=reply_to_id
        )
        return await self._send(activity)

    async def _send(self, activity: Activity) -> list[str]:
        await self.adapter.receive_activity(activity)
        return self.replies()

    def replies(self) -> list[str]:
        texts = []
        while self.adapter.activity_buffer:
            texts.append(self.adapter.activity_buffer.pop(0).text or "")
        return texts


async def open_survey_for(
    sessions: async_sessionmaker[AsyncSession],
    framework: Framework,
    now: datetime,
    user_ids: tuple[str, ...] = ("29:amina",),
    **survey_args: Any,
) -> Survey:
    async with transaction(sessions) as session:
        survey = await create_survey(session, framework, now=now, **survey_args)
        people = [await upsert_person(session, teams_user_id=uid, now=now) for uid in user_ids]
        await invite(session, survey.id or 0, [p.id or 0 for p in people], now=now)
    return survey
