"""botbuilder `Storage` on the `bot_state` table, so dialog state survives restarts and is shared.

E-tags follow the contract of the SDK's official stores: `None` or `"*"` writes unconditionally,
`""` is an error, anything else must match the stored e-tag or the write fails with "Etag conflict".
This is the one storage module allowed to import botbuilder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from botbuilder.core import Storage
from jsonpickle import Pickler, Unpickler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frameworks.clock import utc_now
from storage.db import transaction
from storage.tables import BotStateRecord, table_of
from storage.upsert import insert

_TABLE = table_of(BotStateRecord)


class EtagConflict(Exception):
    """Another writer changed the item since it was read; the SDK matches the phrase "Etag conflict"."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Etag conflict: {key!r} was changed by another writer")
        self.key = key


class SqlStorage(Storage):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            raise ValueError("read() needs at least one key")
        async with transaction(self._sessions) as session:
            rows = (
                await session.execute(
                    sa.select(_TABLE.c.key, _TABLE.c.e_tag, _TABLE.c.data).where(_TABLE.c.key.in_(list(keys)))
                )
            ).all()
        return {row.key: _restore(row.data, row.e_tag) for row in rows}

    async def write(self, changes: Mapping[str, Any]) -> None:
        if not changes:
            raise ValueError("write() needs at least one change")
        async with transaction(self._sessions) as session:
            new_tags = {key: await self._write_one(session, key, item) for key, item in changes.items()}
        # Hand the new e-tags back so a second save in the same turn is not taken for a conflict.
        for key, item in changes.items():
            _set_etag(item, new_tags[key])

    async def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        async with transaction(self._sessions) as session:
            await session.execute(sa.delete(_TABLE).where(_TABLE.c.key.in_(keys)))

    async def _write_one(self, session: AsyncSession, key: str, item: Any) -> str:
        expected = _get_etag(item)
        if expected == "":
            raise ValueError(f"write of {key!r}: an empty e_tag is not allowed (use None or '*')")
        new_tag = uuid.uuid4().hex
        values = {"e_tag": new_tag, "data": _flatten(item), "updated_at": utc_now()}
        if expected is None or expected == "*":
            await session.execute(_upsert(session, key, values))
            return new_tag
        result = await session.execute(
            sa.update(_TABLE).where(_TABLE.c.key == key, _TABLE.c.e_tag == expected).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise EtagConflict(key)
        return new_tag


def _upsert(session: AsyncSession, key: str, values: dict[str, Any]) -> Any:
    statement = insert(session, _TABLE).values(key=key, **values)
    return statement.on_conflict_do_update(index_elements=[_TABLE.c.key], set_=values)


def _get_etag(item: Any) -> str | None:
    if isinstance(item, Mapping):
        return item.get("e_tag")
    return getattr(item, "e_tag", None)


def _set_etag(item: Any, e_tag: str) -> None:
    if isinstance(item, dict):
        item["e_tag"] = e_tag
    elif hasattr(item, "__dict__"):
        item.e_tag = e_tag


def _flatten(item: Any) -> str:
    """Serialise as the SDK's own stores do (jsonpickle), leaving the e-tag out of the payload."""
    flat = Pickler().flatten(item)
    if isinstance(flat, dict):
        flat.pop("e_tag", None)
    return json.dumps(flat, separators=(",", ":"))


def _restore(data: str, e_tag: str) -> Any:
    # Only rows this bot wrote are restored: jsonpickle imports the classes named in them.
    item = Unpickler().restore(json.loads(data))
    _set_etag(item, e_tag)
    return item
