"""The terminal chat as a person meets it: `python -m bot chat` (and `make chat`) in a real terminal.

Each test starts the command in a pseudo-terminal of a known width, types into it as a person would
(Ctrl-C is the byte the keyboard sends, turned into SIGINT by the terminal), and reads what appears on
the screen until the prompt or an expected line shows up, each wait bounded.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from botbuilder.core import TurnContext

from bot.teams.handler import SurveyBot
from bot.terminal import Keyboard, run_chat
from frameworks.loader import load_directory, load_framework
from storage.db import create_engine
from storage.tables import Answer
from tests.conftest import Database
from tests.fakes.conversation import text_bot

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = "place-partnership-maturity"
PROMPT = "> "
WAIT = 30.0
"""Seconds any one expected output may take (a cold interpreter start on a busy machine included)."""
CTRL_C = b"\x03"
CTRL_D = b"\x04"
NOISE = ("Traceback", "CancelledError", "KeyboardInterrupt", "alembic", "INFO")


class Terminal:
    """One command running in a pseudo-terminal: what it prints is read as the screen shows it."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self._process = process
        self._master = master
        self._screen = ""
        self._seen = 0
        self._more = asyncio.Event()
        self._closed = False
        asyncio.get_running_loop().add_reader(master, self._readable)

    @classmethod
    async def start(
        cls, argv: list[str], *, database_url: str, columns: int = 100, cwd: Path = ROOT
    ) -> Terminal:
        master, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"COLUMNS", "LINES", "LOG_LEVEL", "LOG_FORMAT", "DATABASE_URL"}
        }
        env |= {"DATABASE_URL": database_url, "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=child,
            stdout=child,
            stderr=child,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(child)
        return cls(process, master)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every process holding the terminal has gone
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            self._closed = True
        self._screen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        self._more.set()

    async def until(self, text: str, *, count: int = 1) -> str:
        """Everything shown since the last call, up to and including the `count`-th `text` in it."""
        async with asyncio.timeout(WAIT):
            while True:
                end = self._nth(text, count)
                if end is not None:
                    shown, self._seen = self._screen[self._seen : end], end
                    return shown
                if self._closed:
                    raise AssertionError(f"ended without showing {text!r}:\n{self.rest()}")
                self._more.clear()
                await self._more.wait()

    def _nth(self, text: str, count: int) -> int | None:
        at = self._seen
        for _ in range(count):
            found = self._screen.find(text, at)
            if found < 0:
                return None
            at = found + len(text)
        return at

    async def prompt(self) -> str:
        """What the bot said before asking for the next line."""
        return await self.until(PROMPT)

    def type(self, line: str) -> None:
        os.write(self._master, line.encode() + b"\r")

    def press(self, key: bytes) -> None:
        os.write(self._master, key)

    async def ended(self) -> tuple[int, str]:
        """The exit status and everything shown since the last read, once the command has ended."""
        async with asyncio.timeout(WAIT):
            status = await self._process.wait()
            while not self._closed:
                self._more.clear()
                await self._more.wait()
        return status, self.rest()

    def rest(self) -> str:
        shown, self._seen = self._screen[self._seen :], len(self._screen)
        return shown

    def screen(self) -> str:
        return self._screen

    async def close(self) -> None:
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if not self._closed:
            asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)


