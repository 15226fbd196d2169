"""`python -m bot`: the command line's parser, and the one place a mistaken setting or an unusable
database becomes two lines and status 2."""

from __future__ import annotations

import argparse
import sys
import traceback

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from bot.cli import db, frameworks, people, privacy, serve, surveys
from bot.settings import Settings
from bot.teams import package as teams_package
from storage.reachability import explain as explain_database_failure

__all__ = ["main"]

FIX_SETTINGS = "Correct it in the environment or the .env file (see the README's Settings), then run again."


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return _explaining_failures(args)


def _explaining_failures(args: argparse.Namespace) -> int:
    """Run the command; a mistaken setting or an unusable database becomes two lines on stderr (what is
    wrong, what to do) and status 2, for every command alike. `--debug` adds the traceback."""
    try:
        return int(args.run(args))
    except Exception as error:
        problem = _setting_problem(error) or explain_database_failure(error)
        if problem is None:
            raise
        if args.debug:
            traceback.print_exception(error)
        sys.stderr.write(f"{problem}\n")
        return 2


def _setting_problem(error: Exception) -> str | None:
    if isinstance(error, SettingsError):
        return f"A setting could not be read: {error}.\n{FIX_SETTINGS}"
    if not (isinstance(error, ValidationError) and error.title == Settings.__name__):
        return None
    problems = []
    for detail in error.errors():
        name = "_".join(str(part) for part in detail["loc"]).upper() or "A setting"
        field = Settings.model_fields.get(str(detail["loc"][0]).lower()) if detail["loc"] else None
        secret = field is None or field.annotation in (SecretStr, "SecretStr") or name.endswith("_URL")
        value = "" if secret else f"={detail['input']!r}"
        problems.append(f"{name}{value}: {detail['msg'].removeprefix('Value error, ')}")
    return f"Setting {'; '.join(problems)}.\n{FIX_SETTINGS}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Teams survey bot for health and care partnerships."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback when a setting or the database is wrong"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in (serve, db, privacy, surveys, people, frameworks):
        group.register(commands)
    package = commands.add_parser("package", help="build the Teams app package (manifest and icons in a zip)")
    teams_package.add_arguments(package)
    package.set_defaults(run=teams_package.run)
    return parser
