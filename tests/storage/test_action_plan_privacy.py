"""An action's owner asks for their data, then to be erased: their actions and notes are in the export;
after erasure the plan keeps its actions and what changed, with no owner and none of their notes."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from storage.actions import NewAction, add_action, update_action
from storage.db import transaction
from storage.people import upsert_person
from storage.privacy import erase_person, export_person
from storage.tables import Action, ActionRag, ActionUpdate, stored_id
from tests.conftest import FIXED_NOW, Database


async def test_an_owner_gets_their_actions_and_notes_and_erasure_leaves_the_plan_without_them(
    database: Database,
) -> None:
    async with transaction(database.sessions) as session:
        amina = await upsert_person(
            session, teams_user_id="29:amina", aad_object_id="aad-amina", name="Amina Khan", now=FIXED_NOW
        )
        lead = await upsert_person(
            session, teams_user_id="29:lead", aad_object_id="aad-lead", name="Lee Lead", now=FIXED_NOW
        )
        action = await add_action(
            session,
            NewAction(
                tenant_id="t1",
                conversation_id="19:general@thread.tacv2",
                text="Agree a shared data plan",
                owner_id=stored_id(amina.id),
                created_by_id=stored_id(lead.id),
                due_on=date(2026, 12, 31),
            ),
            now=FIXED_NOW,
        )
        await update_action(
            session,
            action,
            person_id=amina.id,
            rag=ActionRag.AT_RISK,
            note="IG review is late",
            now=FIXED_NOW,
        )

    async with transaction(database.sessions) as session:
        data = await export_person(session, "aad-amina", now=FIXED_NOW)
    assert data is not None
    assert [row["text"] for row in data.other_records["actions"]] == ["Agree a shared data plan"]
    assert [row["note"] for row in data.other_records["action_updates"]] == ["IG review is late"]

    async with transaction(database.sessions) as session:
        assert await erase_person(session, "aad-amina", now=FIXED_NOW) is not None
    async with transaction(database.sessions) as session:
        kept = (await session.execute(sa.select(Action))).scalar_one()
        update = (await session.execute(sa.select(ActionUpdate))).scalar_one()
    assert (kept.text, kept.owner_id, kept.created_by_id) == ("Agree a shared data plan", None, lead.id)
    assert (update.rag, update.note, update.person_id) == ("at-risk", None, None)
