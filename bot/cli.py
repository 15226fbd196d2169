"""Command line: `python -m bot serve | db … | privacy … | frameworks …`. Output for people goes to stdout."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from textwrap import indent

import yaml
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import create_app, create_bot, load_catalogue
from bot.leads.tenant_frameworks import UsableFramework, find_framework, usable_frameworks
from bot.ops.health import MissingCredential, check_credentials, run
from bot.ops.logs import configure_logging
from bot.reports.exports import export_data, export_file, export_filename
from bot.reports.summary_text import plural
from bot.reports.text import TextRenderer
from bot.settings import Settings
from bot.teams import package as teams_package
from bot.terminal import Keyboard, chat_command, farewell, run_chat
from frameworks.clock import utc_now
from frameworks.loader import Catalogue, check_files, load_directory
from frameworks.schema import Framework, LevelsScale, ScaleKind, ScoreScale, StatusScale
from frameworks.versions import FrameworkDiff, diff
from frameworks.workbook import WorkbookError, canonical_json, read_workbook, template, write_workbook
from storage.backup import BackupRefused, backup_sqlite
from storage.db import create_engine, session_factory, transaction
from storage.errors import SurveyNotFound
from storage.framework_versions import latest, publish, version
from storage.leads import LeadError, Named, grant_lead, identify, list_leads, revoke_lead
from storage.migrate import current_revision, head_revision, is_at_head, upgrade
from storage.organisations import OrganisationError, list_domains, map_domain, unmap_domain
from storage.privacy import (
    DEFAULT_K,
    DEFAULT_RETENTION_MONTHS,
    erase_person,
    export_person,
    plan_erasure,
    plan_expired,
    purge_expired,
)
from storage.reachability import display_url, require_sqlite_file
from storage.reachability import explain as explain_database_failure
from storage.surveys import PlaceKind, SurveyListing, survey_listing
from storage.tables import SurveyState

log = logging.getLogger("bot")

SEE_SURVEYS = "`python -m bot surveys list` shows the surveys and their numbers."
PLACES = {
    PlaceKind.CHANNEL: "a channel",
    PlaceKind.GROUP_CHAT: "a group chat",
    PlaceKind.PERSONAL: "a 1:1 chat",
    PlaceKind.UNKNOWN: "an unknown place",
}
FIX_SETTINGS = "Correct it in the environment or the .env file (see the README's Settings), then run again."


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return _explaining_failures(args)


def _explaining_failures(args: argparse.Namespace) -> int:
    """Run the command; a mistaken setting or an unusable database becomes two lines on stderr (what is
    wrong, what to do) and status 2, for every command alike. `--debug` adds the traceback."""
    try:
        return int(args.run(args))
    except Exception as error:
        problem = _setting_problem(error) or explain_database_failure(error)
        if problem is None:
            raise
        if args.debug:
            traceback.print_exception(error)
        sys.stderr.write(f"{problem}\n")
        return 2


def _setting_problem(error: Exception) -> str | None:
    if isinstance(error, SettingsError):
        return f"A setting could not be read: {error}.\n{FIX_SETTINGS}"
    if not (isinstance(error, ValidationError) and error.title == Settings.__name__):
        return None
    problems = []
    for detail in error.errors():
        name = "_".join(str(part) for part in detail["loc"]).upper() or "A setting"
        field = Settings.model_fields.get(str(detail["loc"][0]).lower()) if detail["loc"] else None
        secret = field is None or field.annotation in (SecretStr, "SecretStr") or name.endswith("_URL")
        value = "" if secret else f"={detail['input']!r}"
        problems.append(f"{name}{value}: {detail['msg'].removeprefix('Value error, ')}")
    return f"Setting {'; '.join(problems)}.\n{FIX_SETTINGS}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Teams survey bot for health and care partnerships."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback when a setting or the database is wrong"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the bot's web server (POST /api/messages, GET /healthz)")
    serve.add_argument("--host", help="interface to listen on (default: HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 3978)")
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="answer a survey in this terminal, exactly as in Teams")
    chat.add_argument(
        "--framework", metavar="ID", help="try this framework (a trial survey is opened for you)"
    )
    chat.add_argument(
        "--as", dest="name", default=os.environ.get("USER") or "Terminal user", help="your name"
    )
    chat.set_defaults(run=_chat)

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        title="db commands", metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply all migrations to DATABASE_URL").set_defaults(run=_db_upgrade)
    db.add_parser("current", help="show the database's migration and the latest one").set_defaults(
        run=_db_current
    )
    backup = db.add_parser("backup", help="copy the SQLite database while the bot runs (PostgreSQL: pg_dump)")
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    backup.set_defaults(run=_db_backup)

    privacy = commands.add_parser("privacy", help="a person's data: export, erase; the retention period")
    acts = privacy.add_subparsers(title="privacy commands", metavar="ACTION")
    export = acts.add_parser("export", help="everything held about a person, as JSON")
    export.add_argument("--user", required=True, metavar="AAD_ID", help="AAD object id (or Teams user id)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    export.set_defaults(run=_privacy_export)
    erase = acts.add_parser("erase", help="erase a person; closed rounds keep their scores anonymously")
    erase.add_argument("--user", required=True, metavar="AAD_ID", help="AAD object id (or Teams user id)")
    erase.add_argument("--yes", action="store_true", help="erase (without it: only show what would go)")
    erase.add_argument(
        "--k", type=_at_least(2), help=f"smallest group kept anonymously (default {DEFAULT_K})"
    )
    erase.set_defaults(run=_privacy_erase)
    retention = acts.add_parser("retention", help="anonymise old closed surveys, forget people long gone")
    retention.add_argument(
        "--months", type=_at_least(1), help=f"retention period (default {DEFAULT_RETENTION_MONTHS})"
    )
    retention.add_argument("--dry-run", action="store_true", help="show what would be purged, change nothing")
    retention.add_argument(
        "--k", type=_at_least(2), help=f"smallest group kept anonymously (default {DEFAULT_K})"
    )
    retention.set_defaults(run=_privacy_retention)

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
    listing.add_argument("--limit", type=_at_least(1), default=50, help="at most this many (default 50)")
    listing.set_defaults(run=_surveys_list)

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

    frameworks = commands.add_parser("frameworks", help="list, show and validate assessment frameworks")
    actions = frameworks.add_subparsers(title="frameworks commands", metavar="ACTION")
    listing = actions.add_parser("list", help="the frameworks the bot offers")
    listing.add_argument("--tenant", metavar="TENANT_ID", help="with the frameworks this tenant published")
    listing.set_defaults(run=_frameworks_list)
    show = actions.add_parser("show", help="every domain and question of one framework")
    show.add_argument("id", help="framework id, as in `frameworks list`")
    show.add_argument(
        "--format", choices=["text", "json"], default="text", help="json: the framework as canonical JSON"
    )
    show.add_argument("--tenant", metavar="TENANT_ID", help="the framework as this tenant uses it")
    show.set_defaults(run=_frameworks_show)
    blank = actions.add_parser("template", help="an empty, annotated Excel workbook for a new framework")
    blank.add_argument("--kind", required=True, choices=[k.value for k in ScaleKind], help="the answer scale")
    blank.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx")
    blank.set_defaults(run=_frameworks_template)
    workbook = actions.add_parser("export", help="a framework as an Excel workbook (README layout)")
    workbook.add_argument("id", help="framework id, as in `frameworks list`")
    workbook.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx")
    workbook.add_argument("--tenant", metavar="TENANT_ID", help="the framework as this tenant uses it")
    workbook.add_argument("--version", type=_at_least(1), metavar="N", help="its published version N")
    workbook.set_defaults(run=_frameworks_export)
    bring = actions.add_parser(
        "import",
        help="check an Excel workbook and publish it for a tenant (or save it in FRAMEWORKS_DIR)",
        description="Check a framework workbook. With --tenant, publish it in the database as the next "
        "version of its id for that tenant's Teams (a re-import prints what changed; removing elements "
        "needs --yes). Without --tenant, write it as YAML into FRAMEWORKS_DIR, a built-in for every "
        "tenant once the bot restarts. Every problem is listed (exit status 2) and nothing is stored.",
    )
    bring.add_argument("file", type=Path, metavar="FILE.xlsx")
    bring.add_argument("--id", dest="new_id", help="save under this id instead of the workbook's")
    bring.add_argument("--tenant", metavar="TENANT_ID", help="publish for this Microsoft 365 tenant")
    bring.add_argument("--yes", action="store_true", help="publish even when elements were removed")
    bring.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    bring.set_defaults(run=_frameworks_import)
    validate = actions.add_parser("validate", help="check framework YAML files and report every problem")
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a .yaml file or a directory")
    validate.set_defaults(run=_frameworks_validate)

    package = commands.add_parser("package", help="build the Teams app package (manifest and icons in a zip)")
    teams_package.add_arguments(package)
    package.set_defaults(run=teams_package.run)
    return parser


def _at_least(minimum: int):  # type: ignore[no-untyped-def]
    def number(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}")
        return int(text)

    return number


def _settings(*, database: bool = True) -> Settings:
    """The settings (a mistake in them is explained by `_explaining_failures`), logging configured; a
    command that uses the database says which one on stderr."""
    settings = Settings()
    configure_logging(
        settings.log_level, settings.log_format, hash_salt=settings.log_hash_salt.get_secret_value()
    )
    if database:
        sys.stderr.write(f"Database: {_which_database(settings)}\n")
    return settings


def _which_database(settings: Settings) -> str:
    return f"{display_url(settings.database_url)} ({settings.database_source})"


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(database=False)
    log.info("database: %s", _which_database(settings))
    updates = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = settings.model_copy(update=updates)
    if settings.local_mode:
        log.warning(
            "Local mode: MICROSOFT_APP_ID is not set, so requests are not authenticated. "
            "Use only on your own machine (Bot Framework Emulator: http://localhost:%d/api/messages).",
            settings.port,
        )
    try:
        check_credentials(settings)
    except MissingCredential as error:
        log.error("%s Refusing to start.", error)
        return 2
    if not _migrated(settings):  # before listening: an unusable database is explained, not served
        return 2
    try:
        run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
        )
    except OSError as error:
        if error.errno not in _CANNOT_LISTEN:
            raise
        sys.stderr.write(
            f"Cannot listen on {settings.host}:{settings.port}: {os.strerror(error.errno or 0).lower()}.\n"
            "Stop whatever uses that address, or choose another with PORT (or HOST, or --port).\n"
        )
        return 2
    return 0


_CANNOT_LISTEN = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
"""Why a server cannot bind its address: taken, not this machine's, or a privileged port."""


