"""A deployer builds the Teams app package with one command and uploads it: Teams must accept it as is.

The manifest is checked against Microsoft's v1.29 schema (offline), the icons by decoding the PNGs, and
bad input must be refused before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft6Validator, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource

from bot.cli import main
from bot.teams.package import (
    COMMANDS_BY_SCOPE,
    TEMPLATE_DIR,
    AppDetails,
    BotCommand,
    PackageError,
    build_package,
)
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_NAME = "schemas/MicrosoftTeams.v1.29.schema.json"
BOT_ID = "6a4b2c1d-0e9f-4a8b-9c7d-123456789abc"
DOMAIN = "bot.example.nhs.uk"
ARGV = ["package", "--app-id", BOT_ID, "--name", "Partnership Survey", "--endpoint-domain", DOMAIN]

# The schema declares draft-04 but pins manifestVersion with draft-06's `const`; keep that check.
ManifestValidator = validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})


def _offline(uri: str) -> Any:
    raise NoSuchResource(ref=uri)  # validation must never fetch anything


@pytest.fixture(scope="module")
def manifest_schema() -> Draft4Validator:
    schema = json.loads(shared_file(SCHEMA_NAME).read_text(encoding="utf-8"))
    # Not checking `format: regex`: one pattern uses ECMAScript's \p{L}, which Python's re cannot read
    # (in the Office add-in extension part, which this manifest does not have).
    Draft4Validator.check_schema(schema, format_checker=None)
    return ManifestValidator(schema, registry=Registry(retrieve=_offline))


def details(**changes: str) -> AppDetails:
    return AppDetails.with_defaults(
        **{"bot_id": BOT_ID, "name": "Partnership Survey", "endpoint_domain": DOMAIN, **changes}
    )


def built(tmp_path: Path, **changes: str) -> dict[str, bytes]:
    """Build with the CLI's own function and return every file in the zip."""
    out = tmp_path / "build" / "surveybot-teams.zip"
    build_package(details(**changes), out)
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def manifest_of(files: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(files["manifest.json"])


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, channels and unfiltered rows of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks[kind] = chunks.get(kind, b"") + data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour_type in (2, 6), interlace) == (8, True, 0), "save icons as 8-bit RGB or RGBA PNG"
    channels = 4 if colour_type == 6 else 3
    stride = width * channels
    raw = zlib.decompress(chunks[b"IDAT"])
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            guess = left + up - corner
            paeth = min(
                (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
            )[2]
            line[i] = (line[i] + (0, left, up, (left + up) // 2, paeth)[kind]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def test_the_package_holds_the_manifest_and_both_icons_at_the_zip_root(tmp_path: Path) -> None:
    files = built(tmp_path)
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]
    icons = manifest_of(files)["icons"]
    assert files[icons["color"]] == (TEMPLATE_DIR / "color.png").read_bytes()
    assert files[icons["outline"]] == (TEMPLATE_DIR / "outline.png").read_bytes()


def test_the_manifest_is_valid_for_teams_schema_1_29(
    tmp_path: Path, manifest_schema: Draft4Validator
) -> None:
    manifest = manifest_of(built(tmp_path))
    errors = [f"{e.json_path}: {e.message[:200]}" for e in manifest_schema.iter_errors(manifest)]
    assert errors == []
    assert manifest["manifestVersion"] == "1.29"


def test_the_schema_check_catches_a_wrong_manifest(tmp_path: Path, manifest_schema: Draft4Validator) -> None:
    manifest = manifest_of(built(tmp_path))
    manifest["manifestVersion"] = "1.28"
    manifest["bots"][0]["scopes"].append("channel")
    manifest["developer"]["privacyUrl"] = "ftp://example.org/privacy"
    failed = {e.json_path for e in manifest_schema.iter_errors(manifest)}
    assert failed == {"$.manifestVersion", "$.bots[0].scopes[3]", "$.developer.privacyUrl"}


def test_the_deployers_values_replace_every_placeholder(tmp_path: Path) -> None:
    files = built(
        tmp_path,
        developer_name="Example ICB",
        website_url="https://www.example.nhs.uk/partnership",
        privacy_url="https://www.example.nhs.uk/privacy",
        terms_url="https://www.example.nhs.uk/terms",
        version="2.3.4",
    )
    text = files["manifest.json"].decode()
    assert "{{" not in text
    assert "}}" not in text
    manifest = json.loads(text)
    assert manifest["id"] == manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["name"] == {"short": "Partnership Survey", "full": "Partnership Survey"}
    assert manifest["version"] == "2.3.4"
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["developer"] == {
        "name": "Example ICB",
        "websiteUrl": "https://www.example.nhs.uk/partnership",
        "privacyUrl": "https://www.example.nhs.uk/privacy",
        "termsOfUseUrl": "https://www.example.nhs.uk/terms",
    }


def test_without_options_the_app_takes_the_project_version_and_links_on_the_bots_domain(
    tmp_path: Path,
) -> None:
    other_app = "11111111-2222-4333-8444-555555555555"
    manifest = manifest_of(built(tmp_path, endpoint_domain="Bot.Example.NHS.uk", teams_app_id=other_app))
    assert manifest["version"] == version("surveybot")
    assert (manifest["id"], manifest["bots"][0]["botId"]) == (other_app, BOT_ID)
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["developer"] == {
        "name": "Partnership Survey",
        "websiteUrl": f"https://{DOMAIN}/",
        "privacyUrl": f"https://{DOMAIN}/privacy",
        "termsOfUseUrl": f"https://{DOMAIN}/terms",
    }


def test_the_bot_is_conversational_in_personal_team_and_group_chat_without_sso(tmp_path: Path) -> None:
    manifest = manifest_of(built(tmp_path))
    [bot] = manifest["bots"]
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["isNotificationOnly"] is False
    assert bot["supportsFiles"] is True  # exports reach a lead's 1:1 chat through file consent
    assert "webApplicationInfo" not in manifest


def test_each_scope_offers_its_commands_within_teams_limits(tmp_path: Path) -> None:
    lists = manifest_of(built(tmp_path))["bots"][0]["commandLists"]
    assert [command_list["scopes"] for command_list in lists] == [["personal"], ["team"], ["groupChat"]]
    for command_list in lists:
        commands = command_list["commands"]
        titles = [command["title"] for command in commands]
        assert 1 <= len(commands) <= 12
        assert len(set(titles)) == len(titles)
        assert all(len(command["title"]) <= 32 for command in commands)
        assert all(0 < len(command["description"]) <= 128 for command in commands)
    by_scope = {
        command_list["scopes"][0]: {c["title"]: c["description"] for c in command_list["commands"]}
        for command_list in lists
    }
    assert list(by_scope["personal"]) == [c.title for c in COMMANDS_BY_SCOPE["personal"]]
    assert {"my surveys", "resume", "help", "my organisation", "status", "results"} <= set(
        by_scope["personal"]
    )
    assert by_scope["team"] == by_scope["groupChat"]
    assert list(by_scope["team"]) == [c.title for c in COMMANDS_BY_SCOPE["team"]]
    assert by_scope["personal"]["export"].endswith("(leads only)")
    assert "start" not in by_scope["personal"]  # it invites the members of the chat it is typed in
    assert not by_scope["team"]["status"].endswith("(leads only)")
    lead_only = {title for title, text in by_scope["team"].items() if text.endswith("(leads only)")}
    assert lead_only == {"start", "remind", "close", "reopen", "subscribe", "export", "grant lead"}


def test_a_command_menu_beyond_teams_limits_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the day the menu grows (or is generated from the command grammar)."""
    too_many = tuple(BotCommand(f"command {n}", "Does something") for n in range(13))
    monkeypatch.setitem(COMMANDS_BY_SCOPE, "team", too_many)
    monkeypatch.setitem(COMMANDS_BY_SCOPE, "personal", (BotCommand("a" * 33, "Too long a title"),))
    with pytest.raises(PackageError) as refused:
        build_package(details(), tmp_path / "surveybot-teams.zip")
    assert refused.value.problems == [
        "The team command list has 13 commands; Teams shows at most 12.",
        f"The command {'a' * 33!r} is too long: at most 32 characters in a title and 128 in a description.",
    ]
    assert not (tmp_path / "surveybot-teams.zip").exists()


def test_the_colour_icon_is_192_square_and_fully_opaque(tmp_path: Path) -> None:
    width, height, channels, rows = decode_png(built(tmp_path)["color.png"])
    assert (width, height) == (192, 192)
    pixels = {row[x : x + channels] for row in rows for x in range(0, len(row), channels)}
    assert channels == 3 or all(pixel[3] == 255 for pixel in pixels)
    assert len(pixels) > 1  # a symbol on a background, not a blank square


def test_the_outline_icon_is_32_square_white_on_full_transparency(tmp_path: Path) -> None:
    width, height, channels, rows = decode_png(built(tmp_path)["outline.png"])
    assert (width, height, channels) == (32, 32, 4)
    pixels = [row[x : x + 4] for row in rows for x in range(0, len(row), 4)]
    assert {pixel[3] for pixel in pixels} == {0, 255}
    assert {pixel[:3] for pixel in pixels if pixel[3]} == {b"\xff\xff\xff"}


def test_the_cli_command_builds_the_same_zip_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "cli" / "surveybot-teams.zip"
    result = subprocess.run(
        [sys.executable, "-m", "bot", *ARGV, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout
    build_package(details(), tmp_path / "direct.zip")
    assert out.read_bytes() == (tmp_path / "direct.zip").read_bytes()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--app-id", "not-a-guid", "--app-id must be a GUID"),
        ("--app-id", "6a4b2c1d0e9f4a8b9c7d123456789abc", "--app-id must be a GUID"),
        ("--teams-app-id", "{6a4b2c1d-0e9f-4a8b-9c7d-123456789abc}", "--teams-app-id must be a GUID"),
        ("--endpoint-domain", "https://bot.example.nhs.uk/api/messages", "bare host name"),
        ("--endpoint-domain", "bot.example.nhs.uk:443", "bare host name"),
        ("--endpoint-domain", "localhost", "bare host name"),
        ("--name", "Integrated Care Partnership Survey", "--name may have at most 30 characters"),
        ("--name", "  ", "--name must not be empty"),
        ("--app-version", "1.0", "--app-version must be MAJOR.MINOR.PATCH"),
        ("--developer-name", "A developer name well over the limit", "at most 32 characters"),
        ("--privacy-url", "http://www.example.nhs.uk/privacy", "--privacy-url must be an https:// address"),
        ("--terms-url", "www.example.nhs.uk/terms", "--terms-url must be an https:// address"),
    ],
)
def test_bad_input_is_refused_with_exit_code_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    out = tmp_path / "surveybot-teams.zip"
    assert main([*ARGV, option, value, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_app_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["package", "--name", "Partnership Survey", "--endpoint-domain", DOMAIN])
    assert exit_.value.code == 2
    assert "--app-id" in capsys.readouterr().err


def image_build_copies() -> list[tuple[str, str]]:
    """(source, destination) of every COPY in the Dockerfile's build stage: what the image installs from."""
    copies = []
    for line in (ROOT / "deploy" / "docker" / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            copies += [(source, words[-1]) for source in words[1:-1]]
    return copies


@pytest.mark.slow
def test_an_it_colleague_with_only_the_installed_image_builds_the_teams_package(tmp_path: Path) -> None:
    """As the image does it: the Dockerfile's sources, `pip install .` (not editable), run elsewhere."""
    source = tmp_path / "src"
    for copied, destination in image_build_copies():
        target = source / destination
        if (ROOT / copied).is_dir():
            shutil.copytree(ROOT / copied, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / copied, target / Path(copied).name)
    site = tmp_path / "image"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    offline = ["--no-index", "--no-cache-dir", "--disable-pip-version-check"]
    installed = subprocess.run(
        [*pip, *offline, "--target", str(site), str(source)], capture_output=True, text=True, check=False
    )
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *argv], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
        )

    where = run("-c", "import bot.teams.package; print(bot.teams.package.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(site), where.stderr  # not this checkout
    result = run("-m", "bot", *ARGV, "--out", "surveybot-teams.zip")
    assert result.returncode == 0, result.stderr
    assert "Wrote surveybot-teams.zip" in result.stdout
    build_package(details(), tmp_path / "checkout.zip")
    assert (elsewhere / "surveybot-teams.zip").read_bytes() == (tmp_path / "checkout.zip").read_bytes()
    assert sorted(path.name for path in elsewhere.iterdir()) == ["surveybot-teams.zip"]
