"""Rosters from Teams: read page by page from a fake Bot Connector on localhost, then stored as people."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from bot.settings import Settings
from bot.teams.adapter import create_adapter
from bot.teams.connector import BotConnector
from bot.teams.roster import Member, RetryBudget, RosterUnavailable, fetch_member, fetch_roster
from storage.db import transaction
from storage.organisations import map_domain, person_organisation, set_own_organisation
from storage.people import person_by_teams_id, upsert_person
from storage.roster import sync_roster
from storage.tables import Organisation, OrganisationSource, Person
from tests.conftest import Database
from tests.fakes.connector import FakeConnector, fake_connector

CHAT = "19:partners-chat@thread.v2"
TEAM = "19:anytown-place@thread.tacv2"
CHANNEL = f"{TEAM};messageid=1700000000001"
_T = TypeVar("_T")


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def teams_member(n: int, domain: str = "anytown-trust.nhs.uk", **fields: Any) -> dict[str, Any]:
    """A roster entry as Teams sends it."""
    return {
        "id": f"29:user-{n}",
        "name": f"Partner {n}",
        "aadObjectId": f"aad-{n}",
        "email": f"partner.{n}@{domain}",
        "userPrincipalName": f"partner.{n}@{domain}",
        "tenantId": "t1",
        "userRole": "user",
        **fields,
    }


def bot_member(name: str) -> dict[str, Any]:
    return {"id": f"28:{name}", "name": name}


async def in_turn(
    connector: FakeConnector,
    action: Callable[[TurnContext], Awaitable[_T]],
    *,
    conversation_id: str = CHAT,
    conversation_type: str = "groupChat",
    channel_data: dict[str, Any] | None = None,
) -> _T:
    """Run `action` in a turn of the real adapter (local mode) on an activity from the fake connector;
    without `channel_data` it is the kind a proactive turn has (no channel data)."""
    activity = Activity(
        type=ActivityTypes.event,
        channel_id="msteams",
        service_url=connector.url,
        conversation=ConversationAccount(
            id=conversation_id, conversation_type=conversation_type, tenant_id="t1"
        ),
        recipient=ChannelAccount(id="28:surveybot", name="Survey bot"),
        channel_data=channel_data,  # as an incoming message from Teams carries it
    )
    async with BotConnector().open() as bot_connector:
        adapter = create_adapter(Settings(microsoft_app_id="", _env_file=None), bot_connector)
        return await action(TurnContext(adapter, activity))


async def test_a_group_chat_of_1200_is_read_in_three_pages_of_500_without_its_bots(
    connector: FakeConnector,
) -> None:
    connector.members = [teams_member(n) for n in range(1200)]
    connector.members[10:10] = [bot_member("surveybot")]
    connector.members.append(bot_member("another-bot"))

    members = await in_turn(connector, fetch_roster)

    assert len(members) == 1200
    assert all(not member.id.startswith("28:") for member in members)
    assert members[0] == Member(
        id="29:user-0",
        aad_object_id="aad-0",
        name="Partner 0",
        email="partner.0@anytown-trust.nhs.uk",
        user_principal_name="partner.0@anytown-trust.nhs.uk",
        tenant_id="t1",
    )
    assert [
        (r["conversation_id"], r["pageSize"], r.get("continuationToken")) for r in connector.member_requests
    ] == [
        (CHAT, "500", None),
        (CHAT, "500", "page-from-500"),
        (CHAT, "500", "page-from-1000"),
    ]


async def test_a_member_repeated_on_a_later_page_is_listed_once(connector: FakeConnector) -> None:
    connector.members = [teams_member(n) for n in range(120)]
    connector.members.insert(60, teams_member(3))

    members = await in_turn(connector, lambda turn: fetch_roster(turn, page_size=50))

    assert [member.id for member in members] == [f"29:user-{n}" for n in range(120)]
    assert len(connector.member_requests) == 3


async def test_in_a_channel_the_whole_team_is_read(connector: FakeConnector) -> None:
    connector.members = [teams_member(n) for n in range(3)]
    team_turn = {"team": {"id": TEAM}, "channel": {"id": CHANNEL}, "tenant": {"id": "t1"}}

    members = await in_turn(
        connector, fetch_roster, conversation_id=CHANNEL, conversation_type="channel", channel_data=team_turn
    )
    proactive = await in_turn(
        connector,
        lambda turn: fetch_roster(turn, team_id=TEAM),
        conversation_id=CHANNEL,
        conversation_type="channel",
    )

    assert (
        [member.id for member in members]
        == [member.id for member in proactive]
        == ["29:user-0", "29:user-1", "29:user-2"]
    )
    assert [request["conversation_id"] for request in connector.member_requests] == [TEAM, TEAM]


async def test_a_mentioned_person_is_looked_up_for_their_aad_object_id(connector: FakeConnector) -> None:
    connector.members = [teams_member(n) for n in range(3)] + [bot_member("surveybot")]

    async def look_up(turn: TurnContext) -> list[Member | None]:
        return [
            await fetch_member(turn, member_id) for member_id in ("29:user-2", "29:stranger", "28:surveybot")
        ]

    found, stranger, bot = await in_turn(connector, look_up)

    assert found is not None
    assert (found.aad_object_id, found.name) == ("aad-2", "Partner 2")
    assert stranger is None
    assert bot is None


async def test_in_a_channel_a_mentioned_person_is_looked_up_in_the_team(connector: FakeConnector) -> None:
    connector.members = [teams_member(1)]
    team_turn = {"team": {"id": TEAM}, "channel": {"id": CHANNEL}, "tenant": {"id": "t1"}}

    member = await in_turn(
        connector,
        lambda turn: fetch_member(turn, "29:user-1"),
        conversation_id=CHANNEL,
        conversation_type="channel",
        channel_data=team_turn,
    )

    assert member is not None
    assert connector.member_requests == [{"conversation_id": TEAM, "member": "29:user-1"}]


async def test_a_roster_of_1200_is_stored_with_organisations_from_mapped_domains(
    database: Database, connector: FakeConnector, now: datetime
) -> None:
    connector.members = (
        [teams_member(n) for n in range(700)]
        + [teams_member(n, "ward7.anytown-trust.nhs.uk") for n in range(700, 800)]
        + [teams_member(n, "nhs.net") for n in range(800, 1100)]
        + [teams_member(n, "borough.gov.uk") for n in range(1100, 1199)]
        + [teams_member(1199, email=None, userPrincipalName="guest_gmail.com#EXT#@anytown.onmicrosoft.com")]
        + [bot_member("surveybot")]
    )
    async with transaction(database.sessions) as session:
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        await map_domain(session, "borough.gov.uk", "Borough Council", now=now)
        declared = await upsert_person(
            session, teams_user_id="29:user-5", aad_object_id="aad-5", name="Partner 5", now=now
        )
        await set_own_organisation(session, declared.id or 0, "Anytown Hospice", now=now)

    members = await in_turn(connector, fetch_roster)
    later = now + timedelta(hours=1)
    async with transaction(database.sessions) as session:
        ids = await sync_roster(session, members, now=later)

    assert len(ids) == len(set(ids)) == 1200
    assert declared.id == ids[5]
    async with transaction(database.sessions) as session:
        rows = await session.execute(
            sa.select(Organisation.name, sa.func.count(Person.id))
            .select_from(Person)
            .outerjoin(Organisation, Organisation.id == Person.organisation_id)
            .group_by(Organisation.name)
        )
        counts = {name: count for name, count in rows}
        own, source = await person_organisation(session, ids[5])
        guest = await person_by_teams_id(session, "29:user-1199")
        someone = await person_by_teams_id(session, "29:user-700")
    assert counts == {
        "Anytown NHS Trust": 799,
        "Anytown Hospice": 1,
        "Borough Council": 99,
        None: 301,
    }
    assert (own.name if own else None, source) == ("Anytown Hospice", OrganisationSource.SELF)
    assert guest is not None
    assert guest.email is None
    assert someone is not None
    assert (someone.aad_object_id, someone.name, someone.email, someone.tenant_id, someone.updated_at) == (
        "aad-700",
        "Partner 700",
        "partner.700@ward7.anytown-trust.nhs.uk",
        "t1",
        later,
    )


async def test_syncing_again_keeps_the_same_people_and_what_teams_left_out(
    database: Database, now: datetime
) -> None:
    first = [
        Member(id=f"29:user-{n}", aad_object_id=f"aad-{n}", name=f"Partner {n}", email=f"p{n}@a.nhs.uk")
        for n in range(3)
    ]
    renamed = Member(id="29:user-1", name="Partner One (she/her)")
    async with transaction(database.sessions) as session:
        ids = await sync_roster(session, first, now=now)
    async with transaction(database.sessions) as session:
        again = await sync_roster(session, [first[0], renamed, first[2], first[0]], now=now)
        total = (await session.execute(sa.select(sa.func.count()).select_from(Person))).scalar_one()
        person = await person_by_teams_id(session, "29:user-1")
    assert again == ids
    assert total == 3
    assert person is not None
    assert (person.name, person.aad_object_id, person.email) == (
        "Partner One (she/her)",
        "aad-1",
        "p1@a.nhs.uk",
    )


async def test_after_the_bot_is_registered_again_people_keep_their_rows_under_new_teams_ids(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        old = await upsert_person(
            session,
            teams_user_id="29:old-registration",
            aad_object_id="aad-amina",
            name="Amina Khan",
            now=now,
        )
    async with transaction(database.sessions) as session:
        ids = await sync_roster(
            session, [Member(id="29:new-registration", aad_object_id="aad-amina", name="Amina Khan")], now=now
        )
        moved = await person_by_teams_id(session, "29:new-registration")
        gone = await person_by_teams_id(session, "29:old-registration")
    assert ids == [old.id]
    assert moved is not None
    assert moved.aad_object_id == "aad-amina"
    assert gone is None


class Waits:
    """The roster's sleep, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_a_throttled_roster_page_is_asked_again_after_teams_retry_after(
    connector: FakeConnector,
) -> None:
    connector.members = [teams_member(n) for n in range(700)]
    connector.roster_faults = [(429, {"Retry-After": "2"}), (429, {})]
    waits = Waits()
    budget = RetryBudget(sleep=waits, rng=random.Random(1))

    members = await in_turn(connector, lambda turn: fetch_roster(turn, budget=budget))

    assert len(members) == 700
    assert len(connector.member_requests) == 2 + 2  # two refused, then both pages
    assert waits.seconds[0] == 2.0  # as Teams asked
    assert budget.base <= waits.seconds[1] <= budget.base + budget.cap  # backoff with jitter


