"""Fixtures shared by the suite: a migrated database per test on SQLite and PostgreSQL, and a fixed clock.

PostgreSQL runs when TEST_DATABASE_URL is set. Each test gets its own schema (dropped afterwards),
so runs never see each other's rows. Under CI=true a PostgreSQL test that cannot run fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory
from storage.migrate import upgrade

FIXED_NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[1]
# Microsoft's schemas and the seed documents live outside the project: one setting says where (a relative
# value is taken from the repository root).
SHARED_DIR = (REPO_ROOT / os.environ.get("SURVEYBOT_SHARED_DIR", "../shared")).resolve()
SHARED_FILES = (
    "schemas/adaptive-card.v1.5.schema.json",
    "schemas/MicrosoftTeams.v1.29.schema.json",
    "seeds",
)


def shared_file(name: str) -> Path:
    """A path under SHARED_DIR; without it the test is skipped (CI stops before any test, below)."""
    path = SHARED_DIR / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: schema and seed tests must run in CI (SURVEYBOT_SHARED_DIR)")
        pytest.skip(f"{path} is absent: set SURVEYBOT_SHARED_DIR to the shared folder (default ../shared)")
    return path


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI the schema and seed tests must run: a missing shared folder stops the run with one message."""
    if os.environ.get("CI") != "true":
        return
    missing = [name for name in SHARED_FILES if not (SHARED_DIR / name).exists()]
    if missing:
        raise pytest.UsageError(
            f"CI needs the shared schemas and seeds, and {SHARED_DIR} lacks {', '.join(missing)}: set "
            "SURVEYBOT_SHARED_DIR to the shared folder (default ../shared beside the repository)."
        )


@dataclass
class Database:
    kind: str
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    engine_kwargs: dict[str, object]

    def new_engine(self) -> AsyncEngine:
        """A second, independent engine on the same database: another bot instance."""
        return create_engine(self.url, **self.engine_kwargs)


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("PostgreSQL tests run when TEST_DATABASE_URL is set")
    return url


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """An empty database at the migrations' head, on each backend in turn."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        kwargs: dict[str, object] = {}
        engine = create_engine(url)
        try:
            await upgrade(engine)
            yield Database("sqlite", url, engine, session_factory(engine), kwargs)
        finally:
            await engine.dispose()
        return

    url = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except OSError as exc:  # connection refused: PostgreSQL is not running
        await admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {url} is unreachable: {exc}")
    kwargs = {"connect_args": {"server_settings": {"search_path": schema}}}
    engine = create_engine(url, **kwargs)
    try:
        await upgrade(engine)
        yield Database("postgresql", url, engine, session_factory(engine), kwargs)
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
