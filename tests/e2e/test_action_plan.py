"""A lead keeps the partnership's action plan in Teams: adds actions with an owner and a due date, lists
them, and owners answer their check-ins in a 1:1 chat; all through the real web app and a fake Bot
Connector, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator
from openpyxl import load_workbook

from bot.app import SENDER, create_app
from bot.jobs import deadlines
from bot.outbox.checkins import queue_due_checkins
from bot.outbox.weekly import queue_due_summaries
from bot.reports.exports import xlsx_bytes
from bot.settings import Settings
from frameworks.loader import load_directory
from frameworks.summary import SummaryRules
from storage.answers import record_answer
from storage.db import transaction
from storage.exports import export_data
from storage.invitations import invite
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import Action, ActionUpdate, OutboxKind, OutboxMessage, Person, stored_id
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, Fault, fake_connector

CHANNEL_ID = "19:general@thread.tacv2"
CHANNEL = f"{CHANNEL_ID};messageid=1700000000001"
OTHER_CHANNEL = "19:finance@thread.tacv2"
TEAM = "19:team@thread.tacv2"
LEAD = {"id": "29:lead", "name": "Lee Lead", "aadObjectId": "aad-lead", "email": "lee@trust.nhs.uk"}
AMINA = {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina", "email": "amina@trust.nhs.uk"}
BEN = {"id": "29:ben", "name": "Ben Okafor", "aadObjectId": "aad-ben", "email": "ben@council.gov.uk"}
ADD = 'action add "Agree a shared data plan" owner <at>Amina Khan</at> due 31 December'


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = [LEAD, AMINA, BEN]
        yield fake


class Teams:
    """Activities as Teams sends them: channel messages (with mentions) and card presses."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.count = 0

    def message(
        self,
        text: str,
        sender: dict[str, Any] = LEAD,
        *,
        conversation: str = CHANNEL,
        tenant: str = "t1",
        mentions: tuple[dict[str, Any], ...] = (),
    ) -> dict[str, Any]:
        self.count += 1
        entities = [
            {
                "type": "mention",
                "mentioned": {"id": "28:surveybot", "name": "Survey bot"},
                "text": "<at>Survey bot</at>",
            }
        ]
        entities += [
            {
                "type": "mention",
                "mentioned": {"id": m["id"], "name": m["name"]},
                "text": f"<at>{m['name']}</at>",
            }
            for m in mentions
        ]
        personal = conversation.startswith("a:")
        channel_data: dict[str, Any] = {"tenant": {"id": tenant}}
        if not personal:
            channel_data |= {"team": {"id": TEAM}, "channel": {"id": conversation.split(";")[0]}}
        return {
            "id": f"1700000002{self.count:03d}",
            "type": "message",
            "text": text if personal else f"<at>Survey bot</at> {text}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": sender["id"], "name": sender["name"], "aadObjectId": sender["aadObjectId"]},
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {
                "id": conversation,
                "conversationType": "personal" if personal else "channel",
                "tenantId": tenant,
            },
            "channelData": channel_data,
            "entities": [] if personal else entities,
        }

    def press(self, data: dict[str, Any], sender: dict[str, Any], *, conversation: str) -> dict[str, Any]:
        activity = self.message("", sender, conversation=conversation)
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": "lead", "data": data}, "trigger": "manual"},
        )
        return activity


