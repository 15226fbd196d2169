"""Where the bot may speak later: a conversation's reference is saved on every turn and every new 1:1
chat, and the latest service URL always wins."""

from __future__ import annotations

from datetime import timedelta

from storage.conversations import reference_for, save_reference
from storage.db import transaction
from storage.people import upsert_person
from tests.conftest import FIXED_NOW, Database

CHAT = "a:1AbCdEf"


async def test_a_later_turn_refreshes_the_address_and_keeps_what_it_did_not_say(database: Database) -> None:
    async with transaction(database.sessions) as session:
        amina = await upsert_person(session, teams_user_id="29:amina", tenant_id="t1", now=FIXED_NOW)
        first = await save_reference(
            session,
            conversation_id=CHAT,
            service_url="https://smba.trafficmanager.net/uk/",
            reference={"channelId": "msteams", "conversation": {"id": CHAT}, "activityId": "1"},
            conversation_type="personal",
            tenant_id="t1",
            bot_id="28:bot",
            person_id=amina.id,
            now=FIXED_NOW,
        )
    later = FIXED_NOW + timedelta(days=3)
    async with transaction(database.sessions) as session:
        again = await save_reference(
            session,
            conversation_id=CHAT,
            service_url="https://smba.trafficmanager.net/emea/",
            reference={"channelId": "msteams", "conversation": {"id": CHAT}},
            now=later,
        )
        stored = await reference_for(session, CHAT)

    assert again == first
    assert stored is not None
    assert stored.id == first
    assert stored.service_url == "https://smba.trafficmanager.net/emea/"
    assert stored.reference == {"channelId": "msteams", "conversation": {"id": CHAT}}
    assert (stored.conversation_type, stored.tenant_id, stored.bot_id) == ("personal", "t1", "28:bot")
    assert stored.person_id == amina.id
    assert stored.created_at == FIXED_NOW
    assert stored.updated_at == later


async def test_a_thread_of_a_channel_saves_the_channel_itself(database: Database) -> None:
    channel = "19:general@thread.tacv2"
    async with transaction(database.sessions) as session:
        saved = await save_reference(
            session,
            conversation_id=f"{channel};messageid=1700000000001",
            service_url="https://smba.trafficmanager.net/uk/",
            reference={"conversation": {"id": f"{channel};messageid=1700000000001"}, "activityId": "9"},
            conversation_type="channel",
            now=FIXED_NOW,
        )
        stored = await reference_for(session, f"{channel};messageid=1700000000002")

    assert stored is not None
    assert stored.id == saved
    assert stored.conversation_id == channel
    assert stored.reference == {"conversation": {"id": channel}}
