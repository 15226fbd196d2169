"""An administrator manages organisations and leads, and exports answers, from the command line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bot.cli import main
from frameworks.loader import load_directory
from storage.answers import record_answer
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.people import person_by_teams_id
from tests.fakes.conversation import open_survey_for

AUDIT = load_directory().frameworks["audit-committee-maturity"]
FIRST = "mergers-acquisitions-and-disposals"
SETTINGS_LEAD = "5e2d9c1a-7b3f-4a6e-8d2c-9f1e0a3b4c5d"
AMINA_AAD = "0b6a2f8e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LEAD_USER_IDS", SETTINGS_LEAD)

    async def migrate() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    return url


def test_administrator_maps_an_email_domain_and_shared_ones_are_refused(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["organisations", "map", "Trust.NHS.uk", "Anytown NHS Trust"]) == 0
    assert "trust.nhs.uk → Anytown NHS Trust" in capsys.readouterr().out
    assert main(["organisations", "map", "nhs.net", "Somewhere"]) == 2
    assert "my organisation" in capsys.readouterr().out
    assert main(["organisations", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["trust.nhs.uk\tAnytown NHS Trust"]
    assert main(["organisations", "unmap", "trust.nhs.uk"]) == 0
    assert main(["organisations", "unmap", "trust.nhs.uk"]) == 1
    capsys.readouterr()
    assert main(["organisations", "list"]) == 0
    assert "No email domains are mapped." in capsys.readouterr().out


def test_administrator_grants_and_revokes_leads_but_not_settings_ones(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leads", "grant", AMINA_AAD.upper()]) == 0
    assert main(["leads", "grant", AMINA_AAD]) == 1  # already a lead: nothing changed
    capsys.readouterr()
    assert main(["leads", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{AMINA_AAD}\t(not seen yet)\tgranted" in listed
    assert SETTINGS_LEAD in listed
    assert main(["leads", "revoke", SETTINGS_LEAD]) == 2
    assert "LEAD_USER_IDS" in capsys.readouterr().out
    assert main(["leads", "revoke", AMINA_AAD]) == 0
    assert main(["leads", "revoke", AMINA_AAD]) == 1


def test_lead_exports_a_survey_as_a_workbook_from_the_command_line(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def answered_survey() -> int:
        engine = create_engine(cli_database)
        try:
            sessions = session_factory(engine)
            now = datetime.now(UTC)
            survey = await open_survey_for(sessions, AUDIT, now, title="Audit 2026")
            async with transaction(sessions) as session:
                person = await person_by_teams_id(session, "29:amina")
                assert person is not None
                await record_answer(
                    session, survey, person, FIRST, "basic", now=now, comment='=HYPERLINK("x")'
                )
            return survey.id or 0
        finally:
            await engine.dispose()

    survey_id = asyncio.run(answered_survey())
    out = tmp_path / "audit.xlsx"
    assert main(["export", str(survey_id), "--format", "xlsx", "--out", str(out)]) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    workbook = openpyxl.load_workbook(out)
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert "Basic" in [cell.value for cell in cells]
    comment = next(cell for cell in cells if cell.value == '=HYPERLINK("x")')
    assert comment.data_type == "s"  # shown as typed, never run as a formula
    assert all(cell.data_type != "f" for cell in cells)
    assert main(["export", "999", "--out", str(tmp_path / "none.csv")]) == 1
