"""An administrator manages organisations and leads from the command line (the same rules as in chat)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import create_engine
from storage.migrate import upgrade


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LEAD_USER_IDS", "aad-settings-lead")

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
    assert main(["leads", "grant", "AAD-Amina"]) == 0
    assert main(["leads", "grant", "aad-amina"]) == 1  # already a lead: nothing changed
    capsys.readouterr()
    assert main(["leads", "list"]) == 0
    listed = capsys.readouterr().out
    assert "aad-amina\t(not seen yet)\tgranted" in listed
    assert "aad-settings-lead" in listed
    assert main(["leads", "revoke", "aad-settings-lead"]) == 2
    assert "LEAD_USER_IDS" in capsys.readouterr().out
    assert main(["leads", "revoke", "aad-amina"]) == 0
    assert main(["leads", "revoke", "aad-amina"]) == 1
