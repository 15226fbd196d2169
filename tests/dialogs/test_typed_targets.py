"""A partner types where they are and where they want to be in one reply: `3 → 4`, `3 -> 4`,
`developing -> maturing`, `-2 -> +1`; the target is optional, and only where the survey asks it."""

from __future__ import annotations

import pytest

from dialogs.intents import AnswerIntent, Unrecognised, parse_reply
from dialogs.views import Choice

LEVELS = [
    Choice("emerging", "Emerging", 1),
    Choice("developing", "Developing", 2),
    Choice("maturing", "Maturing", 3),
    Choice("thriving", "Thriving", 4),
]
SCORES = [Choice(f"{n:+d}" if n else "0", f"{n:+d}" if n else "0", n) for n in range(-5, 6)]


@pytest.mark.parametrize(
    ("text", "value", "target"),
    [
        ("3 → 4", "maturing", "thriving"),
        ("3 -> 4", "maturing", "thriving"),
        ("3->4", "maturing", "thriving"),
        ("2 => 4", "developing", "thriving"),
        ("developing -> maturing", "developing", "maturing"),
        ("dev → thr", "developing", "thriving"),
        ("two -> three", "developing", "maturing"),
        ("3", "maturing", None),
        ("4 -> 2", "thriving", "developing"),  # lower than now: odd, but theirs to say
    ],
)
def test_a_level_and_its_target_are_read_from_one_reply(text: str, value: str, target: str | None) -> None:
    assert parse_reply(text, LEVELS, target_months=12) == AnswerIntent(value, None, target=target)


@pytest.mark.parametrize(
    ("text", "value", "target"),
    [("-2 -> +1", "-2", "+1"), ("−2 → 3", "-2", "+3"), ("-2->-1", "-2", "-1"), ("0 -> 5", "0", "+5")],
)
def test_a_score_and_its_target_keep_their_signs(text: str, value: str, target: str) -> None:
    assert parse_reply(text, SCORES, target_months=18) == AnswerIntent(value, None, target=target)


def test_a_comment_follows_the_target() -> None:
    parsed = parse_reply("2 -> 4 because the board signed the plan", LEVELS, target_months=12)
    assert parsed == AnswerIntent("developing", "the board signed the plan", target="thriving")


def test_a_target_off_the_scale_says_which_half_was_not_understood() -> None:
    parsed = parse_reply("2 -> 9", LEVELS, target_months=12)
    assert isinstance(parsed, Unrecognised)
    assert parsed.hint.startswith("For where you want to be in 12 months: 9 is not on this scale")
    parsed = parse_reply("superb -> 4", LEVELS, target_months=12)
    assert isinstance(parsed, Unrecognised)
    assert "I didn't recognise “superb”" in parsed.hint


@pytest.mark.parametrize("text", ["3 ->", "-> 4", "2 -> 3 -> 4"])
def test_half_an_arrow_asks_for_both_sides(text: str) -> None:
    parsed = parse_reply(text, LEVELS, target_months=12)
    assert isinstance(parsed, Unrecognised)
    assert "Give where you are now, then where you want to be in 12 months" in parsed.hint


def test_a_survey_without_targets_says_it_asks_only_where_you_are_now() -> None:
    parsed = parse_reply("3 -> 4", LEVELS)
    assert isinstance(parsed, Unrecognised)
    assert parsed.hint.startswith("This question asks only where you are now: reply with 1 Emerging")
