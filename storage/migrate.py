"""Apply and inspect Alembic migrations from async code (the app, the CLI and the tests).

Alembic (with mako and pygments, about 8 MB) is imported only to migrate: the server's start-up and
/readyz compare the database's revision with `HEAD_REVISION` in one query."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import MIGRATING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

HEAD_REVISION = "0016"
"""The newest migration. A new migration changes it; tests/storage/test_migrations.py checks it against the
scripts (`scripted_head`)."""


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK = 0x5355_5256_4559_4D  # "SURVEYM": this bot's advisory lock key for migrations


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    from alembic import command

    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    await _run(engine, command.downgrade, revision)


async def _run(engine: AsyncEngine, alembic_command: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic command on a connection of our async engine (env.py picks it up)."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        alembic_command(config, revision)

    async with migrating(engine) as connection:
        await connection.run_sync(run)


@asynccontextmanager
async def migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction to migrate in, committed when the block ends. Used by `upgrade`
    and `downgrade` and by Alembic's own command line (env.py)."""
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await connection.execution_options(**{MIGRATING: True})
        async with connection.begin():
            if connection.dialect.name == "postgresql":
                # Several instances starting at once each run `db upgrade`: one migrates, the others
                # wait here, then find the schema at head. The lock goes with the transaction.
                await connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            yield connection
            if sqlite:
                await _check_foreign_keys(connection)
        if sqlite:
            # Its foreign keys are off: the pool opens a new connection, with them on, in its place.
            await connection.invalidate()


async def _check_foreign_keys(connection: AsyncConnection) -> None:
    """With foreign keys off while migrating, SQLite checked none: a row left pointing nowhere rolls the
    migration back instead of being committed."""
    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(
            f"migrating would leave {len(broken)} rows pointing at nothing (in {', '.join(tables)}); "
            "nothing was changed"
        )


def head_revision() -> str:
    return HEAD_REVISION


def scripted_head() -> str | None:
    """The head as Alembic reads it from the scripts (the test that keeps HEAD_REVISION true uses it)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision_of(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise RuntimeError(f"the database is at several migrations at once: {', '.join(versions)}")
    return versions[0] if versions else None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_revision_of)


async def is_at_head(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
