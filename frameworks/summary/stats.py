"""Statistics over histograms: one bucket per scale point, so the cost does not grow with the answers.

Statistics
    Levels and scores are ordinal, so every cell gives n, the distribution and the median first, the
    mean second. The median and quartiles interpolate between order statistics (Hyndman & Fan type 7,
    the default of R, NumPy and Excel's QUARTILE.INC): an even count whose middle answers differ has a
    half-way median, labelled "Developing–Maturing" or "+2.5". SD is the sample SD (n − 1). "Steps"
    measure distances along a scale: one level of a matrix, one point of a score. Statuses are
    categorical: counts and shares, the most common status (a tie goes to the more worrying colour) and
    the concern share (amber or red among the ratings that carry a RAG colour). Skipped answers count
    as skipped, never in n. Elements in development (`Framework.scored_elements`) are listed, never
    scored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from frameworks.schema import Domain, Framework, LevelsScale, Rag, ScaleKind, ScoreScale
from frameworks.summary.models import Figures, ScaleInfo, ScalePoint, Spread

CONCERN = frozenset({Rag.AMBER, Rag.RED})
POSITIVE = frozenset({Rag.BLUE, Rag.GREEN})
WORRY = {Rag.RED: 0, Rag.AMBER: 1, Rag.GREY: 2, Rag.GREEN: 3, Rag.BLUE: 4}
"""Order in which a tie between statuses is settled: the more worrying colour wins."""


class Ranked:
    """(steps, value, count) triples in scale order: order statistics and moments of a histogram,
    without expanding it into answers. Steps and values rise together, so one scan serves both."""

    __slots__ = ("items", "n")

    def __init__(self, items: list[tuple[float, float, int]]) -> None:
        self.items = items
        self.n = sum(count for _, _, count in items)

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float, int]]) -> Ranked:
        merged: dict[tuple[float, float], int] = defaultdict(int)
        for steps, value, count in pairs:
            merged[steps, value] += count
        return cls(sorted((steps, value, count) for (steps, value), count in merged.items() if count > 0))

    def _order(self, index: int) -> tuple[float, float]:
        seen = 0
        for steps, value, count in self.items:
            seen += count
            if index < seen:
                return steps, value
        raise IndexError(index)

    def quantile(self, p: float) -> tuple[float, float]:
        """Hyndman & Fan type 7, in steps and in values: linear between the order statistics around
        (n − 1)p."""
        h = (self.n - 1) * p
        low = math.floor(h)
        fraction = h - low
        s0, v0 = self._order(low)
        s1, v1 = self._order(min(low + 1, self.n - 1))
        return s0 + fraction * (s1 - s0), v0 + fraction * (v1 - v0)

    def mean(self) -> float:
        return sum(value * count for _, value, count in self.items) / self.n

    def sd(self) -> float | None:
        if self.n < 2:
            return None
        mean = self.mean()
        return math.sqrt(sum(count * (value - mean) ** 2 for _, value, count in self.items) / (self.n - 1))

    def spread(self) -> Spread:
        (q1_steps, q1), (q3_steps, q3) = self.quantile(0.25), self.quantile(0.75)
        return Spread(
            min=float(self.items[0][1]),
            max=float(self.items[-1][1]),
            range_steps=float(self.items[-1][0] - self.items[0][0]),
            q1=q1,
            q3=q3,
            iqr=q3 - q1,
            iqr_steps=q3_steps - q1_steps,
            sd=self.sd(),
        )


@dataclass(frozen=True)
class ScaleIndex:
    info: ScaleInfo
    by_key: dict[str, ScalePoint]
    position: dict[str, int]

    @property
    def numeric(self) -> bool:
        return self.info.kind is not ScaleKind.STATUS

    def label(self, value: float) -> str:
        if self.info.kind is ScaleKind.SCORE:
            return signed(value)
        points = self.info.points
        for point in points:
            if point.value == value:
                return point.label
        low = max((p for p in points if (p.value or 0) < value), key=lambda p: p.value or 0)
        high = min((p for p in points if (p.value or 0) > value), key=lambda p: p.value or 0)
        return f"{low.label}–{high.label}"


def steps_from_bottom(scale: ScaleInfo, value: float) -> float:
    """A value's distance from the bottom of the scale, in steps (level values may have gaps)."""
    values = [point.value or 0 for point in scale.points]
    if scale.kind is ScaleKind.SCORE:
        return value - values[0]
    for index in range(len(values) - 1):
        low, high = values[index], values[index + 1]
        if value <= high:
            return index + (value - low) / (high - low)
    return float(len(values) - 1)


