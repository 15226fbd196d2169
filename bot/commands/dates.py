"""Dates and times typed by leads (`closes Friday 5pm`, `4/12`, `in 2 weeks`), in the partnership's time zone.

A small explicit grammar rather than dateparser/parsedatetime: those pick one reading of `4/12` or
`next Friday` silently, and the issue wants ambiguous input asked back, never guessed.
A date without a time means the end of that day: 23:59:59 local time.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

END_OF_DAY = time(23, 59, 59)
"""When a survey closes on a day given without a time."""

MAX_YEARS_AHEAD = 10
"""Further than this is a typo (`2062`), not a plan."""

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

DATE_HELP = (
    "Dates: 4 Dec, 4 December 2027, Dec 4, 4/12/2026 (day first), 2026-12-04, Friday, this Friday, "
    "Friday week, tomorrow, in 2 weeks, end of month — with a time if you like: 5pm, 17:00. "
    "Without a time a survey closes at the end of that day (23:59)."
)

EXAMPLES = "4 Dec, Friday, tomorrow, in 2 weeks, end of month or 2026-12-04 17:00"


class DateError(ValueError):
    """Text that is not a usable date or time; the message is written for the person who typed it."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ParsedDate(BaseModel):
    """One instant, kept with the local day and time the person meant."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    """In UTC."""
    local_date: date
    local_time: time
    has_time: bool
    """False when no time was given and the end of the day was used."""

    @property
    def canonical(self) -> str:
        """An unambiguous way to type this instant again: '4 December 2026' or '4 December 2026 17:00'."""
        day = f"{self.local_date.day} {MONTH_NAMES[self.local_date.month - 1]} {self.local_date.year}"
        return f"{day} {self.local_time:%H:%M}" if self.has_time else day


class Ambiguous(BaseModel):
    """Two plausible readings: the person is asked which one they meant."""

    model_config = ConfigDict(frozen=True)

    question: str
    options: tuple[ParsedDate, ...]


_WEEKDAYS: dict[str, int] = {}
for _index, _name in enumerate(WEEKDAY_NAMES):
    for _word in {_name.lower(), _name.lower()[:3], _name.lower() + "s"}:
        _WEEKDAYS[_word] = _index
_WEEKDAYS.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})

_MONTHS: dict[str, int] = {}
for _index, _name in enumerate(MONTH_NAMES, start=1):
    _MONTHS[_name.lower()] = _index
    _MONTHS[_name.lower()[:3]] = _index
_MONTHS["sept"] = 9

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}

_DAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"

_TIME = (
    r"(?P<h12>\d{1,2})(?:[:.](?P<m12>\d{2}))?\s*(?P<ampm>am|pm)"
    r"|(?P<h24>\d{1,2})(?P<sep>[:.])(?P<m24>\d{2})"
    r"|(?:12\s*)?(?P<word>noon|midday|midnight)"
)
_TIME_ONLY = re.compile(rf"^(?:{_TIME})$")
_TIME_AT_END = re.compile(rf"(?:^|\s)(?:at\s+)?(?:{_TIME})$")
_TIME_AT_START = re.compile(rf"^(?:at\s+)?(?:{_TIME})(?:\s+on)?(?:\s+|$)")

_ISO = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
_SLASH = re.compile(rf"^(?:(?P<wd>{_DAY})\s+)?(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})(?:/(?P<y>\d{{4}}|\d{{2}}))?$")
_DAY_MONTH = re.compile(
    rf"^(?:(?P<wd>{_DAY})\s+)?(?:the\s+)?(?P<d>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<mon>{_MONTH})(?:\s+(?P<y>\d{{4}}))?$"
)
_MONTH_DAY = re.compile(
    rf"^(?:(?P<wd>{_DAY})\s+)?(?P<mon>{_MONTH})\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORDINAL}(?:\s+(?P<y>\d{{4}}))?$"
)
_WEEKDAY = re.compile(
    rf"^(?:(?P<which>this|next|on|coming|this\s+coming)\s+)?(?P<wd>{_DAY})(?P<week>\s+week)?$"
)
_IN = re.compile(
    r"^in\s+(?P<n>\d{1,4}|" + "|".join(_NUMBER_WORDS) + r")\s+"
    r"(?P<unit>days?|weeks?|fortnights?|months?)'?(?:\s*s)?(?:\s+time)?$"
)
_END_OF_MONTH = re.compile(
    rf"^(?:the\s+)?(?:end\s+of\s+(?:the\s+)?(?:(?P<which>this|next)\s+)?(?P<month>month|{_MONTH})"
    r"|(?P<which2>this|next)?\s*month(?:\s+|-)?end)$"
)


def parse_date(text: str, *, now: datetime, tz: ZoneInfo) -> ParsedDate | Ambiguous:
    """Read a future date (and optional time) in `tz`; raise DateError for anything unusable or past."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(tz).date()
    cleaned = _clean(text)
    if not cleaned:
        raise DateError(f"Which date? For example {EXAMPLES}.")
    day_text, clock, dotted = _split_time(cleaned)
    if not day_text:
        if clock is None:
            raise DateError(f"I couldn't read “{_clip(text)}” as a date. Try {EXAMPLES}.")
        if dotted:
            raise DateError(
                f"Is “{_clip(text)}” a time or a date? Write 4/12 for a date, or 04:12 for a time today."
            )
        candidates = [today]
    else:
        candidates = _dates(day_text, text, today)
    readings = [_reading(day, clock, tz) for day in candidates]
    upcoming = [reading for reading in readings if reading.at > now]
    if not upcoming:
        raise DateError(f"{_spoken(readings[0], None)} has already passed: choose a later date.")
    if len(upcoming) == 1:
        return upcoming[0]
    labels = " or ".join(_spoken(reading, today.year) for reading in upcoming)
    return Ambiguous(question=f"Did you mean {labels}?", options=tuple(upcoming))


