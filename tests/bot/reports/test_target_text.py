"""How a target reads beside where partners are now: one decimal, signed on a score scale, the gap in
levels or points, and a lower target said as a negative gap rather than hidden."""

from __future__ import annotations

from bot.reports.target_text import gap_text, target_text
from frameworks.schema import ScaleKind
from frameworks.summary import Headline, ScaleInfo, ScalePoint, TargetFigures, Weighting

LEVELS = ScaleInfo(
    kind=ScaleKind.LEVELS,
    points=[ScalePoint(key=f"l{n}", label=f"Level {n}", value=n) for n in range(1, 5)],
)
SCORES = ScaleInfo(
    kind=ScaleKind.SCORE,
    points=[ScalePoint(key=str(n), label=str(n), value=n) for n in range(-5, 6)],
    min_label="Not at all",
    max_label="Fully",
)


def _headline(median: float) -> Headline:
    return Headline(weighting=Weighting.ORGANISATION, votes=3, median=median)


def test_levels_read_with_one_decimal_and_a_gap_in_levels() -> None:
    assert gap_text(LEVELS, 2.0, 3.5, 1.5) == "now 2.0 → target 3.5 (gap 1.5 levels)"
    assert gap_text(LEVELS, 3.0, 2.0, -1.0) == "now 3.0 → target 2.0 (gap -1.0 levels)"


def test_scores_keep_their_signs_and_count_points() -> None:
    assert gap_text(SCORES, -2.0, 1.0, 3.0) == "now -2.0 → target +1.0 (gap 3.0 points)"
    assert gap_text(SCORES, 0.0, 0.0, 0.0) == "now 0.0 → target 0.0 (gap 0.0 points)"


def test_a_target_not_shown_says_nothing_and_one_without_a_current_headline_stands_alone() -> None:
    hidden = TargetFigures()
    assert target_text(LEVELS, _headline(2.0), hidden) is None
    assert target_text(LEVELS, _headline(2.0), None) is None
    alone = TargetFigures(n=3, headline=_headline(4.0))
    assert target_text(LEVELS, None, alone) == "target 4.0"
    shown = TargetFigures(n=3, headline=_headline(4.0), gap=2.0)
    assert target_text(LEVELS, _headline(2.0), shown) == "now 2.0 → target 4.0 (gap 2.0 levels)"
