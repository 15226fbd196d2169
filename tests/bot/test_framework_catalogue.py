"""A tenant's published frameworks in the catalogue: `frameworks`, `start` and the start form in Teams
(through the real web app and a fake Bot Connector), and the CLI that publishes, lists and exports them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cli import main
from frameworks.loader import load_directory
from frameworks.schema import Framework
from frameworks.workbook import canonical_json, read_workbook, write_workbook
from storage.db import create_engine, session_factory, transaction
from storage.framework_versions import publish
from storage.migrate import upgrade
from storage.tables import FrameworkVersion, Survey
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database, postgres_url
from tests.e2e.test_lead_commands import MEMBERS, Channel, _card_data, _client, _post
from tests.fakes.connector import FakeConnector, fake_connector

BUILT_IN = load_directory().frameworks
AUDIT = BUILT_IN["audit-committee-maturity"]
OURS = Framework.model_validate(
    {**AUDIT.model_dump(mode="json"), "id": "anytown-matrix", "title": "Anytown <b>place</b> matrix"}
)
"""A tenant's own framework (a seed adapted, with a hostile title)."""


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


def in_tenant(activity: dict[str, Any], tenant: str) -> dict[str, Any]:
    """The same activity as Teams sends it from a team in another tenant."""
    activity["conversation"]["tenantId"] = tenant
    activity["channelData"]["tenant"] = {"id": tenant}
    return activity


async def _publish(database: Database, framework: Framework, tenant: str = "t1") -> int:
    async with transaction(database.sessions) as session:
        published = await publish(
            session, tenant_id=tenant, framework=framework, published_by_id=None, now=FIXED_NOW
        )
    return published.version


async def test_frameworks_in_a_channel_lists_the_tenants_published_framework_and_not_another_tenants(
    database: Database, connector: FakeConnector
) -> None:
    await _publish(database, OURS)
    await _publish(database, OURS)  # a second version: listed once, as v2
    channel = Channel(connector)
    async with _client(database) as client:
        assert (await _post(client, channel.message("frameworks")))[0] == 201
        assert (await _post(client, in_tenant(channel.message("frameworks"), "t2")))[0] == 201
    in_a, in_b = connector.texts()
    [line] = [line for line in in_a.splitlines() if "anytown-matrix" in line]
    assert "Anytown &lt;b&gt;place&lt;/b&gt; matrix" in line  # a lead's words are shown, never run
    assert "your own, version 2" in line
    assert f"({len(OURS.scored_elements)} questions" in line
    assert "audit-committee-maturity" in in_a  # the built-ins stay
    assert "anytown-matrix" not in in_b
    assert "audit-committee-maturity" in in_b


