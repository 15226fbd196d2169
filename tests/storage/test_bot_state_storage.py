"""The botbuilder Storage contract, run against every implementation on every database.

The contract is the one the SDK's official stores implement: None or "*" writes unconditionally,
"" is refused, any other e-tag must match or the write fails with "Etag conflict".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from botbuilder.core import Storage, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from storage.bot_state import DIALOG_STATE, JsonConversationState, SqlStorage
from storage.db import session_factory
from tests.conftest import Database

IMPLEMENTATIONS: dict[str, Callable[[Database], Storage]] = {
    "sql": lambda db: SqlStorage(db.sessions),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def storage(request: pytest.FixtureRequest, database: Database) -> Storage:
    return IMPLEMENTATIONS[request.param](database)


async def test_reading_unknown_keys_returns_nothing(storage: Storage) -> None:
    assert await storage.read(["nobody/conversations/none"]) == {}


async def test_written_state_reads_back_with_an_etag(storage: Storage) -> None:
    await storage.write({"a": {"step": 3, "answers": {"vision": "maturing"}}})
    item = (await storage.read(["a", "missing"]))["a"]
    assert item["step"] == 3
    assert item["answers"] == {"vision": "maturing"}
    assert item["e_tag"]


async def test_write_with_current_etag_succeeds_and_changes_the_etag(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}})
    first = (await storage.read(["a"]))["a"]
    await storage.write({"a": {**first, "n": 2}})
    second = (await storage.read(["a"]))["a"]
    assert second["n"] == 2
    assert second["e_tag"] != first["e_tag"]


async def test_write_with_stale_etag_is_refused_and_keeps_the_newer_state(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}})
    stale = (await storage.read(["a"]))["a"]
    await storage.write({"a": {**stale, "n": 2}})
    with pytest.raises(Exception, match="Etag conflict"):
        await storage.write({"a": {**stale, "n": 99}})
    assert (await storage.read(["a"]))["a"]["n"] == 2


async def test_star_etag_overwrites_whatever_is_stored(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}})
    await storage.write({"a": {"n": 2, "e_tag": "*"}})
    assert (await storage.read(["a"]))["a"]["n"] == 2


async def test_item_without_etag_is_an_unconditional_upsert(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}})
    await storage.write({"a": {"n": 2}})
    assert (await storage.read(["a"]))["a"]["n"] == 2


async def test_empty_etag_is_an_error(storage: Storage) -> None:
    with pytest.raises(ValueError, match="empty e_tag"):
        await storage.write({"a": {"n": 1, "e_tag": ""}})
    assert await storage.read(["a"]) == {}


async def test_conditional_write_of_a_deleted_item_is_a_conflict(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}})
    item = (await storage.read(["a"]))["a"]
    await storage.delete({"a"})
    with pytest.raises(Exception, match="Etag conflict"):
        await storage.write({"a": {**item, "n": 2}})


async def test_a_failed_change_in_a_batch_writes_none_of_it(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}, "b": {"n": 1}})
    items = await storage.read(["a", "b"])
    await storage.write({"b": {**items["b"], "n": 2}})
    with pytest.raises(Exception, match="Etag conflict"):
        await storage.write({"a": {**items["a"], "n": 5}, "b": {**items["b"], "n": 5}})
    after = await storage.read(["a", "b"])
    assert (after["a"]["n"], after["b"]["n"]) == (1, 2)


async def test_delete_accepts_a_set_and_ignores_missing_keys(storage: Storage) -> None:
    await storage.write({"a": {"n": 1}, "b": {"n": 2}})
    await storage.delete({"a", "never-written"})
    assert set(await storage.read(["a", "b"])) == {"b"}


async def test_a_second_save_in_the_same_turn_is_not_taken_for_a_conflict(storage: Storage) -> None:
    state = {"n": 1}
    await storage.write({"a": state})
    item = (await storage.read(["a"]))["a"]
    await storage.write({"a": item})
    item["n"] = 2
    await storage.write({"a": item})
    assert (await storage.read(["a"]))["a"]["n"] == 2


async def test_dialog_stack_survives_a_round_trip(storage: Storage) -> None:
    stack = [{"id": "survey", "state": {"element": "vision", "options": {"survey_id": 7}}}]
    await storage.write({"conv": {DIALOG_STATE: stack}})
    restored = (await storage.read(["conv"]))["conv"][DIALOG_STATE]
    assert restored == [{"id": "survey", "state": {"element": "vision", "options": {"survey_id": 7}}}]


async def test_state_survives_a_restart(database: Database, storage: Storage) -> None:
    await storage.write({"conv": {"element": "trust"}})
    engine = database.new_engine()
    try:
        restarted = SqlStorage(session_factory(engine))
        assert (await restarted.read(["conv"]))["conv"]["element"] == "trust"
    finally:
        await engine.dispose()


async def test_two_instances_writing_the_same_read_only_one_wins(database: Database) -> None:
    first = SqlStorage(database.sessions)
    engine = database.new_engine()
    try:
        second = SqlStorage(session_factory(engine))
        await first.write({"conv": {"answer": None}})
        seen = (await first.read(["conv"]))["conv"]
        results = await asyncio.gather(
            first.write({"conv": {**seen, "answer": "first"}}),
            second.write({"conv": {**seen, "answer": "second"}}),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, Exception)]
        assert len(failures) == 1
        assert "Etag conflict" in str(failures[0])
        winner = "first" if results[0] is None else "second"
        assert (await second.read(["conv"]))["conv"]["answer"] == winner
    finally:
        await engine.dispose()


def _turn(adapter: TestAdapter, text: str) -> TurnContext:
    activity = Activity(
        type=ActivityTypes.message,
        text=text,
        channel_id="msteams",
        conversation=ConversationAccount(id="a:1on1", conversation_type="personal"),
        from_property=ChannelAccount(id="29:partner"),
        recipient=ChannelAccount(id="28:bot"),
    )
    return TurnContext(adapter, activity)


async def test_conversation_state_detects_a_concurrent_turn(storage: Storage) -> None:
    """Two turns of one conversation on two instances: the later save is refused, not silently lost."""
    adapter = TestAdapter()
    on_first, on_second = JsonConversationState(storage), JsonConversationState(storage)
    first, second = _turn(adapter, "3"), _turn(adapter, "4")
    await on_first.load(first)
    await on_second.load(second)
    await on_first.create_property("answer").set(first, "3")
    await on_first.save_changes(first)
    await on_second.create_property("answer").set(second, "4")
    await on_second.save_changes(second)  # nothing stored yet when both read: upsert, as the SDK does
    await on_first.load(first, force=True)
    await on_second.load(second, force=True)
    await on_first.create_property("answer").set(first, "5")
    await on_first.save_changes(first)
    await on_second.create_property("answer").set(second, "6")
    with pytest.raises(Exception, match="Etag conflict"):
        await on_second.save_changes(second)
    fresh = _turn(adapter, "")
    reader = JsonConversationState(storage)
    await reader.load(fresh)
    assert await reader.create_property("answer").get(fresh) == "5"
