"""Who sees what, and where: a channel's threads are one place, nothing crosses tenants, teams or
channels, and a breakdown shown in a channel keeps its anonymity threshold.

Everything goes through the real app's /api/messages with activities in Teams' published shapes
(tests/teams_wire.py): a channel post is `<channel id>;messageid=<root post id>`, a reply in a thread
keeps its root's id. What reached the fake Bot Connector is read from the bytes, as Teams reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import SENDER, create_app
from bot.outbox.weekly import queue_due_summaries
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.answers import record_answer, submit_response
from storage.db import transaction
from storage.migrate import downgrade, upgrade
from storage.organisations import map_domain
from storage.tables import (
    ConversationReference,
    Invitation,
    OutboxMessage,
    Person,
    SummarySubscription,
    Survey,
    SurveyState,
)
from storage.types import JSONDocument
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.teams_wire import ADAPTIVE_CARD, Channel, Member, TeamsShapes, card_problems, teams_json

AUDIT = load_directory().frameworks["audit-committee-maturity"]
ELEMENTS = [element.id for _, element in AUDIT.scored_elements]
HOME_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"

LEAD = Member("29:1lead", "Lee Lead", "aad-lead")
AMINA = Member("29:1amina", "Amina Khan", "aad-amina")
BEN = Member("29:1ben", "Ben Okafor", "aad-ben")
CARA = Member("29:1cara", "Cara Doyle", "aad-cara")
DEV = Member("29:1dev", "Dev Patel", "aad-dev")
EVE = Member("29:1eve", "Eve Stone", "aad-eve")
TOM = Member("29:1tom", "Tom Tiny", "aad-tom")
MALLORY = Member("29:1mallory", "Mallory Lead", "aad-mallory", tenant=OTHER_TENANT)
"""A lead too (leads are the bot's, not a tenant's), in another organisation's tenant."""

HOME = Channel(id="19:abc@thread.tacv2", team="19:team-a@thread.tacv2")
NEXT_DOOR = Channel(id="19:next-door@thread.tacv2", team="19:team-b@thread.tacv2")
"""Another team's channel in the same tenant."""
ABROAD = Channel(id="19:abroad@thread.tacv2", team="19:team-x@thread.tacv2", tenant=OTHER_TENANT)

DOMAINS = {
    "trust.nhs.uk": "Anytown NHS Trust",
    "council.gov.uk": "Borough Council",
    "tiny.org.uk": "Tiny Trust",
}
ROSTER = {
    LEAD: "trust.nhs.uk",
    AMINA: "trust.nhs.uk",
    BEN: "trust.nhs.uk",
    CARA: "council.gov.uk",
    DEV: "council.gov.uk",
    EVE: "council.gov.uk",
    TOM: "tiny.org.uk",
}
TITLE = "Audit 2026"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        fake.members = [
            {**member.account(), "email": f"{member.name.split()[0].lower()}@{domain}"}
            for member, domain in ROSTER.items()
        ]
        yield fake