def _take_terminal() -> None:
    """In the child, after setsid: make the pseudo-terminal its controlling terminal, so Ctrl-C signals it."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def chat(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "chat", *args]


@pytest.fixture
async def database_url(database: Database) -> AsyncIterator[str]:
    """A URL the child process can open on the test's database. On PostgreSQL the test's schema is
    reached through a role whose search_path is that schema (a URL cannot carry server settings)."""
    if database.kind == "sqlite":
        yield database.url
        return
    schema = database.engine_kwargs["connect_args"]["server_settings"]["search_path"]  # type: ignore[index]
    role = f"chat_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database.url)
    async with admin.begin() as connection:
        await connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN SUPERUSER'))
        await connection.execute(sa.text(f'ALTER ROLE "{role}" SET search_path = "{schema}"'))
    url = sa.make_url(database.url).set(username=role).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP ROLE "{role}"'))
        await admin.dispose()


@pytest.fixture
async def terminals() -> AsyncIterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        await terminal.close()


async def _open(terminals: list[Terminal], argv: list[str], url: str, **options: object) -> Terminal:
    terminal = await Terminal.start(argv, database_url=url, **options)  # type: ignore[arg-type]
    terminals.append(terminal)
    return terminal


def _descriptor(position: int, level: int) -> str:
    """The matrix cell a person reads for question `position` (1-based) at `level` (1-based)."""
    framework = load_framework(ROOT / "frameworks" / f"{FRAMEWORK}.yaml")
    elements = [element for domain in framework.domains for element in domain.elements]
    return elements[position - 1].descriptors[framework.scale.levels[level - 1].id]


def _words(text: str) -> str:
    return " ".join(text.split())


async def test_partner_leaves_with_one_ctrl_c_and_carries_on_later(
    database_url: str, terminals: list[Terminal]
) -> None:
    first = await _open(terminals, chat("--framework", FRAMEWORK, "--as", "Amina"), database_url)
    assert "· 1 of 23" in await first.prompt()
    first.type("2")
    assert "Saved “Vision”: Developing." in await first.prompt()

    first.press(CTRL_C)
    status, farewell = await first.ended()

    assert status == 0
    assert "everything you answered is saved" in farewell
    assert not [noise for noise in NOISE if noise in first.screen()]
    assert (
        farewell.strip().splitlines()[-1]
        == "python -m bot chat --framework place-partnership-maturity --as Amina"
    )

    again = await _open(terminals, chat("--framework", FRAMEWORK, "--as", "Amina"), database_url)
    resumed = await again.prompt()
    assert "· 2 of 23" in resumed
    assert "Health and Care Needs Assessment" in resumed
    again.press(CTRL_D)
    status, farewell = await again.ended()
    assert status == 0
    assert "everything you answered is saved" in farewell


class InterruptedMidTurn:
    """The real bot, with Ctrl-C pressed while it handles the answer `3`: the turn goes on only once
    the chat has taken the interrupt in."""

    def __init__(self, bot: SurveyBot, keyboard: Keyboard) -> None:
        self._bot = bot
        self._keyboard = keyboard

    async def on_turn(self, context: TurnContext) -> None:
        if context.activity.text == "3":
            os.kill(os.getpid(), signal.SIGINT)
            await self._keyboard.leaving.wait()
        await self._bot.on_turn(context)


async def test_ctrl_c_while_an_answer_is_being_saved_keeps_it_once(database: Database, now: datetime) -> None:
    catalogue = load_directory()
    screen: list[str] = []
    typed, keys = os.pipe()
    try:
        with Keyboard.listening(typed) as keyboard:
            os.write(keys, b"3\n")
            status = await run_chat(
                InterruptedMidTurn(text_bot(database.sessions, lambda: now, catalogue), keyboard),  # type: ignore[arg-type]
                database.sessions,
                catalogue,
                lambda: now,
                name="Amina",
                framework_id=FRAMEWORK,
                read=keyboard.read,
                write=screen.append,
                columns=lambda: 100,
            )
    finally:
        os.close(typed)
        os.close(keys)

    shown = "".join(screen)
    assert status == 0
    assert shown.index("Saved “Vision”: Maturing.") < shown.index("everything you answered is saved")
    async with database.sessions() as session:
        answers = (await session.execute(sa.select(Answer.value))).scalars().all()
    assert answers == ["maturing"]


async def test_long_descriptors_wrap_on_words_at_the_terminal_width(
    database_url: str, terminals: list[Terminal]
) -> None:
    terminal = await _open(
        terminals, chat("--framework", FRAMEWORK, "--as", "Amina"), database_url, columns=60
    )
    await terminal.until("Survey bot — chatting as")  # lines before it are the CLI's, not the chat's
    question = "Survey bot — chatting as" + await terminal.prompt()

    too_wide = [line for line in question.splitlines() if len(line) > 60]
    assert too_wide == []
    for level in (1, 2, 3, 4):
        for statement in _descriptor(1, level).splitlines():
            assert _words(statement) in _words(question)  # broken only between words
    continuation = [line for line in question.splitlines() if line.startswith("     ")]
    assert continuation, "a wrapped statement continues under its own text, not under the bullet"


async def test_saved_line_comes_before_the_next_question(
    database_url: str, terminals: list[Terminal]
) -> None:
    terminal = await _open(terminals, chat("--framework", FRAMEWORK, "--as", "Amina"), database_url)
    await terminal.prompt()
    terminal.type("2")
    after = [line for line in (await terminal.prompt()).splitlines() if line.strip()]

    assert after[0] == "2"  # the terminal's echo of what was typed
    assert after[1] == "Saved “Vision”: Developing."
    assert "· 2 of 23" in after[2]


async def test_help_in_the_terminal_speaks_of_typing(database_url: str, terminals: list[Terminal]) -> None:
    terminal = await _open(terminals, chat("--framework", FRAMEWORK, "--as", "Amina"), database_url)
    await terminal.prompt()
    terminal.type("help")
    shown = await terminal.prompt()

    assert "Type your answer" in shown
    assert "button" not in shown
    assert "card" not in shown


async def test_make_chat_starts_without_migration_log_lines(
    database_url: str, terminals: list[Terminal]
) -> None:
    make = ["make", "--no-print-directory", "-o", ".venv/.installed", "chat", f"FRAMEWORK={FRAMEWORK}"]
    terminal = await _open(terminals, make, database_url)
    before = await terminal.until("Survey bot — chatting as")
    await terminal.prompt()

    assert not [noise for noise in NOISE if noise in before]
    assert not re.search(r'"level":|\bINFO\b', before)
