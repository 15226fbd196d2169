"""`frameworks list`, `show`, `template`, `export`, `import` and `validate`: the assessment frameworks,
built in, in FRAMEWORKS_DIR, or published for a tenant."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from textwrap import indent

import yaml
from pydantic import ValidationError

from bot.app import load_catalogue
from bot.cli.runtime import Commands, at_least, command_settings, in_session, migrated, out
from bot.leads.tenant_frameworks import UsableFramework, find_framework, usable_frameworks
from bot.reports.summary_text import plural
from frameworks.clock import utc_now
from frameworks.loader import Catalogue, check_files, load_directory
from frameworks.schema import Framework, LevelsScale, ScaleKind, ScoreScale, StatusScale
from frameworks.versions import FrameworkDiff, diff
from frameworks.workbook import WorkbookError, canonical_json, read_workbook, template, write_workbook
from storage.db import Session
from storage.framework_versions import latest, publish, version

__all__ = ["describe", "register"]


def register(commands: Commands) -> None:
    """frameworks list, show, template, export, import and validate."""
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
    workbook.add_argument("--version", type=at_least(1), metavar="N", help="its published version N")
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


def _frameworks_list(args: argparse.Namespace) -> int:
    settings = command_settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        usable = [UsableFramework(f) for f in catalogue.frameworks.values()]
    else:
        if not migrated(settings):
            return 2
        usable = in_session(settings, usable_frameworks, built_in=catalogue, tenant_id=args.tenant)
    for item in sorted(usable, key=lambda u: u.framework.id):
        framework = item.framework
        count = plural(len(framework.scored_elements), "question")
        mark = "" if item.published_version is None else f", published version {item.published_version}"
        mark += f" for tenant {args.tenant}" if mark else ""
        mark += ", replaces the built-in" if item.replaces_built_in else ""
        out(f"{framework.id:32} {framework.title} (v{framework.version}, {count}{mark})")
    for error in catalogue.errors:
        out(f"skipped {error}")
    return 1 if catalogue.errors else 0


def _frameworks_show(args: argparse.Namespace) -> int:
    settings = command_settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        framework = catalogue.get(args.id)
    elif not migrated(settings):
        return 2
    else:
        framework = in_session(
            settings, _tenant_framework, catalogue=catalogue, tenant=args.tenant, framework_id=args.id
        )
    if framework is None:
        out(f"No framework {args.id!r}. Known: {', '.join(sorted(catalogue.frameworks)) or 'none'}.")
        return 1
    out(canonical_json(framework) if args.format == "json" else describe(framework))
    return 0


def _frameworks_template(args: argparse.Namespace) -> int:
    args.out.write_bytes(template(ScaleKind(args.kind)))
    out(f"Wrote {args.out}: fill in its sheets (README: Bring your own framework), then import it.")
    return 0


def _frameworks_export(args: argparse.Namespace) -> int:
    """With --tenant: the framework as that tenant uses it (its latest published version, else the
    built-in), or the published --version N."""
    if args.version is not None and args.tenant is None:
        out("--version needs --tenant: versions are numbered per tenant.")
        return 2
    settings = command_settings(database=args.tenant is not None)
    catalogue = asyncio.run(load_catalogue(settings))
    if args.tenant is None:
        framework = catalogue.get(args.id)
    else:
        if not migrated(settings):
            return 2
        found = in_session(
            settings,
            _tenant_framework,
            catalogue=catalogue,
            tenant=args.tenant,
            framework_id=args.id,
            number=args.version,
        )
        if found is None and args.version is not None:
            out(f"Tenant {args.tenant} has no version {args.version} of {args.id!r}.")
            return 1
        framework = found
    if framework is None:
        out(f"No framework {args.id!r}. Known: {', '.join(sorted(catalogue.frameworks)) or 'none'}.")
        return 1
    args.out.write_bytes(write_workbook(framework))
    out(f"Wrote {args.out}: {framework.title}, {plural(len(framework.iter_elements()), 'element')}.")
    return 0


def _frameworks_import(args: argparse.Namespace) -> int:
    """Status 2 with every problem when the workbook or its id cannot be used; nothing is written then."""
    settings = command_settings(database=False)
    try:
        framework = read_workbook(args.file.read_bytes(), filename=args.file.name)
        if args.new_id is not None:
            framework = Framework.model_validate({**framework.model_dump(), "id": args.new_id})
    except OSError as error:
        out(f"Cannot read {args.file}: {error.strerror}.")
        return 2
    except WorkbookError as error:
        out(f"✗ {args.file}: {plural(len(error.problems), 'problem')}, nothing saved")
        out(indent("\n".join(str(problem) for problem in error.problems), "    "))
        return 2
    except ValidationError as error:
        out(f"✗ --id {args.new_id!r}: {error.errors()[0]['msg']}")
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
        out(f"✗ {args.file}: nothing saved")
        out(indent("\n".join(problems), "    "))
        return 2
    assert settings.frameworks_dir is not None
    summary = f"{framework.id}: {framework.title}, {plural(len(framework.iter_elements()), 'element')}"
    if args.dry_run:
        out(f"✓ {args.file} is a valid framework ({summary}); --dry-run: nothing saved")
        return 0
    target = settings.frameworks_dir / f"{framework.id}.yaml"
    draft = target.with_suffix(".yaml.part")
    text = yaml.safe_dump(framework.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)
    draft.write_text(text, "utf-8")
    draft.replace(target)  # the bot never loads a half-written file
    out(f"✓ Saved {target} ({summary}). Restart the bot to offer it.")
    return 0


TENANT_ID_MAX = 64
"""framework_versions.tenant_id holds at most this many characters (a tenant id is a 36-character GUID)."""


def _publish_workbook(args: argparse.Namespace, framework: Framework) -> int:
    """`frameworks import --tenant`: the next version of the id for that tenant, after saying what changed
    since the last one; removed elements need --yes (their trends stop)."""
    tenant = args.tenant.strip()
    if not tenant or len(tenant) > TENANT_ID_MAX:
        out(f"✗ --tenant: give the tenant's Microsoft 365 directory id (at most {TENANT_ID_MAX} characters)")
        return 2
    settings = command_settings()
    if not migrated(settings):
        return 2
    catalogue = asyncio.run(load_catalogue(settings))
    outcome = in_session(
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
        out(f"Note: {framework.id!r} replaces the built-in framework of that id for tenant {tenant}.")
    if outcome.previous is not None and outcome.changes is not None:
        out(f"Since version {outcome.previous}: {_change_counts(outcome.changes)}.")
        for ref in outcome.changes.removed:
            out(f"    removed: {ref.title} ({ref.element_id}, in {ref.domain_id})")
    if outcome.same:
        out(f"✓ {args.file} is the same as version {outcome.previous}: nothing published.")
        return 0
    if outcome.refused:
        count = len(outcome.changes.removed if outcome.changes else [])
        them = "it" if count == 1 else "them"
        out(
            f"✗ {plural(count, 'element')} removed: surveys of the new version will not ask {them} and "
            f"the trends of {them} stop. Nothing published; run again with --yes to publish."
        )
        return 2
    if outcome.published is None:
        would_be = f"it would be version {outcome.next}"
        out(f"✓ {args.file} is valid ({summary}); --dry-run: nothing published ({would_be})")
        return 0
    out(f"✓ Published {framework.id} version {outcome.published} for tenant {tenant} ({summary}).")
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
    session: Session,
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
    session: Session, *, catalogue: Catalogue, tenant: str, framework_id: str, number: int | None = None
) -> Framework | None:
    """Published version `number`, or (without it) the framework the tenant's Teams uses."""
    if number is not None:
        found = await version(session, tenant_id=tenant, framework_id=framework_id, number=number)
        return found.framework if found is not None else None
    usable = await find_framework(session, built_in=catalogue, tenant_id=tenant, framework_id=framework_id)
    return usable.framework if usable is not None else None


def _frameworks_validate(args: argparse.Namespace) -> int:
    settings = command_settings(database=False)
    files = [p for path in args.paths for p in (sorted(path.glob("*.yaml")) if path.is_dir() else [path])]
    loaded = load_directory(log_skipped=False)  # what the bot would load, to find ids already taken
    if settings.frameworks_dir is not None:
        load_directory(settings.frameworks_dir, loaded, log_skipped=False)
    checks = check_files(files, loaded)
    for check in checks:
        if check.problems:
            out(f"✗ {check.path}")
            out(indent("\n".join(check.problems), "    "))
        elif check.framework is not None:
            elements = plural(len(check.framework.iter_elements()), "element")
            out(f"✓ {check.path}: {check.framework.id}, {elements}")
    if not files:
        out("No framework files found.")
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
