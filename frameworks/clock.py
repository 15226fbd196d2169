"""The clock every part of the bot reads: one type and one real clock, so tests can freeze time anywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware in UTC; tests pass a frozen or stepping one."""


def utc_now() -> datetime:
    """The real clock: now, in UTC."""
    return datetime.now(UTC)
