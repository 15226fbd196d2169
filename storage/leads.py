"""Who may run the lead-only commands: the AAD object ids named in settings, plus those leads grant.

Everything is keyed on the AAD object id (a GUID, compared in lower case), never on a display name:
two people may share a name, and a name can be changed by its owner.

Leads named in settings (LEAD_USER_IDS) are managed there: revoking one here is refused. A granted
lead may be revoked by any lead, themself included, except the last lead of all (no settings leads
and no other grant): that would leave nobody able to grant again short of a redeploy, so it is refused
with a message saying to grant someone else first.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.people import people_by_address, stored_name
from storage.tables import LeadGrant, Person, table_of
from storage.upsert import insert


class LeadError(Exception):
    """A grant or revocation refused; `message` is for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfiguredLead(LeadError):
    def __init__(self, name: str | None) -> None:
        super().__init__(
            f"{name or 'They'} {'is' if name else 'are'} a lead by the bot's settings (LEAD_USER_IDS), so "
            "only whoever runs the bot can change that."
        )


class LastLead(LeadError):
    def __init__(self, name: str | None) -> None:
        super().__init__(
            f"{name or 'They'} {'is' if name else 'are'} the only lead: nobody could make leads after that. "
            "Grant someone else first."
        )


class LeadSource(StrEnum):
    SETTINGS = "settings"
    GRANTED = "granted"


@dataclass(frozen=True)
class Lead:
    aad_object_id: str
    name: str | None
    """The person's name as Teams last told us, else as it was when they were granted."""
    source: LeadSource
    granted_at: datetime | None = None
    granted_by: str | None = None
    """The granter's name; None for settings leads, grants from the CLI, and erased granters."""


AAD_OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
"""How Entra ID shows an object id (a GUID)."""


class UnknownPerson(LeadError):
    """A grant or revocation that names nobody the bot could make a lead."""


@dataclass(frozen=True)
class Named:
    """The person a grant or revocation typed by an administrator names."""

    aad_object_id: str
    name: str | None


async def identify(session: AsyncSession, who: str, *, granted_ok: bool = False) -> Named:
    """Whom `who` names: an AAD object id (a GUID), or the email/UPN of someone the bot knows, resolved to
    their AAD object id. A display name is refused: two people may share one. `granted_ok` also accepts
    exactly an id already granted (to revoke a grant made before ids were checked).

    Raises UnknownPerson with the reason."""
    typed = who.strip()
    if AAD_OBJECT_ID.fullmatch(typed):
        key = normalise_aad_id(typed)
        found = await session.execute(
            sa.select(col(Person.name)).where(sa.func.lower(col(Person.aad_object_id)) == key)
        )
        return Named(key, found.scalar_one_or_none())
    if granted_ok:
        grant = await session.get(LeadGrant, normalise_aad_id(typed))
        if grant is not None:
            return Named(grant.aad_object_id, None)
    if "@" not in typed:
        raise UnknownPerson(
            f"'{typed}' is not an AAD object id (a GUID such as 0b6a2f8e-3c1d-4e5f-9a7b-1c2d3e4f5a6b) nor an "
            "email address: name the person by their object id (Entra admin centre: Users, the person, "
            "Object ID) or by the email of someone who has used the bot."
        )
    people = await people_by_address(session, typed)
    ids = {normalise_aad_id(person.aad_object_id) for person in people if person.aad_object_id}
    if not people:
        raise UnknownPerson(
            f"Nobody the bot knows has the email {typed} (they have not written to it nor been on a roster "
            "it read): name them by their AAD object id instead."
        )
    if not ids:
        raise UnknownPerson(
            f"{people[0].name or typed} has no AAD object id yet (Teams has not sent one): name them by "
            "their AAD object id instead."
        )
    if len(ids) > 1:
        raise UnknownPerson(f"{len(ids)} people the bot knows have the email {typed}: name one by object id.")
    person = next(person for person in people if person.aad_object_id)
    return Named(normalise_aad_id(person.aad_object_id or ""), person.name)