def _client(database: Database, clock: Callable[[], datetime]) -> TestClient:
    settings = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    app = create_app(settings, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _post(client: TestClient, activity: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/api/messages", json=activity)
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body


def _texts(card: dict[str, Any]) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                found.extend(f"{fact['title']}: {fact['value']}" for fact in node["facts"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(found)


def _said(connector: FakeConnector, conversation: str) -> list[str]:
    """The text replies in a conversation (an owner's cards, sent in the background, have none)."""
    return [text for text in connector.texts_to(conversation) if text]


def _card_with(connector: FakeConnector, conversation: str, words: str) -> dict[str, Any]:
    """The last card sent to a conversation that says `words`."""
    cards = [
        attachment["content"]
        for activity in connector.sent_to(conversation)
        for attachment in activity.get("attachments") or []
    ]
    found = [card for card in cards if words in _texts(card)]
    assert found, [_texts(card)[:80] for card in cards]
    return found[-1]


def _cards_of(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [attachment["content"] for attachment in activity.get("attachments") or []]


async def _arrived(connector: FakeConnector, conversation: str, count: int) -> None:
    """Until `count` activities reached the conversation (the outbox sends in the background)."""
    while len(connector.sent_to(conversation)) < count:
        await connector.wait_for_sent(len(connector.sent) + 1)


async def test_lead_adds_an_action_with_a_mentioned_owner_and_the_channel_sees_the_plan(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    teams = Teams(connector)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, teams.message(ADD, mentions=(AMINA,)))
        added = connector.texts_to(CHANNEL)[-1]
        assert "Added **A1**" in added
        assert "Owner Amina Khan, due 31 Dec 2026" in added
        await _post(client, teams.message(ADD, mentions=(AMINA,)))  # typed again, or run again after a crash
        assert "**A1** is already in the plan" in connector.texts_to(CHANNEL)[-1]
        await _post(
            client, teams.message('action add "Publish the dashboard" owner amina@trust.nhs.uk due 4 Dec')
        )
        assert "Added **A2**" in connector.texts_to(CHANNEL)[-1]
        await _post(client, teams.message("actions"))
        await _arrived(connector, connector.personal_id(AMINA["id"]), 2)  # each action's first card
    card = _card_with(connector, CHANNEL, "This channel's plan")
    assert schema_errors(card_schema, card) == []
    told = _card_with(connector, connector.personal_id(AMINA["id"]), "You own a new action: **A1**")
    assert schema_errors(card_schema, told) == []
    assert "every 30 days" in _texts(told)
    text = _texts(card)
    assert "**A1**" in text
    assert "**A2**" in text
    assert "Agree a shared data plan" in text
    assert "Owner: Amina Khan" in text
    assert "🟢 On track" in text
    assert "due 31 Dec 2026" in text
    async with transaction(database.sessions) as session:
        actions = (await session.execute(sa.select(Action).order_by(Action.number))).scalars().all()
    assert [(a.number, a.conversation_id, a.tenant_id) for a in actions] == [
        (1, CHANNEL_ID, "t1"),
        (2, CHANNEL_ID, "t1"),
    ]
    assert actions[0].next_checkin_at == FIXED_NOW + timedelta(days=30)


async def test_another_channel_or_tenant_cannot_see_or_change_an_action_and_partners_are_refused(
    database: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, teams.message(ADD, mentions=(AMINA,)))
        await _post(client, teams.message("actions", conversation=OTHER_CHANNEL))
        await _post(client, teams.message("action A1 close", conversation=OTHER_CHANNEL))
        await _post(client, teams.message("action A1 close", tenant="t2"))
        await _post(client, teams.message("action A1 close", BEN))
        await _post(client, teams.message("actions", BEN))
        await _post(client, teams.message(ADD, BEN, mentions=(AMINA,)))
    other_list, other_close = _said(connector, OTHER_CHANNEL)
    other_tenant, partner_close, partner_list, partner_add = _said(connector, CHANNEL)[-4:]
    assert "No actions yet" in other_list
    assert "There is no action A1 here" in other_close
    assert "There is no action A1 here" in other_tenant
    assert "Only partnership leads" in partner_close
    assert "1:1 chat" in partner_list
    assert "Only partnership leads" in partner_add
    async with transaction(database.sessions) as session:
        action = (await session.execute(sa.select(Action))).scalar_one()
        assert action.state == "open"
        assert (await session.execute(sa.select(sa.func.count()).select_from(Action))).scalar_one() == 1


async def test_the_owner_is_checked_in_once_however_often_the_job_runs_and_answers_from_the_card(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    now = [FIXED_NOW]
    teams = Teams(connector)
    async with _client(database, lambda: now[0]) as client:
        await _post(client, teams.message(ADD, mentions=(AMINA,)))
        await _arrived(connector, connector.personal_id(AMINA["id"]), 1)  # sent before a month passes
        now[0] = FIXED_NOW + timedelta(days=31)
        settings = Settings(database_url=database.url, _env_file=None)
        for _ in range(3):  # the deadlines job, every minute (and on every instance)
            await deadlines(database.sessions, lambda: now[0], settings, lambda: None)
        async with transaction(database.sessions) as session:
            rows = (
                (
                    await session.execute(
                        sa.select(OutboxMessage).where(
                            OutboxMessage.kind == OutboxKind.ACTION_CHECKIN,
                            OutboxMessage.dedupe_key.startswith("checkin:"),  # not the first card
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert len(rows) == 1
        client.app[SENDER].notify()
        await _arrived(connector, connector.personal_id(AMINA["id"]), 2)  # the first card, the check-in
        checkin = _card_with(connector, connector.personal_id(AMINA["id"]), "How is **A1** going?")
        assert schema_errors(card_schema, checkin) == []
        send = checkin["actions"][0]
        data = {**send["data"], "rag": "at-risk", "state": "open", "note": "Waiting on the IG review"}
        personal = connector.personal_id(AMINA["id"])
        status, body = await _post(client, teams.press(data, AMINA, conversation=personal))
        assert status == 200
        done = body["value"]
        assert schema_errors(card_schema, done) == []
        assert "A1 is 🟠 At risk" in _texts(done)
        _, refused = await _post(
            client, teams.press(data, BEN, conversation=connector.personal_id(BEN["id"]))
        )
        assert "Only the action's owner" in refused["value"]
        await _post(client, teams.message("actions"))
    listed = _texts(_card_with(connector, CHANNEL, "This channel's plan"))
    assert "🟠 At risk" in listed
    async with transaction(database.sessions) as session:
        updates = (await session.execute(sa.select(ActionUpdate))).scalars().all()
        action = (await session.execute(sa.select(Action))).scalar_one()
    assert [(u.rag, u.note) for u in updates] == [("at-risk", "Waiting on the IG review")]
    assert action.next_checkin_at == FIXED_NOW + timedelta(days=31 + 30)


async def test_an_overdue_action_is_flagged_in_the_plan(database: Database, connector: FakeConnector) -> None:
    now = [FIXED_NOW]
    teams = Teams(connector)
    async with _client(database, lambda: now[0]) as client:
        for text in ("Late one", "Done one"):
            add = f'action add "{text}" owner <at>Amina Khan</at> due 2026-12-31'
            await _post(client, teams.message(add, mentions=(AMINA,)))
        await _post(client, teams.message("action A2 rag done"))
        assert "A2 is complete" in connector.texts_to(CHANNEL)[-1]
        await _arrived(connector, connector.personal_id(AMINA["id"]), 2)
        now[0] = FIXED_NOW + timedelta(days=45)  # 7 January 2027
        await _post(client, teams.message("actions"))
    listed = _texts(_card_with(connector, CHANNEL, "This channel's plan"))
    assert "⚠ overdue, due 31 Dec 2026" in listed  # A1 is late
    assert listed.count("overdue, due") == 1  # A2 is complete, so never overdue
    assert "⚠ 1 overdue" in listed


async def _audit_in_the_channel(database: Database) -> tuple[int, dict[str, int]]:
    """Audit 2026 started in the channel; the three members invited and all three answered its first
    element (two at the lowest level) and its second at the top level, so the first is a gap."""
    framework = load_directory().frameworks["audit-committee-maturity"]
    first, second = (element for _, element in framework.scored_elements[:2])
    lowest, top = "basic", "results"  # the audit matrix's progress levels
    async with transaction(database.sessions) as session:
        people = {}
        for member in (LEAD, AMINA, BEN):
            person = await upsert_person(
                session,
                teams_user_id=member["id"],
                aad_object_id=member["aadObjectId"],
                name=member["name"],
                email=member["email"],
                tenant_id="t1",
                now=FIXED_NOW,
            )
            people[member["id"]] = stored_id(person.id)
        survey = await create_survey(
            session, framework, now=FIXED_NOW, title="Audit 2026", conversation_id=CHANNEL, tenant_id="t1"
        )
        await invite(session, stored_id(survey.id), people.values(), now=FIXED_NOW)
        for member, value in ((LEAD, lowest), (AMINA, lowest), (BEN, top)):
            person = await session.get(Person, people[member["id"]])
            assert person is not None
            await record_answer(session, survey, person, first.id, value, now=FIXED_NOW)
            await record_answer(session, survey, person, second.id, top, now=FIXED_NOW)
        return stored_id(survey.id), people


async def test_lead_makes_an_action_from_the_results_card_and_the_export_has_the_plan_sheet(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    survey_id, people = await _audit_in_the_channel(database)
    teams = Teams(connector)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, teams.message("results"))
        card = _card_with(connector, CHANNEL, "Audit 2026")
        assert schema_errors(card_schema, card) == []
        form = next(action for action in card["actions"] if action["title"] == "Make an action")
        inputs = {element["id"]: element for element in form["card"]["body"]}
        element_id = inputs["action_element"]["choices"][0]["value"]
        assert element_id
        owners = {choice["title"]: choice["value"] for choice in inputs["action_owner"]["choices"]}
        assert set(owners) == {"Lee Lead", "Amina Khan", "Ben Okafor"}
        data = {
            **form["card"]["actions"][0]["data"],
            "action_element": element_id,
            "action_text": "=Agree a shared audit programme",
            "action_owner": owners["Amina Khan"],
            "action_due": "2027-01-31",
        }
        _, partner = await _post(client, teams.press(data, BEN, conversation=CHANNEL))
        assert "Only partnership leads" in partner["value"]
        status, body = await _post(client, teams.press(data, LEAD, conversation=CHANNEL))
        assert status == 200
        assert body["value"] == "Added A1."
        _, again = await _post(client, teams.press(data, LEAD, conversation=CHANNEL))
        assert again["value"] == "A1 is already in the plan."
        _, elsewhere = await _post(client, teams.press(data, LEAD, conversation=OTHER_CHANNEL))
        assert "isn't one you can reach" in elsewhere["value"]
    async with transaction(database.sessions) as session:
        action = (await session.execute(sa.select(Action))).scalar_one()
        export, summary = await export_data(
            session,
            survey_id=survey_id,
            with_summary=True,
            anonymise=False,
            rules=SummaryRules(),
            now=FIXED_NOW,
        )
    assert (action.owner_id, action.element_id, action.survey_id) == (
        people[AMINA["id"]],
        element_id,
        survey_id,
    )
    book = load_workbook(io.BytesIO(xlsx_bytes(export, summary)))
    rows = list(book["Action plan"].iter_rows(values_only=True))
    assert rows[0] == ("Ref", "Requirement", "Action", "Due Date", "GB Owner", "RAG", "Status")
    assert rows[1] == (
        "A1",
        action.element_title,
        "=Agree a shared audit programme",  # text, never a formula
        "2027-01-31",
        "Amina Khan",
        "On-Track",
        "Open",
    )
    assert book["Action plan"]["C2"].data_type == "s"


async def test_the_weekly_post_counts_the_plan_by_rag_overdue_and_changed_without_its_text(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await _audit_in_the_channel(database)
    today = [FIXED_NOW]  # Monday 23 November 2026
    teams = Teams(connector)
    async with _client(database, lambda: today[0]) as client:
        await _post(client, teams.message("subscribe weekly Monday 09:00"))
        today[0] = FIXED_NOW + timedelta(hours=1)
        for text, due in (("Late one", "27 Nov"), ("Risky one", "31 Dec"), ("Finished one", "31 Dec")):
            await _post(client, teams.message(f'action add "{text}" owner amina@trust.nhs.uk due {due}'))
        await _post(client, teams.message("action A2 rag amber"))
        await _post(client, teams.message("action A3 close"))
        next_monday = FIXED_NOW + timedelta(days=7)
        await _arrived(connector, connector.personal_id(AMINA["id"]), 3)  # before the week passes
        async with transaction(database.sessions) as session:
            assert await queue_due_summaries(session, now=next_monday) == 1
        today[0] = next_monday
        client.app[SENDER].notify()
        await _arrived(connector, CHANNEL_ID, 1)  # the weekly post, to the channel itself
    posted = connector.sent_to(CHANNEL_ID)[-1]["attachments"][0]["content"]
    assert schema_errors(card_schema, posted) == []
    text = _texts(posted)
    plan = text[text.index("Action plan") :]
    assert "🟢 On track: 1" in plan  # A1, late: due Friday 27 November
    assert "🟠 At risk: 1" in plan
    assert "⚠ Overdue: 1" in plan
    assert "Changed since the last post: 3" in plan  # all three were made this week
    assert "Closed: 1" in plan
    for words in ("Late one", "Risky one", "Finished one", "Amina"):
        assert words not in json.dumps(posted)  # figures only in the channel's post


async def test_in_1to1_a_lead_sees_every_plan_and_an_owner_only_what_they_own(
    database: Database, connector: FakeConnector
) -> None:
    teams = Teams(connector)
    lead_chat, amina_chat, ben_chat = (connector.personal_id(m["id"]) for m in (LEAD, AMINA, BEN))
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, teams.message(ADD, mentions=(AMINA,)))
        finance = 'action add "Pool the budgets" owner <at>Ben Okafor</at> due 31 March'
        await _post(client, teams.message(finance, conversation=OTHER_CHANNEL, mentions=(BEN,)))
        await _post(client, teams.message("actions", conversation=lead_chat))
        lead_view = _texts(_card_with(connector, lead_chat, "Every plan you can reach"))
        await _post(client, teams.message("actions", AMINA, conversation=amina_chat))
        amina_view = _texts(_card_with(connector, amina_chat, "Actions you own"))
        await _post(client, teams.message("action A1 close", AMINA, conversation=amina_chat))
        refused = _said(connector, amina_chat)[-1]
        await _post(client, teams.message("action A1 close", conversation=lead_chat))
        ambiguous = _said(connector, lead_chat)[-1]
        await _post(
            client,
            teams.message(
                'action add "Anything" owner amina@trust.nhs.uk due Friday', conversation=lead_chat
            ),
        )
        which_survey = _said(connector, lead_chat)[-1]
        await _post(client, teams.message("actions", BEN, conversation=ben_chat))
    assert "Every plan you can reach" in lead_view
    assert "Agree a shared data plan" in lead_view
    assert "Pool the budgets" in lead_view
    assert "Actions you own" in amina_view
    assert "Agree a shared data plan" in amina_view
    assert "Pool the budgets" not in amina_view
    assert "Only partnership leads" in refused
    assert "2 plans you can reach have an A1" in ambiguous
    assert "say which survey the action belongs to" in which_survey
    assert "Pool the budgets" in _texts(_card_with(connector, ben_chat, "Actions you own"))


async def test_an_owner_the_bot_cannot_reach_is_reported_to_the_lead_who_made_the_action(
    database: Database, connector: FakeConnector
) -> None:
    now = [FIXED_NOW]
    teams = Teams(connector)
    lead_chat = connector.personal_id(LEAD["id"])
    async with _client(database, lambda: now[0]) as client:
        connector.fail(BEN["id"], Fault(403, code="MessageWritesBlocked"))  # Ben blocked the bot
        await _post(client, teams.message("help", conversation=lead_chat))  # the lead's 1:1 chat is known
        await _post(client, teams.message(ADD, mentions=(AMINA,)))
        ben_action = 'action add "Pool the budgets" owner <at>Ben Okafor</at> due 31 March'
        await _post(client, teams.message(ben_action, mentions=(BEN,)))
        await _arrived(connector, connector.personal_id(AMINA["id"]), 1)
        now[0] = FIXED_NOW + timedelta(days=30)
        async with transaction(database.sessions) as session:
            assert await queue_due_checkins(session, now=now[0]) == 2
        client.app[SENDER].notify()
        await _arrived(connector, lead_chat, 2)  # help, then the check-ins' report
    amina = [_texts(c) for a in connector.sent_to(connector.personal_id(AMINA["id"])) for c in _cards_of(a)]
    assert sum("How is **A1** going?" in text for text in amina) == 1
    report = _said(connector, lead_chat)[-1]
    assert report == "Action check-ins for “your actions”: sent 1, 1 failed (1 has blocked the bot)."
    assert "Ben" not in report
