"""Dialect-aware INSERT … ON CONFLICT, which both SQLite and PostgreSQL support."""

from __future__ import annotations

from typing import Any

__all__ = ["dialect_of", "insert", "insert_for"]

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, table: Any) -> Any:
    """An `insert()` with `on_conflict_do_update` / `on_conflict_do_nothing` for this session's database."""
    return insert_for(dialect_of(session), table)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(dialect: str, table: Any) -> Any:
    """`insert` for a database named by its dialect: for statements built once per dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are implemented for SQLite and PostgreSQL, not {dialect}")
