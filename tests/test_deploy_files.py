"""The deployment files keep their promises: the container does what `make run` does, Compose gives it a
healthy PostgreSQL, the guide documents every setting, and Azure holds the secrets in Key Vault.

These are structural checks that run anywhere (no Docker engine, no Bicep compiler, no Azure), plus the
image's health check run for real against the bot on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.settings import Settings
from storage.db import create_engine
from storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "docker" / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
GUIDE = DEPLOY / "README.md"
BICEP = DEPLOY / "azure" / "main.bicep"
PARAMETERS_EXAMPLE = DEPLOY / "azure" / "main.parameters.example.json"

NOT_READ_BY_THE_BOT_YET = {"APPLICATIONINSIGHTS_CONNECTION_STRING"}
"""Set by the Azure template for when the bot sends telemetry; nothing reads it today."""


# --- readers for the files under test ---------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The build stages, each starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def shell_steps(command: list[str]) -> list[str]:
    """The commands a `sh -c "a && exec b"` runs, in order: ["a", "b"]."""
    assert command[:2] == ["sh", "-c"], f"expected a `sh -c` command, got {command}"
    return [step.strip().removeprefix("exec ").strip() for step in command[2].split("&&")]


def make_steps(target: str, makefile: str) -> list[str]:
    """The `python -m bot …` commands `make TARGET` runs, prerequisites first, `$(BIN)/` removed."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    name = None
    for line in makefile.splitlines():
        if line.startswith("\t") and name is not None:
            rules[name][1].append(line.strip())
        elif re.match(r"^[^\s#=]+:(?!=)", line) and not line.startswith("."):
            name, _, prerequisites = line.partition(":")
            rules[name] = (prerequisites.split("|")[0].split(), [])
        else:
            name = None

    def steps(rule: str) -> list[str]:
        prerequisites, recipe = rules[rule]
        before = [step for p in prerequisites if p in rules for step in steps(p)]
        return before + [line.replace("$(BIN)/", "") for line in recipe if " -m bot " in line]

    return steps(target)


