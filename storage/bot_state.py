"""botbuilder `Storage` on the `bot_state` table, so dialog state survives restarts and is shared.

E-tags follow the contract of the SDK's official stores: `None` or `"*"` writes unconditionally,
`""` is an error, anything else must match the stored e-tag or the write fails with "Etag conflict".

State is stored as plain JSON (not jsonpickle, as the SDK's stores do): an item is a dict of JSON values,
read back as the same values; nothing is restored as an object and no class is ever imported by name.
The dialog stack under `DIALOG_STATE` is stored marked as botbuilder's `DialogState` (so releases that
still used botbuilder.dialogs read it), and rows written by earlier releases in jsonpickle's format are
still read, and rewritten as JSON on the next save. This is the one storage module allowed to import
botbuilder.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from botbuilder.core import ConversationState, Storage, TurnContext
from botbuilder.core.bot_state import CachedBotState
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frameworks.clock import utc_now
from storage.db import transaction
from storage.tables import BotStateRecord, table_of
from storage.upsert import dialect_of, insert_for

log = logging.getLogger(__name__)

__all__ = [
    "DIALOG_STATE",
    "EtagConflict",
    "JsonConversationState",
    "SqlStorage",
    "UnreadableState",
    "UnstorableState",
    "dump_state",
    "load_state",
]

_TABLE = table_of(BotStateRecord)

DIALOG_STATE = "DialogState"
"""The item's key for the conversation's dialog stack (dialogs.dialog_stack), botbuilder's property name:
in memory a list of `{"id": str, "state": {…}}`, the active dialog first."""
_KIND = "$kind"
"""Marks the stored dialog stack, `{"$kind": "DialogState", "dialog_stack": […]}`, as botbuilder's
`DialogState` was written; no other value may carry it."""
_DIALOG_STATE = "DialogState"
_PY_OBJECT = "py/object"
"""jsonpickle's tag in rows of earlier releases; only the two dialog classes below are accepted."""
_LEGACY_DIALOG_STATE = "botbuilder.dialogs.dialog_state.DialogState"
_LEGACY_DIALOG_INSTANCE = "botbuilder.dialogs.dialog_instance.DialogInstance"


class UnstorableState(TypeError):
    """The state holds something that is not plain JSON, or a dialog stack in no shape a dialog keeps."""


class UnreadableState(ValueError):
    """A stored row is not in a shape this bot writes (or wrote): refused rather than guessed at."""

    def __init__(self, key: str, problem: str, *, e_tag: str | None = None) -> None:
        super().__init__(f"bot state {key!r}: {problem}; refusing to restore it")
        self.key = key
        self.problem = problem
        self.e_tag = e_tag
        """The row's e-tag (when read from storage), so a fresh state can replace it, e-tag checked."""


def dump_state(item: object) -> str:
    """The stored form of a state item, also its change hash: stable (sorted keys) JSON, e-tag left out.
    json's own conversions apply (a tuple reads back as a list); the dialogs keep no tuples."""
    if not isinstance(item, Mapping):
        raise UnstorableState(f"bot state must be a dict of JSON values, not {type(item).__name__}")
    plain = {key: _plain(key, value) for key, value in item.items() if key != "e_tag"}
    try:
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnstorableState(f"bot state is not plain JSON: {exc}") from exc


def load_state(key: str, data: str) -> dict[str, Any]:
    """The state item stored as `data`, in the current JSON format or the jsonpickle one of old rows."""
    item = json.loads(data)
    if not isinstance(item, dict):
        raise UnreadableState(key, f"a stored item is a JSON object, not {type(item).__name__}")
    return {name: _restored(key, name, value) for name, value in item.items()}


def _plain(name: str, value: object) -> object:
    if name == DIALOG_STATE:
        try:
            return {_KIND: _DIALOG_STATE, "dialog_stack": _checked_stack(value)}
        except ValueError as exc:
            raise UnstorableState(f"{name!r}: {exc}") from None
    if isinstance(value, Mapping) and _KIND in value:
        raise UnstorableState(f"{name!r}: a plain value may not carry the {_KIND!r} key")
    return value


