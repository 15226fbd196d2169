"""The server starts without the libraries only charts and workbooks need (issue 14: idle memory).

matplotlib (with numpy), PIL and openpyxl hold tens of megabytes once imported; they load when a chart
is drawn or a workbook written or read, and alembic only to migrate. botbuilder.dialogs (with the
Recognizers-Text suites its prompts import) is not used at all: dialogs.dialog_stack keeps the survey's
place. Checked by what a fresh interpreter has imported, not by measuring memory
(benchmarks/idle_rss.py measures it, by hand).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.reports.charts import distribution_names, distributions
from tests.bot.cards.test_summary_rendering import CATALOGUE, PARTNERS, summary_of

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "matplotlib",
    "numpy",
    "PIL",
    "openpyxl",
    "alembic",
    "botbuilder.dialogs",
    "recognizers_text",
    "recognizers_number",
    "recognizers_number_with_unit",
    "recognizers_date_time",
    "recognizers_choice",
)


def _loaded_after(*modules: str) -> list[str]:
    """The HEAVY packages a fresh interpreter holds after importing `modules`."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_the_server_and_the_command_line_start_without_the_heavy_libraries() -> None:
    assert _loaded_after("bot.app", "bot.cli.main") == []


@pytest.mark.parametrize("framework_id", sorted(CATALOGUE.frameworks))
def test_chart_links_name_the_pages_the_charts_draw(framework_id: str) -> None:
    """Links list pages by name without choosing colours (which loads matplotlib): the same names."""
    summary = summary_of(framework_id, PARTNERS)
    for rows in (1, 5, 28):
        drawn = [chart.name for chart in distributions(summary, rows_per_chart=rows)]
        assert distribution_names(summary, rows_per_chart=rows) == drawn
        assert drawn
