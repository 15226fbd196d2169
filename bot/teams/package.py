"""The Teams app package: bot/teams_app/manifest.json filled in and zipped with its two icons.

Teams installs a bot from a zip holding `manifest.json` and the icons it names, all at the zip's root.
The template keeps `{{PLACEHOLDER}}` strings for what differs per deployment (ids, name, domain, links);
everything is checked here first, so a bad value is refused with a message instead of by Teams later.
The template and icons are package data, so an installed bot (the container's) builds the zip too.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.commands import manifest_command_lists

TEMPLATE_DIR = Path(__file__).resolve().parent / "teams_app"
DEFAULT_OUT = Path("build/surveybot-teams.zip")

# Limits from the v1.29 manifest schema, except the command limits: the schema allows longer titles and
# descriptions, but Teams documents (and shows) at most 32 and 128 characters.
SHORT_NAME_MAX = 30
DEVELOPER_NAME_MAX = 32
COMMAND_TITLE_MAX = 32
COMMAND_DESCRIPTION_MAX = 128
COMMANDS_PER_LIST_MAX = 12
ICON_SIZES = {"color": (192, 192), "outline": (32, 32)}

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SEMVER = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PackageError(ValueError):
    """Input the package cannot be built from; each problem says what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class BotCommand:
    title: str
    description: str
    lead_only: bool = False

    def as_manifest(self) -> dict[str, str]:
        suffix = " (leads only)" if self.lead_only else ""
        return {"title": self.title, "description": self.description + suffix}


# The commands Teams suggests, per scope: generated from the command grammar, so the menu cannot
# drift from what the bot understands. (Descriptions already carry "(leads only)" where it applies.)
COMMANDS_BY_SCOPE: dict[str, tuple[BotCommand, ...]] = {
    entry["scopes"][0]: tuple(BotCommand(c["title"], c["description"]) for c in entry["commands"])
    for entry in manifest_command_lists()
}


@dataclass(frozen=True)
class AppDetails:
    """What differs per deployment. `bot_id` is the Azure Bot's Microsoft App ID (MICROSOFT_APP_ID)."""

    bot_id: str
    teams_app_id: str
    name: str
    endpoint_domain: str
    version: str
    developer_name: str
    website_url: str
    privacy_url: str
    terms_url: str

    @classmethod
    def with_defaults(
        cls,
        *,
        bot_id: str,
        name: str,
        endpoint_domain: str,
        teams_app_id: str | None = None,
        version: str | None = None,
        developer_name: str | None = None,
        website_url: str | None = None,
        privacy_url: str | None = None,
        terms_url: str | None = None,
    ) -> AppDetails:
        """Unset values: the bot's id as the app id, the project's version, links on the bot's domain."""
        domain = endpoint_domain.strip().lower()
        return cls(
            bot_id=bot_id.strip(),
            teams_app_id=(teams_app_id or bot_id).strip(),
            name=name.strip(),
            endpoint_domain=domain,
            version=version or project_version(),
            developer_name=(developer_name or name).strip(),
            website_url=website_url or f"https://{domain}/",
            privacy_url=privacy_url or f"https://{domain}/privacy",
            terms_url=terms_url or f"https://{domain}/terms",
        )


def project_version() -> str:
    try:
        return metadata.version("surveybot")
    except metadata.PackageNotFoundError:
        return ""  # reported by problems(): the caller must pass a version


def problems(details: AppDetails) -> list[str]:
    """Everything wrong with the details, each as a sentence saying what is expected."""
    found = []
    ids = {"--app-id": details.bot_id}
    if details.teams_app_id != details.bot_id:  # a copy of --app-id is reported once
        ids["--teams-app-id"] = details.teams_app_id
    for label, value in ids.items():
        if not _GUID.fullmatch(value):
            found.append(f"{label} must be a GUID like 00000000-0000-0000-0000-000000000000, not {value!r}.")
    found += _text_problems("--name", details.name, SHORT_NAME_MAX)
    if details.developer_name != details.name:
        found += _text_problems("--developer-name", details.developer_name, DEVELOPER_NAME_MAX)
    if not _is_host_name(details.endpoint_domain):
        found.append(
            f"--endpoint-domain must be the bot's bare host name, like bot.example.nhs.uk "
            f"(no https://, port or path), not {details.endpoint_domain!r}."
        )
    if not details.version:
        found.append("--app-version is needed: the project's version could not be read.")
    elif not _SEMVER.fullmatch(details.version):
        found.append(f"--app-version must be MAJOR.MINOR.PATCH numbers, like 1.0.0, not {details.version!r}.")
    for label, url in (
        ("--website-url", details.website_url),
        ("--privacy-url", details.privacy_url),
        ("--terms-url", details.terms_url),
    ):
        if not _is_https_url(url):
            found.append(f"{label} must be an https:// address, not {url!r}.")
    return found


def _text_problems(label: str, value: str, limit: int) -> list[str]:
    if not value:
        return [f"{label} must not be empty."]
    if len(value) > limit:
        return [f"{label} may have at most {limit} characters; {value!r} has {len(value)}."]
    if not value.isprintable():
        return [f"{label} must be one line of printable text, not {value!r}."]
    return []


def _is_host_name(value: str) -> bool:
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and labels[-1][0].isalpha()
    )


def _is_https_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and len(value) <= 2048 and value.isprintable()


