"""Organisations, the partnerships (places, systems) they belong to, and who answers for which.

A person's organisation comes from one of two places (`people.organisation_source`):
- `self`: they said so (`my organisation …`). Nothing else ever changes it; only they can, or clear it.
- `domain`: their email's domain is mapped to an organisation by a lead (`map domain …`). The most
  specific mapped domain wins: `ward7.anytown-trust.nhs.uk` falls back to `anytown-trust.nhs.uk`.
  Re-mapping or unmapping a domain moves these people along; no mapping left means unassigned.
No organisation (NULL) is "unassigned". A NULL source with an organisation was set some other way
(a lead's tooling, before sources were recorded): a domain mapping may replace it but never clears it.

Shared domains (nhs.net, gmail.com…) and public suffixes (nhs.uk, gov.uk…) are never mapped: people
there belong to many organisations and say which with `my organisation …`.

Organisation names are unique ignoring case: lookups compare `lower(name)`, which PostgreSQL applies
to every letter and SQLite to ASCII letters only (so on SQLite "ÉCOLE" and "école" stay two names).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.tables import (
    Organisation,
    OrganisationDomain,
    OrganisationSource,
    Partnership,
    PartnershipMember,
    Person,
    stored_id,
    table_of,
)
from storage.upsert import insert

Named = TypeVar("Named", Organisation, Partnership)

NAME_LIMIT = 200
"""`organisations.name`'s length."""

SHARED_DOMAINS: frozenset[str] = frozenset(
    {
        # NHS and care mail services used by many organisations
        "nhs.net",
        "nhs.scot",
        "wales.nhs.uk",
        "hscni.net",
        # public suffixes: each organisation has its own domain below them
        "nhs.uk",
        "gov.uk",
        "gov.scot",
        "gov.wales",
        "police.uk",
        "mod.uk",
        "co.uk",
        "org.uk",
        "ac.uk",
        "sch.uk",
        "ltd.uk",
        "plc.uk",
        "me.uk",
        "net.uk",
        "onmicrosoft.com",
        # personal email providers
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "live.co.uk",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "icloud.com",
        "me.com",
        "aol.com",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "protonmail.com",
        "proton.me",
    }
)
"""Domains that never stand for one organisation, so they can't be mapped to one."""

_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CHUNK = 500
"""Ids per IN (…): well inside SQLite's and asyncpg's limits on bound parameters."""


class OrganisationError(Exception):
    """A mapping or organisation that can't be made as asked; `message` is for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDomain(OrganisationError):
    def __init__(self, text: str) -> None:
        super().__init__(f"“{text}” isn't an email domain; for example anytown-trust.nhs.uk.")
        self.text = text


class SharedDomain(OrganisationError):
    """Refused: addresses at this domain belong to many organisations."""

    def __init__(self, domain: str) -> None:
        super().__init__(
            f"{domain} is shared by many organisations, so it can't stand for one. People with an "
            f"address at {domain} tell me their own: they say “my organisation” and its name in a 1:1 chat "
            "with me."
        )
        self.domain = domain


class InvalidOrganisationName(OrganisationError, ValueError):
    def __init__(self, name: str) -> None:
        if not name.strip():
            message = "An organisation needs a name."
        else:
            message = (
                f"An organisation's name can be at most {NAME_LIMIT} characters; that one has {len(name)}."
            )
        super().__init__(message)


@dataclass(frozen=True)
class DomainMapping:
    domain: str
    organisation_id: int
    organisation_name: str


@dataclass(frozen=True)
class DomainMapped:
    """What `map_domain` did, for the lead's reply."""

    domain: str
    organisation: Organisation
    created_organisation: bool
    previous_organisation: str | None
    """The organisation the domain was mapped to before, when it changed."""
    people_assigned: int
    """People whose organisation changed because of it."""


# Pure rules -----------------------------------------------------------------------------------------


def normalise_domain(text: str) -> str:
    """`@Anytown-Trust.NHS.uk.` → `anytown-trust.nhs.uk`; anything that isn't a domain is refused."""
    domain = text.strip().casefold().lstrip("@").rstrip(".")
    if not _DOMAIN.match(domain):
        raise InvalidDomain(text.strip())
    return domain


def is_shared_domain(domain: str) -> bool:
    return domain in SHARED_DOMAINS


