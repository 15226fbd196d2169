"""The command line's counts as an administrator reads them: one in the singular, several in the plural."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.people import upsert_person

ONE_QUESTION = {
    "id": "one-question",
    "title": "One question",
    "version": "1.0",
    "source": "one.txt",
    "description": "Two levels, one row",
    "scale": {
        "kind": "levels",
        "levels": [
            {"id": "emerging", "value": 1, "label": "Emerging"},
            {"id": "thriving", "value": 2, "label": "Thriving"},
        ],
    },
    "domains": [
        {
            "id": "vision",
            "title": "Vision",
            "elements": [
                {
                    "id": "shared-vision",
                    "title": "Shared vision",
                    "descriptors": {"emerging": "a", "thriving": "b"},
                }
            ],
        }
    ],
}
ONE_OF_A_KIND = re.compile(r"\b1 [a-z]+s\b")
"""A count of one with a plural noun: '1 questions' ('1 people' is checked by name)."""


@pytest.fixture
def one_of_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated database with one person at trust.nhs.uk; a frameworks folder with a one-question file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    frameworks = tmp_path / "frameworks"
    frameworks.mkdir()
    (frameworks / "one-question.yaml").write_text(yaml.safe_dump(ONE_QUESTION, sort_keys=False), "utf-8")
    monkeypatch.setenv("FRAMEWORKS_DIR", str(frameworks))

    async def build() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            async with transaction(session_factory(engine)) as session:
                await upsert_person(
                    session, teams_user_id="29:amina", email="amina@trust.nhs.uk", now=datetime.now(UTC)
                )
        finally:
            await engine.dispose()

    asyncio.run(build())
    return frameworks


def test_mapping_a_domain_with_one_person_says_one_person(
    one_of_each: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["organisations", "map", "trust.nhs.uk", "Anytown NHS Trust"]) == 0
    out = capsys.readouterr().out

    assert "trust.nhs.uk → Anytown NHS Trust: 1 person assigned" in out
    assert not ONE_OF_A_KIND.search(out), out


def test_a_framework_with_one_question_is_listed_as_one_question(
    one_of_each: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["frameworks", "list"]) == 0
    out = capsys.readouterr().out

    assert "One question (v1.0, 1 question)" in out
    assert "(v1.0, 5 questions)" in out  # the built-in audit committee matrix


def test_validating_a_one_question_file_counts_one_element(
    one_of_each: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump({**ONE_QUESTION, "id": "draft"}, sort_keys=False), "utf-8")

    assert main(["frameworks", "validate", str(draft)]) == 0
    assert capsys.readouterr().out == f"✓ {draft}: draft, 1 element\n"
