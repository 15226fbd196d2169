"""The first round as a partner reads it in the terminal chat: bars, reasons, their own answer."""

from __future__ import annotations

from bot.reports.text import TextRenderer
from dialogs.views import Choice, FirstRoundBar, FirstRoundView, QuestionView

LEVELS = [
    ("emerging", "Emerging"),
    ("developing", "Developing"),
    ("maturing", "Maturing"),
    ("thriving", "Thriving"),
]


def _question(block: FirstRoundView | None) -> QuestionView:
    return QuestionView(
        survey_id=3,
        survey_title="Anytown round 2: consensus round",
        element_id="vision",
        domain_title="Ambition and vision",
        position=1,
        total=3,
        title="Vision",
        kind="levels",
        choices=[Choice(value=v, label=label, number=n) for n, (v, label) in enumerate(LEVELS, start=1)],
        first_round=block,
    )


def test_the_terminal_shows_the_first_round_above_the_choices() -> None:
    block = FirstRoundView(
        k=3,
        bars=[
            FirstRoundBar("Emerging", 3),
            FirstRoundBar("Developing", 0),
            FirstRoundBar("Maturing", 1, own=True),
            FirstRoundBar("Thriving", 6),
        ],
        reasons=["Agreed at the board", "No plan\x1b[31m yet"],
        more_reasons=2,
        own_value="maturing",
        own_label="Maturing",
    )

    text = TextRenderer().question(_question(block)).text or ""

    lines = text.split("\n")
    start = lines.index("First round (partners differed here)")
    # The longest bar is 12 blocks for 6 answers: 3 → 6 blocks, 1 → 2 blocks.
    assert lines[start + 1 : start + 5] == [
        "Emerging    ██████ 3",
        "Developing   0",
        "Maturing    ██ 1  ← you",
        "Thriving    ████████████ 6",
    ]
    assert lines[start + 5] == "Reasons given, unattributed and in alphabetical order: …and 2 more."
    assert lines[start + 6 : start + 8] == [
        "  “Agreed at the board”",
        "  “No plan [31m yet”",
    ]  # no escape code
    assert lines[start + 8] == "You said: Maturing"
    assert text.index("First round") < text.index("1 Emerging")


def test_below_k_the_first_round_says_why_nothing_is_shown() -> None:
    block = FirstRoundView(k=3, bars=[], reasons=[], added=True)

    text = TextRenderer().question(_question(block)).text or ""

    assert "First round (your lead added it)" in text
    assert "Fewer than 3 people answered it in the first round" in text
    assert "Reasons are shown when at least 3 people gave one." in text
    assert "You didn't answer it in the first round." in text
    assert "First round" not in (TextRenderer().question(_question(None)).text or "")
