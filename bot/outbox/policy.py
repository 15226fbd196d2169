"""Delivery policy: what Teams' answer means for a row (sent, retried, throttled, failed for good), and
when to try again. Pure: the sender records what it decides."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from azure.core.exceptions import DeserializationError
from msrest.exceptions import ClientRequestError, HttpOperationError


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


def classify(error: BaseException, *, now: datetime) -> Outcome:
    """What a failed request means for its row (pure: the caller records it)."""
    if isinstance(error, HttpOperationError) and getattr(error.response, "status_code", None):
        status = int(error.response.status_code)
        code = getattr(getattr(error.error, "error", None), "code", None)
        detail = f"{status} {code}" if code else str(status)
        headers = getattr(error.response, "headers", None) or {}
        retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
        if status == 429:
            return Outcome(Verdict.THROTTLED, Reason.THROTTLED, detail, retry_after=retry_after)
        if status in _RETRIED_STATUSES or status >= 500:
            return Outcome(Verdict.RETRY, Reason.TRANSIENT, detail, retry_after=retry_after)
        if status == 403:
            return Outcome(Verdict.FAILED, Reason.BLOCKED, detail)
        if status == 404:
            return Outcome(Verdict.FAILED, Reason.GONE, detail)
        if status == 413:
            return Outcome(Verdict.FAILED, Reason.TOO_LARGE, detail)
        return Outcome(Verdict.FAILED, Reason.REJECTED, detail)
    if isinstance(error, DeserializationError):
        return Outcome(Verdict.RETRY, Reason.TRANSIENT, "answer was not JSON")
    if isinstance(error, ClientRequestError):
        inner = getattr(error, "inner_exception", None)
        return Outcome(Verdict.RETRY, Reason.TRANSIENT, type(inner or error).__name__)
    if isinstance(error, TimeoutError):
        return Outcome(Verdict.RETRY, Reason.TRANSIENT, "timed out")
    return Outcome(Verdict.RETRY, Reason.TRANSIENT, type(error).__name__)


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
