"""CI runs a fresh clone that may have no `../shared` beside it: the tests find the schemas and seed
documents through one setting, SURVEYBOT_SHARED_DIR, and without them CI stops once, saying so.

Each story runs pytest on a copy of this suite in a temporary clone, whose `../shared` does not exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DIR

ROOT = Path(__file__).resolve().parents[1]

# One test from each place that reads shared/: the card schema (twice), the manifest schema (twice), seeds.
READERS = [
    "tests/bot/cards/test_cards.py::test_the_schema_check_names_the_path_and_reason_of_a_broken_card",
    "tests/bot/cards/test_summary_rendering.py::test_every_framework_summary_card_matches_the_adaptive_cards_1_5_schema"
    "[audit-committee-maturity]",
    "tests/bot/commands/test_commands.py::test_manifest_command_lists_validate_against_the_teams_schema",
    "tests/bot/teams/test_teams_package.py::test_the_manifest_is_valid_for_teams_schema_1_29",
    "tests/frameworks/test_fidelity_audit_committee_maturity.py::test_audit_committee_maturity_invents_no_text",
]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The suite copied into `tmp/clone`, with nothing at `tmp/shared`."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", clone / "pyproject.toml")
    assert not (tmp_path / "shared").exists()
    return clone


def pytest_in(
    clone: Path, *args: str, ci: bool, shared_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest run in the clone as CI (CI=true) or a developer would run it, with or without the setting."""
    env = {key: value for key, value in os.environ.items() if key not in {"CI", "SURVEYBOT_SHARED_DIR"}}
    if ci:
        env["CI"] = "true"
    if shared_dir is not None:
        env["SURVEYBOT_SHARED_DIR"] = str(shared_dir)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_ci_without_the_shared_files_stops_once_and_says_which_setting_to_set(clone: Path) -> None:
    result = pytest_in(clone, *READERS, ci=True)

    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    message = [line for line in result.stderr.splitlines() if "SURVEYBOT_SHARED_DIR" in line]
    assert len(message) == 1, result.stderr
    assert str(clone.parent / "shared") in message[0]
    assert "schemas/adaptive-card.v1.5.schema.json" in message[0]
    assert "seeds" in message[0]
    assert " passed" not in result.stdout
    assert " failed" not in result.stdout


@pytest.mark.slow
def test_ci_finds_the_shared_files_wherever_surveybot_shared_dir_points(clone: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "shared-files"
    for part in ("schemas", "seeds"):
        shutil.copytree(SHARED_DIR / part, elsewhere / part)

    result = pytest_in(clone, *READERS, ci=True, shared_dir=elsewhere)

    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None
    assert int(passed[1]) == len(READERS)
    assert "skipped" not in result.stdout


@pytest.mark.slow
def test_a_developer_without_the_shared_files_sees_those_tests_skipped_with_the_setting_named(
    clone: Path,
) -> None:
    result = pytest_in(clone, *READERS[3:], ci=False)  # the skip is worded in one place: two readers show it

    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert " passed" not in result.stdout
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips, result.stdout
    assert all("SURVEYBOT_SHARED_DIR" in line for line in skips), skips