def _client(database: Database, clock: Callable[[], datetime] = lambda: FIXED_NOW) -> TestClient:
    settings = Settings(
        database_url=database.url, lead_user_ids="aad-lead,aad-mallory", anonymity_k=3, _env_file=None
    )
    app = create_app(settings, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


class Teams:
    """Posts Teams-shaped activities and reads back what the bot said, from the connector's bytes."""

    def __init__(self, client: TestClient, connector: FakeConnector, validator: Draft6Validator) -> None:
        self.client = client
        self.connector = connector
        self.shapes = TeamsShapes(connector.url)
        self.validator = validator

    async def post(self, activity: dict[str, Any]) -> Any:
        before = len(self.connector.wire)
        response = await self.client.post("/api/messages", json=activity)
        raw = await response.read()
        assert response.status in ((200,) if activity["type"] == "invoke" else (200, 201)), raw[:300]
        for _method, _path, sent in self.connector.wire[before:]:
            assert card_problems(self.validator, sent) == []
        return teams_json(raw) if raw else None

    async def say(
        self, member: Member, text: str, channel: Channel | None = None, *, thread: str | None = None
    ) -> str:
        """What the bot answered: `channel` None is the member's 1:1 chat; `thread` a root post id, or
        "" for the channel's own id (no `;messageid=`); neither: a new post."""
        if channel is None:
            activity = self.shapes.personal_message(member, text)
        else:
            activity = self.shapes.channel_message(member, text, channel, root_post=thread or None)
            if thread == "":
                activity["conversation"]["id"] = channel.id
        before = len(self.connector.sent)
        await self.post(activity)
        replies = self.connector.sent[before:]
        assert replies, f"no answer to {text!r}"
        return "\n".join(_text(reply) for reply in replies)

    async def start(self, text: str, *, thread: str) -> int:
        """A lead's `start` in a channel thread, confirmed on its card; waits for the invitations."""
        before = len(self.connector.sent)
        await self.say(LEAD, text, HOME, thread=thread)
        card = self.connector.cards()[-1]
        data = next(action["data"] for action in card["actions"] if action["title"] == "Send invitations")
        conversation = {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": HOME.tenant,
            "id": f"{HOME.id};messageid={thread}",
        }
        body = await self.post(self.shapes.execute(LEAD, data, verb="lead", conversation=conversation))
        assert "sending" in body["value"]
        await self.connector.wait_for_sent(before + 1 + len(ROSTER) + 1)  # card, invitations, report
        return int(data["survey_id"])


def _text(activity: dict[str, Any]) -> str:
    """An activity's words: its text, or its cards' JSON."""
    return activity.get("text") or str(activity.get("attachments") or "")


async def _people(database: Database) -> dict[Member, Person]:
    async with transaction(database.sessions) as session:
        people = {p.teams_user_id: p for p in (await session.execute(sa.select(Person))).scalars()}
    return {member: people[member.id] for member in ROSTER}


async def _map_domains(database: Database) -> None:
    async with transaction(database.sessions) as session:
        for domain, name in DOMAINS.items():
            await map_domain(session, domain, name, now=FIXED_NOW)


async def test_a_channels_survey_is_found_from_a_new_post_another_thread_and_the_channel_itself(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        survey_id = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        for thread in (None, "222", ""):  # a new post, a reply in another thread, the channel's own id
            assert TITLE in await teams.say(AMINA, "status", HOME, thread=thread)
            assert TITLE in await teams.say(AMINA, "results", HOME, thread=thread)
            assert f"#{survey_id} {TITLE}" in await teams.say(AMINA, "surveys", HOME, thread=thread)

        assert "Every Monday at 09:00" in await teams.say(
            LEAD, "subscribe weekly Monday 09:00", HOME, thread="111"
        )
        listed = await teams.say(AMINA, "subscriptions", HOME, thread="222")
        assert f"#{survey_id} “{TITLE}”: Mondays at 09:00" in listed
        stopped = await teams.say(LEAD, f"unsubscribe #{survey_id}", HOME, thread="")
        assert f"Stopped the weekly summary of “{TITLE}”" in stopped
        assert "No weekly summaries are posted here" in await teams.say(AMINA, "subscriptions", HOME)

    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, survey_id)
        references = (await session.execute(sa.select(ConversationReference.conversation_id))).scalars()
        places = [place for place in references if place.startswith("19:")]
    assert survey is not None
    assert (survey.conversation_id, survey.tenant_id, survey.team_id) == (HOME.id, HOME.tenant, HOME.team)
    assert places == [HOME.id]  # one reference for the channel, whichever threads spoke


async def test_weekly_posts_and_fanout_reports_are_new_posts_in_the_channel_not_thread_replies(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    today = [FIXED_NOW]
    async with _client(database, clock=lambda: today[0]) as client:
        teams = Teams(client, connector, card_schema)
        await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        await teams.say(LEAD, "subscribe weekly Monday 09:00", HOME, thread="333")
        next_monday = FIXED_NOW + timedelta(days=7)
        async with transaction(database.sessions) as session:
            assert await queue_due_summaries(session, now=next_monday) == 1
        today[0] = next_monday
        before = len(connector.sent)
        await client.app[SENDER].drain_once()
        await connector.wait_for_sent(before + 1)

    new_posts = [(path, raw) for method, path, raw in connector.wire if method == "POST"]
    to_channel = [
        teams_json(raw) for path, raw in new_posts if path == f"/v3/conversations/{HOME.id}/activities"
    ]
    assert "Invitations for “Audit 2026”: sent 7" in to_channel[0]["text"]  # the fan-out report
    weekly = to_channel[1]
    assert weekly["attachments"][0]["contentType"] == ADAPTIVE_CARD
    assert TITLE in str(weekly["attachments"][0]["content"])
    assert len(to_channel) == 2
    proactive = [path for path, _ in new_posts if not path.startswith("/v3/conversations/a:")]
    assert all(";messageid=" not in path for path in proactive if path.endswith("/activities"))


async def test_another_tenant_learns_nothing_of_survey_1(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        survey_id = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        before = len(connector.sent)
        n = survey_id
        for place in (ABROAD, None):  # their own channel, and their 1:1 chat
            answers = {
                command: await teams.say(MALLORY, command, place)
                for command in (
                    "surveys",  # in her 1:1 chat: every survey of her own tenant
                    f"status {n}",
                    f"results {n}",
                    f"comments {n}",
                    f"export {n}",
                    f"remind {n}",
                    f"close {n}",
                    f"reopen {n}",
                )
            }
            for command, answer in answers.items():
                assert TITLE not in answer, command
            where = "in its channel to see its numbers" if place else "to see their numbers"
            assert answers[f"status {n}"] == f"There is no survey #{n} here. Say surveys {where}."
            assert answers[f"close {n}"] == (await teams.say(MALLORY, "close 999", place)).replace(
                "999", str(n)
            )
            assert await teams.say(MALLORY, "status audit", place) == "No survey here matches “audit”."
            if place is not None:
                assert "No surveys here yet" in answers["surveys"]
                subscribed = await teams.say(MALLORY, f"subscribe weekly Monday 09:00 #{n}", place)
                assert subscribed.startswith(f"There is no survey #{n} here")
        await client.app[SENDER].drain_once()
        for activity in connector.sent[before:]:
            assert TITLE not in str(activity)

    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, survey_id)
        reminded = (await session.execute(sa.select(sa.func.sum(Invitation.reminder_count)))).scalar_one()
        kinds = (await session.execute(sa.select(OutboxMessage.kind))).scalars().all()
        subscriptions = (await session.execute(sa.select(SummarySubscription))).all()
    assert survey is not None
    assert survey.state == SurveyState.OPEN
    assert reminded == 0
    assert set(kinds) <= {"invite", "fanout-report"}  # no reminder, export or comments went out for it
    assert subscriptions == []


async def test_another_teams_channel_in_the_same_tenant_sees_nothing_but_the_leads_own_chat_does(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        for member in (AMINA, LEAD):
            for command in ("status", f"status {n}", f"results {n}", "results", "surveys", f"close {n}"):
                assert TITLE not in await teams.say(member, command, NEXT_DOOR), (member.name, command)
        assert TITLE not in await teams.say(AMINA, f"results {n}")  # a partner's own 1:1 chat
        privately = await teams.say(LEAD, f"status {n}")  # the lead's 1:1 chat, same tenant
    assert TITLE in privately
    assert "Not yet submitted: " in privately
    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, n)
    assert survey is not None
    assert survey.state == SurveyState.OPEN


async def test_status_in_a_channel_never_singles_out_a_small_organisation_but_the_leads_chat_shows_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _map_domains(database)
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        people = await _people(database)
        async with transaction(database.sessions) as session:
            survey = await session.get(Survey, n)
            assert survey is not None
            for _member, person in people.items():
                await record_answer(session, survey, person, ELEMENTS[0], "basic", now=FIXED_NOW)
            await submit_response(session, survey, people[TOM], now=FIXED_NOW)
        in_channel = await teams.say(AMINA, "status", HOME)
        privately = await teams.say(LEAD, f"status {n}")
    assert "1 of 7 has submitted (14%); 6 more have started." in in_channel
    assert "Tiny Trust" not in in_channel
    assert "1 of 1" not in in_channel
    assert "Organisations are shown only where at least 3 people have started" in in_channel
    shown = [line for line in in_channel.splitlines() if line.startswith("- ")]
    assert len(shown) == 1  # Tiny Trust's one person would be the difference: one more is pooled with it
    assert "- Tiny Trust: 1 of 1" in privately
    assert "- Anytown NHS Trust: 0 of 3" in privately
    assert "Tom" not in privately.split("Not yet submitted: ")[1]


async def test_comments_leave_out_a_question_that_two_answered_and_three_skipped(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        people = await _people(database)
        few, many = ELEMENTS[0], ELEMENTS[1]
        async with transaction(database.sessions) as session:
            survey = await session.get(Survey, n)
            assert survey is not None
            said = {AMINA: "Minutes are clear", BEN: "We disagree about minutes"}
            for member in (AMINA, BEN):
                await record_answer(
                    session, survey, people[member], few, "basic", now=FIXED_NOW, comment=said[member]
                )
            for member in (CARA, DEV, EVE):
                await record_answer(session, survey, people[member], few, None, now=FIXED_NOW)
                comment = "Shared risk register" if member is CARA else None
                await record_answer(
                    session, survey, people[member], many, "basic", now=FIXED_NOW, comment=comment
                )
        before = len(connector.wire)
        await teams.post(teams.shapes.personal_message(LEAD, f"comments {n}"))
        [(_, _, raw)] = [entry for entry in connector.wire[before:] if entry[0] == "POST"]
    card = teams_json(raw)["attachments"][0]["content"]
    shown = str(card)
    assert "Shared risk register" in shown
    assert "Minutes are clear" not in shown
    assert "We disagree" not in shown
    assert "Comments are shown only for questions that at least 3 people answered." in shown


_references = sa.table(
    "conversation_references",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("conversation_type", sa.String),
    sa.column("channel_id", sa.String),
    sa.column("service_url", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("team_id", sa.String),
    sa.column("reference", JSONDocument),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_surveys = sa.table(
    "surveys",
    sa.column("id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("framework_id", sa.String),
    sa.column("framework_version", sa.String),
    sa.column("framework_snapshot", JSONDocument),
    sa.column("state", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("conversation_id", sa.String),
)
_subscriptions = sa.table(
    "summary_subscriptions",
    sa.column("id", sa.Integer),
    sa.column("conversation_reference_id", sa.Integer),
    sa.column("survey_id", sa.Integer),
    sa.column("weekday", sa.Integer),
    sa.column("time_of_day", sa.Time),
    sa.column("time_zone", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("dedupe_key", sa.String),
    sa.column("kind", sa.String),
    sa.column("payload", JSONDocument),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _reference_row(reference_id: int, conversation_id: str, when: datetime) -> dict[str, Any]:
    return {
        "id": reference_id,
        "conversation_id": conversation_id,
        "conversation_type": "channel",
        "channel_id": "msteams",
        "service_url": "https://smba.trafficmanager.net/uk/",
        "tenant_id": HOME.tenant,
        "team_id": HOME.team,
        "reference": {
            "activityId": "1",
            "conversation": {"id": conversation_id, "conversationType": "channel"},
        },
        "created_at": when,
        "updated_at": when,
    }


async def test_threads_stored_before_the_upgrade_become_their_channel(database: Database) -> None:
    """Rows written by earlier versions held threads' ids; the upgrade merges them into their channel."""
    await downgrade(database.engine, "0006")
    naive = FIXED_NOW.replace(tzinfo=None) if database.kind == "sqlite" else FIXED_NOW
    async with database.engine.begin() as connection:
        await connection.execute(
            _references.insert(),
            [
                _reference_row(1, f"{HOME.id};messageid=111", naive),
                _reference_row(2, f"{HOME.id};messageid=222", naive + timedelta(hours=1)),
            ],
        )
        await connection.execute(
            _surveys.insert().values(
                id=1,
                title=TITLE,
                framework_id=AUDIT.id,
                framework_version=AUDIT.version,
                framework_snapshot=AUDIT.model_dump(mode="json"),
                state="open",
                created_at=naive,
                conversation_id=f"{HOME.id};messageid=111",
            )
        )
        subscription = {"survey_id": 1, "weekday": 0, "time_zone": "Europe/London", "created_at": naive}
        await connection.execute(
            _subscriptions.insert(),
            [
                {
                    "id": 1,
                    "conversation_reference_id": 1,
                    "active": True,
                    "time_of_day": naive.time(),
                    **subscription,
                },
                {
                    "id": 2,
                    "conversation_reference_id": 2,
                    "active": True,
                    "time_of_day": naive.time(),
                    **subscription,
                },
            ],
        )
        await connection.execute(
            _outbox.insert().values(
                id=1,
                dedupe_key="summary:1:x",
                kind="summary",
                payload={"conversation_reference_id": 1, "report_to": 1},
                state="pending",
                attempts=0,
                next_attempt_at=naive,
                created_at=naive,
            )
        )
    await upgrade(database.engine)

    async with transaction(database.sessions) as session:
        [reference] = (await session.execute(sa.select(ConversationReference))).scalars().all()
        survey = await session.get(Survey, 1)
        subscriptions = (
            (await session.execute(sa.select(SummarySubscription).order_by(SummarySubscription.id)))
            .scalars()
            .all()
        )
        message = await session.get(OutboxMessage, 1)
    assert reference.conversation_id == HOME.id
    assert reference.reference["conversation"]["id"] == HOME.id
    assert "activityId" not in reference.reference
    assert survey is not None
    assert (survey.conversation_id, survey.tenant_id, survey.team_id) == (HOME.id, HOME.tenant, HOME.team)
    assert [(s.conversation_reference_id, s.active) for s in subscriptions] == [
        (reference.id, True),
        (reference.id, False),  # the same summary twice in one channel would be posted twice
    ]
    assert message is not None
    assert message.payload == {"conversation_reference_id": reference.id, "report_to": reference.id}


async def test_a_lead_of_another_tenant_cannot_accept_an_export_of_survey_1_by_forging_its_context(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    """The consent card's context comes back from the client: it names a survey, so it is scoped too."""
    async with _client(database) as client:
        teams = Teams(client, connector, card_schema)
        n = await teams.start(f'start audit-committee-maturity title "{TITLE}"', thread="111")
        forged = {
            **teams.shapes.personal_message(MALLORY, ""),
            "type": "invoke",
            "name": "fileConsent/invoke",
            "value": {
                "type": "fileUpload",
                "action": "accept",
                "context": {
                    "offer": "export",
                    "survey_id": n,
                    "format": "csv",
                    "anonymise": False,
                    "requested_by": MALLORY.aad_object_id,
                    "expires_at": (FIXED_NOW + timedelta(hours=1)).isoformat(),
                },
                "uploadInfo": {
                    "name": "audit.csv",
                    "uploadUrl": connector.upload_url("audit.csv"),
                    "contentUrl": "https://contoso-my.sharepoint.com/personal/mallory/Documents/audit.csv",
                    "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                    "fileType": "csv",
                },
            },
        }
        before = len(connector.sent)
        await teams.post(forged)
        told = [_text(activity) for activity in connector.sent[before:]]
    assert connector.upload_requests == []
    assert told == ["That survey no longer exists, so there is nothing to send."]