def compose_defaults(value: str) -> str:
    """`${VAR:-default}` as Compose resolves it with nothing set in the environment."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda match: match.group(1) or "", value)


def env_name(field: str) -> str:
    return field.upper()


def guide_settings_table() -> dict[str, str]:
    """Variable name -> its row, from the guide's environment variables table."""
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `([A-Z][A-Z0-9_]*)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def bicep_parameters() -> dict[str, bool]:
    """Parameter name -> whether it is @secure()."""
    parameters: dict[str, bool] = {}
    secure = False
    for line in BICEP.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("@secure()"):
            secure = True
        elif stripped.startswith("param "):
            parameters[stripped.split()[1]] = secure
            secure = False
        elif not stripped.startswith("@"):
            secure = False
    return parameters


@pytest.fixture(scope="module")
def final_stage() -> list[tuple[str, str]]:
    return stages(dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def settings_env() -> set[str]:
    assert not Settings.model_config.get("env_prefix"), "env names are the field names in capitals"
    return {env_name(field) for field in Settings.model_fields}


# --- the container ----------------------------------------------------------------------------------


def test_container_runs_migrations_then_serves_like_make_run(final_stage: list[tuple[str, str]]) -> None:
    make_run = make_steps("run", (REPO / "Makefile").read_text(encoding="utf-8"))
    assert make_run == ["python -m bot db upgrade", "python -m bot serve"]

    cmd = [arguments for instruction, arguments in final_stage if instruction == "CMD"]
    assert len(cmd) == 1, "the final stage has one CMD"
    assert shell_steps(json.loads(cmd[0])) == make_run
    assert "exec python -m bot serve" in cmd[0], "the server must be PID 1 to get SIGTERM"


def test_image_is_built_on_python_311_slim_in_stages_without_dev_dependencies() -> None:
    built = stages(dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")))
    assert len(built) >= 2, "a multi-stage build"
    for stage in built:
        assert stage[0][1].split()[0] == "python:3.11-slim"

    build_runs = [arguments for instruction, arguments in built[0] if instruction == "RUN"]
    assert any(re.search(r"pip install \.$", run) for run in build_runs), "installs the project itself"
    assert not [run for stage in built for instruction, run in stage if "[dev]" in run], "no dev extra"

    runtime = built[-1]
    assert not any("pip install" in arguments for instruction, arguments in runtime if instruction == "RUN")
    assert any(
        instruction == "COPY" and arguments.startswith("--from=") for instruction, arguments in runtime
    ), "the runtime stage takes the installed environment from the build stage"


def test_image_runs_as_an_unprivileged_user(final_stage: list[tuple[str, str]]) -> None:
    users = [arguments for instruction, arguments in final_stage if instruction == "USER"]
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_build_context_admits_only_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is excluded unless named"
    admitted = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not any(".env" in path or path.startswith("data") for path in admitted)

    copied = set()
    for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction == "COPY" and not arguments.startswith("--from="):
            copied.update(source.rstrip("/") for source in arguments.split()[:-1])
    assert copied == admitted, "what the build copies is exactly what the context admits"


async def test_image_health_check_passes_against_the_running_bot_and_fails_without_it(
    final_stage: list[tuple[str, str]], tmp_path: Path
) -> None:
    checks = [arguments for instruction, arguments in final_stage if instruction == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0][checks[0].index("CMD") + len("CMD") :])
    assert "/healthz" in " ".join(command)
    assert command[0] == "python"
    command[0] = sys.executable

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()

    async def health_check(port: int) -> int:
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, "PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await process.wait()

    server = TestServer(create_app(Settings(database_url=url, _env_file=None)), host="127.0.0.1")
    await server.start_server()
    port = server.port
    try:
        assert port is not None
        assert await health_check(port) == 0
    finally:
        await server.close()
    assert await health_check(port) != 0, "nothing listens any more: the check must fail"


# --- the Compose trial ------------------------------------------------------------------------------


def test_compose_trial_runs_the_same_commands_as_make_run(compose: dict[str, Any]) -> None:
    make_run = make_steps("run", (REPO / "Makefile").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert shell_steps(bot["command"]) == make_run


def test_compose_bot_waits_for_a_healthy_postgres_16_and_reaches_it_with_asyncpg(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    bot = compose["services"]["bot"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    url = make_url(compose_defaults(bot["environment"]["DATABASE_URL"]))
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "db"
    assert url.database == db["environment"]["POSTGRES_DB"]
    assert url.username == db["environment"]["POSTGRES_USER"]
    assert url.password == compose_defaults(db["environment"]["POSTGRES_PASSWORD"])


def test_compose_keeps_the_database_in_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["db"]["volumes"]
    named = [volume.split(":")[0] for volume in volumes if not volume.startswith((".", "/"))]
    assert named, "the data survives `docker compose down`"
    assert set(named) <= set(compose["volumes"])


def test_compose_builds_the_image_from_the_repository_root(compose: dict[str, Any]) -> None:
    build = compose["services"]["bot"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == REPO, "the root .dockerignore applies only to a build from the root"
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_passes_secrets_only_from_the_environment(compose: dict[str, Any]) -> None:
    environment = compose["services"]["bot"]["environment"]
    assert environment["MICROSOFT_APP_PASSWORD"] == "${MICROSOFT_APP_PASSWORD:-}"
    assert environment["MICROSOFT_APP_ID"] == "${MICROSOFT_APP_ID:-}"


# --- the deployment guide ---------------------------------------------------------------------------


def test_every_setting_the_bot_reads_is_in_the_deployment_guide(settings_env: set[str]) -> None:
    documented = set(guide_settings_table())
    assert settings_env <= documented, f"missing from deploy/README.md: {sorted(settings_env - documented)}"
    assert documented <= settings_env, f"documented but not read: {sorted(documented - settings_env)}"


def test_the_guide_marks_the_secret_settings_as_secret() -> None:
    secret_fields = {
        field for field, info in Settings.model_fields.items() if info.annotation is SecretStr
    } | {"database_url"}  # its URL carries the database password
    rows = guide_settings_table()
    for field in Settings.model_fields:
        if env_name(field) in rows:  # a missing row fails the test above
            secret_cell = rows[env_name(field)].split("|")[2]
            assert ("yes" in secret_cell) == (field in secret_fields), env_name(field)


# --- Azure ------------------------------------------------------------------------------------------


def test_azure_template_connects_the_bot_to_teams_and_keeps_secrets_in_key_vault() -> None:
    bicep = BICEP.read_text(encoding="utf-8")
    assert "'Microsoft.BotService/botServices@" in bicep
    assert "kind: 'azurebot'" in bicep
    assert "'Microsoft.BotService/botServices/channels@" in bicep
    assert "channelName: 'MsTeamsChannel'" in bicep
    assert "'Microsoft.KeyVault/vaults@" in bicep
    assert "'Microsoft.KeyVault/vaults/secrets@" in bicep
    assert "version: '16'" in bicep
    assert "postgresql+asyncpg://" in bicep
    assert "?ssl=require" in bicep
    assert "/api/messages" in bicep


def test_azure_gives_the_bot_its_secrets_by_key_vault_reference_only() -> None:
    bicep = BICEP.read_text(encoding="utf-8")
    for variable in ("DATABASE_URL", "MICROSOFT_APP_PASSWORD"):
        assert re.search(rf"name: '{variable}'\s+secretRef: '[\w-]+'", bicep), variable
        assert not re.search(rf"name: '{variable}'\s+value:", bicep), variable
    secret_refs = set(re.findall(r"secretRef: '([\w-]+)'", bicep))
    from_key_vault = set(re.findall(r"name: '([\w-]+)'\s+keyVaultUrl:", bicep))
    assert secret_refs <= from_key_vault, "every secret the app reads is a Key Vault reference"


def test_azure_sets_only_variables_the_bot_reads(settings_env: set[str]) -> None:
    bicep = BICEP.read_text(encoding="utf-8")
    variables = set(re.findall(r"name: '([A-Z][A-Z0-9_]+)'", bicep))
    assert {"DATABASE_URL", "MICROSOFT_APP_ID", "MICROSOFT_APP_TYPE"} <= variables
    assert variables - NOT_READ_BY_THE_BOT_YET <= settings_env, "a misspelt variable is silently ignored"


def test_azure_template_uses_stable_api_versions() -> None:
    versions = re.findall(r"'[\w.]+/[\w/.]+@([\w-]+)'", BICEP.read_text(encoding="utf-8"))
    assert versions, "resource types carry API versions"
    assert not [version for version in versions if "preview" in version]


def test_parameters_example_is_valid_json_with_declared_parameters_and_no_secrets() -> None:
    example = json.loads(PARAMETERS_EXAMPLE.read_text(encoding="utf-8"))
    declared = bicep_parameters()
    given = example["parameters"]
    assert set(given) <= set(declared), f"not in main.bicep: {sorted(set(given) - set(declared))}"
    secure = {name for name, is_secure in declared.items() if is_secure}
    assert secure, "the template has secure parameters"
    assert not secure & set(given), "secrets go on the command line, never in a parameters file"
    assert all("value" in parameter for parameter in given.values())