def signed(value: float) -> str:
    if value == 0:
        return "0"
    text = f"{value:+.2f}".rstrip("0").rstrip(".")
    return text


def scale_of(framework: Framework, domain: Domain) -> ScaleIndex:
    scale = framework.scale_for(domain)
    if isinstance(scale, LevelsScale):
        info = ScaleInfo(
            kind=ScaleKind.LEVELS,
            points=[ScalePoint(key=lv.id, label=lv.label, value=lv.value) for lv in scale.levels],
        )
    elif isinstance(scale, ScoreScale):
        info = ScaleInfo(
            kind=ScaleKind.SCORE,
            points=[ScalePoint(key=signed(v), label=signed(v), value=v) for v in scale.values],
            min_label=scale.min_label,
            max_label=scale.max_label,
        )
    else:
        info = ScaleInfo(
            kind=ScaleKind.STATUS,
            points=[ScalePoint(key=s.id, label=s.label, rag=s.rag) for s in scale.statuses],
        )
    return ScaleIndex(
        info,
        {point.key: point for point in info.points},
        {point.key: index for index, point in enumerate(info.points)},
    )


@dataclass
class Cell:
    """A cell's figures while the summary is built; `figure_fields` turns it into the model."""

    counts: Mapping[str, int]
    skipped: int
    n: int
    median: float | None = None
    median_steps: float | None = None
    mean: float | None = None
    spread: Spread | None = None
    ranked: Ranked | None = None
    status: str | None = None
    concern: float | None = None
    shares: dict[str, float] = field(default_factory=dict)


def cell_of(scale: ScaleIndex, counts: Mapping[str, int], skipped: int) -> Cell:
    points = scale.info.points
    present = [(index, point, counts.get(point.key, 0)) for index, point in enumerate(points)]
    present = [item for item in present if item[2] > 0]
    n = sum(count for _, _, count in present)
    fig = Cell({point.key: count for _, point, count in present}, skipped, n)
    if n == 0:
        return fig
    fig.shares = {point.key: count / n for _, point, count in present}
    if scale.numeric:
        ranked = Ranked([(index, point.value or 0, count) for index, point, count in present])
        fig.median_steps, fig.median = ranked.quantile(0.5)
        fig.mean = ranked.mean()
        fig.ranked = ranked
        fig.spread = ranked.spread()
    else:
        fig.status = modal_status(scale, fig.shares)
        fig.concern = concern_share_of(scale, fig.shares)
    return fig


def modal_status(scale: ScaleIndex, shares: Mapping[str, float]) -> str | None:
    if not shares:
        return None
    return min(
        shares,
        key=lambda key: (
            -round(shares[key], 9),
            WORRY[scale.by_key[key].rag or Rag.GREY],
            scale.position[key],
        ),
    )


def concern_share_of(scale: ScaleIndex, shares: Mapping[str, float]) -> float | None:
    coloured = sum(share for key, share in shares.items() if scale.by_key[key].rag in CONCERN | POSITIVE)
    if coloured <= 0:
        return None
    return sum(share for key, share in shares.items() if scale.by_key[key].rag in CONCERN) / coloured


def figures_of(scale: ScaleIndex, fig: Cell) -> Figures:
    return Figures(**figure_fields(scale, fig))


def figure_fields(scale: ScaleIndex, fig: Cell) -> dict[str, Any]:
    status = scale.by_key[fig.status] if fig.status else None
    return {
        "n": fig.n,
        "skipped": fig.skipped,
        "counts": [fig.counts.get(point.key, 0) for point in scale.info.points],
        "median": fig.median,
        "median_label": scale.label(fig.median) if fig.median is not None else None,
        "mean": fig.mean,
        "spread": fig.spread,
        "status": fig.status,
        "status_label": status.label if status else None,
        "concern_share": fig.concern,
    }


def place_on_scale(scale: ScaleInfo, value: float | None) -> float | None:
    """Where a value sits on its scale, 0 at the bottom and 1 at the top."""
    if value is None or scale.kind is ScaleKind.STATUS:
        return None
    return steps_from_bottom(scale, value) / max(scale.width, 1)
