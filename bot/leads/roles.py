"""People and organisations: `grant lead` and `revoke lead` (by AAD object id, never by name),
`my organisation`, and the email domains that stand for organisations."""

from __future__ import annotations

import logging

from bot.cards import escape
from bot.commands import (
    DomainsCommand,
    GrantLeadCommand,
    MapDomainCommand,
    MyOrganisationCommand,
    RevokeLeadCommand,
    UnmapDomainCommand,
)
from bot.leads.turn import ROSTER_BUSY, LeadTurn
from bot.teams.roster import RosterUnavailable
from storage.db import transaction
from storage.leads import LeadError, grant_lead, revoke_lead
from storage.organisations import (
    OrganisationError,
    list_domains,
    map_domain,
    person_organisation,
    set_own_organisation,
    unmap_domain,
)
from storage.tables import stored_id

log = logging.getLogger(__name__)


async def lead_roles(turn: LeadTurn, command: GrantLeadCommand | RevokeLeadCommand) -> None:
    """`grant lead` / `revoke lead` for the people mentioned, looked up in the roster by AAD object id."""
    mentions = turn.incoming.mentioned
    if not mentions:
        await turn.say("Mention the person, e.g. grant lead @Amina Khan.")
        return
    try:
        members = [await turn.chat.member(user_id) for user_id in mentions]
    except RosterUnavailable:
        log.warning("lead roles: a member could not be looked up", exc_info=True)
        await turn.say(ROSTER_BUSY)
        return
    lines = []
    async with transaction(turn.services.sessions) as session:
        granter = await turn.sender(session)
        for member in members:
            if member is None or not member.aad_object_id:
                lines.append("I couldn't find one of those people in this team or chat.")
                continue
            name = escape(member.name or "They")
            try:
                if isinstance(command, GrantLeadCommand):
                    new = await grant_lead(
                        session,
                        member.aad_object_id,
                        now=turn.now(),
                        configured=turn.services.configured_leads,
                        name=member.name,
                        granted_by_id=granter.id,
                    )
                    lines.append(f"{name} is now a lead." if new else f"{name} was already a lead.")
                else:
                    gone = await revoke_lead(
                        session,
                        member.aad_object_id,
                        configured=turn.services.configured_leads,
                        name=member.name,
                    )
                    lines.append(f"{name} is no longer a lead." if gone else f"{name} was not a lead.")
            except LeadError as exc:
                lines.append(exc.message)
    await turn.say("\n".join(lines))


async def my_organisation(turn: LeadTurn, command: MyOrganisationCommand) -> None:
    """The organisation the person answers for: shown, or set by its name."""
    async with transaction(turn.services.sessions) as session:
        person = await turn.sender(session)
        if command.name is None:
            organisation, _source = await person_organisation(session, stored_id(person.id))
            name = organisation.name if organisation else None
            await turn.say(
                f"You answer for {escape(name)}."
                if name
                else "You have no organisation yet (unassigned). Say: my organisation <name>.",
            )
            return
        try:
            person_id = stored_id(person.id)
            organisation = await set_own_organisation(session, person_id, command.name, now=turn.now())
        except OrganisationError as exc:
            await turn.say(str(exc))
            return
    await turn.say(f"Thanks: you answer for {escape(organisation.name)} from now on.")


async def domains(turn: LeadTurn, command: MapDomainCommand | UnmapDomainCommand | DomainsCommand) -> None:
    """Email domains standing for organisations: map one, forget one, or list them."""
    async with transaction(turn.services.sessions) as session:
        try:
            if isinstance(command, MapDomainCommand):
                mapped = await map_domain(session, command.domain, command.organisation, now=turn.now())
                message = (
                    f"People with @{mapped.domain} addresses answer for "
                    f"{escape(mapped.organisation.name)} ({mapped.people_assigned} assigned now)."
                )
            elif isinstance(command, UnmapDomainCommand):
                gone = await unmap_domain(session, command.domain)
                message = f"Forgot {command.domain}." if gone else f"{command.domain} was not mapped."
            else:
                mappings = await list_domains(session)
                message = (
                    "\n".join(
                        ["Email domains:"]
                        + [f"- {m.domain} → {escape(m.organisation_name)}" for m in mappings]
                    )
                    if mappings
                    else 'No email domains are mapped yet: map domain <domain> to "<organisation>".'
                )
        except OrganisationError as exc:
            message = str(exc)
    await turn.say(message)