async def test_lead_starts_a_survey_from_the_tenants_published_framework_with_its_snapshot(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await _publish(database, OURS)
    channel = Channel(connector)
    async with _client(database) as client:
        assert (await _post(client, channel.message('start anytown-matrix title "Anytown 2026"')))[0] == 201
        confirm = connector.cards()[-1]
        assert schema_errors(card_schema, confirm) == []
        facts = {fact["title"]: fact["value"] for fact in confirm["body"][1]["facts"]}
        assert facts["Framework"] == "Anytown &lt;b&gt;place&lt;/b&gt; matrix"
        status, body = await _post(client, channel.confirm(_card_data(confirm, "Send invitations")))
        assert status == 200
        assert "sending 3 invitations" in body["value"]

        assert (await _post(client, in_tenant(channel.message("start anytown-matrix"), "t2")))[0] == 201
    unknown = "I don't know a framework called “anytown-matrix”"
    assert [text for text in connector.texts() if unknown in text] != []  # the invitations may go after
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        stored = (await session.execute(sa.select(FrameworkVersion.framework))).scalar_one()
    assert survey.framework_id == "anytown-matrix"
    assert survey.tenant_id == "t1"
    assert survey.framework_snapshot == stored  # the survey keeps the published JSON it started with


async def test_start_form_offers_the_tenants_published_framework_only_in_that_tenant(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await _publish(database, OURS)
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start"))
        await _post(client, in_tenant(channel.message("start"), "t2"))
        form_a, form_b = connector.cards()
        for form in (form_a, form_b):
            assert schema_errors(card_schema, form) == []
        choices_a = {choice["value"]: choice["title"] for choice in form_a["body"][1]["choices"]}
        choices_b = {choice["value"] for choice in form_b["body"][1]["choices"]}
        assert choices_a["anytown-matrix"].startswith("Anytown")
        assert "(published)" in choices_a["anytown-matrix"]
        assert "anytown-matrix" not in choices_b
        assert "place-partnership-maturity" in choices_b

        status, body = await _post(
            client, channel.confirm({"lead": "start_form", "framework_id": "anytown-matrix"})
        )
        assert "Check the details" in body["value"]
        status, body = await _post(
            client, in_tenant(channel.confirm({"lead": "start_form", "framework_id": "anytown-matrix"}), "t2")
        )
        assert status == 200
        assert body["value"] == "Choose a framework first."
    async with transaction(database.sessions) as session:
        tenants = (await session.execute(sa.select(Survey.tenant_id))).scalars().all()
    assert tenants == ["t1"]


async def test_a_published_framework_with_a_built_in_id_replaces_it_for_that_tenant_only(
    database: Database, connector: FakeConnector
) -> None:
    adapted = Framework.model_validate({**AUDIT.model_dump(mode="json"), "title": "Our audit matrix, 2027"})
    await _publish(database, adapted)
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start audit-committee-maturity"))
        await _post(client, in_tenant(channel.message("start audit-committee-maturity"), "t2"))
        await _post(client, channel.message("frameworks"))
    card_a, card_b = connector.cards()
    assert {"title": "Framework", "value": "Our audit matrix, 2027"} in card_a["body"][1]["facts"]
    assert {"title": "Framework", "value": AUDIT.title} in card_b["body"][1]["facts"]
    listed = [line for line in connector.texts()[-1].splitlines() if "audit-committee-maturity" in line]
    assert len(listed) == 1
    assert "replaces the built-in" in listed[0]


# The command line: publish a workbook for a tenant, list and export what it published -------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """DATABASE_URL for the command line, migrated: a SQLite file, or a PostgreSQL database of its own
    (the command line cannot be given the per-test schema of the `database` fixture)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        asyncio.run(_migrate(url))
        monkeypatch.setenv("DATABASE_URL", url)
        yield url
        return
    server = postgres_url()
    name = f"cli_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = f"{server.rsplit('/', 1)[0]}/{name}"
    try:
        asyncio.run(_migrate(url))
        monkeypatch.setenv("DATABASE_URL", url)
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _published(url: str, tenant: str, framework_id: str) -> list[int]:
    """The version numbers stored for a tenant's framework id."""

    async def read() -> list[int]:
        engine = create_engine(url)
        try:
            async with transaction(session_factory(engine)) as session:
                query = sa.select(FrameworkVersion.version).where(
                    FrameworkVersion.tenant_id == tenant, FrameworkVersion.framework_id == framework_id
                )
                return sorted((await session.execute(query)).scalars().all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _edited(framework: Framework, edit: Callable[[list[dict[str, Any]]], None]) -> Framework:
    """The framework with its first domain's elements changed by `edit`."""
    document = framework.model_dump(mode="json")
    edit(document["domains"][0]["elements"])
    return Framework.model_validate(document)


def _reword_and_add(elements: list[dict[str, Any]]) -> None:
    elements[0]["descriptors"]["basic"] = "The committee has read the guidance"
    elements.append({**elements[1], "id": "digital-maturity", "title": "Digital maturity"})


def test_administrator_publishes_a_workbook_for_a_tenant_then_a_second_version_with_its_changes(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "audit.xlsx"
    book.write_bytes(write_workbook(AUDIT))
    assert main(["frameworks", "import", str(book), "--tenant", "t1", "--id", "anytown-matrix"]) == 0
    first = capsys.readouterr().out
    assert "Published anytown-matrix version 1 for tenant t1" in first
    assert _published(cli_database, "t1", "anytown-matrix") == [1]

    changed = _edited(AUDIT, _reword_and_add)
    book.write_bytes(write_workbook(changed))
    assert main(["frameworks", "import", str(book), "--tenant", "t1", "--id", "anytown-matrix"]) == 0
    second = capsys.readouterr().out
    assert "Since version 1: 1 added, 0 removed, 1 reworded, 0 moved" in second
    assert "Published anytown-matrix version 2 for tenant t1" in second
    assert _published(cli_database, "t1", "anytown-matrix") == [1, 2]
    assert _published(cli_database, "t2", "anytown-matrix") == []

    assert main(["frameworks", "import", str(book), "--tenant", "t1", "--id", "anytown-matrix"]) == 0
    assert "the same as version 2: nothing published" in capsys.readouterr().out
    assert _published(cli_database, "t1", "anytown-matrix") == [1, 2]


def test_a_reimport_that_removes_elements_is_refused_until_confirmed(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "audit.xlsx"
    book.write_bytes(write_workbook(AUDIT))
    assert main(["frameworks", "import", str(book), "--tenant", "t1"]) == 0
    assert "replaces the built-in" in capsys.readouterr().out  # an adapted seed keeps its id and trends
    book.write_bytes(write_workbook(_edited(AUDIT, lambda elements: elements.pop())))
    command = ["frameworks", "import", str(book), "--tenant", "t1"]

    assert main(command) == 2
    refused = capsys.readouterr().out
    assert "1 removed" in refused
    assert AUDIT.domains[0].elements[-1].title in refused
    assert "--yes" in refused
    assert main([*command, "--yes", "--dry-run"]) == 0
    assert "--dry-run: nothing published (it would be version 2)" in capsys.readouterr().out
    assert _published(cli_database, "t1", AUDIT.id) == [1]

    assert main([*command, "--yes"]) == 0
    assert f"Published {AUDIT.id} version 2 for tenant t1" in capsys.readouterr().out
    assert _published(cli_database, "t1", AUDIT.id) == [1, 2]


def test_list_and_export_show_a_tenants_published_versions(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "audit.xlsx"
    book.write_bytes(write_workbook(OURS))
    assert main(["frameworks", "import", str(book), "--tenant", "t1"]) == 0
    book.write_bytes(write_workbook(_edited(OURS, _reword_and_add)))
    assert main(["frameworks", "import", str(book), "--tenant", "t1"]) == 0
    capsys.readouterr()

    assert main(["frameworks", "list", "--tenant", "t1"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("anytown-matrix")]
    assert "published version 2 for tenant t1" in line
    assert main(["frameworks", "list", "--tenant", "t2"]) == 0
    listed = capsys.readouterr().out
    assert "anytown-matrix" not in listed
    assert AUDIT.id in listed

    out = tmp_path / "v1.xlsx"
    assert (
        main(
            ["frameworks", "export", "anytown-matrix", "--tenant", "t1", "--version", "1", "--out", str(out)]
        )
        == 0
    )
    assert read_workbook(out.read_bytes(), filename=out.name) == OURS
    assert main(["frameworks", "export", "anytown-matrix", "--tenant", "t1", "--out", str(out)]) == 0
    assert read_workbook(out.read_bytes(), filename=out.name) == _edited(OURS, _reword_and_add)
    capsys.readouterr()
    assert main(["frameworks", "export", "anytown-matrix", "--tenant", "t2", "--out", str(out)]) == 1
    assert "No framework 'anytown-matrix'" in capsys.readouterr().out
    assert (
        main(
            ["frameworks", "export", "anytown-matrix", "--tenant", "t1", "--version", "7", "--out", str(out)]
        )
        == 1
    )
    assert "version 7" in capsys.readouterr().out
    assert main(["frameworks", "export", AUDIT.id, "--version", "1", "--out", str(out)]) == 2
    assert "--version needs --tenant" in capsys.readouterr().out


def test_show_prints_the_framework_a_tenant_uses_as_canonical_json(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "ours.xlsx"
    book.write_bytes(write_workbook(OURS))
    assert main(["frameworks", "import", str(book), "--tenant", "t1"]) == 0
    capsys.readouterr()
    assert main(["frameworks", "show", OURS.id, "--tenant", "t1", "--format", "json"]) == 0
    assert capsys.readouterr().out == canonical_json(OURS) + "\n"
    assert main(["frameworks", "show", OURS.id, "--tenant", "t2"]) == 1
    assert f"No framework {OURS.id!r}" in capsys.readouterr().out