def normalise_aad_id(aad_object_id: str) -> str:
    return aad_object_id.strip().lower()


def _configured(configured: Collection[str]) -> set[str]:
    return {normalise_aad_id(value) for value in configured if value.strip()}


async def is_lead(session: AsyncSession, aad_object_id: str | None, *, configured: Collection[str]) -> bool:
    """Whether the sender with this AAD object id may use lead-only commands (no id: never)."""
    if not aad_object_id or not aad_object_id.strip():
        return False
    key = normalise_aad_id(aad_object_id)
    if key in _configured(configured):
        return True
    found = await session.execute(
        sa.select(col(LeadGrant.aad_object_id)).where(col(LeadGrant.aad_object_id) == key)
    )
    return found.first() is not None


async def grant_lead(
    session: AsyncSession,
    aad_object_id: str,
    *,
    now: datetime,
    configured: Collection[str],
    name: str | None = None,
    granted_by_id: int | None = None,
) -> bool:
    """Make someone a lead. False when they already were one (by settings or an earlier grant)."""
    key = normalise_aad_id(aad_object_id)
    if not key:
        raise LeadError("Whom should I make a lead? Mention them: grant lead @Name")
    if key in _configured(configured):
        return False
    table = table_of(LeadGrant)
    inserted = await session.execute(
        insert(session, table)
        .values(aad_object_id=key, name=stored_name(name), granted_by_id=granted_by_id, granted_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.aad_object_id])
        .returning(table.c.aad_object_id)
    )
    return inserted.scalar_one_or_none() is not None


async def revoke_lead(
    session: AsyncSession, aad_object_id: str, *, configured: Collection[str], name: str | None = None
) -> bool:
    """Stop someone being a lead. False when they were not one; `name` only words the refusals.

    Raises ConfiguredLead for a settings lead, LastLead when nobody would be left."""
    key = normalise_aad_id(aad_object_id)
    leads_by_settings = _configured(configured)
    if key in leads_by_settings:
        raise ConfiguredLead(name)
    # Lock every grant (PostgreSQL; SQLite writers are serialised anyway): two leads revoking each other
    # at once must not both see the other still there.
    granted = set(
        (await session.execute(sa.select(col(LeadGrant.aad_object_id)).with_for_update())).scalars()
    )
    if key not in granted:
        return False
    if not leads_by_settings and granted == {key}:
        raise LastLead(name)
    await session.execute(sa.delete(LeadGrant).where(col(LeadGrant.aad_object_id) == key))
    return True


async def list_leads(session: AsyncSession, *, configured: Collection[str]) -> list[Lead]:
    """Settings leads and granted leads, by name (people not yet seen by the bot last)."""
    granter = aliased(Person)
    rows = await session.execute(
        sa.select(LeadGrant, col(Person.name), col(granter.name))
        .outerjoin(Person, col(Person.aad_object_id) == col(LeadGrant.aad_object_id))
        .outerjoin(granter, col(granter.id) == col(LeadGrant.granted_by_id))
    )
    leads: dict[str, Lead] = {}
    for grant, current_name, granted_by in rows:
        leads[grant.aad_object_id] = Lead(
            aad_object_id=grant.aad_object_id,
            name=current_name or grant.name,
            source=LeadSource.GRANTED,
            granted_at=grant.granted_at,
            granted_by=granted_by,
        )
    settings_ids = sorted(_configured(configured))
    names: dict[str, str | None] = {}
    if settings_ids:
        found = await session.execute(
            sa.select(col(Person.aad_object_id), col(Person.name)).where(
                col(Person.aad_object_id).in_(settings_ids)
            )
        )
        names = {normalise_aad_id(aad): person_name for aad, person_name in found if aad is not None}
    for key in settings_ids:
        leads[key] = Lead(aad_object_id=key, name=names.get(key), source=LeadSource.SETTINGS)
    return sorted(
        leads.values(), key=lambda lead: (lead.name is None, (lead.name or "").casefold(), lead.aad_object_id)
    )
