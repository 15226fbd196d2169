"""What every command shares: its settings (logging configured), its output, and the database it runs
against (one engine per command, one transaction per action)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from bot.ops.logs import configure_logging
from bot.settings import Settings
from frameworks.clock import utc_now
from storage.db import Engine, Session, create_engine, session_factory, transaction
from storage.migrate import is_at_head
from storage.reachability import display_url, require_sqlite_file

__all__ = [
    "Commands",
    "at_least",
    "command_settings",
    "in_session",
    "in_transaction",
    "migrated",
    "no_clock",
    "out",
    "which_database",
    "with_engine",
]

T = TypeVar("T")

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The `add_subparsers()` object each command group adds its parsers to."""


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def number(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}")
        return int(text)

    return number


def command_settings(*, database: bool = True) -> Settings:
    """The settings (a mistake in them is explained by `bot.cli.main`), logging configured; a
    command that uses the database says which one on stderr."""
    settings = Settings()
    configure_logging(
        settings.log_level, settings.log_format, hash_salt=settings.log_hash_salt.get_secret_value()
    )
    if database:
        sys.stderr.write(f"Database: {which_database(settings)}\n")
    return settings


def which_database(settings: Settings) -> str:
    return f"{display_url(settings.database_url)} ({settings.database_source})"


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


async def with_engine(url: str, action: Callable[[Engine], Awaitable[T]], *, create: bool = False) -> T:
    """Run `action(engine)`; a SQLite file that does not exist is created only when `create` is set."""
    if not create:
        await asyncio.to_thread(require_sqlite_file, url)
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def migrated(settings: Settings) -> bool:
    if asyncio.run(with_engine(settings.database_url, is_at_head)):
        return True
    out("The database is not migrated: run `python -m bot db upgrade` first.")
    return False


def no_clock(action: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A storage function that takes no `now`, for `in_transaction` (which passes one)."""

    async def run(session: Session, *args: Any, now: datetime, **kwargs: Any) -> T:
        return await action(session, *args, **kwargs)

    return run


def in_transaction(
    action: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> Callable[[Engine], Awaitable[T]]:
    """A storage function for `with_engine`, run in one transaction (rolled back if it fails) at the
    current time."""

    async def run(engine: Engine) -> T:
        async with transaction(session_factory(engine)) as session:
            return await action(session, *args, now=utc_now(), **kwargs)

    return run


def in_session(settings: Settings, action: Callable[..., Awaitable[T]], /, **kwargs: Any) -> T:
    """`action(session, **kwargs)` in one transaction on DATABASE_URL."""

    async def run(engine: Engine) -> T:
        async with transaction(session_factory(engine)) as session:
            return await action(session, **kwargs)

    return asyncio.run(with_engine(settings.database_url, run))
