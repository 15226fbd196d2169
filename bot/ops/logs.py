"""Logs for operators: one JSON object a line, tied to the turn that wrote it, and nothing personal.

What may be logged: ids of activities, surveys, outbox rows and tenants, counts, reasons. People's
and conversations' ids only as `hash_id(...)`; never names, email addresses, answer text or
comments. `redact` is the safety net under that rule, not a licence to rely on it: Teams user ids
(`29:…`, `8:orgid:…`) and email addresses that slip into a message or a traceback are replaced by
their hash. AAD object ids are GUIDs like tenant ids, which are useful and not personal, so callers
hash those themselves.

Libraries that log personal data at DEBUG (msrest logs every request body, so every message and
card; SQLAlchemy logs statement parameters) are held at WARNING whatever LOG_LEVEL says.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

LogFormat = Literal["auto", "json", "text"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("msrest", "msal", "azure", "urllib3", "sqlalchemy", "aiosqlite", "asyncpg")
"""Held at WARNING or above: at DEBUG or INFO they log request bodies or SQL parameters."""
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Successful requests to these are not access-logged: probes and scrapes come every few seconds."""
TURN_OUTCOMES = ("ok", "duplicate", "failed", "refused", "rejected", "error", "cancelled")
"""The outcomes a turn may be given (a bounded set: they become metric labels)."""
CLIENT_STRING = 200
"""Each string argument of a log line is clipped to this: ids, names and text come from clients, and
a 1 MiB activity must not become a 1 MiB log line (or a way to flood the logs)."""
LOG_MESSAGE = 2000
EXCEPTION_LINE = 500
ID_IN_LOG = 80

_salt = ""


def hash_id(value: str, *, salt: str | None = None) -> str:
    """How logs name a person or conversation: 16 hex digits of sha256. GUIDs are lower-cased, so with
    no salt a person's AAD object id hashes to `storage.privacy.subject_hash` (an erasure's log line)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}", value):
        value = value.lower()
    salted = (_salt if salt is None else salt) + value
    # surrogatepass: a lone surrogate (escaped in a client's JSON) hashes instead of raising mid-log.
    return hashlib.sha256(salted.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def clip(text: str, limit: int = CLIENT_STRING) -> str:
    """`text` cut to `limit` characters (saying how many more there were), lone surrogates escaped:
    how a client's string may appear in a log line."""
    if len(text) > limit:
        text = f"{text[:limit]}…(+{len(text) - limit} chars)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clipped(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of the record whose string arguments are clipped, so `getMessage` is bounded."""
    args = record.args
    if not args:
        return record
    record = copy.copy(record)
    if isinstance(args, Mapping):
        record.args = {key: clip(v) if isinstance(v, str) else v for key, v in args.items()}
    else:
        record.args = tuple(clip(v) if isinstance(v, str) else v for v in args)
    return record


def _clip_lines(text: str) -> str:
    return "\n".join(clip(line, EXCEPTION_LINE) for line in text.splitlines())


_TEAMS_USER = re.compile(r"(?<![\w:.])(?:29:(?=[\w-]*[A-Za-z_-])[\w-]+|8:orgid:[0-9A-Fa-f-]{36})")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact(text: str) -> str:
    """Teams user ids and email addresses replaced by their hash."""
    text = _TEAMS_USER.sub(lambda match: f"<user:{hash_id(match.group())}>", text)
    return _EMAIL.sub(lambda match: f"<email:{hash_id(match.group().lower())}>", text)


# The turn a line belongs to ---------------------------------------------------------------------------


@dataclass
class TurnInfo:
    """One request to /api/messages, as logs and metrics see it."""

    turn_id: str
    activity_id: str | None = None
    conversation: str | None = None
    """`hash_id` of the conversation id (a 1:1 chat's id is derived from the person's)."""
    activity_type: str | None = None
    outcome: str | None = None
    """Set by the code that knows better than the HTTP status (a failed turn still answers 200)."""


_turn: ContextVar[TurnInfo | None] = ContextVar("surveybot_turn", default=None)


@contextmanager
def bound_turn(
    activity_id: str | None,
    conversation_id: str | None,
    *,
    activity_type: str | None = None,
    turn_id: str | None = None,
) -> Iterator[TurnInfo]:
    """Every line logged inside (tasks started inside too) carries this turn's ids."""
    info = TurnInfo(
        turn_id=turn_id or uuid.uuid4().hex[:16],
        activity_id=clip(activity_id, ID_IN_LOG) if activity_id else None,
        conversation=hash_id(conversation_id) if conversation_id else None,
        activity_type=activity_type,
    )
    token = _turn.set(info)
    try:
        yield info
    finally:
        _turn.reset(token)


def current_turn() -> TurnInfo | None:
    return _turn.get()


def set_turn_outcome(outcome: str) -> None:
    """Say how the current turn ended when its HTTP status cannot (the adapter's on_turn_error answers
    200 after a failure; a redelivery is answered 200 but did nothing). No-op outside a turn."""
    if outcome not in TURN_OUTCOMES:
        raise ValueError(f"unknown turn outcome {outcome!r}; one of {', '.join(TURN_OUTCOMES)}")
    info = _turn.get()
    if info is not None:
        info.outcome = outcome


# Formatters -------------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the turn's ids, and the
    exception if any. Messages and tracebacks pass through `redact`, and are clipped."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(clip(_clipped(record).getMessage(), LOG_MESSAGE)),
        }
        turn = _turn.get()
        if turn is not None:
            entry["turn_id"] = turn.turn_id
            if turn.activity_id:
                entry["activity_id"] = turn.activity_id
            if turn.conversation:
                entry["conversation"] = turn.conversation
        if record.exc_info and record.exc_info[1] is not None:
            entry["error_type"] = type(record.exc_info[1]).__name__
            entry["exception"] = redact(_clip_lines(self.formatException(record.exc_info)))
        elif record.exc_text:
            entry["exception"] = redact(_clip_lines(record.exc_text))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For people at a terminal: the usual one-line format, the turn id appended, redacted as JSON is."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = _clip_lines(super().format(_clipped(record)))
        turn = _turn.get()
        if turn is not None:
            first, newline, rest = text.partition("\n")
            text = f"{first} [turn {turn.turn_id}]{newline}{rest}"
        return redact(text)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure_logging` installed, so calling it again replaces only that one."""


def configure_logging(
    level: str = "INFO",
    log_format: LogFormat = "auto",
    *,
    hash_salt: str = "",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send the root logger's records to `stream` (standard error) as JSON or text. "auto" is JSON
    unless the stream is a terminal: containers and log collectors get JSON, people get text."""
    global _salt
    _salt = hash_salt
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not _is_terminal(stream))
    handler = _OurHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    floor = max(logging.WARNING, logging.getLevelName(level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    return handler


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# Access log -------------------------------------------------------------------------------------------

TURN = web.RequestKey("surveybot_turn", TurnInfo)
"""The turn a request to /api/messages became, for the access log line written after it."""


class AccessLog(AbstractAccessLogger):
    """`METHOD /path status ms`, with the turn's ids; no client address, user agent or query string,
    and nothing for successful probes and scrapes."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path in PROBE_PATHS and response.status < 400:
            return
        token = _turn.set(request.get(TURN))
        try:
            self.logger.info("%s %s %d %.0f ms", request.method, request.path, response.status, time * 1000)
        finally:
            _turn.reset(token)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
