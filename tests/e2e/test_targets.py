"""Where we want to be, through the real app and a fake Bot Connector: a lead starts a survey `with target
in 12 months`, partners answer now and target on the same card or typed `2 -> 4`, and the results show
the gap and the biggest agreed gaps. Every card is checked against the Adaptive Cards 1.5 schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator

from storage.db import transaction
from storage.tables import Answer, Survey
from tests.bot.cards.test_cards import card_schema, schema_errors, walk  # noqa: F401 (card_schema is a fixture)
from tests.conftest import Database
from tests.e2e.test_app_survey import _buttons
from tests.e2e.test_lead_commands import MEMBERS, Channel, _card_data, _client, _post
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import Member, TeamsShapes

LEE, AMINA, BEN = (Member(m["id"], m["name"], m["aadObjectId"], tenant="t1") for m in MEMBERS[:3])


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


def _target_input(card: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (n for n in walk(card) if n.get("type") == "Input.ChoiceSet" and n.get("id") == "target"), None
    )


def _texts(card: dict[str, Any]) -> str:
    return "\n".join(node["text"] for node in walk(card) if node.get("type") == "TextBlock")


async def test_lead_starts_with_a_target_and_partners_give_now_and_where_they_want_to_be(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel, teams = Channel(connector), TeamsShapes(connector.url)
    async with _client(database) as client:
        await _post(client, channel.message("start place-partnership-maturity with target in 12 months"))
        confirm = connector.cards()[-1]
        assert schema_errors(card_schema, confirm) == []
        facts = {fact["title"]: fact["value"] for fact in confirm["body"][1]["facts"]}
        assert facts["Asks"] == "Where we are now, and where we want to be in 12 months"
        status, _ = await _post(client, channel.confirm(_card_data(confirm, "Send invitations")))
        assert status == 200
        await connector.wait_for_sent(1 + 3 + 1)

        # Amina presses a level with the second choice filled in: one answer, now and target together
        await _post(client, teams.personal_message(AMINA, "resume"))
        question = connector.cards()[-1]
        assert schema_errors(card_schema, question) == []
        target = _target_input(question)
        assert target is not None
        assert target["label"] == "Where we want to be in 12 months (optional)"
        choose = next(b for b in _buttons(question) if b.get("value") == "developing")
        status, body = await _post(
            client, teams.execute(AMINA, {**choose, "target": "thriving", "comment": ""})
        )
        assert (status, body["statusCode"]) == (200, 200)
        assert schema_errors(card_schema, body["value"]) == []
        assert "✓ Your answer: **Developing** · in 12 months: **Thriving**" in _texts(body["value"])
        assert _buttons(body["value"]) == []  # read-only
        assert _target_input(connector.cards()[-1]) is not None  # the next question asks it too

        # Ben and Lee type both; Lee adds why
        for member, reply in ((BEN, "2 -> 4"), (LEE, "2 → 4 because the plan is signed")):
            await _post(client, teams.personal_message(member, "resume"))
            assert (await _post(client, teams.personal_message(member, reply)))[0] == 201
        lees_chat = json.dumps(connector.sent_to(f"a:1{LEE.aad_object_id}"), ensure_ascii=False)
        assert "Saved “Vision”: Developing (with your comment). In 12 months: Thriving." in lees_chat

        async with transaction(database.sessions) as session:
            survey = (await session.execute(sa.select(Survey))).scalar_one()
            rows = (await session.execute(sa.select(Answer).order_by(Answer.id))).scalars().all()
        assert survey.target_months == 12
        assert [(row.element_id, row.value, row.target_value, row.target_score) for row in rows] == [
            ("vision", "developing", "thriving", 4)
        ] * 3

        # The results: now, target and the gap, and the biggest gap partners agree on
        await _post(client, channel.message("results"))
    results = connector.cards()[-1]
    assert schema_errors(card_schema, results) == []
    shown = json.dumps(results, ensure_ascii=False)
    assert "Where we want to be in 12 months" in shown
    assert "now 2.0 → target 4.0 (gap 2.0 levels)" in shown
    assert "Biggest agreed gaps (partners agree on the target)" in shown
    assert "Vision (" in _texts(results).split("Biggest agreed gaps")[1]


async def test_the_start_forms_toggle_asks_the_target_a_year_ahead(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start"))
        form = connector.cards()[-1]
        assert schema_errors(card_schema, form) == []
        toggle = next(node for node in walk(form) if node.get("type") == "Input.Toggle")
        assert (toggle["id"], toggle["title"]) == ("target", "Also ask where we want to be in 12 months")
        chosen = {"lead": "start_form", "framework_id": "place-partnership-maturity", "target": "true"}
        status, _ = await _post(client, channel.confirm(chosen))
        assert status == 200
        confirm = connector.cards()[-1]
        facts = {fact["title"]: fact["value"] for fact in confirm["body"][1]["facts"]}
        assert facts["Asks"] == "Where we are now, and where we want to be in 12 months"
        await _post(client, channel.confirm({**chosen, "target": "false"}))
        facts = {fact["title"]: fact["value"] for fact in connector.cards()[-1]["body"][1]["facts"]}
        assert facts["Asks"] == "Where we are now"
