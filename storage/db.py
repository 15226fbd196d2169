"""Async engine and sessions for SQLite (embedded default) and PostgreSQL (deployment)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """SQLite gets WAL (readers never block the writer), foreign keys and a busy timeout. Statement
    parameters (names, answers) and row values are kept out of error messages, which end up in logs."""
    kwargs.setdefault("hide_parameters", True)
    engine = _create_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _without_row_values)
    return engine


def _create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 30, **kwargs.pop("connect_args", {})}
        # One connection per engine: SQLite takes one writer at a time anyway, and queueing turns in
        # the async pool is fair and immediate, where SQLite's busy handler sleeps and polls.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    # No pre-ping: it costs every transaction a round trip. A connection closed while idle (a failover)
    # is noticed at checkout and replaced; one a firewall or load balancer dropped silently is not used
    # after `IDLE_RECYCLE` (Azure's load balancers drop idle flows after 4 minutes); one that dies
    # mid-turn fails that turn, which is answered 503 so that Teams delivers it again. A connection
    # younger than IDLE_RECYCLE cannot have sat idle for those 4 minutes.
    kwargs.setdefault("pool_recycle", IDLE_RECYCLE)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_SIZE)
    return create_async_engine(url, **kwargs)


POOL_SIZE = 10
"""PostgreSQL connections kept open, and as many more opened for a burst. SQLAlchemy's default of 5
closed a connection after nearly every turn once 10 partners answered at once: each new one cost a
TLS attempt, a login and its prepared statements again (benchmarks/turns.py: 75 connections opened
in 600 turns)."""


IDLE_RECYCLE = 200
"""Seconds after it was opened that a pooled PostgreSQL connection is replaced at its next checkout."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy own transactions so BEGIN IMMEDIATE below takes effect.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


MIGRATING = "storage_migrating"
"""Execution option of the connection that runs migrations on SQLite: its transaction starts with
foreign keys off (`storage.migrate` checks them before committing)."""


def _sqlite_begin_immediate(connection: Any) -> None:
    """Take the write lock at BEGIN: two writers queue instead of failing half-way with SQLITE_BUSY."""
    if connection.get_execution_options().get(MIGRATING):
        # SQLite alters a table by rebuilding it (copy, drop the old, rename), and with foreign keys on,
        # dropping the old table deletes by cascade every row that references it: altering `surveys`
        # would empty `responses` and `answers`. SQLite's own procedure turns them off, which only
        # takes effect outside a transaction: here, just before it begins.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


LOST_RACE_STATES = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back because a
concurrent one won, and nothing of it was kept."""


def lost_race(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL rolling this transaction back in favour of a concurrent one."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) in LOST_RACE_STATES


def lost_connection(error: BaseException) -> bool:
    """Whether `error`, or an error that led to it, is the database connection dropping mid-transaction
    (a failover, a restart, a killed backend): SQLAlchemy saw a disconnect and invalidated the
    connection, so the pool will not hand it out again and the transaction did not commit (or, if the
    connection died during COMMIT, may have; an activity's claim tells a redelivery which)."""
    seen: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and all(cause is not other for other in seen):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return False


T = TypeVar("T")


async def again_on_lost_connection(
    call: Callable[[], Awaitable[T]], *, attempts: int, on_retry: Callable[[], None] = lambda: None
) -> T:
    """`call` (which opens its own transaction), up to `attempts` times while its connection drops under
    it: the pool hands out a fresh one next (SQLAlchemy invalidated the pool). Any other error, or the
    last attempt's, is raised; `on_retry` is told before each new attempt."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as error:
            if attempt == attempts or not lost_connection(error):
                raise
            on_retry()
    raise AssertionError("unreachable: the last attempt returns or raises")


VALUE_QUOTING_STATES = "22"
"""SQLSTATE class 22, data exceptions: their messages quote the value refused (`invalid input syntax
for type integer: "…"`, asyncpg's `invalid input for query argument $1: …`)."""


def _without_row_values(context: ExceptionContext) -> None:
    """PostgreSQL's DETAIL and HINT repeat rows and keys (`Failing row contains (…)`, `Key (…)=(…)`),
    and data exceptions quote the value; the driver and SQLAlchemy copy all of it into the exception
    text that tracebacks carry into the logs. Keep the kind of error, its SQLSTATE and the names of
    the table, column and constraint; drop the values. The exceptions stay what they were (same
    classes, `sqlstate`, `orig`), so callers that catch or inspect them see no difference."""
    original = context.original_exception
    chain: list[BaseException] = []
    error: BaseException | None = original
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in chain:
        _scrub(error)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args and original is not None:
        kind = type(original)
        wrapped.args = (f"({kind.__module__}.{kind.__name__}) {original}",)


def _scrub(error: BaseException) -> None:
    for field in ("detail", "hint"):
        if getattr(error, field, None):
            with suppress(AttributeError, TypeError):
                setattr(error, field, None)
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(VALUE_QUOTING_STATES):
        names = ", ".join(
            f"{name} {value}"
            for name in ("table", "column", "constraint")
            if (value := getattr(error, f"{name}_name", None))
        )
        error.args = (f"data exception, SQLSTATE {state}{f' ({names})' if names else ''}; value not logged",)


Engine = AsyncEngine
"""The database engine, as the rest of the bot names it (sqlalchemy is imported only in storage/)."""
Session = AsyncSession
"""A database session, the first argument of every storage function."""
Sessions = async_sessionmaker[AsyncSession]
"""Makes sessions: what the bot holds to open transactions (`transaction(sessions)`)."""


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


_ambient: ContextVar[AsyncSession | None] = ContextVar("ambient_session", default=None)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error.

    Inside `turn_transaction` it joins the turn's transaction instead, so everything a turn does
    commits (or rolls back) together.
    """
    ambient = _ambient.get()
    if ambient is not None:
        yield ambient
        return
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def single_statement(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """For a write that is one statement, atomic by itself: on PostgreSQL it runs in autocommit, one
    round trip where BEGIN, the statement and COMMIT took three. On SQLite, whose BEGIN and COMMIT
    cross no network, it is an ordinary `transaction`. Never for two statements that must hold
    together."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        async with transaction(sessions) as session:
            yield session
        return
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
        await session.commit()  # nothing to commit on the server: it ends the session's bookkeeping


@asynccontextmanager
async def turn_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction for a whole bot turn: the redelivery claim, the answer and the dialog state
    are committed together or not at all, and the turn pays for one commit instead of four."""
    async with sessions() as session, session.begin():
        token = _ambient.set(session)
        try:
            yield session
        finally:
            _ambient.reset(token)