@pytest.mark.parametrize(
    ("faults", "waited"),
    [
        ([(429, {"Retry-After": "60"})], []),  # longer than a lead should wait: say so at once
        ([(429, {})] * 4, "three backoffs"),  # still throttled after every attempt
    ],
)
async def test_a_roster_teams_will_not_give_is_reported_not_waited_for(
    connector: FakeConnector, faults: list[tuple[int, dict[str, str]]], waited: object
) -> None:
    connector.members = [teams_member(n) for n in range(3)]
    connector.roster_faults = list(faults)
    waits = Waits()

    async def fetch(turn: TurnContext) -> Exception | None:
        try:
            await fetch_roster(turn, budget=RetryBudget(sleep=waits))
        except RosterUnavailable as error:
            return error
        return None

    assert isinstance(await in_turn(connector, fetch), RosterUnavailable)

    assert len(waits.seconds) == (0 if waited == [] else 3)
    assert sum(waits.seconds) <= RetryBudget().seconds


async def test_a_throttled_member_lookup_is_retried(connector: FakeConnector) -> None:
    connector.members = [teams_member(1)]
    connector.roster_faults = [(429, {"Retry-After": "1"})]
    waits = Waits()

    member = await in_turn(
        connector, lambda turn: fetch_member(turn, "29:user-1", budget=RetryBudget(sleep=waits))
    )

    assert member is not None
    assert member.aad_object_id == "aad-1"
    assert waits.seconds == [1.0]
