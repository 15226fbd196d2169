"""Backing up the SQLite database while the bot keeps writing to it (SQLite only by nature: PostgreSQL is
backed up with pg_dump, which the command names instead)."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cli import main
from storage.backup import BackupRefused, backup_sqlite
from storage.db import create_engine, session_factory, transaction
from storage.migrate import head_revision, upgrade
from storage.organisations import ensure_organisation, ensure_partnership


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def _listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def live(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The bot's database in WAL mode, migrated, with three organisations."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    async with transaction(session_factory(engine)) as session:
        for n in range(3):
            await ensure_organisation(session, f"Org {n:04}")
    yield url, engine
    await engine.dispose()


async def test_a_backup_taken_while_the_bot_writes_opens_cleanly_with_every_committed_row(
    live: tuple[str, sa.ext.asyncio.AsyncEngine], tmp_path: Path
) -> None:
    url, engine = live
    sessions = session_factory(engine)
    first_write, backup_done = asyncio.Event(), asyncio.Event()
    committed = 3

    async def bot_writes() -> None:
        """Each transaction adds an organisation and its partnership: a consistent copy has both or none."""
        nonlocal committed
        while not backup_done.is_set():
            async with transaction(sessions) as session:
                organisation = await ensure_organisation(session, f"Org {committed:04}")
                await ensure_partnership(session, f"Place {committed:04}", members=[organisation])
            committed += 1
            first_write.set()

    async def back_up() -> int:
        await first_write.wait()
        before = committed
        await backup_sqlite(url, tmp_path / "backups" / "bot.db")
        backup_done.set()
        return before

    writer = asyncio.create_task(bot_writes())
    committed_before_backup = await back_up()
    await writer

    copy = tmp_path / "backups" / "bot.db"
    assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(copy, "PRAGMA journal_mode") == [("delete",)]
    assert not copy.with_name("bot.db-wal").exists()
    assert _rows(copy, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    organisations = [name for (name,) in _rows(copy, "SELECT name FROM organisations ORDER BY name")]
    places = [name for (name,) in _rows(copy, "SELECT name FROM partnerships ORDER BY name")]
    assert committed_before_backup <= len(organisations) <= committed
    assert organisations == [f"Org {n:04}" for n in range(len(organisations))]
    assert places == [f"Place {n:04}" for n in range(3, len(organisations))]
    members = _rows(copy, "SELECT count(*) FROM partnership_members")
    assert members == [(len(places),)]


async def test_a_write_in_progress_does_not_hold_up_the_backup_and_is_not_in_it(
    live: tuple[str, sa.ext.asyncio.AsyncEngine], tmp_path: Path
) -> None:
    url, engine = live
    copy = tmp_path / "copy.db"
    async with transaction(session_factory(engine)) as session:  # holds SQLite's write lock throughout
        await ensure_organisation(session, "Not yet committed")
        result = await backup_sqlite(url, copy)
    assert result.target == copy
    assert result.size == copy.stat().st_size
    assert _rows(copy, "SELECT name FROM organisations ORDER BY name") == [
        ("Org 0000",),
        ("Org 0001",),
        ("Org 0002",),
    ]
    async with transaction(session_factory(engine)) as session:
        names = (await session.execute(sa.text("SELECT count(*) FROM organisations"))).scalar_one()
    assert names == 4


async def test_a_new_backup_replaces_the_old_one_whole(
    live: tuple[str, sa.ext.asyncio.AsyncEngine], tmp_path: Path
) -> None:
    url, engine = live
    copy = tmp_path / "nightly.db"
    await backup_sqlite(url, copy)
    async with transaction(session_factory(engine)) as session:
        await ensure_organisation(session, "Added after the first backup")
    await backup_sqlite(url, copy)
    assert len(_rows(copy, "SELECT name FROM organisations")) == 4
    assert _listing(tmp_path) == ["bot.db", "bot.db-shm", "bot.db-wal", "nightly.db"]  # no partial copy left
    assert _mode(copy) == 0o600


async def test_the_database_cannot_be_backed_up_onto_itself(
    live: tuple[str, sa.ext.asyncio.AsyncEngine], tmp_path: Path
) -> None:
    url, _ = live
    with pytest.raises(BackupRefused, match="the database itself"):
        await backup_sqlite(url, tmp_path / "bot.db")
    assert len(_rows(tmp_path / "bot.db", "SELECT name FROM organisations")) == 3


async def test_postgresql_is_pointed_to_pg_dump_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://surveybot:s3cret@db.example.nhs.uk:5432/surveybot?ssl=require"
    with pytest.raises(BackupRefused) as refusal:
        await backup_sqlite(url, Path("/backups/surveybot.dump"))
    message = str(refusal.value)
    assert (
        "pg_dump --format=custom --file=/backups/surveybot.dump "
        "'postgresql://surveybot@db.example.nhs.uk:5432/surveybot?sslmode=require'"
    ) in message
    assert "s3cret" not in message
    assert _listing(tmp_path) == []


async def test_an_in_memory_or_missing_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupRefused, match="in-memory"):
        await backup_sqlite("sqlite+aiosqlite:///:memory:", tmp_path / "copy.db")
    with pytest.raises(BackupRefused, match="no SQLite database"):
        await backup_sqlite(f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}", tmp_path / "copy.db")
    assert _listing(tmp_path) == []


def test_the_cli_backs_up_sqlite_and_refuses_postgresql_with_the_command_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"

    async def migrate() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    monkeypatch.setenv("DATABASE_URL", url)
    copy = tmp_path / "backups" / "copy.db"
    assert main(["db", "backup", str(copy)]) == 0
    assert f"to {copy}" in capsys.readouterr().out
    assert _rows(copy, "SELECT version_num FROM alembic_version") == [(head_revision(),)]

    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://bot:pw@127.0.0.1:5432/surveybot")
    assert main(["db", "backup", "nightly.dump"]) == 2
    out = capsys.readouterr().out
    assert "pg_dump --format=custom --file=nightly.dump postgresql://bot@127.0.0.1:5432/surveybot" in out
    assert ":pw@" not in out
