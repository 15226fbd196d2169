"""`python -m bot chat`: the very same bot and dialogs, typed in a terminal against the configured database.

A tiny BotAdapter turns each typed line into a message activity and prints the bot's replies as
text. Nothing differs from Teams beyond the renderer: answers land in the same tables.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    ResourceResponse,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.handler import SurveyBot
from frameworks.loader import Catalogue
from storage.db import transaction
from storage.invitations import invite
from storage.people import upsert_person
from storage.surveys import create_survey, open_surveys

log = logging.getLogger(__name__)

Write = Callable[[str], None]
Read = Callable[[], Awaitable[str | None]]
BOT = ChannelAccount(id="surveybot", name="Survey bot")
TRIAL_SUFFIX = " (terminal trial)"


class TerminalAdapter(BotAdapter):
    """Delivers the bot's messages to a terminal; cards never reach here (the text renderer is used)."""

    def __init__(self, write: Write) -> None:
        super().__init__()
        self._write = write
        self._ids = itertools.count(1)

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        responses = []
        for activity in activities:
            if activity.type == ActivityTypes.message:
                self._write((activity.text or "").rstrip() + "\n")
            responses.append(ResourceResponse(id=f"terminal-{next(self._ids)}"))
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse:
        return ResourceResponse(id=activity.id)

    async def delete_activity(self, context: TurnContext, reference: ConversationReference) -> None:
        return None

    async def turn(self, bot: SurveyBot, activity: Activity) -> None:
        await self.run_pipeline(TurnContext(self, activity), bot.on_turn)


async def prepare_trial(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    *,
    framework_id: str,
    person_id: int,
    now: datetime,
) -> int:
    """The open terminal trial of a framework for this person (created and invited if new)."""
    framework = catalogue.get(framework_id)
    if framework is None:
        known = ", ".join(sorted(catalogue.frameworks)) or "none"
        raise LookupError(f"No framework {framework_id!r}. Known: {known}.")
    async with transaction(sessions) as session:
        trial_title = framework.title + TRIAL_SUFFIX
        existing = [
            s for s in await open_surveys(session, framework_id=framework_id) if s.title == trial_title
        ]
        survey = (
            existing[0] if existing else await create_survey(session, framework, now=now, title=trial_title)
        )
        await invite(session, survey.id or 0, [person_id], now=now)
        return survey.id or 0


async def run_chat(
    bot: SurveyBot,
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    clock: Callable[[], datetime],
    *,
    name: str,
    framework_id: str | None,
    read: Read,
    write: Write,
) -> int:
    adapter = TerminalAdapter(write)
    user_id = f"terminal:{name.strip().casefold()}"
    async with transaction(sessions) as session:
        person = await upsert_person(session, teams_user_id=user_id, name=name, now=clock())
    conversation = ConversationAccount(id=f"terminal-chat:{user_id}", conversation_type="personal")
    counter = itertools.count(1)

    def activity(text: str | None = None, value: dict[str, object] | None = None) -> Activity:
        return Activity(
            type=ActivityTypes.message,
            id=f"{conversation.id}:{clock().timestamp()}:{next(counter)}",
            channel_id="terminal",
            conversation=conversation,
            from_property=ChannelAccount(id=user_id, name=name),
            recipient=BOT,
            text=text,
            value=value,
            timestamp=clock(),
        )

    write(
        f"Survey bot — chatting as {name}. Type “help” for commands; Ctrl-D to leave (answers are kept).\n\n"
    )
    if framework_id is not None:
        try:
            survey_id = await prepare_trial(
                sessions, catalogue, framework_id=framework_id, person_id=person.id or 0, now=clock()
            )
        except LookupError as exc:
            write(f"{exc}\n")
            return 1
        await adapter.turn(bot, activity(value={"action": "start", "survey_id": survey_id}))
    else:
        await adapter.turn(bot, activity(text="my surveys"))
    while True:
        line = await read()
        if line is None:
            write("\nBye — everything you answered is saved. Run the same command to carry on.\n")
            return 0
        if line.strip():
            await adapter.turn(bot, activity(text=line))


async def read_stdin() -> str | None:
    """One line from the terminal, without blocking the event loop."""
    try:
        return await asyncio.to_thread(input, "> ")
    except EOFError:
        return None
