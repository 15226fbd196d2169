"""Migrations are the only way the schema changes: they must produce exactly what the models describe."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import create_engine
from storage.migrate import (
    HEAD_REVISION,
    current_revision,
    downgrade,
    head_revision,
    is_at_head,
    scripted_head,
    upgrade,
)
from storage.tables import metadata
from tests.conftest import Database


def _differences(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def test_the_head_the_server_checks_is_the_newest_migration_script() -> None:
    assert scripted_head() == HEAD_REVISION, (
        "a new migration: set storage.migrate.HEAD_REVISION to its revision"
    )


async def test_migrated_database_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    assert await is_at_head(database.engine)


async def test_migrations_go_down_to_nothing_and_back_up(database: Database) -> None:
    await downgrade(database.engine, "base")
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}
    assert await current_revision(database.engine) is None
    await upgrade(database.engine)
    assert await current_revision(database.engine) == head_revision()


async def test_upgrading_twice_changes_nothing(database: Database) -> None:
    await upgrade(database.engine)
    assert await is_at_head(database.engine)


async def test_instances_starting_together_migrate_an_empty_database_once(database: Database) -> None:
    """Each instance runs `db upgrade` as it starts; on an empty database they must not collide."""
    await downgrade(database.engine, "base")
    others = [create_engine(database.url, **database.engine_kwargs) for _ in range(2)]
    try:
        await asyncio.gather(upgrade(database.engine), *(upgrade(engine) for engine in others))
    finally:
        for engine in others:
            await engine.dispose()
    assert await is_at_head(database.engine)
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
