"""Charts of a partnership summary as PNG images Teams can show (at most 1024×1024 pixels).

`domain_profile` and `distributions` are pure: they read only the summary model, so an organisation
the summary hides (below the anonymity threshold) cannot appear in a chart, and they return a `Chart`
that says everything drawn. `render` draws one with matplotlib's Agg canvas (no display, no pyplot);
`render_async` and `summary_charts` do that in a worker thread, off the event loop. matplotlib (with
numpy) and PIL are imported when a distribution's colours are chosen or a chart is drawn, not when this
module is: a server that never draws one does not carry them (issue 14: idle memory).
"""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.reports.summary_text import WEIGHTING_TEXT
from bot.reports.text import clip
from frameworks.schema import ScaleKind
from frameworks.summary import DomainSummary, ElementSummary, Figures, Headline, ScaleInfo, SurveySummary

if TYPE_CHECKING:  # matplotlib, numpy and PIL load with the first chart drawn, not with the server
    from types import ModuleType

    from matplotlib.axes import Axes

MAX_PIXELS = 1024
"""Teams shows images up to 1024×1024."""
WIDTH = 1000
DPI = 100
MAX_ORGANISATIONS = 10
"""Organisations drawn beside the partnership in the profile: the ones with most answers."""
ROWS_PER_CHART = 28
"""Elements in one distribution chart; a longer domain is split over several images."""
LABEL_LIMIT = 48

PARTNERSHIP = "Partnership"
_PARTNERSHIP_COLOUR = "#222222"
_ORGANISATION_COLOURS = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#999999",
    "#7F3C8D",
    "#11A579",
]
"""Okabe–Ito first (readable with colour-vision deficiency), then a few more."""
_RAG_COLOURS = {"blue": "#2B6CB0", "green": "#2F9E44", "amber": "#F59F00", "red": "#C92A2A"}
_GREYS = ["#ADB5BD", "#DEE2E6", "#868E96"]

_DRAWING = threading.Lock()
"""Matplotlib's shared state (fonts, rcParams) is not thread-safe: one drawing at a time."""


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]
    """One per category of the panel; None leaves a gap."""
    colour: str


@dataclass(frozen=True)
class Panel:
    """One axis: categories down the side, series across."""

    title: str
    categories: list[str]
    series: list[Series]
    xlabel: str
    xlim: tuple[float, float]
    ticks: list[float] = field(default_factory=list)
    tick_labels: list[str] = field(default_factory=list)
    baseline: float = 0.0
    stacked: bool = False


@dataclass(frozen=True)
class Chart:
    name: str
    """A file name: 'domain-profile.png'."""
    title: str
    subtitle: str
    panels: list[Panel]
    width: int
    height: int

    def labels(self) -> list[str]:
        """Every text drawn, for checking what a chart could reveal."""
        found = [self.title, self.subtitle]
        for panel in self.panels:
            found += [panel.title, panel.xlabel, *panel.categories, *panel.tick_labels]
            found += [series.label for series in panel.series]
        return found


def _label(text: str, limit: int = LABEL_LIMIT) -> str:
    """One line, clipped; `$` escaped so a name is never read as mathtext."""
    return clip(text, limit).replace("$", r"\$")


# Domain profile -----------------------------------------------------------------------------------------


def domain_profile(summary: SurveySummary, *, max_organisations: int = MAX_ORGANISATIONS) -> Chart | None:
    """Each domain's headline median (or share of amber and red) beside each shown organisation's.

    Domains on different scales get a panel each. None when there is nothing to draw."""
    if summary.respondents is None:
        return None
    groups: list[tuple[ScaleInfo, list[DomainSummary]]] = []
    for domain in summary.domains:
        if domain.headline is None:
            continue
        for scale, members in groups:
            if scale == domain.scale:
                members.append(domain)
                break
        else:
            groups.append((domain.scale, [domain]))
    if not groups:
        return None
    answers: dict[int | None, int] = {}
    names: dict[int | None, str] = {}
    for domain in summary.domains:
        for org in domain.organisations:
            answers[org.organisation_id] = answers.get(org.organisation_id, 0) + org.n
            names[org.organisation_id] = org.name
    chosen = sorted(answers, key=lambda key: (-answers[key], names[key]))[:max_organisations]
    chosen.sort(key=lambda key: (key is None, names[key].casefold()))
    colours = {key: _ORGANISATION_COLOURS[i % len(_ORGANISATION_COLOURS)] for i, key in enumerate(chosen)}
    panels = [_profile_panel(scale, members, chosen, names, colours) for scale, members in groups]
    subtitle = f"Partnership figure weighted {WEIGHTING_TEXT[summary.weighting]}"
    if len(answers) > len(chosen):
        subtitle += f"; the {len(chosen)} organisations with most answers of {len(answers)} shown"
    series = 1 + len(chosen)
    rows = sum(len(panel.categories) for panel in panels)
    per_row = max(34, min(14 * series, 90))
    height = min(MAX_PIXELS, 150 + 70 * len(panels) + rows * per_row)
    return Chart(
        name="domain-profile.png",
        title=_label(f"{summary.title}: domain profile", 90),
        subtitle=_label(subtitle, 120),
        panels=panels,
        width=WIDTH,
        height=height,
    )


