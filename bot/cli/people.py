"""`organisations` (which organisation people answer for, by email domain) and `leads` (who may run
lead-only commands)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from bot.cli.runtime import Commands, command_settings, in_transaction, migrated, no_clock, out, with_engine
from bot.reports.summary_text import plural
from storage.leads import LeadError, Named, grant_lead, identify, list_leads, revoke_lead
from storage.organisations import OrganisationError, list_domains, map_domain, unmap_domain

__all__ = ["register"]


def register(commands: Commands) -> None:
    """organisations (email domains) and leads."""
    organisations = commands.add_parser(
        "organisations", help="which organisation people answer for, by email domain"
    ).add_subparsers(dest="action", required=True)
    organisations.add_parser("list", help="the email domains mapped to organisations").set_defaults(
        run=_domains_list
    )
    mapping = organisations.add_parser("map", help="people at DOMAIN answer for ORGANISATION")
    mapping.add_argument("domain")
    mapping.add_argument("organisation")
    mapping.set_defaults(run=_domains_map)
    unmapping = organisations.add_parser("unmap", help="forget a domain's organisation")
    unmapping.add_argument("domain")
    unmapping.set_defaults(run=_domains_unmap)

    leads = commands.add_parser("leads", help="who may run lead-only commands").add_subparsers(
        dest="action", required=True
    )
    leads.add_parser("list", help="leads by settings (LEAD_USER_IDS) and by grant").set_defaults(
        run=_leads_list
    )
    for verb, helptext in (
        ("grant", "make this person a lead"),
        ("revoke", "stop a granted lead being one"),
    ):
        change = leads.add_parser(verb, help=helptext)
        change.add_argument(
            "who",
            metavar="PERSON",
            help="their AAD object id (a GUID, from Entra ID), or the email of someone who has used the bot",
        )
        change.set_defaults(run=_leads_change, leads_verb=verb)


def _domains_list(_args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    mappings = asyncio.run(with_engine(settings.database_url, in_transaction(no_clock(list_domains))))
    for mapping in mappings:
        out(f"{mapping.domain}\t{mapping.organisation_name}")
    if not mappings:
        out("No email domains are mapped.")
    return 0


def _domains_map(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    try:
        mapped = asyncio.run(
            with_engine(settings.database_url, in_transaction(map_domain, args.domain, args.organisation))
        )
    except OrganisationError as exc:
        out(str(exc))
        return 2
    out(
        f"{mapped.domain} → {mapped.organisation.name}: "
        f"{plural(mapped.people_assigned, 'person', 'people')} assigned"
        + (f" (was {mapped.previous_organisation})" if mapped.previous_organisation else "")
    )
    return 0


def _domains_unmap(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    gone = asyncio.run(
        with_engine(settings.database_url, in_transaction(no_clock(unmap_domain), args.domain))
    )
    out(f"Forgot {args.domain}." if gone else f"{args.domain} was not mapped.")
    return 0 if gone else 1


def _leads_list(_args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    run = in_transaction(no_clock(list_leads), configured=settings.lead_user_ids)
    for lead in asyncio.run(with_engine(settings.database_url, run)):
        out(f"{lead.aad_object_id}\t{lead.name or '(not seen yet)'}\t{lead.source}")
    return 0


def _leads_change(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    grant = args.leads_verb == "grant"
    run = in_transaction(_change_lead, args.who, grant=grant, configured=settings.lead_user_ids)
    try:
        person, changed = asyncio.run(with_engine(settings.database_url, run))
    except LeadError as exc:
        out(exc.message)
        return 2
    who = f"{person.name} ({person.aad_object_id})" if person.name else person.aad_object_id
    if grant:
        out(f"{who} is now a lead." if changed else f"{who} was already a lead: nothing changed.")
    else:
        out(f"{who} is no longer a lead." if changed else f"{who} was not a granted lead: nothing changed.")
    return 0 if changed else 1


async def _change_lead(  # type: ignore[no-untyped-def]
    session, who: str, *, now: datetime, grant: bool, configured: list[str]
) -> tuple[Named, bool]:
    """Grant or revoke, in one transaction with finding whom `who` names (a GUID or a known email)."""
    person = await identify(session, who, granted_ok=not grant)
    if grant:
        changed = await grant_lead(
            session, person.aad_object_id, now=now, configured=configured, name=person.name
        )
    else:
        changed = await revoke_lead(session, person.aad_object_id, configured=configured, name=person.name)
    return person, changed
