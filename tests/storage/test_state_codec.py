"""Conversation state is stored as plain JSON: a partner's place in a survey, and nothing that could
make the bot import code. Rows the releases before wrote (with jsonpickle, or as JSON through
botbuilder.dialogs' DialogState) still resume, and the previous release reads what this one writes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from botbuilder.core import StoreItem, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from frameworks.loader import load_directory
from storage.bot_state import (
    DIALOG_STATE,
    JsonConversationState,
    SqlStorage,
    UnreadableState,
    UnstorableState,
    dump_state,
)
from storage.db import transaction
from storage.tables import Answer
from tests.conftest import Database
from tests.fakes.conversation import Partner, open_survey_for, text_bot

AUDIT = load_directory().frameworks["audit-committee-maturity"]
AMINA = "msteams/conversations/a:29:amina"

# Rows exactly as the jsonpickle release stored them (captured from its own runs before the change).
OLD_ON_QUESTION_2 = (
    '{"DialogState":{"py/object":"botbuilder.dialogs.dialog_state.DialogState","_dialog_stack":'
    '[{"py/object":"botbuilder.dialogs.dialog_instance.DialogInstance","id":"survey","state":'
    '{"survey_id":1,"element_id":"continuity-of-supply","review":false,"back_to_review":false,'
    '"return_to":null,"invited":1,"turn_at":"2026-11-23T09:00:00+00:00"}}]}}'
)
OLD_AFTER_A_CARD = (
    '{"DialogState":{"py/object":"botbuilder.dialogs.dialog_state.DialogState","_dialog_stack":'
    '[{"py/object":"botbuilder.dialogs.dialog_instance.DialogInstance","id":"survey","state":'
    '{"survey_id":1,"element_id":"mergers-acquisitions-and-disposals","review":false,'
    '"back_to_review":false,"return_to":null,"invited":1,"turn_at":"2026-11-23T09:30:00+00:00",'
    '"card":{"id":"activity-1","element_id":"mergers-acquisitions-and-disposals"}}}]}}'
)
OLD_STOPPED = '{"DialogState":{"py/object":"botbuilder.dialogs.dialog_state.DialogState","_dialog_stack":[]}}'
# Rows exactly as the previous release's JSON codec stored botbuilder.dialogs' DialogState (captured from it).
PREVIOUS_AFTER_A_CARD = (
    '{"DialogState":{"$kind":"DialogState","dialog_stack":[{"id":"survey","state":{"back_to_review":false,'
    '"card":{"element_id":"mergers-acquisitions-and-disposals","id":"activity-1"},'
    '"element_id":"mergers-acquisitions-and-disposals","invited":1,"return_to":null,"review":false,'
    '"survey_id":1,"turn_at":"2026-11-23T09:30:00+00:00"}}]}}'
)
PREVIOUS_STOPPED = '{"DialogState":{"$kind":"DialogState","dialog_stack":[]}}'


async def _store_row(db: Database, key: str, data: str) -> None:
    """A row as an earlier release left it in the table."""
    async with transaction(db.sessions) as session:
        await session.execute(
            sa.text(
                "INSERT INTO bot_state (key, e_tag, data, updated_at)"
                " VALUES (:key, 'old-release', :data, :at)"
            ),
            {"key": key, "data": data, "at": datetime(2026, 11, 20, tzinfo=UTC)},
        )


async def _stored_text(db: Database, key: str) -> Any:
    async with transaction(db.sessions) as session:
        return (
            await session.execute(sa.text("SELECT data FROM bot_state WHERE key = :key"), {"key": key})
        ).scalar()


async def _stored_row(db: Database, key: str) -> Any:
    return json.loads(await _stored_text(db, key))


async def test_dialog_state_is_stored_as_plain_json(database: Database) -> None:
    storage = SqlStorage(database.sessions)
    place = {"survey_id": 7, "element_id": "vision", "card": {"id": "activity-9", "element_id": "vision"}}
    await storage.write({AMINA: {DIALOG_STATE: [{"id": "survey", "state": place}]}})
    assert await _stored_row(database, AMINA) == {
        "DialogState": {"$kind": "DialogState", "dialog_stack": [{"id": "survey", "state": place}]}
    }


async def test_a_row_of_the_previous_release_reads_back_as_the_same_dialog_state(database: Database) -> None:
    await _store_row(database, AMINA, OLD_AFTER_A_CARD)
    item = (await SqlStorage(database.sessions).read([AMINA]))[AMINA]
    assert item["e_tag"] == "old-release"
    assert item[DIALOG_STATE] == [
        {"id": "survey", "state": json.loads(OLD_AFTER_A_CARD)["DialogState"]["_dialog_stack"][0]["state"]}
    ]


async def test_a_stopped_survey_of_the_previous_release_reads_back_as_an_empty_stack(
    database: Database,
) -> None:
    await _store_row(database, AMINA, OLD_STOPPED)
    assert (await SqlStorage(database.sessions).read([AMINA]))[AMINA][DIALOG_STATE] == []


@pytest.mark.parametrize("stored", [PREVIOUS_AFTER_A_CARD, PREVIOUS_STOPPED], ids=["mid-survey", "stopped"])
async def test_a_json_row_of_the_previous_release_reads_back_and_is_written_back_the_same(
    database: Database, stored: str
) -> None:
    """A rolling deploy: each release reads the other's rows, since both write the same text."""
    await _store_row(database, AMINA, stored)
    storage = SqlStorage(database.sessions)
    item = (await storage.read([AMINA]))[AMINA]
    assert item[DIALOG_STATE] == json.loads(stored)["DialogState"]["dialog_stack"]
    await storage.write({AMINA: item})  # e-tag checked against the old row's
    assert await _stored_text(database, AMINA) == stored


