"""A lead says when a survey closes in their own words; the bot reads it in the partnership's time zone.

`now` is the suite's fixed clock: Monday 23 November 2026, 09:30 UTC (09:30 in London, GMT).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.commands.dates import (
    Ambiguous,
    DateError,
    ParsedDate,
    format_date,
    parse_date,
    parse_time_of_day,
    parse_weekday,
)

LONDON = ZoneInfo("Europe/London")


def read(text: str, now: datetime, tz: ZoneInfo = LONDON) -> ParsedDate:
    parsed = parse_date(text, now=now, tz=tz)
    assert isinstance(parsed, ParsedDate), f"{text!r} was asked back: {parsed}"
    return parsed


def asked(text: str, now: datetime) -> Ambiguous:
    parsed = parse_date(text, now=now, tz=LONDON)
    assert isinstance(parsed, Ambiguous), f"{text!r} was read as {parsed}"
    return parsed


def refused(text: str, now: datetime, tz: ZoneInfo = LONDON) -> str:
    with pytest.raises(DateError) as error:
        parse_date(text, now=now, tz=tz)
    return error.value.message


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_lead_closing_on_friday_gets_this_friday(now: datetime) -> None:
    friday = read("Friday", now)
    assert friday.local_date == date(2026, 11, 27)
    assert friday.at == utc(2026, 11, 27, 23, 59, 59)
    assert not friday.has_time


def test_friday_said_on_a_friday_means_the_next_one() -> None:
    on_a_friday = utc(2026, 11, 27, 10, 0)
    assert read("friday", on_a_friday).local_date == date(2026, 12, 4)
    assert read("this Friday", on_a_friday).local_date == date(2026, 11, 27)


def test_next_friday_is_asked_back_between_this_coming_friday_and_the_one_after(now: datetime) -> None:
    question = asked("next Friday", now)
    assert question.question == "Did you mean Friday 27 November or Friday 4 December?"
    assert [option.local_date for option in question.options] == [date(2026, 11, 27), date(2026, 12, 4)]


def test_friday_week_is_the_friday_after_the_coming_one(now: datetime) -> None:
    assert read("Friday week", now).local_date == date(2026, 12, 4)


def test_weekday_abbreviations_and_this_coming(now: datetime) -> None:
    assert read("Wed", now).local_date == date(2026, 11, 25)
    assert read("this coming Thurs", now).local_date == date(2026, 11, 26)
    assert read("this Monday", now).local_date == date(2026, 11, 23)
    assert read("Monday", now).local_date == date(2026, 11, 30)


def test_a_date_without_a_time_closes_at_the_end_of_that_day(now: datetime) -> None:
    parsed = read("2026-12-04", now)
    assert parsed.local_time == time(23, 59, 59)
    assert format_date(parsed.at, LONDON) == "Friday 4 December 2026, 23:59"


@pytest.mark.parametrize(
    "text",
    [
        "4 Dec",
        "4 December 2026",
        "Dec 4",
        "December 4th, 2026",
        "the 4th of December",
        "4th Dec.",
        "4/12/2026",
        "4/12/26",
        "Friday 4 December",
        "Fri 4/12",
        "2026-12-04",
        "on 4 Dec",
        "  4   DEC  ",
    ],
)
def test_every_way_of_writing_the_fourth_of_december(text: str, now: datetime) -> None:
    parsed = read(text, now)
    assert parsed.local_date == date(2026, 12, 4)
    assert parsed.at == utc(2026, 12, 4, 23, 59, 59)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04 17:00", utc(2026, 12, 4, 17, 0)),
        ("2026-12-04T17:00", utc(2026, 12, 4, 17, 0)),
        ("4 Dec 5pm", utc(2026, 12, 4, 17, 0)),
        ("4 Dec at 5 pm", utc(2026, 12, 4, 17, 0)),
        ("5pm on 4 December", utc(2026, 12, 4, 17, 0)),
        ("Friday 17:00", utc(2026, 11, 27, 17, 0)),
        ("Friday at 5.30 p.m.", utc(2026, 11, 27, 17, 30)),
        ("Friday 17.00", utc(2026, 11, 27, 17, 0)),
        ("tomorrow noon", utc(2026, 11, 24, 12, 0)),
        ("tomorrow 12am", utc(2026, 11, 24, 0, 0)),
        ("5pm", utc(2026, 11, 23, 17, 0)),
    ],
)
def test_a_time_of_day_can_go_with_the_date(text: str, expected: datetime, now: datetime) -> None:
    parsed = read(text, now)
    assert parsed.at == expected
    assert parsed.has_time


def test_ambiguous_slash_date_is_asked_back(now: datetime) -> None:
    question = asked("4/12", now)
    assert question.question == "Did you mean Friday 4 December or Monday 12 April 2027?"
    assert [option.local_date for option in question.options] == [date(2026, 12, 4), date(2027, 4, 12)]


def test_each_reading_of_an_ambiguous_date_can_be_typed_back_unambiguously(now: datetime) -> None:
    for option in asked("12/4 17:00", now).options:
        assert read(option.canonical, now) == option
    assert [option.canonical for option in asked("12/4 17:00", now).options] == [
        "12 April 2027 17:00",
        "4 December 2026 17:00",
    ]


def test_slash_date_with_a_number_over_twelve_has_one_reading(now: datetime) -> None:
    assert read("13/4", now).local_date == date(2027, 4, 13)
    assert read("4/13", now).local_date == date(2027, 4, 13)  # only the American reading exists
    assert read("5/5", now).local_date == date(2027, 5, 5)


def test_slash_date_whose_other_reading_has_passed_is_not_asked_back(now: datetime) -> None:
    assert read("4/12/2026", now).local_date == date(2026, 12, 4)  # 12 April 2026 is over


def test_a_weekday_settles_an_ambiguous_slash_date(now: datetime) -> None:
    assert read("Mon 12/4", now).local_date == date(2027, 4, 12)
    message = refused("Tuesday 4/12", now)
    assert message == "Neither 4 December 2026 nor 12 April 2027 is a Tuesday: check the date."


def test_a_weekday_that_does_not_match_the_date_is_refused(now: datetime) -> None:
    assert (
        refused("Thursday 4 December", now) == "4 December 2026 is a Friday, not a Thursday: check the date."
    )


def test_a_day_and_month_without_a_year_is_the_next_one(now: datetime) -> None:
    assert read("1 Jan", now).local_date == date(2027, 1, 1)
    assert read("23 Nov", now).local_date == date(2026, 11, 23)  # today, closing tonight
    assert read("22 Nov", now).local_date == date(2027, 11, 22)
    assert read("29 Feb", now).local_date == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31 Feb", "There is no 31 February."),
        ("31 November 2026", "There is no 31 November in 2026."),
        ("29 February 2027", "There is no 29 February in 2027."),
        ("2026-13-01", "There is no month 13: write the day first, e.g. 4/12/2026."),
        ("31/31", "“31/31” is not a date: write the day first, e.g. 4/12/2026."),
    ],
)
def test_impossible_dates_are_refused(text: str, message: str, now: datetime) -> None:
    assert refused(text, now) == message


def test_today_and_tomorrow(now: datetime) -> None:
    assert read("today", now).at == utc(2026, 11, 23, 23, 59, 59)
    assert read("tonight", now).local_date == date(2026, 11, 23)
    assert read("Tomorrow", now).local_date == date(2026, 11, 24)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 2 weeks", date(2026, 12, 7)),
        ("in 10 days", date(2026, 12, 3)),
        ("in a week", date(2026, 11, 30)),
        ("in a fortnight", date(2026, 12, 7)),
        ("in 2 weeks' time", date(2026, 12, 7)),
        ("in 1 month", date(2026, 12, 23)),
        ("in 0 days", date(2026, 11, 23)),
    ],
)
def test_in_so_many_days_weeks_or_months(text: str, expected: date, now: datetime) -> None:
    assert read(text, now).local_date == expected


def test_a_month_later_stops_at_the_end_of_a_shorter_month() -> None:
    assert read("in 1 month", utc(2027, 1, 31, 9, 0)).local_date == date(2027, 2, 28)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("end of month", date(2026, 11, 30)),
        ("End of the month", date(2026, 11, 30)),
        ("month end", date(2026, 11, 30)),
        ("end of next month", date(2026, 12, 31)),
        ("end of February", date(2027, 2, 28)),
    ],
)
def test_end_of_month(text: str, expected: date, now: datetime) -> None:
    parsed = read(text, now)
    assert parsed.local_date == expected
    assert parsed.local_time == time(23, 59, 59)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("19 November 2026", "Thursday 19 November 2026 has already passed: choose a later date."),
        ("2025-12-04", "Thursday 4 December 2025 has already passed: choose a later date."),
        ("today 9am", "Monday 23 November 2026 at 09:00 has already passed: choose a later date."),
    ],
)
def test_a_date_in_the_past_is_refused(text: str, message: str, now: datetime) -> None:
    assert refused(text, now) == message


def test_closing_in_summer_time_is_an_hour_earlier_in_utc() -> None:
    early_march = utc(2026, 3, 2, 9, 0)
    assert read("29 March 2026 17:00", early_march).at == utc(2026, 3, 29, 16, 0)
    assert read("28 March 2026 17:00", early_march).at == utc(2026, 3, 28, 17, 0)


def test_closing_after_the_clocks_go_back_is_the_same_hour_in_utc() -> None:
    october = utc(2026, 10, 1, 9, 0)
    assert read("25 October 2026 17:00", october).at == utc(2026, 10, 25, 17, 0)
    assert read("24 October 2026 17:00", october).at == utc(2026, 10, 24, 16, 0)


def test_the_end_of_a_day_follows_the_clocks() -> None:
    early_march = utc(2026, 3, 2, 9, 0)
    assert read("28 March 2026", early_march).at == utc(2026, 3, 28, 23, 59, 59)
    assert read("29 March 2026", early_march).at == utc(2026, 3, 29, 22, 59, 59)
    assert read("in 1 week", utc(2026, 10, 20, 9, 0)).at == utc(2026, 10, 27, 23, 59, 59)


def test_a_time_the_clocks_skip_or_repeat_is_asked_again(now: datetime) -> None:
    assert refused("28 March 2027 01:30", now) == (
        "01:30 doesn't exist on 28 March 2027: the clocks go forward. Choose another time."
    )
    assert refused("31 October 2027 01:30", now) == (
        "01:30 happens twice on 31 October 2027 as the clocks go back. Choose another time."
    )


def test_the_date_is_read_in_the_partnerships_own_time_zone(now: datetime) -> None:
    new_york = ZoneInfo("America/New_York")
    parsed = read("4 Dec 17:00", now, new_york)
    assert parsed.at == utc(2026, 12, 4, 22, 0)
    assert format_date(parsed.at, new_york) == "Friday 4 December 2026, 17:00"


def test_format_date_speaks_local_time() -> None:
    assert format_date(utc(2026, 6, 5, 16, 0), LONDON) == "Friday 5 June 2026, 17:00"
    assert format_date(utc(2026, 12, 4, 23, 59, 59), LONDON) == "Friday 4 December 2026, 23:59"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blah", "I couldn't read “blah” as a date. Try 4 Dec, Friday, tomorrow, in 2 weeks"),
        ("", "Which date?"),
        ("next week", "Which day? Name it"),
        ("end of week", "Which day? Name it"),
        ("4.12", "Is “4.12” a time or a date?"),
        ("midnight", "“Midnight” could mean the start or the end of a day"),
        ("Friday 25:00", "is not a time: use 00:00 to 23:59"),
        ("Friday 13pm", "is not a time: use 1–12 with am/pm"),
        ("4 Dec 2062", "more than 10 years away"),
        ("in 9999 days", "more than 10 years away"),
        ("next Friday week", "Say “Friday week” or give the date"),
    ],
)
def test_nonsense_is_refused_with_a_hint(text: str, message: str, now: datetime) -> None:
    assert message in refused(text, now)


def test_a_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_date("Friday", now=datetime(2026, 11, 23, 9, 30), tz=LONDON)  # noqa: DTZ001


def test_weekly_times_and_days_for_subscriptions() -> None:
    assert parse_time_of_day("09:00") == time(9, 0)
    assert parse_time_of_day("9am") == time(9, 0)
    assert parse_time_of_day("5.30 pm") == time(17, 30)
    assert parse_time_of_day("noon") == time(12, 0)
    with pytest.raises(DateError, match="as a time"):
        parse_time_of_day("soon")
    assert parse_weekday("Monday") == 0
    assert parse_weekday("thurs") == 3
    assert parse_weekday("Sundays") == 6
    assert parse_weekday("someday") is None


def test_whatever_is_typed_a_date_is_in_the_future_asked_back_or_refused(now: datetime) -> None:
    """Never a crash, never a past instant, and an ambiguous reading always offers two future ones."""
    pieces = [
        "4", "12", "31", "29", "0", "13", "4/12", "12/4", "31/31", "2026", "2027", "26", "2026-12-04", "Dec",
        "December", "Feb", "Friday", "fri", "next", "this", "week", "in", "a", "2", "days", "weeks", "month",
        "end", "of", "the", "today", "tomorrow", "5pm", "17:00", "17.00", "00:00", "12am", "noon", "at", "on",
        ",", ".", "1st", "T", "01:30", "28 March 2027", "31 October 2027",
    ]  # fmt: skip
    generator = random.Random(20261123)
    reasons: list[str] = []
    for _ in range(5000):
        text = " ".join(generator.choice(pieces) for _ in range(generator.randint(1, 5)))
        try:
            parsed = parse_date(text, now=now, tz=LONDON)
        except DateError as error:
            reasons.append(error.message)
            continue
        options = parsed.options if isinstance(parsed, Ambiguous) else (parsed,)
        assert len(options) in (1, 2)
        assert all(option.at > now and option.at.utcoffset() is not None for option in options)
        assert all(read(option.canonical, now) == option for option in options)
    assert reasons
    assert all(reason.strip() for reason in reasons)