def email_domain_of(email: str | None) -> str | None:
    """The domain of an address (lower case), or None when it has none."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().casefold().rstrip(".")
    return domain or None


def candidate_domains(domain: str) -> list[str]:
    """The domain and its parents, most specific first, down to two labels: `a.b.nhs.uk` →
    [`a.b.nhs.uk`, `b.nhs.uk`, `nhs.uk`]."""
    labels = domain.split(".")
    return [".".join(labels[start:]) for start in range(max(len(labels) - 1, 1))]


def mapped_organisation(email: str | None, mapping: Mapping[str, int]) -> int | None:
    """The organisation of the most specific mapped domain of this address, if any."""
    domain = email_domain_of(email)
    if domain is None:
        return None
    return next((mapping[d] for d in candidate_domains(domain) if d in mapping), None)


def domain_assignment(
    current: int | None, source: str | None, mapped: int | None
) -> tuple[int | None, OrganisationSource | None] | None:
    """A person's new (organisation, source) given the mapping's answer, or None to leave them be."""
    if source == OrganisationSource.SELF:
        return None
    if mapped is not None:
        if mapped == current and source == OrganisationSource.DOMAIN:
            return None
        return mapped, OrganisationSource.DOMAIN
    if source == OrganisationSource.DOMAIN:
        return None, None
    return None


# Organisations --------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > NAME_LIMIT:
        raise InvalidOrganisationName(cleaned)
    return cleaned


async def organisation_named(session: AsyncSession, name: str) -> Organisation | None:
    """The organisation called `name`, ignoring case and spacing."""
    cleaned = " ".join(name.split())
    result = await session.execute(
        sa.select(Organisation)
        .where(sa.func.lower(col(Organisation.name)) == cleaned.lower())
        .order_by(col(Organisation.id))
        .limit(1)
    )
    return result.scalar_one_or_none()


async def find_or_create_organisation(
    session: AsyncSession, name: str, *, now: datetime | None = None, kind: str | None = None
) -> tuple[Organisation, bool]:
    """The organisation called `name` ignoring case, created if there is none; True when created."""
    cleaned = _clean_name(name)
    existing = await organisation_named(session, cleaned)
    if existing is not None:
        return existing, False
    table = table_of(Organisation)
    values: dict[str, object] = {"name": cleaned, "kind": kind}
    if now is not None:
        values["created_at"] = now
    inserted = await session.execute(
        insert(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c.name])
        .returning(table.c.id)
    )
    created = inserted.scalar_one_or_none() is not None
    organisation = (
        await session.execute(
            sa.select(Organisation)
            .where(col(Organisation.name) == cleaned)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return organisation, created


async def ensure_organisation(session: AsyncSession, name: str, *, kind: str | None = None) -> Organisation:
    """The organisation with this name (created if new); names match ignoring case and spacing."""
    organisation, _ = await find_or_create_organisation(session, name, kind=kind)
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
    table = table_of(model)
    statement = insert(session, table).values(name=name, kind=kind)
    await session.execute(statement.on_conflict_do_nothing(index_elements=[table.c.name]))
    return (await session.execute(sa.select(model).where(col(model.name) == name))).scalar_one()


async def find_partnerships(session: AsyncSession, name: str) -> list[Partnership]:
    """The partnership a typed name means: the one named so (any case), else those whose name contains
    it. Several: the caller asks which."""
    wanted = " ".join(name.split()).casefold()
    if not wanted:
        return []
    rows = list(await session.scalars(sa.select(Partnership).order_by(col(Partnership.name))))
    exact = [p for p in rows if p.name.casefold() == wanted]
    return exact or [p for p in rows if wanted in p.name.casefold()]


async def add_member(session: AsyncSession, partnership: Partnership, organisation: Organisation) -> None:
    table = table_of(PartnershipMember)
    await session.execute(
        insert(session, table)
        .values(partnership_id=partnership.id, organisation_id=organisation.id)
        .on_conflict_do_nothing()
    )


async def partnership_members(session: AsyncSession, partnership_id: int) -> list[Organisation]:
    result = await session.execute(
        sa.select(Organisation)
        .join(PartnershipMember, col(PartnershipMember.organisation_id) == col(Organisation.id))
        .where(col(PartnershipMember.partnership_id) == partnership_id)
        .order_by(col(Organisation.name))
    )
    return list(result.scalars())


async def set_person_organisation(
    session: AsyncSession, person: Person, organisation: Organisation | None
) -> None:
    person.organisation_id = organisation.id if organisation else None
    session.add(person)


# Email domains --------------------------------------------------------------------------------------


async def map_domain(
    session: AsyncSession, domain: str, organisation_name: str, *, now: datetime
) -> DomainMapped:
    """Addresses at `domain` (and below it) answer for this organisation, created if new; people already
    known there move to it unless they chose their own."""
    domain = normalise_domain(domain)
    if is_shared_domain(domain):
        raise SharedDomain(domain)
    organisation, created = await find_or_create_organisation(session, organisation_name, now=now)
    assert organisation.id is not None
    table = table_of(OrganisationDomain)
    previous = (
        await session.execute(
            sa.select(col(Organisation.name))
            .join(OrganisationDomain, col(OrganisationDomain.organisation_id) == col(Organisation.id))
            .where(col(OrganisationDomain.domain) == domain)
        )
    ).scalar_one_or_none()
    await session.execute(
        insert(session, table)
        .values(domain=domain, organisation_id=organisation.id, mapped_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.domain], set_={"organisation_id": organisation.id, "mapped_at": now}
        )
    )
    assigned = await assign_from_domains(session, await _people_under(session, domain))
    return DomainMapped(
        domain=domain,
        organisation=organisation,
        created_organisation=created,
        previous_organisation=previous if previous != organisation.name else None,
        people_assigned=assigned,
    )


async def unmap_domain(session: AsyncSession, domain: str) -> bool:
    """Forget a mapping; people it assigned fall back to a parent domain's mapping, else unassigned.
    False when the domain was not mapped."""
    domain = normalise_domain(domain)
    table = table_of(OrganisationDomain)
    deleted = await session.execute(
        sa.delete(table).where(table.c.domain == domain).returning(table.c.domain)
    )
    if deleted.scalar_one_or_none() is None:
        return False
    await assign_from_domains(session, await _people_under(session, domain))
    return True


async def list_domains(session: AsyncSession) -> list[DomainMapping]:
    result = await session.execute(
        sa.select(
            col(OrganisationDomain.domain), col(OrganisationDomain.organisation_id), col(Organisation.name)
        )
        .join(Organisation, col(Organisation.id) == col(OrganisationDomain.organisation_id))
        .order_by(col(Organisation.name), col(OrganisationDomain.domain))
    )
    return [DomainMapping(domain, organisation_id, name) for domain, organisation_id, name in result]


async def organisation_for_email(session: AsyncSession, email: str | None) -> Organisation | None:
    """The organisation the most specific mapped domain of this address stands for, if any."""
    domain = email_domain_of(email)
    if domain is None:
        return None
    candidates = candidate_domains(domain)
    rows = await session.execute(
        sa.select(col(OrganisationDomain.domain), Organisation)
        .join(Organisation, col(Organisation.id) == col(OrganisationDomain.organisation_id))
        .where(col(OrganisationDomain.domain).in_(candidates))
    )
    found = {mapped: organisation for mapped, organisation in rows}
    return next((found[d] for d in candidates if d in found), None)


async def _domain_mapping(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        sa.select(col(OrganisationDomain.domain), col(OrganisationDomain.organisation_id))
    )
    return {domain: organisation_id for domain, organisation_id in rows}


async def _people_under(session: AsyncSession, domain: str) -> list[int]:
    """People with an address at this domain or one of its subdomains (domains hold no LIKE wildcards)."""
    email = sa.func.lower(col(Person.email))
    result = await session.execute(
        sa.select(col(Person.id)).where(sa.or_(email.like(f"%@{domain}"), email.like(f"%.{domain}")))
    )
    return [stored_id(person_id) for person_id in result.scalars()]


# People ---------------------------------------------------------------------------------------------


async def assign_from_domains(session: AsyncSession, person_ids: Iterable[int]) -> int:
    """Apply the domain mapping to these people, leaving self-declared organisations alone.

    Reads the mapping once and the people in chunks, then updates everyone moving to the same
    organisation in one statement. Returns how many people changed."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return 0
    mapping = await _domain_mapping(session)
    moves: dict[tuple[int | None, OrganisationSource | None], list[int]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = await session.execute(
            sa.select(
                col(Person.id),
                col(Person.email),
                col(Person.organisation_id),
                col(Person.organisation_source),
            ).where(
                col(Person.id).in_(chunk),
                sa.or_(
                    col(Person.organisation_source).is_(None),
                    col(Person.organisation_source) != OrganisationSource.SELF,
                ),
            )
        )
        for person_id, email, current, source in rows:
            change = domain_assignment(current, source, mapped_organisation(email, mapping))
            if change is not None:
                moves[change].append(stored_id(person_id))
    for (organisation_id, source), moving in moves.items():
        for chunk in _chunks(moving):
            await session.execute(
                sa.update(Person)
                .where(col(Person.id).in_(chunk))
                .values(organisation_id=organisation_id, organisation_source=source)
            )
    return sum(len(moving) for moving in moves.values())


async def set_own_organisation(
    session: AsyncSession, person_id: int, name: str, *, now: datetime | None = None
) -> Organisation:
    """A person says which organisation they answer for (matched ignoring case, else created); from now
    on no domain mapping changes it."""
    organisation, _ = await find_or_create_organisation(session, name, now=now)
    await _set(session, person_id, organisation.id, OrganisationSource.SELF)
    return organisation


async def clear_own_organisation(session: AsyncSession, person_id: int) -> Organisation | None:
    """Withdraw a self-declared organisation: the domain mapping applies again. Returns what it gives."""
    await _set(session, person_id, None, None)
    await assign_from_domains(session, [person_id])
    organisation, _ = await person_organisation(session, person_id)
    return organisation


async def person_organisation(
    session: AsyncSession, person_id: int
) -> tuple[Organisation | None, OrganisationSource | None]:
    """The organisation a person answers for and where it came from; (None, None) when unassigned."""
    row = (
        await session.execute(
            sa.select(Organisation, col(Person.organisation_source))
            .select_from(Person)
            .outerjoin(Organisation, col(Organisation.id) == col(Person.organisation_id))
            .where(col(Person.id) == person_id)
        )
    ).one_or_none()
    if row is None or row[0] is None:
        return None, None
    organisation, source = row
    return organisation, OrganisationSource(source) if source else None


async def _set(
    session: AsyncSession, person_id: int, organisation_id: int | None, source: OrganisationSource | None
) -> None:
    await session.execute(
        sa.update(Person)
        .where(col(Person.id) == person_id)
        .values(organisation_id=organisation_id, organisation_source=source)
    )


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
