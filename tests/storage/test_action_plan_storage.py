"""The action plan's storage: references numbered per channel even when two leads add at once, scoped by
tenant and channel, updates kept as history, check-ins due, and the figures a weekly post shows."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from storage.actions import (
    NewAction,
    action_counts,
    actions_in_reach,
    actions_owned_by,
    add_action,
    due_checkins,
    find_actions,
    is_overdue,
    update_action,
)
from storage.db import transaction
from storage.people import upsert_person
from storage.surveys import Reach
from storage.tables import ActionRag, ActionState, stored_id
from tests.conftest import FIXED_NOW, Database

CHANNEL = "19:general@thread.tacv2"
OTHER = "19:other@thread.tacv2"


async def _owner(database: Database, user: str = "29:amina") -> int:
    async with transaction(database.sessions) as session:
        person = await upsert_person(session, teams_user_id=user, name="Amina Khan", now=FIXED_NOW)
        return stored_id(person.id)


def _new(
    owner: int, *, text: str = "Agree a shared data plan", place: str = CHANNEL, tenant: str = "t1"
) -> NewAction:
    return NewAction(
        tenant_id=tenant,
        conversation_id=place,
        text=text,
        owner_id=owner,
        created_by_id=None,
        due_on=date(2026, 12, 31),
    )


async def test_references_count_per_channel_and_two_leads_adding_at_once_get_different_ones(
    database: Database,
) -> None:
    owner = await _owner(database)

    async def add(text: str, place: str = CHANNEL) -> int:
        async with transaction(database.sessions) as session:
            return (await add_action(session, _new(owner, text=text, place=place), now=FIXED_NOW)).number

    first = await add("one")
    together = await asyncio.gather(add("two"), add("three"), add("four"))
    elsewhere = await add("five", OTHER)
    assert first == 1
    assert sorted(together) == [2, 3, 4]
    assert elsewhere == 1  # another channel's plan starts at A1


async def test_a_channel_sees_its_own_plan_and_another_tenant_sees_nothing(database: Database) -> None:
    owner = await _owner(database)
    async with transaction(database.sessions) as session:
        await add_action(session, _new(owner, text="ours"), now=FIXED_NOW)
        await add_action(session, _new(owner, text="theirs", place=OTHER), now=FIXED_NOW)
        here = await actions_in_reach(session, reach=Reach("t1", CHANNEL))
        lead_everywhere = await actions_in_reach(session, reach=Reach("t1", None, lead=True))
        partner_1to1 = await actions_in_reach(session, reach=Reach("t1", None, lead=False))
        other_tenant = await actions_in_reach(session, reach=Reach("t2", CHANNEL))
        a1_other_tenant = await find_actions(session, reach=Reach("t2", CHANNEL), number=1)
        owned = await actions_owned_by(session, person_id=owner)
    assert [line.action.text for line in here] == ["ours"]
    assert here[0].reference == "A1"
    assert here[0].owner_name == "Amina Khan"
    assert len(lead_everywhere) == 2
    assert partner_1to1 == []
    assert other_tenant == []
    assert a1_other_tenant == []
    assert len(owned) == 2


async def test_an_update_is_kept_as_history_and_counted_as_a_change(database: Database) -> None:
    owner = await _owner(database)
    async with transaction(database.sessions) as session:
        action = await add_action(session, _new(owner), now=FIXED_NOW - timedelta(days=10))
        later = FIXED_NOW - timedelta(days=2)
        changed = await update_action(
            session, action, person_id=owner, rag=ActionRag.AT_RISK, note="waiting on IG", now=later
        )
        unchanged = await update_action(session, action, person_id=owner, rag=ActionRag.AT_RISK, now=later)
        counts = await action_counts(
            session,
            tenant_id="t1",
            conversation_id=CHANNEL,
            today=date(2027, 1, 5),
            since=FIXED_NOW - timedelta(days=7),
        )
    assert changed
    assert not unchanged
    assert action.rag == ActionRag.AT_RISK
    assert counts.by_rag[ActionRag.AT_RISK] == 1
    assert counts.overdue == 1  # due 31 Dec 2026, not complete, on 5 Jan 2027
    assert counts.changed == 1


async def test_check_ins_are_due_a_month_after_the_action_is_made_unless_closed(database: Database) -> None:
    owner = await _owner(database)
    async with transaction(database.sessions) as session:
        open_one = await add_action(session, _new(owner, text="open"), now=FIXED_NOW)
        closed = await add_action(session, _new(owner, text="closed"), now=FIXED_NOW)
        await update_action(session, closed, person_id=None, state=ActionState.CLOSED, now=FIXED_NOW)
        not_yet = await due_checkins(session, now=FIXED_NOW + timedelta(days=29))
        due = await due_checkins(session, now=FIXED_NOW + timedelta(days=30))
    assert not_yet == []
    assert [action.id for action in due] == [open_one.id]


def test_overdue_means_past_due_and_neither_complete_nor_closed() -> None:
    today = date(2027, 1, 5)
    due = date(2027, 1, 4)
    assert is_overdue(due_on=due, rag=ActionRag.ON_TRACK, state=ActionState.OPEN, today=today)
    assert not is_overdue(due_on=due, rag=ActionRag.COMPLETE, state=ActionState.OPEN, today=today)
    assert not is_overdue(due_on=due, rag=ActionRag.OFF_TRACK, state=ActionState.CLOSED, today=today)
    assert not is_overdue(due_on=today, rag=ActionRag.OFF_TRACK, state=ActionState.LIVE, today=today)
    assert not is_overdue(due_on=None, rag=ActionRag.OFF_TRACK, state=ActionState.OPEN, today=today)
