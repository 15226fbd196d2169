"""Backups while the bot runs. SQLite: the online backup API copies one consistent snapshot (in WAL mode
the copy reads a snapshot and never blocks the bot's writer), in a thread so the event loop never waits.
PostgreSQL has `pg_dump` for this; we refuse and say exactly how to run it."""

from __future__ import annotations

import asyncio
import os
import shlex
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupRefused(Exception):
    """This database cannot be backed up here; the message says what to do instead."""


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    size: int
    """Bytes written."""


async def backup_sqlite(url: str, target: Path) -> BackupResult:
    """Copy the SQLite database at `url` to `target`, atomically: `target` is either the previous file or
    a complete, checked copy (a single file in rollback-journal mode, readable only by its owner)."""
    source = sqlite_path(url, target)
    return await asyncio.to_thread(_copy, source, target)


def sqlite_path(url: str, target: Path) -> Path:
    """The database file named by `url`; refuses anything that is not an SQLite file, saying what to do."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        raise BackupRefused(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump, which takes a consistent snapshot while "
            f"the bot runs:\n  {pg_dump_command(url, target)}\n"
            "(the password comes from PGPASSWORD or ~/.pgpass; restore with pg_restore)."
        )
    if backend != "sqlite":
        raise BackupRefused(f"`db backup` copies SQLite databases; DATABASE_URL is {backend}.")
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        raise BackupRefused("DATABASE_URL is an in-memory SQLite database: there is no file to back up.")
    return Path(database)


def pg_dump_command(url: str, target: Path) -> str:
    """The pg_dump command for a PostgreSQL DATABASE_URL, without its password."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "ssl" in query:  # asyncpg's name for libpq's sslmode
        query["sslmode"] = query.pop("ssl")
    libpq = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return shlex.join(
        ["pg_dump", "--format=custom", f"--file={target}", libpq.render_as_string(hide_password=False)]
    )


def _copy(source: Path, target: Path) -> BackupResult:
    if not source.is_file():
        raise BackupRefused(f"There is no SQLite database at {source}.")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupRefused(f"{target} is the database itself: choose another path for the backup.")
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(descriptor)
    partial = Path(name)
    try:
        with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)  # one step (pages=-1): a single read transaction, so a single snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy failed its integrity check: {check}")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(source=source, target=target, size=target.stat().st_size)
