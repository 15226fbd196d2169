"""`db upgrade`, `db current` and `db backup`: the database's migrations and a safe copy."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.cli.runtime import Commands, command_settings, out, with_engine
from storage.backup import BackupRefused, backup_sqlite
from storage.migrate import current_revision, head_revision, upgrade

__all__ = ["register"]


def register(commands: Commands) -> None:
    """db upgrade, current and backup."""
    db = commands.add_parser("db", help="database migrations").add_subparsers(
        title="db commands", metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply all migrations to DATABASE_URL").set_defaults(run=_db_upgrade)
    db.add_parser("current", help="show the database's migration and the latest one").set_defaults(
        run=_db_current
    )
    backup = db.add_parser("backup", help="copy the SQLite database while the bot runs (PostgreSQL: pg_dump)")
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    backup.set_defaults(run=_db_backup)


def _db_upgrade(_args: argparse.Namespace) -> int:
    settings = command_settings()
    asyncio.run(with_engine(settings.database_url, upgrade, create=True))
    out(f"Database is at migration {head_revision()} (latest).")
    return 0


def _db_current(_args: argparse.Namespace) -> int:
    settings = command_settings()
    current = asyncio.run(with_engine(settings.database_url, current_revision))
    head = head_revision()
    out(f"current: {current or 'none (empty database)'}\nlatest:  {head}")
    return 0 if current == head else 1


def _db_backup(args: argparse.Namespace) -> int:
    settings = command_settings()
    try:
        result = asyncio.run(backup_sqlite(settings.database_url, args.path))
    except BackupRefused as refusal:
        out(str(refusal))
        return 2
    out(f"Backed up {result.source} to {result.target} ({result.size} bytes, integrity checked).")
    return 0
