"""A write of one statement skips BEGIN and COMMIT on PostgreSQL, and leaves its pooled connection
transactional for whoever takes it next."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage.db import create_engine, session_factory, single_statement, transaction
from tests.conftest import FIXED_NOW, Database


class Undone(Exception):
    pass


async def test_a_single_statement_commits_alone_and_the_next_transaction_still_rolls_back(
    database: Database,
) -> None:
    engine = create_engine(database.url, **{**database.engine_kwargs, "pool_size": 1, "max_overflow": 0})
    sessions = session_factory(engine)
    insert = sa.text("INSERT INTO people (teams_user_id, created_at, updated_at) VALUES (:user, :now, :now)")
    try:
        async with single_statement(sessions) as session:
            level = (
                (await session.connection()).sync_connection.get_execution_options().get("isolation_level")
            )
            await session.execute(insert, {"user": "29:kept", "now": FIXED_NOW})
        with pytest.raises(Undone):  # noqa: PT012 (the block is the transaction that is undone)
            async with transaction(sessions) as session:  # the same pooled connection, the only one
                await session.execute(insert, {"user": "29:undone", "now": FIXED_NOW})
                raise Undone
        async with transaction(sessions) as session:
            users = (await session.execute(sa.text("SELECT teams_user_id FROM people"))).scalars().all()
    finally:
        await engine.dispose()

    assert users == ["29:kept"]
    assert level == ("AUTOCOMMIT" if database.kind == "postgresql" else None)
