"""A Teams roster into `people`: one bulk upsert per 500 members, then the email-domain mapping.

The AAD object id is the person; the Teams user id (`29:…`) is only how this bot registration reaches
them, and changes if the bot is registered again. So a member whose AAD id is already on a row with
another Teams user id moves that row to the new Teams user id, keeping their history, rather than
failing the whole roster on the unique AAD id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.organisations import assign_from_domains
from storage.people import stored_name
from storage.tables import Person, stored_id, table_of
from storage.upsert import insert

log = logging.getLogger(__name__)

_CHUNK = 500
"""Rows per statement: 500 × 7 values stays well inside SQLite's and asyncpg's parameter limits."""
_T = TypeVar("_T")


class Member(BaseModel):
    """One person on a Teams roster, as the Bot Connector describes them."""

    model_config = ConfigDict(frozen=True)

    id: str
    """The Teams user id (`29:…`) that activities carry."""
    aad_object_id: str | None = None
    name: str | None = None
    email: str | None = None
    user_principal_name: str | None = None
    tenant_id: str | None = None

    @property
    def address(self) -> str | None:
        """Their email, else a UPN that is an address of theirs (a guest's `…#EXT#@…` UPN is not)."""
        if self.email:
            return self.email
        upn = self.user_principal_name
        if upn and "@" in upn and "#ext#" not in upn.casefold():
            return upn
        return None


async def sync_roster(session: AsyncSession, members: Sequence[Member], *, now: datetime) -> list[int]:
    """Create or refresh everyone on the roster and apply the domain mapping to them.

    Details Teams left out this time are kept. Returns the person ids in the roster's order (a member
    listed twice once)."""
    first: dict[str, Member] = {}
    for member in members:
        first.setdefault(member.id, member)
    unique = list(first.values())
    if not unique:
        return []
    aad_ids = await _claim_aad_ids(session, unique)
    table = table_of(Person)
    ids: dict[str, int] = {}
    for chunk in _chunks(unique):
        rows = [_row(member, aad_ids.get(member.id), now) for member in chunk]
        statement = insert(session, table).values(rows)
        kept = {
            column: sa.func.coalesce(statement.excluded[column], table.c[column])
            for column in ("aad_object_id", "name", "email", "tenant_id")
        }
        result = await session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.teams_user_id],
                set_={**kept, "updated_at": statement.excluded.updated_at},
            ).returning(table.c.id, table.c.teams_user_id)
        )
        ids.update((teams_user_id, person_id) for person_id, teams_user_id in result)
    person_ids = [ids[member.id] for member in unique]
    await assign_from_domains(session, person_ids)
    return person_ids


def _row(member: Member, aad_object_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "teams_user_id": member.id,
        "aad_object_id": aad_object_id,
        "name": stored_name(member.name),
        "email": member.address,
        "tenant_id": member.tenant_id,
        "created_at": now,
        "updated_at": now,
    }


async def _claim_aad_ids(session: AsyncSession, members: Sequence[Member]) -> dict[str, str]:
    """The AAD id to store for each member (by Teams user id), after moving rows found under an old
    Teams user id. An AAD id that can't be stored without breaking uniqueness is left off (logged)."""
    wanted: dict[str, str] = {}
    seen: set[str] = set()
    for member in members:
        if member.aad_object_id and member.aad_object_id not in seen:
            seen.add(member.aad_object_id)
            wanted[member.id] = member.aad_object_id
    holders: dict[str | None, tuple[int, str]] = {}
    for chunk in _chunks(list(wanted.values())):
        rows = await session.execute(
            sa.select(col(Person.aad_object_id), col(Person.id), col(Person.teams_user_id)).where(
                col(Person.aad_object_id).in_(chunk)
            )
        )
        holders.update((aad, (stored_id(person_id), teams_user_id)) for aad, person_id, teams_user_id in rows)
    moved = {
        teams_id: aad for teams_id, aad in wanted.items() if aad in holders and holders[aad][1] != teams_id
    }
    if not moved:
        return wanted
    taken: set[str | None] = set()
    for chunk in _chunks(list(moved)):
        rows = await session.execute(
            sa.select(col(Person.teams_user_id)).where(col(Person.teams_user_id).in_(chunk))
        )
        taken.update(rows.scalars())
    table = table_of(Person)
    for teams_id, aad in moved.items():
        if teams_id in taken:  # two rows for one person: leave the AAD id where it is
            del wanted[teams_id]
            continue
        await session.execute(
            sa.update(table).where(table.c.id == holders[aad][0]).values(teams_user_id=teams_id)
        )
    if taken:
        log.warning(
            "roster: %d people have two rows (old and new Teams user id); AAD ids left on the old", len(taken)
        )
    return wanted


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
