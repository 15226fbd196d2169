"""A lead runs a survey from a Teams channel, through the real web app and a fake Bot Connector."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import SENDER, create_app
from bot.leads.turn import ROSTER_BUSY
from bot.outbox.weekly import queue_due_summaries
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.answers import record_answer
from storage.conversations import reference_for
from storage.db import transaction
from storage.framework_versions import publish
from storage.organisations import map_domain, person_organisation
from storage.reminders import queue_due_reminders
from storage.surveys import close_due_surveys
from storage.tables import Invitation, OutboxMessage, Person, Survey, SurveyState
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector

AUDIT = load_directory().frameworks["audit-committee-maturity"]
CHANNEL_ID = "19:general@thread.tacv2"
"""The channel itself: where proactive posts (reports, weekly summaries) go, as new posts."""
CHANNEL = f"{CHANNEL_ID};messageid=1700000000001"
"""The thread the lead's commands are typed in: replies in a turn go there."""
TEAM = "19:team@thread.tacv2"
MEMBERS = [
    {"id": "29:lead", "name": "Lee Lead", "aadObjectId": "aad-lead", "email": "lee@trust.nhs.uk"},
    {"id": "29:amina", "name": "Amina Khan", "aadObjectId": "aad-amina", "email": "amina@trust.nhs.uk"},
    {"id": "29:ben", "name": "Ben Okafor", "aadObjectId": "aad-ben", "email": "ben@council.gov.uk"},
    {"id": "28:otherbot", "name": "Another bot"},
]


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = list(MEMBERS)
        yield fake


