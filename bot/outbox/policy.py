"""Delivery policy: what Teams' answer means for a row (sent, retried, throttled, failed for good), and
when to try again. Pure: the sender records what it decides, and the Teams edge (`bot.teams.proactive`)
reads the HTTP status out of the transport's `ConnectorError`."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Verdict(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    RETRY = "retry"
    THROTTLED = "throttled"
    DEFERRED = "deferred"
    """Not attempted: the thread or tenant is held back longer than `max_wait`."""
    FAILED = "failed"
    STOPPED = "stopped"
    """The sender stopped before sending; the row is released."""


class Reason(StrEnum):
    BLOCKED = "blocked"
    GONE = "gone"
    TOO_LARGE = "too-large"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    NO_ADDRESS = "no-address"
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str = ""
    detail: str = ""
    activity_id: str | None = None
    retry_after: float | None = None

    @property
    def error(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


_RETRIED_STATUSES = frozenset({408, 412})


def outcome_for_status(status: int, *, code: str | None, retry_after: str | None, now: datetime) -> Outcome:
    """What Teams' refusal (an HTTP status, its error code and Retry-After header) means for a row."""
    detail = f"{status} {code}" if code else str(status)
    wait = parse_retry_after(retry_after, now=now)
    if status == 429:
        return Outcome(Verdict.THROTTLED, Reason.THROTTLED, detail, retry_after=wait)
    if status in _RETRIED_STATUSES or status >= 500:
        return Outcome(Verdict.RETRY, Reason.TRANSIENT, detail, retry_after=wait)
    if status == 403:
        return Outcome(Verdict.FAILED, Reason.BLOCKED, detail)
    if status == 404:
        return Outcome(Verdict.FAILED, Reason.GONE, detail)
    if status == 413:
        return Outcome(Verdict.FAILED, Reason.TOO_LARGE, detail)
    return Outcome(Verdict.FAILED, Reason.REJECTED, detail)


def transient(detail: str) -> Outcome:
    """A request that got no usable answer (no JSON, no connection, no time left): tried again."""
    return Outcome(Verdict.RETRY, Reason.TRANSIENT, detail)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_seconds(failures: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^failures))."""
    return rng.uniform(0, min(cap, base * 2 ** min(failures, 62)))
