"""`privacy export`, `privacy erase` and `privacy retention`: a person's data and the retention period."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bot.cli.runtime import Commands, at_least, command_settings, in_transaction, migrated, out, with_engine
from bot.reports.summary_text import plural
from bot.settings import Settings
from storage.privacy import (
    DEFAULT_K,
    DEFAULT_RETENTION_MONTHS,
    erase_person,
    export_person,
    plan_erasure,
    plan_expired,
    purge_expired,
)

__all__ = ["register"]


def register(commands: Commands) -> None:
    """privacy export, erase and retention."""
    privacy = commands.add_parser("privacy", help="a person's data: export, erase; the retention period")
    acts = privacy.add_subparsers(title="privacy commands", metavar="ACTION")
    export = acts.add_parser("export", help="everything held about a person, as JSON")
    export.add_argument("--user", required=True, metavar="AAD_ID", help="AAD object id (or Teams user id)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    export.set_defaults(run=_privacy_export)
    erase = acts.add_parser("erase", help="erase a person; closed rounds keep their scores anonymously")
    erase.add_argument("--user", required=True, metavar="AAD_ID", help="AAD object id (or Teams user id)")
    erase.add_argument("--yes", action="store_true", help="erase (without it: only show what would go)")
    erase.add_argument("--k", type=at_least(2), help=f"smallest group kept anonymously (default {DEFAULT_K})")
    erase.set_defaults(run=_privacy_erase)
    retention = acts.add_parser("retention", help="anonymise old closed surveys, forget people long gone")
    retention.add_argument(
        "--months", type=at_least(1), help=f"retention period (default {DEFAULT_RETENTION_MONTHS})"
    )
    retention.add_argument("--dry-run", action="store_true", help="show what would be purged, change nothing")
    retention.add_argument(
        "--k", type=at_least(2), help=f"smallest group kept anonymously (default {DEFAULT_K})"
    )
    retention.set_defaults(run=_privacy_retention)


def _setting(settings: Settings, name: str, given: int | None, default: int) -> int:
    """A CLI option, else a setting of that name if Settings has one, else the default."""
    return given if given is not None else int(getattr(settings, name, default))


def _privacy_export(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    data = asyncio.run(with_engine(settings.database_url, in_transaction(export_person, args.user)))
    if data is None:
        out(f"Nothing is held about {args.user} (never seen, or erased).")
        return 1
    text = data.model_dump_json(indent=2)
    if args.out is None:
        out(text)
        return 0
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    responses = plural(len(data.responses), "response")
    out(f"Wrote everything held about {args.user} to {args.out} ({responses}).")
    return 0


def _privacy_erase(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    k = _setting(settings, "anonymity_k", args.k, DEFAULT_K)
    action = erase_person if args.yes else plan_erasure
    plan = asyncio.run(with_engine(settings.database_url, in_transaction(action, args.user, k=k)))
    if plan is None:
        out(f"Nothing is held about {args.user} (never seen, or already erased): nothing to do.")
        return 0
    out(f"{'Erased' if args.yes else 'Would erase'} {args.user} (logged as subject {plan.subject}):")
    kept, deleted = plural(plan.anonymised, "response"), plural(plan.deleted, "response")
    invitations = plural(plan.invitations_deleted, "invitation")
    references = plural(plan.conversations, "conversation reference")
    outbox = plural(plan.outbox, "outbox message")
    state = plural(len(plan.bot_state_keys), "bot state record")
    others = plural(sum(plan.other_records.values()), "other record")
    out(f"  {kept} kept for closed surveys' figures, with no identity, comment or time")
    out(f"  {deleted} deleted (survey still open, or fewer than {k} in their group)")
    out(f"  {invitations} deleted, {plan.invitations_anonymised} kept anonymously")
    out(f"  {references}, {outbox} and {state} deleted, {others} naming them (a lead grant), and the person")
    if not args.yes:
        out("Nothing was changed: run again with --yes to erase.")
        return 1
    return 0


def _privacy_retention(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    months = _setting(settings, "retention_months", args.months, DEFAULT_RETENTION_MONTHS)
    k = _setting(settings, "anonymity_k", args.k, DEFAULT_K)
    action = plan_expired if args.dry_run else purge_expired
    run = in_transaction(action, months=months, k=k)
    plan = asyncio.run(with_engine(settings.database_url, run))
    out(
        f"{'Would purge' if args.dry_run else 'Purged'} data older than {plural(months, 'month')} "
        f"(before {plan.cutoff:%Y-%m-%d %H:%M} UTC): {plural(plan.anonymised, 'response')} anonymised, "
        f"{plan.deleted} deleted, {plural(plan.invitations_deleted, 'invitation')} and "
        f"{plural(plan.outbox, 'outbox message')} deleted, "
        f"{plural(len(plan.people), 'person', 'people')} forgotten."
    )
    return 0
