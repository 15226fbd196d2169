"""Weekly wall-clock schedules ("Mondays at 09:00, London time") turned into UTC instants.

A local time skipped by a clock change runs at the first instant after the gap; a local time that
happens twice runs at its first occurrence, so each scheduled week has exactly one instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = timedelta(days=7)


def due_at(weekday: int, at: time, tz: ZoneInfo, *, after: datetime) -> datetime:
    """The first instant strictly after `after` that is `weekday` (0 = Monday) at `at` in `tz`, in UTC."""
    _check(weekday, after)
    local = after.astimezone(tz).date()
    # Start a week early: robust even where a gap pushes an instant onto the next local day.
    day = local + timedelta(days=(weekday - local.weekday()) % 7) - _WEEK
    while (instant := _instant(day, at, tz)) <= after:
        day += _WEEK
    return instant


def latest_due(weekday: int, at: time, tz: ZoneInfo, *, now: datetime) -> datetime:
    """The most recent scheduled instant at or before `now`, in UTC."""
    _check(weekday, now)
    instant = due_at(weekday, at, tz, after=now - timedelta(days=8))
    while (following := due_at(weekday, at, tz, after=instant)) <= now:
        instant = following
    return instant


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, at.replace(tzinfo=None))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # fold=0: the first of a repeated time
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # `wall` falls in a gap: fold=0 reads it with the offset before the change, fold=1 with the one
    # after, so the change lies between the two readings. Find it to the second.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    before = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _check(weekday: int, moment: datetime) -> None:
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
    if moment.tzinfo is None:
        raise ValueError("naive datetime; pass an aware UTC instant")