def command_lists() -> list[dict[str, Any]]:
    """One command list per scope, as the schema advises; commands beyond Teams' limits are refused."""
    manifests = {scope: [c.as_manifest() for c in commands] for scope, commands in COMMANDS_BY_SCOPE.items()}
    found = [
        f"The {scope} command list has {len(commands)} commands; Teams shows at most {COMMANDS_PER_LIST_MAX}."
        for scope, commands in manifests.items()
        if len(commands) > COMMANDS_PER_LIST_MAX
    ]
    found += [
        f"The command {command['title']!r} is too long: at most {COMMAND_TITLE_MAX} characters in a title "
        f"and {COMMAND_DESCRIPTION_MAX} in a description."
        for commands in manifests.values()
        for command in commands
        if len(command["title"]) > COMMAND_TITLE_MAX or len(command["description"]) > COMMAND_DESCRIPTION_MAX
    ]
    if found:
        raise PackageError(found)
    return [{"scopes": [scope], "commands": commands} for scope, commands in manifests.items()]


def manifest_for(details: AppDetails, template: dict[str, Any]) -> dict[str, Any]:
    """The template with every placeholder replaced; refuses bad details and template mistakes."""
    found = problems(details)
    if found:
        raise PackageError(found)
    values: dict[str, Any] = {
        "BOT_ID": details.bot_id,
        "TEAMS_APP_ID": details.teams_app_id,
        "NAME": details.name,
        "ENDPOINT_DOMAIN": details.endpoint_domain,
        "VERSION": details.version,
        "DEVELOPER_NAME": details.developer_name,
        "WEBSITE_URL": details.website_url,
        "PRIVACY_URL": details.privacy_url,
        "TERMS_URL": details.terms_url,
        "COMMAND_LISTS": command_lists(),
    }
    manifest: dict[str, Any] = _fill(template, values)
    return manifest


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if not isinstance(node, str):
        return node
    if "{{" in _PLACEHOLDER.sub("", node) or "}}" in _PLACEHOLDER.sub("", node):
        raise PackageError([f"The manifest template has a malformed placeholder in {node!r}."])
    for key in _PLACEHOLDER.findall(node):
        if key not in values:
            raise PackageError([f"The manifest template's placeholder {{{{{key}}}}} has no value."])
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        return values[whole[1]]  # may be a list or object, such as the command lists
    return _PLACEHOLDER.sub(lambda match: str(values[match[1]]), node)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header chunk."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def build_package(details: AppDetails, out: Path, template_dir: Path = TEMPLATE_DIR) -> dict[str, Any]:
    """Write the zip Teams accepts (manifest and icons at its root) and return the manifest written.

    Entries carry a fixed date, so the same details give the same bytes.
    """
    template_path = template_dir / "manifest.json"
    if not template_path.is_file():
        raise PackageError(
            [f"{template_path} is missing: this installation of surveybot is incomplete; reinstall it."]
        )
    manifest = manifest_for(details, json.loads(template_path.read_text(encoding="utf-8")))
    files = {"manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"}
    icon_problems = []
    for kind, size in ICON_SIZES.items():
        path = template_dir / manifest["icons"][kind]
        try:
            data = path.read_bytes()
            actual: tuple[int, int] | None = png_size(data)
        except (OSError, ValueError):
            data, actual = b"", None
        if actual != size:
            icon_problems.append(f"{path} must be a {size[0]}×{size[1]} PNG ({kind} icon).")
        files[manifest["icons"][kind]] = data
    if icon_problems:
        raise PackageError(icon_problems)
    if out.is_dir():
        raise PackageError([f"--out must be a file name, and {out} is a directory."])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app-id", required=True, metavar="GUID", help="the Azure Bot's Microsoft App ID (a GUID)"
    )
    parser.add_argument(
        "--name", required=True, help=f"the app's name in Teams (≤ {SHORT_NAME_MAX} characters)"
    )
    parser.add_argument(
        "--endpoint-domain",
        required=True,
        metavar="HOST",
        help="the bot's host name, e.g. bot.example.nhs.uk",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="ZIP",
        help=f"the zip to write (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--teams-app-id", metavar="GUID", help="the Teams app's own id (default: --app-id)")
    parser.add_argument("--app-version", metavar="X.Y.Z", help="the app's version (default: the project's)")
    parser.add_argument(
        "--developer-name", metavar="NAME", help="who publishes the app, as users see it (default: --name)"
    )
    parser.add_argument("--website-url", metavar="URL", help="https support page (default: https://HOST/)")
    parser.add_argument(
        "--privacy-url", metavar="URL", help="https privacy notice (default: https://HOST/privacy)"
    )
    parser.add_argument("--terms-url", metavar="URL", help="https terms of use (default: https://HOST/terms)")


def run(args: argparse.Namespace) -> int:
    """`python -m bot package`: 0 when written, 2 (with every problem on stderr) when refused."""
    details = AppDetails.with_defaults(
        bot_id=args.app_id,
        name=args.name,
        endpoint_domain=args.endpoint_domain,
        teams_app_id=args.teams_app_id,
        version=args.app_version,
        developer_name=args.developer_name,
        website_url=args.website_url,
        privacy_url=args.privacy_url,
        terms_url=args.terms_url,
    )
    try:
        build_package(details, args.out)
    except PackageError as error:
        sys.stderr.write("".join(f"error: {problem}\n" for problem in error.problems))
        return 2
    sys.stdout.write(
        f"Wrote {args.out}: {details.name} {details.version}, bot {details.bot_id}.\n"
        f"Links shown in Teams (make sure they open): {details.website_url} · {details.privacy_url} · "
        f"{details.terms_url}\n"
        "Upload it in Teams (Apps › Manage your apps › Upload an app) or the Teams admin centre.\n"
    )
    return 0