def parse_time_of_day(text: str) -> time:
    """A wall-clock time such as `09:00`, `9am`, `5.30pm` or `noon`."""
    match = _TIME_ONLY.match(_clean(text))
    if match is None:
        raise DateError(f"I couldn't read “{_clip(text)}” as a time. Try 09:00, 9am or 17:30.")
    return _clock(match, text)


def parse_weekday(text: str) -> int | None:
    """0 for Monday … 6 for Sunday, from a day name or its usual abbreviation."""
    return _WEEKDAYS.get(_clean(text))


def format_date(when: datetime, tz: ZoneInfo) -> str:
    """'Friday 4 December 2026, 23:59' in the partnership's time zone, whatever the server's locale."""
    local = when.astimezone(tz)
    return (
        f"{WEEKDAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]} {local.year}, "
        f"{local:%H:%M}"
    )


_PLAIN = str.maketrans("’‘,\u00a0", "''  ")
"""Curly quotes as straight ones, commas and no-break spaces as spaces."""


def _clean(text: str) -> str:
    text = text.translate(_PLAIN)
    text = " ".join(text.casefold().split()).rstrip(".!? ")
    text = re.sub(r"\b([ap])\.m\b\.?", r"\1m", text)
    text = re.sub(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", r"\1 ", text)
    text = re.sub(r"\b(" + _MONTH + r")\.", r"\1", text)
    return re.sub(r"^(?:on|by|until)\s+", "", text)


def _split_time(text: str) -> tuple[str, time | None, bool]:
    """The day part of the text, the time of day if one was given, and whether it was written 17.00."""
    for pattern in (_TIME_AT_END, _TIME_AT_START):
        match = pattern.search(text)
        if match is not None:
            rest = (text[: match.start()] + " " + text[match.end() :]).strip()
            return re.sub(r"\s+at$", "", rest), _clock(match, text), match.group("sep") == "."
    return text, None, False


def _clock(match: re.Match[str], text: str) -> time:
    if match.group("word"):
        if match.group("word") == "midnight":
            raise DateError("“Midnight” could mean the start or the end of a day: say 23:59 or 00:00.")
        return time(12, 0)
    if match.group("ampm"):
        hour, minute = int(match.group("h12")), int(match.group("m12") or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise DateError(f"“{_clip(text)}” is not a time: use 1–12 with am/pm, or 24-hour 17:00.")
        return time(hour % 12 + (12 if match.group("ampm") == "pm" else 0), minute)
    hour, minute = int(match.group("h24")), int(match.group("m24"))
    if hour > 23 or minute > 59:
        raise DateError(f"“{_clip(text)}” is not a time: use 00:00 to 23:59.")
    return time(hour, minute)


def _dates(day_text: str, text: str, today: date) -> list[date]:
    """The local dates the words can mean (two when they are ambiguous), not yet checked against now."""
    if day_text in ("today", "tonight"):
        return [today]
    if day_text in ("tomorrow", "tmrw", "tomorrow night"):
        return [today + timedelta(days=1)]
    if match := _WEEKDAY.match(day_text):
        return _weekday(match, today)
    if match := _IN.match(day_text):
        return [_later(match, today)]
    if match := _END_OF_MONTH.match(day_text):
        return [_end_of_month(match, today)]
    if match := _ISO.match(day_text):
        return [_checked(int(match["y"]), int(match["m"]), int(match["d"]), None, today)]
    if match := _SLASH.match(day_text):
        return _slashed(match, today)
    if match := _DAY_MONTH.match(day_text) or _MONTH_DAY.match(day_text):
        year = int(match["y"]) if match["y"] else None
        day = _checked(year, _MONTHS[match["mon"]], int(match["d"]), match["wd"], today)
        return [day]
    if re.fullmatch(r"next\s+week|end\s+of\s+(?:the\s+)?week|this\s+week", day_text):
        raise DateError("Which day? Name it, e.g. Friday or next Friday, or give a date such as 4 Dec.")
    raise DateError(f"I couldn't read “{_clip(text)}” as a date. Try {EXAMPLES}.")


def _weekday(match: re.Match[str], today: date) -> list[date]:
    target = _WEEKDAYS[match["wd"]]
    ahead = (target - today.weekday()) % 7
    which = " ".join((match["which"] or "").split())
    if which == "this":
        return [today + timedelta(days=ahead)]
    coming = today + timedelta(days=ahead or 7)
    if match["week"]:
        if which:
            raise DateError(f"Say “{WEEKDAY_NAMES[target]} week” or give the date, e.g. {_short(coming)}.")
        return [coming + timedelta(days=7)]
    if which == "next":  # British usage splits on whether "next" skips this week's day
        return [coming, coming + timedelta(days=7)]
    return [coming]


def _later(match: re.Match[str], today: date) -> date:
    amount = match["n"]
    n = int(amount) if amount.isdigit() else _NUMBER_WORDS[amount]
    unit = match["unit"].rstrip("s")
    if unit == "month":
        if n > 12 * MAX_YEARS_AHEAD:
            raise DateError(_too_far())
        month_index = today.month - 1 + n
        year, month = today.year + month_index // 12, month_index % 12 + 1
        return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
    days = n * {"day": 1, "week": 7, "fortnight": 14}[unit]
    if days > 366 * MAX_YEARS_AHEAD:
        raise DateError(_too_far())
    return today + timedelta(days=days)


def _end_of_month(match: re.Match[str], today: date) -> date:
    named = match["month"]
    if named and named != "month":
        month = _MONTHS[named]
        year = today.year if month >= today.month else today.year + 1
        if match["which"] == "next" and month == today.month:
            year += 1
    else:
        step = 1 if (match["which"] or match["which2"]) == "next" else 0
        month_index = today.month - 1 + step
        year, month = today.year + month_index // 12, month_index % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _slashed(match: re.Match[str], today: date) -> list[date]:
    first, second = int(match["a"]), int(match["b"])
    year = None if match["y"] is None else int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
    if first > 12 and second > 12:
        raise DateError(f"“{match.group(0)}” is not a date: write the day first, e.g. 4/12/2026.")
    if first > 12 or second > 12 or first == second:
        day, month = (first, second) if second <= 12 else (second, first)
        return [_checked(year, month, day, match["wd"], today)]
    readings = [_checked(year, second, first, None, today), _checked(year, first, second, None, today)]
    if match["wd"]:  # "Fri 4/12" settles which reading was meant
        wanted = _WEEKDAYS[match["wd"]]
        matching = [day for day in readings if day.weekday() == wanted]
        if not matching:
            spelled = " nor ".join(_long(day) for day in readings)
            raise DateError(f"Neither {spelled} is a {WEEKDAY_NAMES[wanted]}: check the date.")
        return matching
    return readings


def _checked(year: int | None, month: int, day: int, weekday: str | None, today: date) -> date:
    """A real calendar date; without a year, its next occurrence from today."""
    if not 1 <= month <= 12:
        raise DateError(f"There is no month {month}: write the day first, e.g. 4/12/2026.")
    if year is None:
        try:
            date(2000, month, day)  # a leap year: the day exists in some year
        except ValueError:
            raise DateError(f"There is no {day} {MONTH_NAMES[month - 1]}.") from None
        year = today.year
        while True:
            try:
                found = date(year, month, day)
            except ValueError:  # 29 February outside a leap year
                year += 1
                continue
            if found >= today:
                break
            year += 1
    else:
        try:
            found = date(year, month, day)
        except ValueError:
            raise DateError(f"There is no {day} {MONTH_NAMES[month - 1]} in {year}.") from None
    if found.year > today.year + MAX_YEARS_AHEAD:
        raise DateError(_too_far())
    if weekday is not None and found.weekday() != _WEEKDAYS[weekday]:
        actual, said = WEEKDAY_NAMES[found.weekday()], WEEKDAY_NAMES[_WEEKDAYS[weekday]]
        raise DateError(f"{_long(found)} is a {actual}, not a {said}: check the date.")
    return found


def _reading(day: date, clock: time | None, tz: ZoneInfo) -> ParsedDate:
    wall = datetime.combine(day, clock or END_OF_DAY)
    local = wall.replace(tzinfo=tz)
    if clock is not None:
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
            raise DateError(
                f"{clock:%H:%M} doesn't exist on {_long(day)}: the clocks go forward. Choose another time."
            )
        if local.replace(fold=1).utcoffset() != local.utcoffset():
            raise DateError(
                f"{clock:%H:%M} happens twice on {_long(day)} as the clocks go back. Choose another time."
            )
    return ParsedDate(
        at=local.astimezone(UTC), local_date=day, local_time=wall.time(), has_time=clock is not None
    )


def _spoken(reading: ParsedDate, current_year: int | None) -> str:
    """'Friday 4 December', the year added when it isn't `current_year`, and the time when given."""
    day = reading.local_date
    text = f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {MONTH_NAMES[day.month - 1]}"
    if day.year != current_year:
        text += f" {day.year}"
    return text + (f" at {reading.local_time:%H:%M}" if reading.has_time else "")


def _long(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _short(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1][:3]}"


def _too_far() -> str:
    return f"That is more than {MAX_YEARS_AHEAD} years away: check the date."


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