async def test_a_partner_mid_survey_at_the_upgrade_carries_on_and_the_row_becomes_json(
    database: Database, now: datetime
) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    assert survey.id == 1  # the survey the old row names
    await _store_row(database, AMINA, OLD_ON_QUESTION_2)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    reply = "\n".join(await partner.says("2"))
    assert "Saved “Continuity of supply" in reply
    assert "3 of 5" in reply
    async with transaction(database.sessions) as session:
        answered = (await session.execute(sa.select(Answer.element_id))).scalars().all()
    assert answered == ["continuity-of-supply"]
    rewritten = await _stored_row(database, AMINA)
    assert rewritten["DialogState"]["$kind"] == "DialogState"
    assert "py/object" not in json.dumps(rewritten)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ('{"DialogState":{"py/object":"tabnanny.Gadget","cmd":"rm"}}', "'tabnanny.Gadget' is not a class"),
        (
            OLD_STOPPED.replace('"_dialog_stack":[]', '"_dialog_stack":[{"py/object":"tabnanny.Gadget"}]'),
            "'tabnanny.Gadget' is not a class",
        ),
        (
            OLD_ON_QUESTION_2.replace('"return_to":null', '"return_to":{"py/tuple":[1,2]}'),
            "jsonpickle's 'py/tuple' inside dialog state",
        ),
        ('{"DialogState":{"$kind":"tabnanny.Gadget","dialog_stack":[]}}', "unknown stored kind"),
        ('{"place":{"$kind":"DialogState","dialog_stack":[]}}', "a dialog stack is kept under 'DialogState'"),
        (
            '{"DialogState":{"$kind":"DialogState","dialog_stack":[{"id":"survey"}]}}',
            "exactly an id and a state",
        ),
        ("[1, 2]", "a stored item is a JSON object"),
    ],
)
async def test_a_row_in_an_unknown_shape_is_refused_and_nothing_is_imported(
    database: Database, stored: str, problem: str
) -> None:
    await _store_row(database, AMINA, stored)
    with pytest.raises(UnreadableState, match=problem):
        await SqlStorage(database.sessions).read([AMINA])
    assert "tabnanny" not in sys.modules


@pytest.mark.parametrize(
    "item",
    [
        StoreItem(count=2),
        {DIALOG_STATE: [{"id": "survey", "state": {"due": datetime(2026, 4, 1, tzinfo=UTC)}}]},
        {"place": {"$kind": "DialogState", "dialog_stack": []}},
        {DIALOG_STATE: {"dialog_stack": []}},
        {"score": float("nan")},
    ],
    ids=[
        "an object",
        "a datetime in dialog state",
        "a plain value posing as dialog state",
        "dialog state that is no stack",
        "NaN",
    ],
)
async def test_state_that_is_not_plain_json_is_refused_and_not_stored(database: Database, item: Any) -> None:
    storage = SqlStorage(database.sessions)
    with pytest.raises(UnstorableState):
        await storage.write({AMINA: item})
    assert await storage.read([AMINA]) == {}


def _turn(adapter: TestAdapter) -> TurnContext:
    activity = Activity(
        type=ActivityTypes.message,
        text="2",
        channel_id="msteams",
        conversation=ConversationAccount(id="a:29:amina", conversation_type="personal"),
        from_property=ChannelAccount(id="29:amina"),
        recipient=ChannelAccount(id="28:bot"),
    )
    return TurnContext(adapter, activity)


class _CountingStorage(SqlStorage):
    """The real storage, counting its writes."""

    writes = 0

    async def write(self, changes: Any) -> None:
        self.writes += 1
        await super().write(changes)


async def test_conversation_state_saves_only_a_turn_that_changed_it(database: Database) -> None:
    storage = _CountingStorage(database.sessions)
    await _store_row(database, AMINA, OLD_ON_QUESTION_2)
    state = JsonConversationState(storage)
    dialog_state = state.create_property(DIALOG_STATE)

    unchanged = _turn(TestAdapter())
    await state.load(unchanged)
    stack = await dialog_state.get(unchanged)
    # the same place, its keys in another order: not a change
    stack[0]["state"] = dict(reversed(list(stack[0]["state"].items())))
    await state.save_changes(unchanged)
    assert storage.writes == 0

    changed = _turn(TestAdapter())
    await state.load(changed)
    stack = await dialog_state.get(changed)
    stack[0]["state"]["element_id"] = "results"
    await state.save_changes(changed)
    assert storage.writes == 1
    assert (await _stored_row(database, AMINA))["DialogState"]["dialog_stack"][0]["state"][
        "element_id"
    ] == "results"


async def test_a_new_conversation_is_saved_on_its_first_turn_as_botbuilder_does(database: Database) -> None:
    storage = _CountingStorage(database.sessions)
    state = JsonConversationState(storage)
    first = _turn(TestAdapter())
    await state.load(first)
    await state.save_changes(first)
    assert storage.writes == 1
    assert await _stored_row(database, AMINA) == {}


async def test_cleared_state_is_saved_empty(database: Database) -> None:
    await _store_row(database, AMINA, OLD_ON_QUESTION_2)
    state = JsonConversationState(SqlStorage(database.sessions))
    turn = _turn(TestAdapter())
    await state.load(turn)
    await state.clear_state(turn)
    await state.save_changes(turn)
    assert await _stored_row(database, AMINA) == {}


def test_the_change_hash_ignores_the_etag_and_key_order() -> None:
    assert dump_state({"a": 1, "b": [1, 2], "e_tag": "x"}) == dump_state({"b": [1, 2], "a": 1, "e_tag": "y"})
