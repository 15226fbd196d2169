"""Organisations and the partnerships (places, systems) they belong to."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Organisation, Partnership, PartnershipMember, Person
from storage.upsert import insert

Named = TypeVar("Named", Organisation, Partnership)


async def ensure_organisation(session: AsyncSession, name: str, *, kind: str | None = None) -> Organisation:
    """The organisation with this name (created if new); names are matched exactly after trimming."""
    organisation = await _ensure_named(session, Organisation, name, kind)
    if kind is not None and organisation.kind != kind:
        organisation.kind = kind
    return organisation


async def ensure_partnership(
    session: AsyncSession, name: str, *, kind: str | None = None, members: list[Organisation] | None = None
) -> Partnership:
    partnership = await _ensure_named(session, Partnership, name, kind)
    for organisation in members or []:
        await add_member(session, partnership, organisation)
    return partnership


async def _ensure_named(session: AsyncSession, model: type[Named], name: str, kind: str | None) -> Named:
    """Insert-if-absent by unique name, safe when two turns create the same one at once."""
    name = " ".join(name.split())
    if not name:
        raise ValueError(f"a {model.__name__.lower()} needs a name")
    table = model.__table__  # type: ignore[attr-defined]
    statement = insert(session, table).values(name=name, kind=kind)
    await session.execute(statement.on_conflict_do_nothing(index_elements=[table.c.name]))
    return (await session.execute(sa.select(model).where(model.name == name))).scalar_one()


async def add_member(session: AsyncSession, partnership: Partnership, organisation: Organisation) -> None:
    table = PartnershipMember.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(session, table)
        .values(partnership_id=partnership.id, organisation_id=organisation.id)
        .on_conflict_do_nothing()
    )


async def partnership_members(session: AsyncSession, partnership_id: int) -> list[Organisation]:
    result = await session.execute(
        sa.select(Organisation)
        .join(PartnershipMember, PartnershipMember.organisation_id == Organisation.id)  # type: ignore[arg-type]
        .where(PartnershipMember.partnership_id == partnership_id)
        .order_by(Organisation.name)
    )
    return list(result.scalars())


async def set_person_organisation(
    session: AsyncSession, person: Person, organisation: Organisation | None
) -> None:
    person.organisation_id = organisation.id if organisation else None
    session.add(person)
