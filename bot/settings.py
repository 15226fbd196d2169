"""All configuration, from the environment (or a `.env` file). Secrets come only from here."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.teams.addresses import secure_or_local
from frameworks.summary import THRESHOLDS, ConsensusRule, SummaryRules, Weighting

DATABASE_FILE = "surveybot.db"
"""The SQLite database's name in the data folder, when DATABASE_URL is not set."""


def default_data_dir(module: Path = Path(__file__)) -> Path:
    """Where the SQLite database and exports go unless DATA_DIR says otherwise, whatever the current folder:
    `data/` in the project when run from a clone (pyproject.toml beside the packages), else the user's
    data folder (`$XDG_DATA_HOME/surveybot`, by default `~/.local/share/surveybot`)."""
    project = module.resolve().parent.parent
    if (project / "pyproject.toml").is_file():
        return project / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "surveybot"


class DatabaseSource(StrEnum):
    """Which setting chose the database, for the line every command prints about it."""

    DATABASE_URL = "DATABASE_URL"
    DATA_DIR = "DATA_DIR"
    DEFAULT = "default"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where the SQLite database (when DATABASE_URL is not set) and exports are written."""
    database_url: str = ""
    """Empty: the SQLite database `surveybot.db` in DATA_DIR."""
    _database_source: DatabaseSource = PrivateAttr(DatabaseSource.DATABASE_URL)

    @model_validator(mode="after")
    def _resolve_database(self) -> Settings:
        """Resolved once, here, to an absolute path: a relative default would follow the current folder."""
        chosen = "data_dir" in self.model_fields_set
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self._database_source = DatabaseSource.DATA_DIR if chosen else DatabaseSource.DEFAULT
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / DATABASE_FILE}"
        return self

    @property
    def database_source(self) -> DatabaseSource:
        return self._database_source

    host: str = "0.0.0.0"
    port: int = Field(default=3978, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    """`auto`: JSON lines unless stderr is a terminal."""
    log_hash_salt: SecretStr = SecretStr("")
    """Salts the hashes that stand for user ids in logs."""
    shutdown_timeout: float = Field(default=10.0, gt=0, le=120)
    """Seconds in-flight turns get to finish after SIGTERM (aiohttp may take twice this)."""
    file_download_timeout: float = Field(default=30.0, gt=0, le=300)
    """Seconds a workbook a lead sends in Teams may take to download (bot.leads.framework_uploads)."""
    metrics_token: SecretStr = SecretStr("")
    """When set, GET /metrics needs `Authorization: Bearer <token>`."""
    public_base_url: str = ""
    """The bot's public https address (as Teams reaches it), for chart images in summary cards."""
    chart_link_key: SecretStr = SecretStr("")
    """Signs chart links; the same on every instance. Without it (or PUBLIC_BASE_URL), cards show no chart."""
    allowed_tenant_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Entra tenants whose activities are accepted (comma-separated); empty accepts every tenant."""

    microsoft_app_id: str = ""
    """Empty runs the bot in local mode: no inbound authentication (Bot Framework Emulator)."""
    microsoft_app_password: SecretStr = SecretStr("")
    microsoft_app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = "MultiTenant"
    microsoft_app_tenant_id: str = ""
    bot_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    """Where the Bot Framework publishes the keys that sign Teams' tokens (the SDK's public-cloud URL)."""

    @field_validator("bot_openid_metadata_url")
    @classmethod
    def _keys_over_https(cls, value: str) -> str:
        """Whoever can alter this document can sign tokens: https, or http only to this machine (tests)."""
        if secure_or_local(value):
            return value
        raise ValueError("BOT_OPENID_METADATA_URL must be an https URL (http only to 127.0.0.1 or ::1)")

    bot_token_url: str = ""
    """Where the bot gets its own token with its client secret; empty: Entra ID's token endpoint for
    MICROSOFT_APP_TYPE (`botframework.com`'s for MultiTenant, the tenant's for SingleTenant)."""

    @field_validator("bot_token_url")
    @classmethod
    def _secret_over_https(cls, value: str) -> str:
        """The client secret is posted there: https, or http only to this machine (tests)."""
        if not value or secure_or_local(value):
            return value
        raise ValueError("BOT_TOKEN_URL must be an https URL (http only to 127.0.0.1 or ::1)")

    identity_endpoint: str = ""
    """Set by Azure (Container Apps, App Service) where a managed identity gets its tokens, with
    IDENTITY_HEADER; read for MICROSOFT_APP_TYPE=UserAssignedMSI."""
    identity_header: SecretStr = SecretStr("")
    identity_server_thumbprint: str = ""
    imds_endpoint: str = ""
    msi_endpoint: str = ""
    """Set by Service Fabric, Azure Arc and Azure Machine Learning: read only to refuse a managed
    identity there (not supported)."""

    frameworks_dir: Path | None = None
    """Extra framework YAML files; they are added to the built-in seed frameworks."""
    time_zone: str = "Europe/London"
    reminder_hours_before_close: int = Field(default=48, ge=1, le=24 * 30)
    """Automatic reminders go to everyone who has not submitted this long before a survey closes."""
    retention_months: int = Field(default=24, ge=1)
    """Frameworks run yearly: a person's round stays theirs until the next has run, with slack."""
    anonymity_k: int = Field(default=3, ge=2)
    """The smallest group any breakdown shows; also what an erasure needs to keep answers."""
    anonymity_k_organisations: int = Field(default=2, ge=1)
    """Fewest organisations behind a figure shown for an organisation type (a lone VCSE partner is hidden)."""
    summary_weighting: Literal["organisation", "respondent"] = "organisation"
    """`organisation`: each organisation's median counts once, so a big trust cannot swamp a small partner."""
    consensus_rule: Literal["split", "scirocco"] = "split"
    """Which rule says a consensus round reached agreement: the split rule, or SCIROCCO's (fewer than 4
    ratings outside the 3-point band containing the median). Summaries report both."""
    summary_thresholds: dict[str, float] = Field(default_factory=dict)
    """The split, at-risk and movement thresholds of summaries (`THRESHOLDS`), as JSON, e.g.
    `{"score_band": 1.5, "level_iqr_split": 1}`; any left out keep their documented defaults."""

    @field_validator("summary_thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(THRESHOLDS))
        if unknown:
            raise ValueError(f"unknown summary thresholds {unknown}; known: {', '.join(THRESHOLDS)}")
        SummaryRules(**value)  # type: ignore[arg-type]  # each value in its own range
        return value

    lead_user_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """AAD object ids of the people who may run lead-only commands (comma-separated)."""

    @field_validator("lead_user_ids", "allowed_tenant_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def local_mode(self) -> bool:
        return not self.microsoft_app_id

    @property
    def summary_rules(self) -> SummaryRules:
        return SummaryRules(
            k=self.anonymity_k,
            k_orgs=self.anonymity_k_organisations,
            weighting=Weighting(self.summary_weighting),
            consensus_rule=ConsensusRule(self.consensus_rule),
            **self.summary_thresholds,  # type: ignore[arg-type]
        )