def _profile_panel(
    scale: ScaleInfo,
    domains: list[DomainSummary],
    chosen: list[int | None],
    names: dict[int | None, str],
    colours: dict[int | None, str],
) -> Panel:
    def value(figures: Headline | Figures | None) -> float | None:
        if figures is None:
            return None
        if scale.kind is ScaleKind.STATUS:
            return None if figures.concern_share is None else figures.concern_share * 100
        return figures.median

    series = [Series(PARTNERSHIP, [value(d.headline) for d in domains], _PARTNERSHIP_COLOUR)]
    for key in chosen:
        shares: list[float | None] = []
        for domain in domains:
            found = next((o for o in domain.organisations if o.organisation_id == key), None)
            shares.append(value(found) if found is not None else None)
        if any(v is not None for v in shares):
            series.append(Series(_label(names[key], 36), shares, colours[key]))
    categories = [_label(d.title) for d in domains]
    if scale.kind is ScaleKind.STATUS:
        return Panel(
            title="Delivery status",
            categories=categories,
            series=series,
            xlabel="Share of ratings amber or red (%)",
            xlim=(0, 100),
            ticks=[0, 25, 50, 75, 100],
            tick_labels=["0", "25", "50", "75", "100"],
        )
    values = [float(p.value or 0) for p in scale.points]
    if scale.kind is ScaleKind.SCORE:
        ends = f" ({scale.min_label} to {scale.max_label})" if scale.min_label and scale.max_label else ""
        return Panel(
            title=_label(f"Score{ends}", 90),
            categories=categories,
            series=series,
            xlabel="Median score",
            xlim=(values[0] - 0.5, values[-1] + 0.5),
            ticks=values,
            tick_labels=[p.label for p in scale.points],
            baseline=0.0,
        )
    return Panel(
        title="Maturity",
        categories=categories,
        series=series,
        xlabel="Median level",
        xlim=(values[0] - 0.5, values[-1] + 0.3),
        ticks=values,
        tick_labels=[_label(p.label, 20) for p in scale.points],
        baseline=values[0] - 0.5,
    )


# Distributions ------------------------------------------------------------------------------------------


def distributions(summary: SurveySummary, *, rows_per_chart: int = ROWS_PER_CHART) -> list[Chart]:
    """Per domain, how the answers to each shown element spread over the scale (100% stacked bars)."""
    if summary.respondents is None:
        return []
    charts: list[Chart] = []
    for domain in summary.domains:
        parts = _pages(domain, rows_per_chart)
        colours = _point_colours(domain.scale) if parts else []
        for index, part in enumerate(parts, start=1):
            series = [
                Series(
                    _label(_point_label(domain.scale, p), 30),
                    [100 * e.overall.counts[p] / e.overall.n if e.overall else None for e in part],
                    colours[p],
                )
                for p in range(len(domain.scale.points))
            ]
            page = f" ({index} of {len(parts)})" if len(parts) > 1 else ""
            panel = Panel(
                title="",
                categories=[f"{_label(e.title)} (n {e.overall.n if e.overall else 0})" for e in part],
                series=series,
                xlabel="Share of answers (%)",
                xlim=(0, 100),
                ticks=[0, 25, 50, 75, 100],
                tick_labels=["0", "25", "50", "75", "100"],
                stacked=True,
            )
            charts.append(
                Chart(
                    name=_distribution_name(domain, index),
                    title=_label(f"{domain.title}{page}", 90),
                    subtitle="How the answers spread over the scale (skips not counted)",
                    panels=[panel],
                    width=WIDTH,
                    height=min(MAX_PIXELS, 190 + 30 * len(part)),
                )
            )
    return charts


def distribution_names(summary: SurveySummary, *, rows_per_chart: int = ROWS_PER_CHART) -> list[str]:
    """The file names `distributions` gives its charts, in the same order, without choosing colours
    (which loads matplotlib): for links to charts not drawn yet."""
    if summary.respondents is None:
        return []
    return [
        _distribution_name(domain, index)
        for domain in summary.domains
        for index in range(1, len(_pages(domain, rows_per_chart)) + 1)
    ]


def _pages(domain: DomainSummary, rows_per_chart: int) -> list[list[ElementSummary]]:
    """The domain's elements with answers, `rows_per_chart` to a chart."""
    shown = [e for e in domain.elements if e.overall is not None and e.overall.n > 0]
    return [shown[i : i + rows_per_chart] for i in range(0, len(shown), rows_per_chart)]


def _distribution_name(domain: DomainSummary, page: int) -> str:
    return f"distribution-{domain.domain_id}-{page}.png"


