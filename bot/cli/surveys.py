"""`export` (one survey's answers as CSV or XLSX) and `surveys list`."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bot.cli.runtime import (
    Commands,
    at_least,
    command_settings,
    in_transaction,
    migrated,
    no_clock,
    out,
    with_engine,
)
from bot.reports.exports import export_file, export_filename
from bot.settings import Settings
from frameworks.clock import utc_now
from storage.errors import SurveyNotFound
from storage.exports import export_data
from storage.surveys import PlaceKind, SurveyListing, survey_listing
from storage.tables import SurveyState

__all__ = ["register"]

SEE_SURVEYS = "`python -m bot surveys list` shows the surveys and their numbers."


PLACES = {
    PlaceKind.CHANNEL: "a channel",
    PlaceKind.GROUP_CHAT: "a group chat",
    PlaceKind.PERSONAL: "a 1:1 chat",
    PlaceKind.UNKNOWN: "an unknown place",
}


def register(commands: Commands) -> None:
    """export (a survey's answers) and surveys list."""
    export = commands.add_parser(
        "export",
        help="a survey's answers as CSV or XLSX (XLSX adds the summary)",
        description="Write one survey's answers, one row per answer, to a file readable only by you.",
    )
    export.add_argument(
        "survey_id",
        type=int,
        metavar="SURVEY",
        help="the survey's number, as `python -m bot surveys list` shows it",
    )
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv", help="csv (default) or xlsx")
    export.add_argument("--anonymise", action="store_true", help="no names; small organisations blanked")
    export.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="file to write (default: DATA_DIR/exports/, named after the framework, survey and date)",
    )
    export.set_defaults(run=_export)

    surveys = commands.add_parser("surveys", help="the surveys started, with their numbers").add_subparsers(
        dest="action", required=True
    )
    listing = surveys.add_parser(
        "list", help="number, framework, partnership, where it was started, state and counts, newest first"
    )
    listing.add_argument("--limit", type=at_least(1), default=50, help="at most this many (default 50)")
    listing.set_defaults(run=_surveys_list)


def _export(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    rules = settings.summary_rules

    async def build(session, *, now):  # type: ignore[no-untyped-def]
        export, summary = await export_data(
            session,
            survey_id=args.survey_id,
            with_summary=args.format == "xlsx",
            anonymise=args.anonymise,
            rules=rules,
            now=now,
        )
        return export, await export_file(export, args.format, summary)

    try:
        export, data = asyncio.run(with_engine(settings.database_url, in_transaction(build)))
    except SurveyNotFound:
        out(f"There is no survey {args.survey_id}. {SEE_SURVEYS}")
        return 1
    target = args.out or _exports_folder(settings) / export_filename(export, args.format, utc_now().date())
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # answers, maybe names
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    out(f"Wrote {target} ({len(data)} bytes{', anonymised' if args.anonymise else ''}).")
    return 0


def _exports_folder(settings: Settings) -> Path:
    """Exports hold answers and maybe names: in the data folder (owner only), never the current folder,
    where a working tree would pick them up."""
    folder = settings.data_dir / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _surveys_list(args: argparse.Namespace) -> int:
    settings = command_settings()
    if not migrated(settings):
        return 2
    run = in_transaction(no_clock(survey_listing), reach=None, limit=args.limit)
    listings = asyncio.run(with_engine(settings.database_url, run))
    for listing in listings:
        out(_survey_line(listing))
    if not listings:
        out("No surveys have been started yet (a lead starts one in Teams: `start survey`).")
    elif len(listings) == args.limit:
        out(f"(the {args.limit} newest; --limit N shows more)")
    return 0


def _survey_line(listing: SurveyListing) -> str:
    survey = listing.survey
    place = PLACES[listing.place] + (f" “{listing.place_name}”" if listing.place_name else "")
    if survey.state == SurveyState.OPEN and survey.closes_at is not None:
        state = f"open until {survey.closes_at:%Y-%m-%d %H:%M} UTC"
    else:
        state = str(survey.state)
    return (
        f"{survey.id}  {survey.framework_id}  “{survey.title}”  {listing.partnership or 'no partnership'}"
        f"  · started in {place} · {state} · {listing.invited} invited, {listing.started} started, "
        f"{listing.submitted} submitted"
    )
