"""Migrations are the only way the schema changes: they must produce exactly what the models describe."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
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
from storage.tables import Survey, metadata
from tests.conftest import FIXED_NOW, Database


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


async def test_upgrading_keeps_the_answers_of_a_survey_whose_table_it_alters(database: Database) -> None:
    """Migration 0015 rebuilds `surveys` on SQLite (copy, drop, rename). With foreign keys on, dropping
    the old table deleted every invitation, response and answer by cascade; an upgraded bot had lost
    every answer ever given."""
    await downgrade(database.engine, "0014")
    rows = [
        "INSERT INTO people (id, teams_user_id, created_at, updated_at) VALUES (1, '29:amina', :now, :now)",
        "INSERT INTO surveys (id, title, framework_id, framework_version, framework_snapshot, state,"
        " created_at, lock_after_submit) VALUES (7, 'Round 1', 'f', '1', '{}', 'open', :now, false)",
        "INSERT INTO invitations (survey_id, person_id, invited_at, reminder_count, delivery_state,"
        " delivery_attempts) VALUES (7, 1, :now, 0, 'sent', 1)",
        "INSERT INTO responses (id, survey_id, person_id, started_at, updated_at)"
        " VALUES (3, 7, 1, :now, :now)",
        "INSERT INTO answers (response_id, element_id, value, score, skipped, answered_at, updated_at)"
        " VALUES (3, 'vision', 'developing', 2, false, :now, :now)",
    ]
    async with database.engine.begin() as connection:
        for row in rows:
            await connection.execute(sa.text(row), {"now": FIXED_NOW})

    await upgrade(database.engine)

    async with database.engine.connect() as connection:
        counts = {
            table: (await connection.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("surveys", "invitations", "responses", "answers")
        }
        kind = (await connection.execute(sa.text("SELECT kind FROM surveys WHERE id = 7"))).scalar_one()
    assert counts == {"surveys": 1, "invitations": 1, "responses": 1, "answers": 1}
    assert kind == "round"
    # Foreign keys hold again once migrated: a connection afterwards refuses a row pointing nowhere.
    with pytest.raises(sa.exc.IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO responses (survey_id, person_id, started_at, updated_at)"
                    " VALUES (999, 1, :now, :now)"
                ),
                {"now": FIXED_NOW},
            )


async def test_consensus_rounds_closed_before_sharing_existed_stay_shared(database: Database) -> None:
    """Migration 0016 adds `results_shared_at`: a closed consensus round's results were visible to its
    channel before, so it counts as shared at its close (or its closing date, passed before the
    deadline job noticed); one still taking answers, and every ordinary round, get none."""
    await downgrade(database.engine, "0015")
    survey = (
        "INSERT INTO surveys (id, title, framework_id, framework_version, framework_snapshot, state, kind,"
        " created_at, closes_at, closed_at, lock_after_submit, share_results)"
        " VALUES (:id, :title, 'f', '1', '{}', :state, :kind, :now, :closes, :closed, false, true)"
    )
    past, future = FIXED_NOW - timedelta(days=30), FIXED_NOW + timedelta(days=365 * 900)
    rows = [
        {"id": 1, "title": "Round", "state": "closed", "kind": "round", "closes": None, "closed": past},
        {"id": 2, "title": "Closed", "state": "closed", "kind": "consensus", "closes": None, "closed": past},
        {"id": 3, "title": "Past date", "state": "open", "kind": "consensus", "closes": past, "closed": None},
        {"id": 4, "title": "Open", "state": "open", "kind": "consensus", "closes": future, "closed": None},
        {"id": 5, "title": "No date", "state": "open", "kind": "consensus", "closes": None, "closed": None},
    ]
    async with database.engine.begin() as connection:
        for row in rows:
            await connection.execute(sa.text(survey), {**row, "now": FIXED_NOW - timedelta(days=60)})

    await upgrade(database.engine)

    async with database.sessions() as session:
        shared = {
            survey.id: survey.results_shared_at
            for survey in (await session.execute(sa.select(Survey))).scalars()
        }
    assert shared == {1: None, 2: past, 3: past, 4: None, 5: None}

    await downgrade(database.engine, "0015")  # and back: the column goes, the surveys stay
    async with database.engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in sa.inspect(sync).get_columns("surveys")}
        )
        count = (await connection.execute(sa.text("SELECT count(*) FROM surveys"))).scalar_one()
    assert "results_shared_at" not in columns
    assert count == 5