async def _with_engine(url: str, action, *, create: bool = False):  # type: ignore[no-untyped-def]
    """Run `action(engine)`; a SQLite file that does not exist is created only when `create` is set."""
    if not create:
        await asyncio.to_thread(require_sqlite_file, url)
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def _chat(args: argparse.Namespace) -> int:
    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    try:
        return asyncio.run(_chat_async(settings, args.framework, args.name))
    except KeyboardInterrupt:  # Ctrl-C while starting, before the chat listens for it
        _write("\n" + farewell(chat_command(args.framework, args.name)))
        return 0


async def _chat_async(settings: Settings, framework_id: str | None, name: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        if not await is_at_head(engine):
            _out("The database is not migrated: run `python -m bot db upgrade` first (`make chat` does).")
            return 2
        sessions = session_factory(engine)
        catalogue = await load_catalogue(settings)
        bot = create_bot(settings, sessions, catalogue, utc_now, TextRenderer())
        with Keyboard.listening() as keyboard:
            return await run_chat(
                bot,
                sessions,
                catalogue,
                utc_now,
                name=name,
                framework_id=framework_id,
                read=keyboard.read,
                write=_write,
            )
    finally:
        await engine.dispose()


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _db_upgrade(_args: argparse.Namespace) -> int:
    settings = _settings()
    asyncio.run(_with_engine(settings.database_url, upgrade, create=True))
    _out(f"Database is at migration {head_revision()} (latest).")
    return 0


def _db_current(_args: argparse.Namespace) -> int:
    settings = _settings()
    current = asyncio.run(_with_engine(settings.database_url, current_revision))
    head = head_revision()
    _out(f"current: {current or 'none (empty database)'}\nlatest:  {head}")
    return 0 if current == head else 1


def _db_backup(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        result = asyncio.run(backup_sqlite(settings.database_url, args.path))
    except BackupRefused as refusal:
        _out(str(refusal))
        return 2
    _out(f"Backed up {result.source} to {result.target} ({result.size} bytes, integrity checked).")
    return 0


def _migrated(settings: Settings) -> bool:
    if asyncio.run(_with_engine(settings.database_url, is_at_head)):
        return True
    _out("The database is not migrated: run `python -m bot db upgrade` first.")
    return False


def _setting(settings: Settings, name: str, given: int | None, default: int) -> int:
    """A CLI option, else a setting of that name if Settings has one, else the default."""
    return given if given is not None else int(getattr(settings, name, default))


def _privacy_export(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    data = asyncio.run(_with_engine(settings.database_url, _in_transaction(export_person, args.user)))
    if data is None:
        _out(f"Nothing is held about {args.user} (never seen, or erased).")
        return 1
    text = data.model_dump_json(indent=2)
    if args.out is None:
        _out(text)
        return 0
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    responses = plural(len(data.responses), "response")
    _out(f"Wrote everything held about {args.user} to {args.out} ({responses}).")
    return 0


def _privacy_erase(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    k = _setting(settings, "anonymity_k", args.k, DEFAULT_K)
    action = erase_person if args.yes else plan_erasure
    plan = asyncio.run(_with_engine(settings.database_url, _in_transaction(action, args.user, k=k)))
    if plan is None:
        _out(f"Nothing is held about {args.user} (never seen, or already erased): nothing to do.")
        return 0
    _out(f"{'Erased' if args.yes else 'Would erase'} {args.user} (logged as subject {plan.subject}):")
    kept, deleted = plural(plan.anonymised, "response"), plural(plan.deleted, "response")
    invitations = plural(plan.invitations_deleted, "invitation")
    references = plural(plan.conversations, "conversation reference")
    outbox = plural(plan.outbox, "outbox message")
    state = plural(len(plan.bot_state_keys), "bot state record")
    others = plural(sum(plan.other_records.values()), "other record")
    _out(f"  {kept} kept for closed surveys' figures, with no identity, comment or time")
    _out(f"  {deleted} deleted (survey still open, or fewer than {k} in their group)")
    _out(f"  {invitations} deleted, {plan.invitations_anonymised} kept anonymously")
    _out(f"  {references}, {outbox} and {state} deleted, {others} naming them (a lead grant), and the person")
    if not args.yes:
        _out("Nothing was changed: run again with --yes to erase.")
        return 1
    return 0


def _privacy_retention(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    months = _setting(settings, "retention_months", args.months, DEFAULT_RETENTION_MONTHS)
    k = _setting(settings, "anonymity_k", args.k, DEFAULT_K)
    action = plan_expired if args.dry_run else purge_expired
    run = _in_transaction(action, months=months, k=k)
    plan = asyncio.run(_with_engine(settings.database_url, run))
    _out(
        f"{'Would purge' if args.dry_run else 'Purged'} data older than {plural(months, 'month')} "
        f"(before {plan.cutoff:%Y-%m-%d %H:%M} UTC): {plural(plan.anonymised, 'response')} anonymised, "
        f"{plan.deleted} deleted, {plural(plan.invitations_deleted, 'invitation')} and "
        f"{plural(plan.outbox, 'outbox message')} deleted, "
        f"{plural(len(plan.people), 'person', 'people')} forgotten."
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    rules = settings.summary_rules

    async def build(session, *, now):  # type: ignore[no-untyped-def]
        export, summary = await export_data(
            session, args.survey_id, args.format, anonymise=args.anonymise, rules=rules, now=now
        )
        return export, await export_file(export, args.format, summary)

    try:
        export, data = asyncio.run(_with_engine(settings.database_url, _in_transaction(build)))
    except SurveyNotFound:
        _out(f"There is no survey {args.survey_id}. {SEE_SURVEYS}")
        return 1
    out = args.out or _exports_folder(settings) / export_filename(export, args.format, utc_now().date())
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # answers, maybe names
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    _out(f"Wrote {out} ({len(data)} bytes{', anonymised' if args.anonymise else ''}).")
    return 0


def _exports_folder(settings: Settings) -> Path:
    """Exports hold answers and maybe names: in the data folder (owner only), never the current folder,
    where a working tree would pick them up."""
    folder = settings.data_dir / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _surveys_list(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    run = _in_transaction(_no_clock(survey_listing), reach=None, limit=args.limit)
    listings = asyncio.run(_with_engine(settings.database_url, run))
    for listing in listings:
        _out(_survey_line(listing))
    if not listings:
        _out("No surveys have been started yet (a lead starts one in Teams: `start survey`).")
    elif len(listings) == args.limit:
        _out(f"(the {args.limit} newest; --limit N shows more)")
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


def _domains_list(_args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    mappings = asyncio.run(_with_engine(settings.database_url, _in_transaction(_no_clock(list_domains))))
    for mapping in mappings:
        _out(f"{mapping.domain}\t{mapping.organisation_name}")
    if not mappings:
        _out("No email domains are mapped.")
    return 0


def _domains_map(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    try:
        mapped = asyncio.run(
            _with_engine(settings.database_url, _in_transaction(map_domain, args.domain, args.organisation))
        )
    except OrganisationError as exc:
        _out(str(exc))
        return 2
    _out(
        f"{mapped.domain} → {mapped.organisation.name}: "
        f"{plural(mapped.people_assigned, 'person', 'people')} assigned"
        + (f" (was {mapped.previous_organisation})" if mapped.previous_organisation else "")
    )
    return 0


def _domains_unmap(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    gone = asyncio.run(
        _with_engine(settings.database_url, _in_transaction(_no_clock(unmap_domain), args.domain))
    )
    _out(f"Forgot {args.domain}." if gone else f"{args.domain} was not mapped.")
    return 0 if gone else 1


def _leads_list(_args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    run = _in_transaction(_no_clock(list_leads), configured=settings.lead_user_ids)
    for lead in asyncio.run(_with_engine(settings.database_url, run)):
        _out(f"{lead.aad_object_id}\t{lead.name or '(not seen yet)'}\t{lead.source}")
    return 0


def _leads_change(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _migrated(settings):
        return 2
    grant = args.leads_verb == "grant"
    run = _in_transaction(_change_lead, args.who, grant=grant, configured=settings.lead_user_ids)
    try:
        person, changed = asyncio.run(_with_engine(settings.database_url, run))
    except LeadError as exc:
        _out(exc.message)
        return 2
    who = f"{person.name} ({person.aad_object_id})" if person.name else person.aad_object_id
    if grant:
        _out(f"{who} is now a lead." if changed else f"{who} was already a lead: nothing changed.")
    else:
        _out(f"{who} is no longer a lead." if changed else f"{who} was not a granted lead: nothing changed.")
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


def _no_clock(action):  # type: ignore[no-untyped-def]
    """A storage function that takes no `now`, for `_in_transaction` (which passes one)."""

    async def run(session, *args, now, **kwargs):  # type: ignore[no-untyped-def]
        return await action(session, *args, **kwargs)

    return run


def _in_transaction(action, *args, **kwargs):  # type: ignore[no-untyped-def]
    """A storage function for `_with_engine`, run in one transaction (rolled back if it fails) at the
    current time."""

    async def run(engine):  # type: ignore[no-untyped-def]
        async with transaction(session_factory(engine)) as session:
            return await action(session, *args, now=utc_now(), **kwargs)

    return run


def _frameworks_list(args: argparse.Namespace) -> int:
    settings = _settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        usable = [UsableFramework(f) for f in catalogue.frameworks.values()]
    else:
        if not _migrated(settings):
            return 2
        usable = _in_session(settings, usable_frameworks, built_in=catalogue, tenant_id=args.tenant)
    for item in sorted(usable, key=lambda u: u.framework.id):
        framework = item.framework
        count = plural(len(framework.scored_elements), "question")
        mark = "" if item.published_version is None else f", published version {item.published_version}"
        mark += f" for tenant {args.tenant}" if mark else ""
        mark += ", replaces the built-in" if item.replaces_built_in else ""
        _out(f"{framework.id:32} {framework.title} (v{framework.version}, {count}{mark})")
    for error in catalogue.errors:
        _out(f"skipped {error}")
    return 1 if catalogue.errors else 0


def _frameworks_show(args: argparse.Namespace) -> int:
    settings = _settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        framework = catalogue.get(args.id)
    elif not _migrated(settings):
        return 2
    else:
        framework = _in_session(
            settings, _tenant_framework, catalogue=catalogue, tenant=args.tenant, framework_id=args.id
        )
    if framework is None:
        _out(f"No framework {args.id!r}. Known: {', '.join(sorted(catalogue.frameworks)) or 'none'}.")
        return 1
    _out(canonical_json(framework) if args.format == "json" else describe(framework))
    return 0


def _frameworks_template(args: argparse.Namespace) -> int:
    args.out.write_bytes(template(ScaleKind(args.kind)))
    _out(f"Wrote {args.out}: fill in its sheets (README: Bring your own framework), then import it.")
    return 0


def _frameworks_export(args: argparse.Namespace) -> int:
    """With --tenant: the framework as that tenant uses it (its latest published version, else the
    built-in), or the published --version N."""
    if args.version is not None and args.tenant is None:
        _out("--version needs --tenant: versions are numbered per tenant.")
        return 2
    settings = _settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        framework = catalogue.get(args.id)
    else:
        if not _migrated(settings):
            return 2
        found = _in_session(
            settings,
            _tenant_framework,
            catalogue=catalogue,
            tenant=args.tenant,
            framework_id=args.id,
            number=args.version,
        )
        if found is None and args.version is not None:
            _out(f"Tenant {args.tenant} has no version {args.version} of {args.id!r}.")
            return 1
        framework = found
    if framework is None:
        _out(f"No framework {args.id!r}. Known: {', '.join(sorted(catalogue.frameworks)) or 'none'}.")
        return 1
    args.out.write_bytes(write_workbook(framework))
    _out(f"Wrote {args.out}: {framework.title}, {plural(len(framework.iter_elements()), 'element')}.")
    return 0


def _frameworks_import(args: argparse.Namespace) -> int:
    """Status 2 with every problem when the workbook or its id cannot be used; nothing is written then."""
    settings = _settings(database=False)
    try:
        framework = read_workbook(args.file.read_bytes(), filename=args.file.name)
        if args.new_id is not None:
            framework = Framework.model_validate({**framework.model_dump(), "id": args.new_id})
    except OSError as error:
        _out(f"Cannot read {args.file}: {error.strerror}.")
        return 2
    except WorkbookError as error:
        _out(f"✗ {args.file}: {plural(len(error.problems), 'problem')}, nothing saved")
        _out(indent("\n".join(str(problem) for problem in error.problems), "    "))
        return 2
    except ValidationError as error:
        _out(f"✗ --id {args.new_id!r}: {error.errors()[0]['msg']}")
        return 2
    if args.tenant is not None:
        return _publish_workbook(args, framework)
    catalogue = asyncio.run(load_catalogue(settings))
    problems = []
    if settings.frameworks_dir is None:
        problems.append("FRAMEWORKS_DIR is not set: set it to the folder the bot loads framework files from")
    if framework.id in catalogue.frameworks:
        problems.append(
            f"id {framework.id!r} is already used by {catalogue.sources[framework.id]}: give one with --id"
        )
    if problems:
        _out(f"✗ {args.file}: nothing saved")
        _out(indent("\n".join(problems), "    "))
        return 2
    assert settings.frameworks_dir is not None
    summary = f"{framework.id}: {framework.title}, {plural(len(framework.iter_elements()), 'element')}"
    if args.dry_run:
        _out(f"✓ {args.file} is a valid framework ({summary}); --dry-run: nothing saved")
        return 0
    target = settings.frameworks_dir / f"{framework.id}.yaml"
    draft = target.with_suffix(".yaml.part")
    text = yaml.safe_dump(framework.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)
    draft.write_text(text, "utf-8")
    draft.replace(target)  # the bot never loads a half-written file
    _out(f"✓ Saved {target} ({summary}). Restart the bot to offer it.")
    return 0


TENANT_ID_MAX = 64
"""framework_versions.tenant_id holds at most this many characters (a tenant id is a 36-character GUID)."""


def _publish_workbook(args: argparse.Namespace, framework: Framework) -> int:
    """`frameworks import --tenant`: the next version of the id for that tenant, after saying what changed
    since the last one; removed elements need --yes (their trends stop)."""
    tenant = args.tenant.strip()
    if not tenant or len(tenant) > TENANT_ID_MAX:
        _out(f"✗ --tenant: give the tenant's Microsoft 365 directory id (at most {TENANT_ID_MAX} characters)")
        return 2
    settings = _settings()
    if not _migrated(settings):
        return 2
    catalogue = asyncio.run(load_catalogue(settings))
    outcome = _in_session(
        settings,
        _publish_unless_refused,
        tenant=tenant,
        framework=framework,
        confirmed=args.yes,
        dry_run=args.dry_run,
        now=utc_now(),
    )
    summary = f"{framework.title}, {plural(len(framework.iter_elements()), 'element')}"
    if framework.id in catalogue.frameworks:
        _out(f"Note: {framework.id!r} replaces the built-in framework of that id for tenant {tenant}.")
    if outcome.previous is not None and outcome.changes is not None:
        _out(f"Since version {outcome.previous}: {_change_counts(outcome.changes)}.")
        for ref in outcome.changes.removed:
            _out(f"    removed: {ref.title} ({ref.element_id}, in {ref.domain_id})")
    if outcome.same:
        _out(f"✓ {args.file} is the same as version {outcome.previous}: nothing published.")
        return 0
    if outcome.refused:
        count = len(outcome.changes.removed if outcome.changes else [])
        them = "it" if count == 1 else "them"
        _out(
            f"✗ {plural(count, 'element')} removed: surveys of the new version will not ask {them} and "
            f"the trends of {them} stop. Nothing published; run again with --yes to publish."
        )
        return 2
    if outcome.published is None:
        would_be = f"it would be version {outcome.next}"
        _out(f"✓ {args.file} is valid ({summary}); --dry-run: nothing published ({would_be})")
        return 0
    _out(f"✓ Published {framework.id} version {outcome.published} for tenant {tenant} ({summary}).")
    return 0


@dataclass(frozen=True)
class _Publication:
    """What `frameworks import --tenant` found and did."""

    previous: int | None
    changes: FrameworkDiff | None
    same: bool = False
    refused: bool = False
    published: int | None = None

    @property
    def next(self) -> int:
        return (self.previous or 0) + 1


async def _publish_unless_refused(
    session: AsyncSession,
    *,
    tenant: str,
    framework: Framework,
    confirmed: bool,
    dry_run: bool,
    now: datetime,
) -> _Publication:
    """Compare with the tenant's latest version and publish in the same transaction."""
    before = await latest(session, tenant_id=tenant, framework_id=framework.id)
    if before is None:
        changes = None
    else:
        changes = diff(before.framework, framework)
        if before.framework.model_dump(mode="json") == framework.model_dump(mode="json"):
            return _Publication(before.version, changes, same=True)
        if changes.removed and not confirmed:
            return _Publication(before.version, changes, refused=True)
    previous = before.version if before is not None else None
    if dry_run:
        return _Publication(previous, changes)
    published = await publish(session, tenant_id=tenant, framework=framework, published_by_id=None, now=now)
    return _Publication(previous, changes, published=published.version)


def _change_counts(changes: FrameworkDiff) -> str:
    counts = (len(changes.added), len(changes.removed), len(changes.reworded), len(changes.moved))
    return "{} added, {} removed, {} reworded, {} moved".format(*counts)


async def _tenant_framework(
    session: AsyncSession, *, catalogue: Catalogue, tenant: str, framework_id: str, number: int | None = None
) -> Framework | None:
    """Published version `number`, or (without it) the framework the tenant's Teams uses."""
    if number is not None:
        found = await version(session, tenant_id=tenant, framework_id=framework_id, number=number)
        return found.framework if found is not None else None
    usable = await find_framework(session, built_in=catalogue, tenant_id=tenant, framework_id=framework_id)
    return usable.framework if usable is not None else None


def _in_session(settings: Settings, action, /, **kwargs):  # type: ignore[no-untyped-def]
    """`action(session, **kwargs)` in one transaction on DATABASE_URL."""

    async def run(engine):  # type: ignore[no-untyped-def]
        async with transaction(session_factory(engine)) as session:
            return await action(session, **kwargs)

    return asyncio.run(_with_engine(settings.database_url, run))


def _frameworks_validate(args: argparse.Namespace) -> int:
    settings = _settings(database=False)
    files = [p for path in args.paths for p in (sorted(path.glob("*.yaml")) if path.is_dir() else [path])]
    loaded = load_directory(log_skipped=False)  # what the bot would load, to find ids already taken
    if settings.frameworks_dir is not None:
        load_directory(settings.frameworks_dir, loaded, log_skipped=False)
    checks = check_files(files, loaded)
    for check in checks:
        if check.problems:
            _out(f"✗ {check.path}")
            _out(indent("\n".join(check.problems), "    "))
        elif check.framework is not None:
            elements = plural(len(check.framework.iter_elements()), "element")
            _out(f"✓ {check.path}: {check.framework.id}, {elements}")
    if not files:
        _out("No framework files found.")
        return 1
    return 1 if any(check.problems for check in checks) else 0


def describe(framework: Framework) -> str:
    """A readable outline of a framework for the terminal."""
    lines = [
        f"{framework.title} ({framework.id}, version {framework.version})",
        f"Source: {framework.source}",
    ]
    lines.append(framework.description)
    for domain in framework.domains:
        lines += ["", f"## {domain.title}", f"   Scale: {_scale(framework.scale_for(domain))}"]
        if domain.lead_in:
            lines.append(f"   {domain.lead_in}")
        if not domain.elements:
            lines.append(f"   (no questions: {domain.empty_note})")
        for element in domain.elements:
            flag = " [in development: not scored]" if element.in_development else ""
            when = f" — {element.milestone.label}" if element.milestone else ""
            group = f"{element.group} · " if element.group else ""
            lines.append(f" - {group}{element.title}{when}{flag}")
            if element.text:
                lines.append(indent(element.text, "     "))
    if framework.notes:
        lines += ["", "Notes:"] + [f" - {note}" for note in framework.notes]
    return "\n".join(lines)


def _scale(scale: LevelsScale | ScoreScale | StatusScale) -> str:
    if isinstance(scale, LevelsScale):
        return ", ".join(f"{level.value} {level.label}" for level in scale.levels)
    if isinstance(scale, ScoreScale):
        return f"{scale.min} ({scale.min_label}) to +{scale.max} ({scale.max_label})"
    return ", ".join(f"{status.label} ({status.rag})" for status in scale.statuses)
