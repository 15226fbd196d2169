"""`serve` (the web server) and `chat` (a survey in this terminal, exactly as in Teams)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import sys

from bot.app import create_app, create_bot, load_catalogue
from bot.cli.runtime import Commands, command_settings, migrated, out, which_database
from bot.ops.health import MissingCredential, check_credentials, run
from bot.reports.text import TextRenderer
from bot.settings import Settings
from bot.terminal import Keyboard, chat_command, farewell, run_chat
from frameworks.clock import utc_now
from storage.db import create_engine, session_factory
from storage.migrate import is_at_head

__all__ = ["register"]

log = logging.getLogger("bot")


def register(commands: Commands) -> None:
    """serve and chat."""
    serve = commands.add_parser("serve", help="start the bot's web server (POST /api/messages, GET /healthz)")
    serve.add_argument("--host", help="interface to listen on (default: HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 3978)")
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="answer a survey in this terminal, exactly as in Teams")
    chat.add_argument(
        "--framework", metavar="ID", help="try this framework (a trial survey is opened for you)"
    )
    chat.add_argument(
        "--as", dest="name", default=os.environ.get("USER") or "Terminal user", help="your name"
    )
    chat.set_defaults(run=_chat)


def _serve(args: argparse.Namespace) -> int:
    settings = command_settings(database=False)
    log.info("database: %s", which_database(settings))
    updates = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = settings.model_copy(update=updates)
    if settings.local_mode:
        log.warning(
            "Local mode: MICROSOFT_APP_ID is not set, so requests are not authenticated. "
            "Use only on your own machine (Bot Framework Emulator: http://localhost:%d/api/messages).",
            settings.port,
        )
    try:
        check_credentials(settings)
    except MissingCredential as error:
        log.error("%s Refusing to start.", error)
        return 2
    if not migrated(settings):  # before listening: an unusable database is explained, not served
        return 2
    try:
        run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
        )
    except OSError as error:
        if error.errno not in _CANNOT_LISTEN:
            raise
        sys.stderr.write(
            f"Cannot listen on {settings.host}:{settings.port}: {os.strerror(error.errno or 0).lower()}.\n"
            "Stop whatever uses that address, or choose another with PORT (or HOST, or --port).\n"
        )
        return 2
    return 0


_CANNOT_LISTEN = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
"""Why a server cannot bind its address: taken, not this machine's, or a privileged port."""


def _chat(args: argparse.Namespace) -> int:
    settings = command_settings()
    logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    try:
        return asyncio.run(_chat_async(settings, args.framework, args.name))
    except KeyboardInterrupt:  # Ctrl-C while starting, before the chat listens for it
        _write("\n" + farewell(chat_command(args.framework, args.name)))
        return 0


async def _chat_async(settings: Settings, framework_id: str | None, name: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        if not await is_at_head(engine):
            out("The database is not migrated: run `python -m bot db upgrade` first (`make chat` does).")
            return 2
        sessions = session_factory(engine)
        catalogue = await load_catalogue(settings)
        bot = create_bot(settings, sessions, catalogue, utc_now, TextRenderer())
        with Keyboard.listening() as keyboard:
            return await run_chat(
                bot,
                sessions,
                catalogue,
                utc_now,
                name=name,
                framework_id=framework_id,
                read=keyboard.read,
                write=_write,
            )
    finally:
        await engine.dispose()


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
