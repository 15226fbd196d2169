"""Organisations and the partnerships (places, systems) they belong to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Organisation, Partnership, PartnershipMember, Person
from storage.upsert import insert


async def ensure_organisation(session: AsyncSession, name: str, *, kind: str | None = None) -> Organisation:
    """The organisation with this name (created if new); names are matched exactly after trimming."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("an organisation needs a name")
    table = Organisation.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(session, table)
        .values(name=name, kind=kind)
        .on_conflict_do_nothing(index_elements=[table.c.name])
    )
    organisation = (
        await session.execute(sa.select(Organisation).where(Organisation.name == name))
    ).scalar_one()
    if kind is not None and organisation.kind != kind:
        organisation.kind = kind
    return organisation


async def ensure_partnership(
    session: AsyncSession, name: str, *, kind: str | None = None, members: list[Organisation] | None = None
) -> Partnership:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a partnership needs a name")
    table = Partnership.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(session, table)
        .values(name=name, kind=kind)
        .on_conflict_do_nothing(index_elements=[table.c.name])
    )
    partnership = (await session.execute(sa.select(Partnership).where(Partnership.name == name))).scalar_one()
    for organisation in members or []:
        await add_member(session, partnership, organisation)
    return partnership


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
