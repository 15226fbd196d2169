"""A tenant's published frameworks in the catalogue: `frameworks`, `start` and the start form in Teams
(through the real web app and a fake Bot Connector), and the CLI that publishes, lists and exports them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator

from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.db import transaction
from storage.framework_versions import publish
from storage.tables import FrameworkVersion, Survey
from tests.conftest import FIXED_NOW, Database
from tests.fake_connector import FakeConnector, fake_connector
from tests.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.test_lead_commands import MEMBERS, Channel, _card_data, _client, _post

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
