"""`python -m bot chat`: the very same bot and dialogs, typed in a terminal against the configured database.

A tiny BotAdapter turns each typed line into a message activity and prints the bot's replies as
text, wrapped between words to the terminal's width. Nothing differs from Teams beyond the renderer:
answers land in the same tables. Ctrl-C, like Ctrl-D, leaves once the turn under way has finished.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import textwrap
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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

from bot.teams.handler import SurveyBot
from frameworks.clock import Clock
from frameworks.loader import Catalogue
from storage.db import Sessions, transaction
from storage.invitations import invite
from storage.people import upsert_person
from storage.surveys import create_survey, open_surveys
from storage.tables import stored_id

log = logging.getLogger(__name__)

Write = Callable[[str], None]
Read = Callable[[], Awaitable[str | None]]
BOT = ChannelAccount(id="surveybot", name="Survey bot")
TRIAL_SUFFIX = " (terminal trial)"
PROMPT = "> "
NARROWEST = 20
"""Columns wrapped to however narrow the terminal says it is: below this a word per line helps nobody."""
_HANGING = re.compile(r"\s*(?:[•*-]\s+|\d+[.)]\s+)?")
"""A line's indentation plus its bullet or list number: its wrapped lines continue under its text."""


def terminal_columns() -> int:
    """The terminal's width now (COLUMNS, else the terminal's own), so a resized window is followed."""
    return max(shutil.get_terminal_size().columns, NARROWEST)


def wrapped(text: str, columns: int) -> str:
    """`text` with each line broken between words to fit `columns` (a word longer than a line stays whole)."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= columns:
            lines.append(line)
            continue
        hanging = _HANGING.match(line)
        indent = " " * len(hanging.group()) if hanging else ""
        lines += textwrap.wrap(
            line, columns, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
        )
    return "\n".join(lines)


def chat_command(framework_id: str | None, name: str) -> str:
    """The command that carries on this chat, as the person would type it."""
    framework = ["--framework", framework_id] if framework_id else []
    return shlex.join(["python", "-m", "bot", "chat", *framework, "--as", name])


BYE = "Bye — everything you answered is saved. To carry on where you left off, run:"


def farewell(again: str) -> str:
    """Said on leaving; the command stays on a line of its own, unwrapped, to be copied."""
    return f"{BYE}\n{again}\n"


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


class Keyboard:
    """Lines typed at the terminal, read by the event loop itself, and Ctrl-C as the wish to leave.

    No thread is left blocked in `input()`: that thread kept `asyncio.run` from returning, so the first
    Ctrl-C seemed to do nothing and the second ended in a traceback. Ctrl-C now only marks the chat as
    ending: a turn under way finishes (its answer is stored once), then `read` says there is no more.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._lines: deque[str] = deque()
        self._ended = False
        self._arrived = asyncio.Event()
        self.leaving = asyncio.Event()
        """Set by Ctrl-C."""
        self._watched = False

    @classmethod
    @contextmanager
    def listening(cls, fd: int | None = None) -> Iterator[Keyboard]:
        """Reads `fd` (standard input) and takes SIGINT over from asyncio.run while the chat lasts."""
        keyboard = cls(sys.stdin.fileno() if fd is None else fd)
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(keyboard._fd, keyboard._readable)
            keyboard._watched = True
        except PermissionError:  # a regular file (`chat < answers.txt`) cannot be watched; it never blocks
            pass
        loop.add_signal_handler(signal.SIGINT, keyboard._interrupt)
        try:
            yield keyboard
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if keyboard._watched:
                loop.remove_reader(keyboard._fd)

    async def read(self) -> str | None:
        """The next line typed; None after Ctrl-C or at the end of input (Ctrl-D)."""
        while not self.leaving.is_set():
            if self._lines:
                return self._lines.popleft()
            if self._ended:
                return None
            if self._watched:
                self._arrived.clear()
                await self._arrived.wait()
            else:
                self._take(await asyncio.to_thread(os.read, self._fd, 65536))
        return None

    def _readable(self) -> None:
        try:
            chunk = os.read(self._fd, 65536)
        except OSError:  # the terminal went away: as good as Ctrl-D
            chunk = b""
        self._take(chunk)
        if self._ended:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._watched = False

    def _take(self, chunk: bytes) -> None:
        if chunk:
            *complete, self._pending = (self._pending + chunk).split(b"\n")
        else:
            complete, self._pending, self._ended = [self._pending] if self._pending else [], b"", True
        self._lines.extend(line.decode("utf-8", "replace").rstrip("\r") for line in complete)
        self._arrived.set()

    def _interrupt(self) -> None:
        self.leaving.set()
        self._arrived.set()


async def prepare_trial(
    sessions: Sessions,
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
            existing[0]
            if existing
            # a framework that asks where partners want to be does so in the trial too
            else await create_survey(
                session, framework, now=now, title=trial_title, target_months=framework.target_months
            )
        )
        survey_id = stored_id(survey.id)
        await invite(session, survey_id, [person_id], now=now)
        return survey_id


async def run_chat(
    bot: SurveyBot,
    sessions: Sessions,
    catalogue: Catalogue,
    clock: Clock,
    *,
    name: str,
    framework_id: str | None,
    read: Read,
    write: Write,
    columns: Callable[[], int] = terminal_columns,
) -> int:
    """The conversation, line by line, until Ctrl-C or Ctrl-D; everything shown is wrapped to `columns()`."""

    def show(text: str) -> None:
        write(wrapped(text, columns()))

    adapter = TerminalAdapter(show)
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

    show(
        f"Survey bot — chatting as {name}. Type “help” for commands; Ctrl-C or Ctrl-D to leave "
        "(answers are kept).\n\n"
    )
    if framework_id is not None:
        try:
            survey_id = await prepare_trial(
                sessions, catalogue, framework_id=framework_id, person_id=stored_id(person.id), now=clock()
            )
        except LookupError as exc:
            show(f"{exc}\n")
            return 1
        await adapter.turn(bot, activity(value={"action": "start", "survey_id": survey_id}))
    else:
        await adapter.turn(bot, activity(text="my surveys"))
    while True:
        write(PROMPT)
        line = await read()
        if line is None:
            show(f"\n{BYE}\n")
            write(chat_command(framework_id, name) + "\n")
            return 0
        if line.strip():
            await adapter.turn(bot, activity(text=line))