def _restored(key: str, name: str, value: object) -> object:
    """The dialog stack from either stored form, without its marker; any other value as it is."""
    if name != DIALOG_STATE:
        if isinstance(value, dict) and (_KIND in value or _PY_OBJECT in value):
            raise UnreadableState(key, f"a dialog stack is kept under {DIALOG_STATE!r}, not {name!r}")
        return value
    if isinstance(value, dict) and _PY_OBJECT in value:
        return _legacy_dialog_stack(key, value)
    if not (
        isinstance(value, dict) and set(value) == {_KIND, "dialog_stack"} and value[_KIND] == _DIALOG_STATE
    ):
        kind = value.get(_KIND) if isinstance(value, dict) else type(value).__name__
        raise UnreadableState(key, f"unknown stored kind {kind!r}")
    return _stack(key, value["dialog_stack"])


def _stack(key: str, stack: object) -> list[dict[str, Any]]:
    try:
        return _checked_stack(stack)
    except ValueError as exc:
        raise UnreadableState(key, str(exc)) from None


def _checked_stack(stack: object) -> list[dict[str, Any]]:
    """A dialog stack in the shape the dialogs keep (in memory, and stored inside its marker)."""
    if not isinstance(stack, list):
        raise ValueError("a dialog stack is a list")
    for frame in stack:
        if not (isinstance(frame, dict) and set(frame) == {"id", "state"}):
            raise ValueError("a dialog on the stack has exactly an id and a state")
        if not (isinstance(frame["id"], str) and isinstance(frame["state"], dict)):
            raise ValueError("a dialog's id is a string and its state an object")
    return stack


def _legacy_dialog_stack(key: str, value: dict[str, Any]) -> list[dict[str, Any]]:
    """A `DialogState` as jsonpickle flattened it (earlier releases), read without importing anything."""
    _expect_legacy(key, value, _LEGACY_DIALOG_STATE, {"_dialog_stack"})
    frames = value["_dialog_stack"]
    if not isinstance(frames, list):
        raise UnreadableState(key, "a dialog stack is a list")
    for frame in frames:
        _expect_legacy(key, frame, _LEGACY_DIALOG_INSTANCE, {"id", "state"})
        _refuse_legacy_tags(key, frame["state"])
    return _stack(key, [{"id": frame["id"], "state": frame["state"]} for frame in frames])


def _expect_legacy(key: str, value: object, class_name: str, fields: set[str]) -> None:
    if not isinstance(value, dict) or value.get(_PY_OBJECT) != class_name:
        named = value.get(_PY_OBJECT) if isinstance(value, dict) else type(value).__name__
        raise UnreadableState(key, f"{named!r} is not a class this bot stored (expected {class_name})")
    if set(value) != {_PY_OBJECT, *fields}:
        raise UnreadableState(key, f"a stored {class_name} has exactly the fields {sorted(fields)}")


def _refuse_legacy_tags(key: str, value: object) -> None:
    """Dialog state was plain JSON; any other jsonpickle tag (an object, a reference, a tuple) is refused."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if name.startswith("py/"):
                raise UnreadableState(key, f"jsonpickle's {name!r} inside dialog state")
            _refuse_legacy_tags(key, inner)
    elif isinstance(value, list):
        for inner in value:
            _refuse_legacy_tags(key, inner)


class EtagConflict(Exception):
    """Another writer changed the item since it was read; the SDK matches the phrase "Etag conflict"."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Etag conflict: {key!r} was changed by another writer")
        self.key = key


