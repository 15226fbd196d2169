"""People as Teams identifies them; details are refreshed on every upsert, the row id never changes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import Person, table_of
from storage.upsert import insert

NAME_LIMIT = 200
"""people.name's size; Azure AD allows 256, so longer names are shortened, not refused."""


def stored_name(name: str | None) -> str | None:
    return name[:NAME_LIMIT] if name else None


async def upsert_person(
    session: AsyncSession,
    *,
    teams_user_id: str,
    now: datetime,
    aad_object_id: str | None = None,
    name: str | None = None,
    email: str | None = None,
    tenant_id: str | None = None,
) -> Person:
    """Create or refresh a person; fields Teams did not send this time are left as they were."""
    given = {
        "aad_object_id": aad_object_id,
        "name": stored_name(name),
        "email": email,
        "tenant_id": tenant_id,
    }
    fresh = {key: value for key, value in given.items() if value is not None}
    table = table_of(Person)
    statement = (
        insert(session, table)
        .values(teams_user_id=teams_user_id, created_at=now, updated_at=now, **fresh)
        .on_conflict_do_update(index_elements=[table.c.teams_user_id], set_={**fresh, "updated_at": now})
    )
    await session.execute(statement)
    person = await person_by_teams_id(session, teams_user_id)
    assert person is not None
    return person


async def person_by_teams_id(session: AsyncSession, teams_user_id: str) -> Person | None:
    result = await session.execute(
        sa.select(Person)
        .where(col(Person.teams_user_id) == teams_user_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def person_for(session: AsyncSession, *, teams_user_id: str, name: str | None, now: datetime) -> Person:
    """The sender's row: read when it exists (the usual case), created only when it does not."""
    person = await person_by_teams_id(session, teams_user_id)
    if person is None:
        person = await upsert_person(session, teams_user_id=teams_user_id, name=name, now=now)
    return person


async def person_by_aad_id(session: AsyncSession, aad_object_id: str) -> Person | None:
    result = await session.execute(sa.select(Person).where(col(Person.aad_object_id) == aad_object_id))
    return result.scalar_one_or_none()


async def people_by_address(session: AsyncSession, address: str) -> list[Person]:
    """Everyone whose email (or UPN, where Teams gave no email) is this address, in any letter case."""
    result = await session.execute(
        sa.select(Person)
        .where(sa.func.lower(col(Person.email)) == address.strip().lower())
        .order_by(col(Person.id))
    )
    return list(result.scalars())