def _point_label(scale: ScaleInfo, index: int) -> str:
    """A point's label; a score scale's ends say what they mean ('-5 Not at all')."""
    label = scale.points[index].label
    if scale.kind is ScaleKind.SCORE and index == 0 and scale.min_label:
        return f"{label} {scale.min_label}"
    if scale.kind is ScaleKind.SCORE and index == len(scale.points) - 1 and scale.max_label:
        return f"{label} {scale.max_label}"
    return label


def _point_colours(scale: ScaleInfo) -> list[str]:
    if scale.kind is ScaleKind.STATUS:
        greys = iter(_GREYS * len(scale.points))
        return [
            _RAG_COLOURS[p.rag.value] if p.rag is not None and p.rag.value in _RAG_COLOURS else next(greys)
            for p in scale.points
        ]
    mpl = _matplotlib()
    cmap = mpl.colormaps["RdBu" if scale.kind is ScaleKind.SCORE else "YlGnBu"]
    count = len(scale.points)
    low, high = (0.1, 0.9) if scale.kind is ScaleKind.SCORE else (0.2, 0.9)
    return [mpl.colors.to_hex(cmap(low + (high - low) * i / max(count - 1, 1))) for i in range(count)]


# Drawing ------------------------------------------------------------------------------------------------


def _matplotlib() -> ModuleType:
    """matplotlib, imported on first use (Python caches it after)."""
    import matplotlib as mpl  # heavy (numpy): loaded with the first chart only

    return mpl


def render(chart: Chart, *, fmt: Literal["png", "svg"] = "png") -> bytes:
    """Draw the chart: PNG for Teams; SVG keeps its words as text, for checking what is drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: with the first chart only
    from matplotlib.figure import Figure

    with _DRAWING, _matplotlib().rc_context({"svg.fonttype": "none", "font.size": 10}):
        figure = Figure(figsize=(chart.width / DPI, chart.height / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        figure.suptitle(chart.title, fontsize=13, fontweight="bold", x=0.01, ha="left")
        axes = figure.subplots(
            len(chart.panels),
            1,
            squeeze=False,
            height_ratios=[max(len(p.categories), 1) for p in chart.panels],
        )
        for panel, (ax,) in zip(chart.panels, axes, strict=True):
            _draw(ax, panel)
        figure.supxlabel(chart.subtitle, fontsize=8, color="#555555", x=0.01, ha="left")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=DPI)
    return _palette(buffer.getvalue()) if fmt == "png" else buffer.getvalue()


def _palette(png: bytes) -> bytes:
    """The PNG with a 256-colour palette: 40% of the bytes, the same look for flat charts (a profile
    chart has under 300 colours). Not `optimize`: zlib's hardest effort took 30 ms of a 400 ms chart
    to save another 10% of its bytes."""
    from PIL import Image  # heavy: loaded with the first PNG only

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG")
    return buffer.getvalue()


def _draw(ax: Axes, panel: Panel) -> None:
    rows = len(panel.categories)
    positions = list(range(rows))[::-1]
    if panel.stacked:
        left = [0.0] * rows
        for series in panel.series:
            widths = [v or 0.0 for v in series.values]
            ax.barh(positions, widths, left=left, height=0.7, color=series.colour, label=series.label)
            left = [a + b for a, b in zip(left, widths, strict=True)]
    else:
        count = len(panel.series)
        height = 0.8 / count
        for index, series in enumerate(panel.series):
            offsets = [p + 0.4 - height * (index + 0.5) for p in positions]
            kept = [(o, v) for o, v in zip(offsets, series.values, strict=True) if v is not None]
            if not kept:
                continue
            ax.barh(
                [o for o, _ in kept],
                [v - panel.baseline for _, v in kept],
                left=panel.baseline,
                height=height * 0.9,
                color=series.colour,
                label=series.label,
            )
    ax.set_yticks(positions, panel.categories)
    ax.set_xlim(*panel.xlim)
    if panel.ticks:
        ax.set_xticks(panel.ticks, panel.tick_labels)
    ax.set_xlabel(panel.xlabel)
    if panel.title:
        ax.set_title(panel.title, loc="left", fontsize=11)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


async def render_async(chart: Chart, *, fmt: Literal["png", "svg"] = "png") -> bytes:
    return await asyncio.to_thread(render, chart, fmt=fmt)


async def summary_charts(summary: SurveySummary) -> list[tuple[str, bytes]]:
    """(file name, PNG) for the profile and every distribution chart, made and drawn off the event loop
    (a distribution's colours load matplotlib)."""
    charts = await asyncio.to_thread(_summary_charts, summary)
    return [(chart.name, await render_async(chart)) for chart in charts]


def _summary_charts(summary: SurveySummary) -> list[Chart]:
    profile = domain_profile(summary)
    return ([profile] if profile is not None else []) + distributions(summary)