class SqlStorage(Storage):
    """Reads and writes state items (dicts) as JSON rows, e-tag checked."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            raise ValueError("read() needs at least one key")
        async with transaction(self._sessions) as session:
            rows = (await session.execute(_READ, {"keys": list(keys)})).all()
        items: dict[str, Any] = {}
        for row in rows:
            try:
                items[row.key] = {**load_state(row.key, row.data), "e_tag": row.e_tag}
            except UnreadableState as exc:
                raise UnreadableState(row.key, exc.problem, e_tag=row.e_tag) from None
            except ValueError as exc:  # not JSON at all
                raise UnreadableState(row.key, f"not JSON ({exc})", e_tag=row.e_tag) from None
        return items

    async def write(self, changes: Mapping[str, Any]) -> None:
        if not changes:
            raise ValueError("write() needs at least one change")
        async with transaction(self._sessions) as session:
            new_tags = {key: await self._write_one(session, key, item) for key, item in changes.items()}
        # Hand the new e-tags back so a second save in the same turn is not taken for a conflict.
        for key, item in changes.items():
            if isinstance(item, dict):
                item["e_tag"] = new_tags[key]

    async def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        async with transaction(self._sessions) as session:
            await session.execute(sa.delete(_TABLE).where(_TABLE.c.key.in_(keys)))

    async def _write_one(self, session: AsyncSession, key: str, item: Any) -> str:
        data = dump_state(item)
        expected = item.get("e_tag")
        if expected == "":
            raise ValueError(f"write of {key!r}: an empty e_tag is not allowed (use None or '*')")
        new_tag = uuid.uuid4().hex
        values = {"state_key": key, "state_e_tag": new_tag, "state_data": data, "state_at": utc_now()}
        if expected is None or expected == "*":
            await session.execute(_upsert(dialect_of(session)), values)
            return new_tag
        result = await session.execute(_UPDATE, {**values, "state_expected": expected})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise EtagConflict(key)
        return new_tag


# Built once, not per turn: building a statement cost about as much as running it (as in
# storage.conversations), and every turn reads and writes its conversation's state.
_READ = sa.select(_TABLE.c.key, _TABLE.c.e_tag, _TABLE.c.data).where(
    _TABLE.c.key.in_(sa.bindparam("keys", expanding=True))
)
_NEW_VALUES: dict[str, sa.BindParameter[Any]] = {
    "e_tag": sa.bindparam("state_e_tag"),
    "data": sa.bindparam("state_data"),
    "updated_at": sa.bindparam("state_at"),
}
_UPDATE = (
    sa.update(_TABLE)
    .where(_TABLE.c.key == sa.bindparam("state_key"), _TABLE.c.e_tag == sa.bindparam("state_expected"))
    .values(_NEW_VALUES)
)


@functools.cache
def _upsert(dialect: str) -> Any:
    statement = insert_for(dialect, _TABLE).values(key=sa.bindparam("state_key"), **_NEW_VALUES)
    changed = {name: statement.excluded[name] for name in _NEW_VALUES}
    return statement.on_conflict_do_update(index_elements=[_TABLE.c.key], set_=changed)


class JsonConversationState(ConversationState):
    """`ConversationState` whose change check hashes with `dump_state`: botbuilder's own check flattens
    the whole state with jsonpickle when it is loaded and twice when it is saved."""

    async def load(self, turn_context: TurnContext, force: bool = False) -> None:
        """As `BotState.load`, caching the state in a `_JsonCachedState`."""
        cached = self.get_cached_state(turn_context)
        if force or not cached or not cached.state:
            key = self.get_storage_key(turn_context)
            try:
                items = await self._storage.read([key])
            except UnreadableState as exc:
                # Refused, not guessed at; but a row no release can read must not silence the chat for
                # good. The conversation starts afresh (answers are kept in their own table, `resume`
                # finds them) and its next save replaces the row, e-tag checked.
                log.warning(
                    "A conversation's stored state could not be read (%s); it starts afresh", exc.problem
                )
                items = {key: {"e_tag": exc.e_tag or "*"}}
            turn_context.turn_state[self._context_service_key] = _JsonCachedState(items.get(key))

    async def clear_state(self, turn_context: TurnContext) -> None:
        """As `BotState.clear_state`: an empty state whose blank hash forces the next save."""
        cached = _JsonCachedState()
        cached.hash = ""
        turn_context.turn_state[self._context_service_key] = cached


class _JsonCachedState(CachedBotState):
    def compute_hash(self, obj: object) -> str:
        # None (nothing stored yet) hashes unlike {}, so a new conversation is saved, as botbuilder does.
        return "null" if obj is None else dump_state(obj)
