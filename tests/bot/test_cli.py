"""An IT colleague runs the command line: mistakes in settings or the database get a short message and
exit status 2 (never a traceback unless asked with --debug), lead grants name a real person, framework
files are checked whole, surveys can be listed, and files land where the colleague expects (issue 17,
items 8-12)."""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.settings import Settings, default_data_dir
from frameworks.loader import load_directory
from storage.answers import record_answer, submit_response
from storage.db import create_engine, session_factory, transaction
from storage.leads import grant_lead
from storage.migrate import upgrade
from storage.organisations import ensure_partnership
from storage.people import person_by_teams_id, upsert_person
from storage.surveys import close_survey
from tests.conftest import FIXED_NOW
from tests.fakes.conversation import open_survey_for

ROOT = Path(__file__).resolve().parents[2]
AUDIT = load_directory().frameworks["audit-committee-maturity"]
AUDIT_FIRST = AUDIT.scored_elements[0][1].id
ROADMAP = load_directory().frameworks["ics-development-roadmap"]
REFUSED_POSTGRES = "postgresql+asyncpg://surveybot:secret-pw@127.0.0.1:1/surveybot"
"""Port 1 on this machine: nothing listens there, so the connection is refused at once."""


def _migrate(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The colleague's data folder (DATA_DIR), migrated; no DATABASE_URL, so the default database is used."""
    folder = tmp_path / "surveybot-data"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(folder))
    monkeypatch.setenv("LEAD_USER_IDS", "")
    _migrate(f"sqlite+aiosqlite:///{folder / 'surveybot.db'}")
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Some other folder the colleague happens to be in (not the project)."""
    folder = tmp_path / "home" / "it-colleague"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


def _problem_lines(stderr: str) -> list[str]:
    """What the colleague reads about the failure: not the line naming the database, nor log records."""
    return [line for line in stderr.splitlines() if line and not line.startswith(("Database: ", '{"time"'))]


# Item 8: configuration and connection errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["db", "current"],
        ["db", "upgrade"],
        ["leads", "list"],
        ["export", "1"],
        ["frameworks", "list"],
        ["serve"],
        ["chat"],
    ],
)
def test_colleague_with_a_mistyped_setting_is_told_which_and_what_is_allowed(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUMMARY_WEIGHTING", "votes")
    assert main(command) == 2
    captured = capsys.readouterr()
    lines = _problem_lines(captured.err)
    assert 1 <= len(lines) <= 2, captured.err
    assert "SUMMARY_WEIGHTING" in lines[0]
    assert "votes" in lines[0]
    assert "'organisation' or 'respondent'" in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_a_bad_secret_setting_is_named_without_repeating_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN_URL", "http://tokens.example.org/?secret=hunter2")
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert "BOT_TOKEN_URL" in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "command",
    [["db", "current"], ["db", "upgrade"], ["leads", "list"], ["surveys", "list"], ["serve"], ["chat"]],
)
def test_colleague_whose_database_server_is_down_gets_two_lines_and_status_2(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", REFUSED_POSTGRES)
    assert main(command) == 2
    captured = capsys.readouterr()
    lines = _problem_lines(captured.err)
    assert 1 <= len(lines) <= 2, captured.err
    assert "cannot reach the database" in lines[0].lower()
    assert "DATABASE_URL" in captured.err
    assert "127.0.0.1:1" in captured.err
    assert "secret-pw" not in captured.err + captured.out
    assert "Traceback" not in captured.err + captured.out


def test_colleague_asks_for_the_traceback_with_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", REFUSED_POSTGRES)
    assert main(["--debug", "db", "current"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ConnectionRefusedError" in err
    assert "cannot reach the database" in err.lower()


def test_colleague_naming_a_postgres_database_that_does_not_exist_is_told_to_create_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    base = server.rsplit("/", 1)[0]
    monkeypatch.setenv("DATABASE_URL", f"{base}/no_such_surveybot_db")
    assert main(["db", "upgrade"]) == 2
    lines = _problem_lines(capsys.readouterr().err)
    assert 1 <= len(lines) <= 2
    assert "no_such_surveybot_db" in lines[0]
    assert "does not exist" in lines[0]
    assert "createdb" in " ".join(lines)


def test_colleague_with_a_mistyped_sqlite_path_is_told_and_no_file_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "dta" / "surveybot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{typo}")
    for command in (["leads", "list"], ["db", "current"], ["surveys", "list"]):
        assert main(command) == 2
        lines = _problem_lines(capsys.readouterr().err)
        assert 1 <= len(lines) <= 2
        assert f"There is no database at {typo}" in lines[0]
        assert "python -m bot db upgrade" in " ".join(lines)
    assert not typo.parent.exists()


def test_a_bad_setting_from_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    async def run() -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "db",
            "current",
            cwd=ROOT,
            env={**os.environ, "SUMMARY_WEIGHTING": "votes", "DATA_DIR": str(tmp_path)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    status, out, err = asyncio.run(run())
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) <= 2, err
    assert "SUMMARY_WEIGHTING" in err
    assert "Traceback" not in err


def test_colleague_starting_the_bot_on_a_port_already_taken_is_told_which_and_what_to_do(
    data_dir: Path,
) -> None:
    async def run() -> tuple[int, str]:
        taken = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
        port = taken.sockets[0].getsockname()[1]
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)),
                cwd=ROOT,
                env={**os.environ, "DATA_DIR": str(data_dir), "LOG_FORMAT": "text"},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(60):
                _, err = await process.communicate()
            assert process.returncode is not None
            return process.returncode, err.decode()
        finally:
            taken.close()
            await taken.wait_closed()

    status, err = asyncio.run(run())
    assert status == 2
    assert "Traceback" not in err
    assert "Cannot listen on 127.0.0.1:" in err
    assert "address already in use" in err
    assert "choose another with PORT" in err


# Item 12: one database, wherever the command is run from -------------------------------------------------


def test_the_default_database_does_not_depend_on_the_current_folder(elsewhere: Path) -> None:
    settings = Settings(_env_file=None)
    assert settings.data_dir == ROOT / "data"
    assert settings.database_url == f"sqlite+aiosqlite:///{ROOT / 'data' / 'surveybot.db'}"
    assert not (elsewhere / "data").exists()


def test_an_installed_copy_keeps_its_data_in_the_users_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "bot" / "settings.py"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir(installed) == tmp_path / "xdg" / "surveybot"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir(installed) == tmp_path / "home" / ".local" / "share" / "surveybot"


def test_colleague_in_another_folder_uses_the_same_database_and_leaves_nothing_there(
    data_dir: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "current"]) == 0
    captured = capsys.readouterr()
    assert "not migrated" not in captured.out
    assert (
        captured.err.splitlines()[0]
        == f"Database: sqlite+aiosqlite:///{data_dir / 'surveybot.db'} (DATA_DIR)"
    )
    assert list(elsewhere.iterdir()) == []


def test_every_database_command_says_which_database_it_uses(
    data_dir: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{data_dir / 'surveybot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    for command in (["leads", "list"], ["organisations", "list"], ["surveys", "list"], ["db", "current"]):
        main(command)
        assert capsys.readouterr().err.splitlines()[:1] == [f"Database: {url} (DATABASE_URL)"], command


# Item 12: exports land in the data folder --------------------------------------------------------------


def _with_database(url: str, work):  # type: ignore[no-untyped-def]
    """Run `work(sessions)` against the colleague's database (setting it up as Teams turns would)."""

    async def run():  # type: ignore[no-untyped-def]
        engine = create_engine(url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'surveybot.db'}"


