"""Command line: `python -m bot serve | db … | frameworks …`. Output for people goes to stdout."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from textwrap import indent

from aiohttp import web

from bot import package as teams_package
from bot.app import create_app, create_bot, load_catalogue, utc_now
from bot.settings import Settings
from bot.terminal import read_stdin, run_chat
from bot.text import TextRenderer
from frameworks.loader import FrameworkFileError, load_framework
from frameworks.schema import Framework, LevelsScale, ScoreScale, StatusScale
from storage.db import create_engine, session_factory
from storage.migrate import current_revision, head_revision, is_at_head, upgrade

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Teams survey bot for health and care partnerships."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

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

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        title="db commands", metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply all migrations to DATABASE_URL").set_defaults(run=_db_upgrade)
    db.add_parser("current", help="show the database's migration and the latest one").set_defaults(
        run=_db_current
    )

    frameworks = commands.add_parser("frameworks", help="list, show and validate assessment frameworks")
    actions = frameworks.add_subparsers(title="frameworks commands", metavar="ACTION")
    actions.add_parser("list", help="the frameworks the bot offers").set_defaults(run=_frameworks_list)
    show = actions.add_parser("show", help="every domain and question of one framework")
    show.add_argument("id", help="framework id, as in `frameworks list`")
    show.set_defaults(run=_frameworks_show)
    validate = actions.add_parser("validate", help="check framework YAML files and report every problem")
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a .yaml file or a directory")
    validate.set_defaults(run=_frameworks_validate)

    package = commands.add_parser("package", help="build the Teams app package (manifest and icons in a zip)")
    teams_package.add_arguments(package)
    package.set_defaults(run=teams_package.run)
    return parser


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _serve(args: argparse.Namespace) -> int:
    settings = _settings()
    updates = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = settings.model_copy(update=updates)
    if settings.local_mode:
        log.warning(
            "Local mode: MICROSOFT_APP_ID is not set, so requests are not authenticated. "
            "Use only on your own machine (Bot Framework Emulator: http://localhost:%d/api/messages).",
            settings.port,
        )
    elif (
        settings.microsoft_app_type != "UserAssignedMSI"
        and not settings.microsoft_app_password.get_secret_value()
    ):
        log.error("MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is empty: refusing to start.")
        return 2
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    return 0


async def _with_engine(url: str, action):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def _chat(args: argparse.Namespace) -> int:
    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    return asyncio.run(_chat_async(settings, args.framework, args.name))


async def _chat_async(settings: Settings, framework_id: str | None, name: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        if not await is_at_head(engine):
            _out("The database is not migrated: run `python -m bot db upgrade` first (`make chat` does).")
            return 2
        sessions = session_factory(engine)
        catalogue = await load_catalogue(settings)
        bot = create_bot(settings, sessions, catalogue, utc_now, TextRenderer())
        return await run_chat(
            bot,
            sessions,
            catalogue,
            utc_now,
            name=name,
            framework_id=framework_id,
            read=read_stdin,
            write=_write,
        )
    finally:
        await engine.dispose()


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _db_upgrade(_args: argparse.Namespace) -> int:
    settings = _settings()
    asyncio.run(_with_engine(settings.database_url, upgrade))
    _out(f"Database is at migration {head_revision()} (latest).")
    return 0


def _db_current(_args: argparse.Namespace) -> int:
    settings = _settings()
    current = asyncio.run(_with_engine(settings.database_url, current_revision))
    head = head_revision()
    _out(f"current: {current or 'none (empty database)'}\nlatest:  {head}")
    return 0 if current == head else 1


def _frameworks_list(_args: argparse.Namespace) -> int:
    catalogue = asyncio.run(load_catalogue(_settings()))
    for framework in sorted(catalogue.frameworks.values(), key=lambda f: f.id):
        count = len(framework.scored_elements)
        _out(f"{framework.id:32} {framework.title} (v{framework.version}, {count} questions)")
    for error in catalogue.errors:
        _out(f"skipped {error}")
    return 1 if catalogue.errors else 0


def _frameworks_show(args: argparse.Namespace) -> int:
    catalogue = asyncio.run(load_catalogue(_settings()))
    framework = catalogue.get(args.id)
    if framework is None:
        _out(f"No framework {args.id!r}. Known: {', '.join(sorted(catalogue.frameworks)) or 'none'}.")
        return 1
    _out(describe(framework))
    return 0


def _frameworks_validate(args: argparse.Namespace) -> int:
    files = [p for path in args.paths for p in (sorted(path.glob("*.yaml")) if path.is_dir() else [path])]
    failures = 0
    for path in files:
        try:
            framework = load_framework(path)
        except FrameworkFileError as error:
            failures += 1
            _out(f"✗ {path}")
            _out(indent("\n".join(error.problems), "    "))
        else:
            _out(f"✓ {path}: {framework.id}, {len(framework.iter_elements())} elements")
    if not files:
        _out("No framework files found.")
        return 1
    return 1 if failures else 0


def describe(framework: Framework) -> str:
    """A readable outline of a framework for the terminal."""
    lines = [
        f"{framework.title} ({framework.id}, version {framework.version})",
        f"Source: {framework.source}",
    ]
    lines.append(framework.description)
    for domain in framework.domains:
        lines += ["", f"## {domain.title}", f"   Scale: {_scale(framework.scale_for(domain))}"]
        if domain.lead_in:
            lines.append(f"   {domain.lead_in}")
        if not domain.elements:
            lines.append(f"   (no questions: {domain.empty_note})")
        for element in domain.elements:
            flag = " [in development: not scored]" if element.in_development else ""
            when = f" — {element.milestone.label}" if element.milestone else ""
            group = f"{element.group} · " if element.group else ""
            lines.append(f" - {group}{element.title}{when}{flag}")
            if element.text:
                lines.append(indent(element.text, "     "))
    if framework.notes:
        lines += ["", "Notes:"] + [f" - {note}" for note in framework.notes]
    return "\n".join(lines)


def _scale(scale: LevelsScale | ScoreScale | StatusScale) -> str:
    if isinstance(scale, LevelsScale):
        return ", ".join(f"{level.value} {level.label}" for level in scale.levels)
    if isinstance(scale, ScoreScale):
        return f"{scale.min} ({scale.min_label}) to +{scale.max} ({scale.max_label})"
    return ", ".join(f"{status.label} ({status.rag})" for status in scale.statuses)
