"""Where a person's data is: the tables privacy works on, the person, their bot state keys, and rows of
other tables that refer to them; small query helpers the other privacy modules share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.privacy.rules import TOMBSTONE_PREFIX
from storage.tables import (
    Answer,
    BotStateRecord,
    ConversationReference,
    Invitation,
    Organisation,
    OutboxMessage,
    Person,
    Response,
    SummarySubscription,
    Survey,
    metadata,
    table_of,
)

PEOPLE = table_of(Person)
RESPONSES = table_of(Response)
ANSWERS = table_of(Answer)
INVITATIONS = table_of(Invitation)
OUTBOX = table_of(OutboxMessage)
REFERENCES = table_of(ConversationReference)
STATE = table_of(BotStateRecord)
SURVEYS = table_of(Survey)
ORGANISATIONS = table_of(Organisation)
SUBSCRIPTIONS = table_of(SummarySubscription)

HANDLED = {
    table.name for table in (PEOPLE, RESPONSES, ANSWERS, INVITATIONS, OUTBOX, REFERENCES, STATE, SURVEYS)
} | {ORGANISATIONS.name, SUBSCRIPTIONS.name}
SURVEY_LINKED = {RESPONSES.name, INVITATIONS.name, OUTBOX.name}
"""Tables whose rows about expired surveys retention takes away from identifiable people."""
CHUNK = 500
"""Rows named in one IN (...) list."""
_T = TypeVar("_T")


def is_tombstone(teams_user_id: Any) -> Any:
    return teams_user_id.startswith(TOMBSTONE_PREFIX, autoescape=True)


def same_aad(column: Any, aad_object_id: Any) -> Any:
    """AAD object ids are GUIDs: the same whatever their letters' case (lead grants keep them lower case)."""
    return sa.func.lower(column) == sa.func.lower(aad_object_id)


async def find_person(session: AsyncSession, user_id: str) -> Person | None:
    """The person with this AAD object id or, failing that, this Teams user id; never an anonymous row."""
    query = (
        sa.select(Person)
        .where(sa.or_(same_aad(col(Person.aad_object_id), user_id), col(Person.teams_user_id) == user_id))
        .where(sa.not_(is_tombstone(col(Person.teams_user_id))))
        .order_by(sa.case((same_aad(col(Person.aad_object_id), user_id), 0), else_=1))
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


def other_tables() -> list[tuple[sa.Table, list[sa.Column[Any]], sa.Column[Any] | None]]:
    """Tables this module does not know by name that refer to people: by foreign key or AAD object id."""
    found = []
    for table in metadata.sorted_tables:
        if table.name in HANDLED:
            continue
        keys = [fk.parent for fk in table.foreign_keys if fk.column.table.name == PEOPLE.name]
        aad = table.c.get("aad_object_id")
        if keys or aad is not None:
            found.append((table, keys, aad))
    return found


async def rows_of(session: AsyncSession, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(query)).mappings()]


async def count_rows(session: AsyncSession, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
    return (
        await session.execute(sa.select(sa.func.count()).select_from(table).where(condition))
    ).scalar_one()


async def state_keys(session: AsyncSession, people: Sequence[Person]) -> list[str]:
    """The bot state rows tied to these people: their 1:1 conversations' state and their user state.

    botbuilder keys state as `<channel>/conversations/<conversation id>` and `<channel>/users/<user id>`
    (private conversation state: `<channel>/conversations/<conversation id>/users/<user id>`)."""
    if not people:
        return []
    by_id = {person.id: person for person in people}
    candidates: set[str] = set()
    channels_of: dict[int | None, set[str]] = {pid: {"msteams"} for pid in by_id}
    conversations_of: dict[int | None, set[str]] = {pid: set() for pid in by_id}
    for chunk in chunks(list(by_id)):
        rows = await session.execute(
            sa.select(
                REFERENCES.c.person_id,
                REFERENCES.c.conversation_id,
                REFERENCES.c.channel_id,
                REFERENCES.c.reference,
            ).where(REFERENCES.c.person_id.in_(chunk))
        )
        for pid, conversation_id, channel_id, reference in rows:
            conversations_of[pid].add(conversation_id)
            channels_of[pid] |= {channel_id, (reference or {}).get("channelId") or channel_id}
    for pid, person in by_id.items():
        for channel in channels_of[pid]:
            candidates.add(f"{channel}/users/{person.teams_user_id}")
            for conversation_id in conversations_of[pid]:
                candidates.add(f"{channel}/conversations/{conversation_id}")
                candidates.add(f"{channel}/conversations/{conversation_id}/users/{person.teams_user_id}")
    keys: list[str] = []
    for some in chunks(sorted(candidates)):
        keys += (await session.execute(sa.select(STATE.c.key).where(STATE.c.key.in_(some)))).scalars()
    return sorted(keys)


def chunks(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
