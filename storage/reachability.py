"""Why a database cannot be used, said in words an operator can act on (the command line shows these
instead of a driver's traceback), and which database a URL names, without its password."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

URL_EXAMPLES = "sqlite+aiosqlite:////path/to/surveybot.db or postgresql+asyncpg://user:password@host:5432/db"
UPGRADE = "`python -m bot db upgrade`"


class DatabaseUnavailable(Exception):
    """The database cannot be used at all; the message's first line says why, the second what to do."""


def display_url(url: str) -> str:
    """The URL as it may be shown and logged: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(not a database URL)"


def require_sqlite_file(url: str) -> None:
    """Refuse a SQLite database file that does not exist yet, rather than create an empty one where a
    mistyped path points (only `db upgrade` creates it)."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise DatabaseUnavailable(
            f"There is no database at {missing}.\n"
            f"Run {UPGRADE} to create it there, or set DATABASE_URL (or DATA_DIR) to the one you meant."
        )


def _missing_sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path.absolute()


def explain(error: BaseException) -> DatabaseUnavailable | None:
    """A connection or configuration failure as DatabaseUnavailable; None for anything else (a bug)."""
    for cause in _chain(error):
        if isinstance(cause, DatabaseUnavailable):
            return cause
        if isinstance(cause, ArgumentError | NoSuchModuleError):
            return DatabaseUnavailable(
                f"DATABASE_URL is not a database URL the bot understands ({cause}).\nUse {URL_EXAMPLES}."
            )
        state = getattr(cause, "sqlstate", None)
        if state == "3D000":  # invalid_catalog_name
            return DatabaseUnavailable(
                f"The database server says: {_first_line(cause)}.\n"
                f"Create it (for example `createdb NAME`) or correct DATABASE_URL, then run {UPGRADE}."
            )
        if state in ("28P01", "28000"):  # invalid_password, invalid_authorization_specification
            return DatabaseUnavailable(
                f"The database server refused the login: {_first_line(cause)}.\n"
                "Check the user name and password in DATABASE_URL."
            )
        if isinstance(cause, ConnectionError | TimeoutError | socket.gaierror):
            return DatabaseUnavailable(
                f"Cannot reach the database server ({_first_line(cause)}).\n"
                "Check the host and port in DATABASE_URL and that the database server is running."
            )
        if isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause):
            return DatabaseUnavailable(
                f"Cannot open the SQLite database file ({cause}).\n"
                "Check that its folder exists and this user may write there (DATABASE_URL or DATA_DIR)."
            )
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and all(cause is not other for other in seen):
        yield cause
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].rstrip(".")