def test_colleague_exporting_from_a_clone_finds_the_file_in_the_data_folder_not_the_working_tree(
    data_dir: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def survey(sessions):  # type: ignore[no-untyped-def]
        return (await open_survey_for(sessions, AUDIT, FIXED_NOW, title="Audit 2026")).id

    number = _with_database(_database_url(data_dir), survey)
    assert main(["export", str(number)]) == 0
    written = sorted((data_dir / "exports").iterdir())
    assert [path.name for path in written] == [
        f"audit-committee-maturity-survey-{number}-{datetime.now(UTC).date().isoformat()}.csv"
    ]
    assert f"Wrote {written[0]}" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []


def test_export_explains_its_survey_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "SURVEY the survey's number, as `python -m bot surveys list` shows it" in help_text
    assert "exports" in help_text


# Item 11: surveys list ---------------------------------------------------------------------------------


def test_colleague_lists_the_surveys_with_where_they_run_and_how_far_people_got(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def surveys(sessions):  # type: ignore[no-untyped-def]
        async with transaction(sessions) as session:
            place = await ensure_partnership(session, "Anytown Place Partnership")
            partnership_id = place.id
        audit = await open_survey_for(
            sessions,
            AUDIT,
            FIXED_NOW,
            ("29:amina", "29:ben", "29:chloe"),
            title="Audit 2026",
            partnership_id=partnership_id,
            conversation_id="19:board@thread.tacv2",
            team_id="19:team-a@thread.tacv2",
        )
        async with transaction(sessions) as session:
            amina = await person_by_teams_id(session, "29:amina")
            assert amina is not None
            await record_answer(session, audit, amina, AUDIT_FIRST, "basic", now=FIXED_NOW)
            await submit_response(session, audit, amina, now=FIXED_NOW)
            ben = await person_by_teams_id(session, "29:ben")
            assert ben is not None
            await record_answer(session, audit, ben, AUDIT_FIRST, "basic", now=FIXED_NOW)
        roadmap = await open_survey_for(sessions, ROADMAP, FIXED_NOW + timedelta(days=1), ("29:amina",))
        async with transaction(sessions) as session:
            await close_survey(session, roadmap, now=FIXED_NOW + timedelta(days=2))
        return audit.id, roadmap.id

    audit, roadmap = _with_database(_database_url(data_dir), surveys)
    assert main(["surveys", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    audit_line = next(line for line in lines if line.startswith(f"{audit} "))
    for expected in (
        "audit-committee-maturity",
        "Audit 2026",
        "Anytown Place Partnership",
        "channel",
        "open",
        "3 invited",
        "2 started",
        "1 submitted",
    ):
        assert expected in audit_line, (expected, audit_line)
    roadmap_line = next(line for line in lines if line.startswith(f"{roadmap} "))
    assert "ics-development-roadmap" in roadmap_line
    assert "closed" in roadmap_line
    assert "1 invited" in roadmap_line
    assert "0 submitted" in roadmap_line
    assert lines.index(roadmap_line) < lines.index(audit_line)  # newest first


def test_a_survey_number_that_does_not_exist_points_to_surveys_list(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["surveys", "list"]) == 0
    assert "No surveys have been started yet" in capsys.readouterr().out
    assert main(["export", "99"]) == 1
    out = capsys.readouterr().out
    assert "There is no survey 99." in out
    assert "python -m bot surveys list" in out


# Item 9: lead grants name a person ---------------------------------------------------------------------

AMINA_AAD = "0b6a2f8e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
BEN_AAD = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"


def _known_people(data_dir: Path) -> None:
    async def people(sessions):  # type: ignore[no-untyped-def]
        async with transaction(sessions) as session:
            await upsert_person(
                session,
                teams_user_id="29:amina",
                aad_object_id=AMINA_AAD,
                name="Amina Khan",
                email="Amina.Khan@trust.nhs.uk",
                now=FIXED_NOW,
            )
            await upsert_person(
                session,
                teams_user_id="29:guest",
                name="Gail Guest",
                email="gail@council.gov.uk",
                now=FIXED_NOW,
            )

    _with_database(_database_url(data_dir), people)


def test_colleague_granting_lead_to_a_bare_name_is_refused_with_the_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_people(data_dir)
    assert main(["leads", "grant", "Amina"]) == 2
    refusal = capsys.readouterr().out
    assert "'Amina' is not an AAD object id" in refusal
    assert "email" in refusal
    assert main(["leads", "list"]) == 0
    assert "amina" not in capsys.readouterr().out.lower()


def test_colleague_grants_lead_by_email_and_the_grant_is_their_aad_id(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_people(data_dir)
    assert main(["leads", "grant", "amina.khan@TRUST.nhs.uk"]) == 0
    assert f"Amina Khan ({AMINA_AAD}) is now a lead." in capsys.readouterr().out
    assert main(["leads", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{AMINA_AAD}\tAmina Khan\tgranted"]
    assert main(["leads", "revoke", "Amina.Khan@trust.nhs.uk"]) == 2  # the only lead: refused
    assert "only lead" in capsys.readouterr().out


def test_colleague_grants_lead_by_aad_object_id_before_they_ever_used_the_bot(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leads", "grant", BEN_AAD.upper()]) == 0
    assert main(["leads", "grant", AMINA_AAD]) == 0
    capsys.readouterr()
    assert main(["leads", "list"]) == 0
    assert f"{BEN_AAD}\t(not seen yet)\tgranted" in capsys.readouterr().out
    assert main(["leads", "revoke", BEN_AAD]) == 0
    assert main(["leads", "revoke", BEN_AAD]) == 1


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("nobody@trust.nhs.uk", "Nobody the bot knows has the email nobody@trust.nhs.uk"),
        ("gail@council.gov.uk", "Gail Guest has no AAD object id yet"),
        ("0b6a2f8e-3c1d-4e5f-9a7b", "'0b6a2f8e-3c1d-4e5f-9a7b' is not an AAD object id"),
    ],
)
def test_grants_and_revocations_that_name_nobody_are_refused(
    who: str, reason: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_people(data_dir)
    for verb in ("grant", "revoke"):
        assert main(["leads", verb, who]) == 2
        assert reason in capsys.readouterr().out


def test_a_grant_made_by_name_before_the_check_can_still_be_revoked(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def old_grants(sessions):  # type: ignore[no-untyped-def]
        async with transaction(sessions) as session:
            await grant_lead(session, "amina", now=FIXED_NOW, configured=[])
            await grant_lead(session, BEN_AAD, now=FIXED_NOW, configured=[])

    _with_database(_database_url(data_dir), old_grants)
    assert main(["leads", "revoke", "Amina"]) == 0
    assert "amina is no longer a lead" in capsys.readouterr().out


# Item 10: frameworks validate reports everything at once -------------------------------------------------

TINY: dict[str, Any] = {
    "id": "tiny",
    "title": "Tiny matrix",
    "version": "1.0",
    "source": "tiny.txt",
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


def _framework_file(folder: Path, name: str, change=None) -> Path:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(TINY)
    if change is not None:
        change(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def test_lead_sees_every_problem_of_a_framework_file_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def many_mistakes(data: dict[str, Any]) -> None:
        data["id"] = "audit-committee-maturity"
        data["title"] = " "
        data["scale"]["levels"][1]["value"] = 1
        elements = data["domains"][0]["elements"]
        elements.append(copy.deepcopy(elements[0]))
        elements.append({"id": "partners", "title": "Partners", "descriptors": {"emerging": "a"}})
        data["domains"].append({**copy.deepcopy(data["domains"][0]), "elements": []})

    monkeypatch.delenv("FRAMEWORKS_DIR", raising=False)
    path = _framework_file(tmp_path, "mine.yaml", many_mistakes)
    assert main(["frameworks", "validate", str(path)]) == 1
    report = capsys.readouterr().out
    for problem in (
        "title: String should have at least 1 character",
        "scale: level values must be strictly increasing, got [1, 1]",
        "duplicate element id: shared-vision",
        "duplicate domain id: vision",
        "domains[1](vision): a domain without elements needs an empty_note",
        "domains[0](vision).elements[2](partners): no descriptor for levels ['thriving']",
        "id 'audit-committee-maturity' is already used by the built-in framework",
    ):
        assert problem in report, (problem, report)


def test_a_file_whose_id_the_bot_already_loads_elsewhere_is_reported_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    installed = _framework_file(tmp_path / "frameworks-dir", "tiny.yaml")
    monkeypatch.setenv("FRAMEWORKS_DIR", str(installed.parent))
    draft = _framework_file(tmp_path / "drafts", "tiny-v2.yaml", lambda d: d.update(version="2.0"))
    assert main(["frameworks", "validate", str(draft)]) == 1
    report = capsys.readouterr().out
    assert f"id 'tiny' is already used by {installed}" in report
    assert "the bot would skip this file" in report
    assert main(["frameworks", "validate", str(installed)]) == 0  # the file the bot loads is itself
    assert main(["frameworks", "validate", str(ROOT / "frameworks")]) == 0
    capsys.readouterr()
    monkeypatch.delenv("FRAMEWORKS_DIR")
    same = _framework_file(tmp_path / "drafts", "tiny-v3.yaml")
    assert main(["frameworks", "validate", str(draft), str(same)]) == 1
    assert f"id 'tiny' is also used by {draft}" in capsys.readouterr().out


def test_a_file_with_only_whole_framework_mistakes_gets_them_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cross_checks(data: dict[str, Any]) -> None:
        elements = data["domains"][0]["elements"]
        elements.append(copy.deepcopy(elements[0]))
        elements.append(
            {"id": "partners", "title": "Partners", "descriptors": {"emerging": "a", "best": "b"}}
        )

    monkeypatch.delenv("FRAMEWORKS_DIR", raising=False)
    path = _framework_file(tmp_path, "mine.yaml", cross_checks)
    assert main(["frameworks", "validate", str(path)]) == 1
    report = capsys.readouterr().out
    assert "duplicate element id: shared-vision" in report
    assert "elements[2](partners): descriptors for unknown levels ['best']" in report
    assert "elements[2](partners): no descriptor for levels ['thriving']" in report