class Channel:
    """Activities as Teams sends them from a team's channel."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.count = 0

    def message(self, text: str, sender: dict[str, Any] = MEMBERS[0], **fields: Any) -> dict[str, Any]:
        self.count += 1
        return {
            "id": fields.pop("id", f"1700000001{self.count:03d}"),
            "type": "message",
            "text": f"<at>Survey bot</at> {text}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": sender["id"], "name": sender["name"], "aadObjectId": sender["aadObjectId"]},
            "recipient": {"id": "28:surveybot", "name": "Survey bot"},
            "conversation": {"id": CHANNEL, "conversationType": "channel", "tenantId": "t1"},
            "channelData": {"tenant": {"id": "t1"}, "team": {"id": TEAM}, "channel": {"id": CHANNEL_ID}},
            "entities": [
                {
                    "type": "mention",
                    "mentioned": {"id": "28:surveybot", "name": "Survey bot"},
                    "text": "<at>Survey bot</at>",
                }
            ],
            **fields,
        }

    def confirm(self, data: dict[str, Any], sender: dict[str, Any] = MEMBERS[0]) -> dict[str, Any]:
        activity = self.message("", sender)
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": "lead", "data": data}, "trigger": "manual"},
        )
        return activity


CHARTS = {"public_base_url": "https://bot.example.nhs.uk", "chart_link_key": "a-secret-from-the-environment"}
"""Settings that put charts in summary cards."""


def _client(
    database: Database, clock: Callable[[], datetime] = lambda: FIXED_NOW, **settings: Any
) -> TestClient:
    configured = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None, **settings)
    app = create_app(configured, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _post(client: TestClient, activity: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/api/messages", json=activity)
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body


def _card_data(card: dict[str, Any], title: str) -> dict[str, Any]:
    return next(action["data"] for action in card["actions"] if action["title"] == title)


async def test_lead_starts_a_survey_and_every_member_is_invited_once(
    database: Database, connector: FakeConnector
) -> None:
    async with transaction(database.sessions) as session:
        await map_domain(session, "trust.nhs.uk", "Anytown NHS Trust", now=FIXED_NOW)
    channel = Channel(connector)
    async with _client(database) as client:
        start = channel.message('start audit-committee-maturity closes 30 November title "Audit 2026"')
        assert (await _post(client, start))[0] == 201
        assert (await _post(client, start))[0] == 201  # Teams' retry: no second card
        cards = connector.cards()
        assert len(cards) == 1
        facts = {fact["title"]: fact["value"] for fact in cards[0]["body"][1]["facts"]}
        assert facts["Invitations"] == "3 people"  # the other bot is not invited
        assert "Anytown NHS Trust 2" in facts["Organisations"]
        assert "Monday 30 November 2026" in facts["Closes"]
        assert connector.created == []  # nothing goes out before the lead confirms

        status, body = await _post(client, channel.confirm(_card_data(cards[0], "Send invitations")))
        assert status == 200
        assert "sending 3 invitations" in body["value"]
        await connector.wait_for_sent(1 + 3 + 1)  # the card, three invitations, the lead's report
        for member in MEMBERS[:3]:
            invitations = connector.sent_to(f"a:{member['id']}")
            assert len(invitations) == 1, member["name"]
            card = invitations[0]["attachments"][0]["content"]
            assert any(block.get("text") == "Audit 2026" for block in card["body"][2]["items"])
        report = connector.sent_to(CHANNEL_ID)[-1]["text"]
        assert "sent 3" in report

        status, body = await _post(client, channel.confirm(_card_data(cards[0], "Send invitations")))
        assert "already started" in body["value"]  # a second click sends nothing more
        await client.app[SENDER].drain_once()
        assert len(connector.created) == 3

    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        assert survey.state == SurveyState.OPEN
        assert survey.closes_at == FIXED_NOW.replace(day=30, hour=23, minute=59, second=59)
        assert survey.conversation_id == CHANNEL_ID
        assert (survey.tenant_id, survey.team_id) == ("t1", TEAM)
        invited = (await session.execute(sa.select(sa.func.count()).select_from(Invitation))).scalar_one()
        rows = (await session.execute(sa.select(OutboxMessage.state))).scalars().all()
    assert invited == 3
    assert sorted(rows) == ["sent"] * 4


async def test_a_partner_who_types_start_is_told_who_can(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start audit-committee-maturity", MEMBERS[1]))
        await _post(client, channel.message("what is this?", MEMBERS[1]))
        await _post(client, channel.message("frameworks", MEMBERS[1]))
    refusal, unknown, frameworks = connector.texts()
    assert "Only partnership leads" in refusal
    assert "I didn't recognise that" in unknown
    assert "frameworks" in unknown
    assert "audit-committee-maturity" in frameworks
    async with transaction(database.sessions) as session:
        assert (await session.execute(sa.select(Survey))).first() is None


async def test_lead_checks_status_reminds_and_closes(database: Database, connector: FakeConnector) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start audit-committee-maturity"))
        await _post(client, channel.confirm(_card_data(connector.cards()[0], "Send invitations")))
        await connector.wait_for_sent(1 + 3 + 1)
        await _post(client, channel.message("status"))
        status = connector.sent[-1]["text"]
        assert "None of the 3 have started yet." in status
        assert "Amina" not in status  # names of people who have not answered stay out of channels

        await _post(client, channel.message("remind"))
        assert "Reminding 3 people" in connector.sent_to(CHANNEL)[-1]["text"]  # reminders may go first
        await connector.wait_for_sent(1 + 3 + 1 + 1 + 1 + 3 + 1)
        await _post(client, channel.message("remind"))
        assert "Reminding 0 people" in connector.sent[-1]["text"]  # never twice in a day
        assert "3 were reminded in the last day" in connector.sent[-1]["text"]

        await _post(client, channel.message("close"))
        assert "Closed" in connector.sent[-1]["text"]
        await _post(client, channel.message("close"))
        assert "no open survey" in connector.sent[-1]["text"]
        await _post(client, channel.message("reopen closes in 2 weeks"))
        assert "Reopened" in connector.sent[-1]["text"]
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        reminded = (await session.execute(sa.select(Invitation.reminder_count))).scalars().all()
    assert survey.state == SurveyState.OPEN
    assert survey.closes_at is not None
    assert survey.closes_at > FIXED_NOW + timedelta(days=13)
    assert reminded == [1, 1, 1]


async def test_lead_grants_a_partner_the_lead_role_by_mention(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    amina = MEMBERS[1]
    async with _client(database) as client:
        grant = channel.message("grant lead <at>Amina Khan</at>")
        grant["entities"].append(
            {
                "type": "mention",
                "mentioned": {"id": amina["id"], "name": amina["name"]},
                "text": "<at>Amina Khan</at>",
            }
        )
        await _post(client, grant)
        assert "Amina Khan is now a lead" in connector.sent[-1]["text"]
        await _post(client, channel.message("start audit-committee-maturity", amina))
        assert len(connector.cards()) == 1  # she may start surveys now
    async with transaction(database.sessions) as session:
        people = (await session.execute(sa.select(Person.name).order_by(Person.name))).scalars().all()
    assert "Amina Khan" in people


async def test_bot_added_to_a_team_keeps_the_channel_and_greets_once(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    installed = channel.message("")
    installed.update(type="installationUpdate", action="add", text=None, entities=[])
    added = channel.message("")
    added.update(
        type="conversationUpdate",
        text=None,
        entities=[],
        membersAdded=[{"id": "28:surveybot", "name": "Survey bot"}],
    )
    built_in = load_directory().frameworks["place-partnership-maturity"]
    async with transaction(database.sessions) as session:  # a framework each tenant published
        for tenant, title in (("t1", "Our place matrix"), ("t2", "Another tenant's matrix")):
            own = built_in.model_copy(update={"id": f"own-{tenant}", "title": title})
            await publish(session, tenant_id=tenant, framework=own, published_by_id=None, now=FIXED_NOW)
    async with _client(database) as client:
        assert (await _post(client, installed))[0] in (200, 201)
        assert (await _post(client, added))[0] in (200, 201)
    (greeting,) = connector.texts()
    assert "help" in greeting
    assert "Our place matrix" in greeting  # the tenant's own framework is offered beside the built-in ones
    assert built_in.title in greeting
    assert "Another tenant's matrix" not in greeting
    async with transaction(database.sessions) as session:
        reference = await reference_for(session, CHANNEL)
    assert reference is not None
    assert reference.team_id == TEAM


async def test_lead_who_types_start_alone_gets_a_form_and_can_start_from_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start"))
        form = connector.cards()[-1]
        assert schema_errors(card_schema, form) == []
        choices = {choice["value"] for choice in form["body"][1]["choices"]}
        assert "place-partnership-maturity" in choices
        inputs = {
            "framework_id": "place-partnership-maturity",
            "title": "Place <b>2026</b>",
            "closes": "2026-12-04",
        }
        status, body = await _post(client, channel.confirm({"lead": "start_form", **inputs}))
        assert status == 200
        assert "Check the details" in body["value"]
        confirm = connector.cards()[-1]
        assert schema_errors(card_schema, confirm) == []
        facts = {fact["title"]: fact["value"] for fact in confirm["body"][1]["facts"]}
        assert facts["Survey"] == "Place &lt;b&gt;2026&lt;/b&gt;"  # a lead's words are shown, never run
        assert "Friday 4 December 2026" in facts["Closes"]
        status, body = await _post(
            client, channel.confirm({"lead": "start_form", "framework_id": "nonsense"}, MEMBERS[1])
        )
        assert body["value"] == "Only partnership leads can do that."


async def test_results_in_a_channel_show_aggregates_only_and_nothing_below_k(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start audit-committee-maturity"))
        await _post(client, channel.confirm(_card_data(connector.cards()[0], "Send invitations")))
        await connector.wait_for_sent(1 + 3 + 1)
        async with transaction(database.sessions) as session:
            survey = (await session.execute(sa.select(Survey))).scalar_one()
            amina = (await session.execute(sa.select(Person).where(Person.name == "Amina Khan"))).scalar_one()
            await record_answer(
                session,
                survey,
                amina,
                "mergers-acquisitions-and-disposals",
                "basic",
                now=FIXED_NOW,
                comment="Our board is split",
            )
        await _post(client, channel.message("results", MEMBERS[1]))  # anyone may ask
    card = connector.cards()[-1]
    assert schema_errors(card_schema, card) == []
    shown = json.dumps(card)
    assert "Amina" not in shown
    assert "Our board is split" not in shown  # comments never reach a channel
    assert "Basic" not in shown  # one answer is below k = 3: no figure at all


async def test_people_and_organisations_are_managed_from_chat(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    amina = MEMBERS[1]
    async with _client(database) as client:
        await _post(client, channel.message('map domain council.gov.uk to "Borough Council"'))
        assert "answer for Borough Council" in connector.sent[-1]["text"]
        await _post(client, channel.message("map domain gmail.com to Somewhere"))
        assert "my organisation" in connector.sent[-1]["text"]  # shared domains are refused
        await _post(client, channel.message("domains"))
        assert "council.gov.uk → Borough Council" in connector.sent[-1]["text"]
        await _post(client, channel.message("surveys", amina))
        assert "No surveys here yet" in connector.sent[-1]["text"]

        personal = channel.message("my organisation Anytown VCSE Alliance", amina)
        personal["text"] = "my organisation Anytown VCSE Alliance"
        personal["conversation"] = {"id": "a:amina", "conversationType": "personal", "tenantId": "t1"}
        personal["entities"] = []
        await _post(client, personal)
        assert "you answer for Anytown VCSE Alliance" in connector.sent[-1]["text"]

        grant = channel.message("grant lead <at>Amina Khan</at>")
        mention = {"id": amina["id"], "name": amina["name"]}
        grant["entities"].append({"type": "mention", "mentioned": mention, "text": "<at>Amina Khan</at>"})
        await _post(client, grant)
        revoke = channel.message("revoke lead <at>Amina Khan</at>")
        revoke["entities"] = grant["entities"]
        await _post(client, revoke)
        assert "Amina Khan is no longer a lead" in connector.sent[-1]["text"]
        await _post(client, channel.message("start audit-committee-maturity", amina))
        assert "Only partnership leads" in connector.sent[-1]["text"]
    async with transaction(database.sessions) as session:
        person = (
            await session.execute(sa.select(Person).where(Person.teams_user_id == "29:amina"))
        ).scalar_one()
        organisation, source = await person_organisation(session, person.id or 0)
    assert organisation is not None
    assert organisation.name == "Anytown VCSE Alliance"
    assert source == "self"


async def test_automatic_reminders_go_once_before_the_close_and_the_survey_closes_on_time(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    async with _client(database) as client:
        await _post(client, channel.message("start audit-committee-maturity closes 24 November 17:00"))
        await _post(client, channel.confirm(_card_data(connector.cards()[0], "Send invitations")))
        await connector.wait_for_sent(1 + 3 + 1)
    closes = FIXED_NOW.replace(day=24, hour=17, minute=0)
    async with transaction(database.sessions) as session:
        first = await queue_due_reminders(session, now=FIXED_NOW, before=timedelta(hours=48))
        again = await queue_due_reminders(
            session, now=FIXED_NOW + timedelta(hours=1), before=timedelta(hours=48)
        )
        kinds = (await session.execute(sa.select(OutboxMessage.kind))).scalars().all()
        assert await close_due_surveys(session, now=closes - timedelta(seconds=1)) == []
        closed = await close_due_surveys(session, now=closes)
    assert first == 3  # everyone invited has yet to submit
    assert again == 0  # once per survey
    assert sorted(kinds).count("remind") == 3
    assert len(closed) == 1


async def test_a_channel_subscribed_weekly_gets_one_summary_per_week_and_one_line_when_quiet(
    database: Database, connector: FakeConnector
) -> None:
    channel = Channel(connector)
    today = [FIXED_NOW]
    async with _client(database, clock=lambda: today[0]) as client:
        await _post(client, channel.message("start audit-committee-maturity"))
        await _post(client, channel.confirm(_card_data(connector.cards()[0], "Send invitations")))
        await connector.wait_for_sent(1 + 3 + 1)
        await _post(client, channel.message("subscribe weekly Monday 09:00"))
        assert "Every Monday at 09:00 (Europe/London)" in connector.sent[-1]["text"]
        await _post(client, channel.message("subscriptions", MEMBERS[1]))
        assert "Mondays at 09:00" in connector.sent[-1]["text"]
        sender = client.app[SENDER]
        next_monday = FIXED_NOW + timedelta(days=7)  # 09:30 UTC, after 09:00 London (GMT)
        async with transaction(database.sessions) as session:
            assert await queue_due_summaries(session, now=FIXED_NOW) == 0  # this week's time had passed
            assert await queue_due_summaries(session, now=next_monday) == 1
            assert await queue_due_summaries(session, now=next_monday) == 0  # claimed once
        before = len(connector.sent)
        today[0] = next_monday
        await sender.drain_once()
        await connector.wait_for_sent(before + 1)
        posted = connector.sent_to(CHANNEL_ID)[-1]
        assert posted["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        card_text = json.dumps(posted["attachments"][0]["content"])
        assert "new answers" in card_text  # nobody answered since the subscription: a brief card
        metrics = await (await client.get("/metrics")).text()
        assert "surveybot_summary_posts_total 1.0" in metrics

        await _post(client, channel.message("unsubscribe"))
        assert "Stopped the weekly summary" in connector.sent[-1]["text"]
        async with transaction(database.sessions) as session:
            assert await queue_due_summaries(session, now=next_monday + timedelta(days=7)) == 0


async def test_results_card_shows_the_chart_from_a_signed_expiring_link(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    channel = Channel(connector)
    today = [FIXED_NOW]
    async with _client(database, lambda: today[0], **CHARTS) as client:
        await _post(client, channel.message("start audit-committee-maturity"))
        await _post(client, channel.confirm(_card_data(connector.cards()[0], "Send invitations")))
        await connector.wait_for_sent(1 + 3 + 1)
        async with transaction(database.sessions) as session:
            survey = (await session.execute(sa.select(Survey))).scalar_one()
            for person in (await session.execute(sa.select(Person))).scalars():
                for _, element in AUDIT.scored_elements:
                    await record_answer(session, survey, person, element.id, "basic", now=FIXED_NOW)
        await _post(client, channel.message("results"))
        card = connector.cards()[-1]
        assert schema_errors(card_schema, card) == []
        image = next(block for block in card["body"] if block["type"] == "Image")
        assert image["url"].startswith("https://bot.example.nhs.uk/charts/")
        path = image["url"].removeprefix("https://bot.example.nhs.uk")

        chart = await client.get(path)
        assert chart.status == 200
        assert chart.content_type == "image/png"
        assert (await chart.read()).startswith(b"\x89PNG")
        assert (await client.get(path.replace("sig=", "sig=0"))).status == 403  # tampered
        today[0] = FIXED_NOW + timedelta(days=29)
        assert (await client.get(path)).status == 403  # expired


async def test_start_while_teams_throttles_the_roster_says_so_and_starts_nothing(
    database: Database, connector: FakeConnector
) -> None:
    connector.roster_faults = [(429, {"Retry-After": "120"})]  # longer than a lead should wait
    channel = Channel(connector)
    async with _client(database) as client:
        assert (await _post(client, channel.message("start audit-committee-maturity")))[0] == 201
        assert connector.sent[-1]["text"] == ROSTER_BUSY
        assert connector.cards() == []
        await _post(client, channel.message("start audit-committee-maturity", id="1700000009999"))
        assert "Send invitations" in json.dumps(connector.cards()[-1])  # Teams answers again: it works
    async with transaction(database.sessions) as session:
        assert len((await session.execute(sa.select(Survey))).scalars().all()) == 1
