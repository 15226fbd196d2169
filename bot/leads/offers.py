"""What a lead is offered as a file, and what Teams hands back: the consent card's accept context
(`ExportOffer`, `FrameworkOffer`: untrusted on accept, checked again), the `fileConsent/invoke` value
and its upload URL, and the outbox payloads that carry an offer until the card is built."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from bot.commands.models import ExportFormat
from dialogs.payloads import RowId


class OfferKind(StrEnum):
    """What a consent card offers: a survey's answers, or a framework's workbook."""

    ANSWERS = "export"
    FRAMEWORK = "framework"


class ExportOffer(BaseModel):
    """The consent card's accept context: what to export, for whom, until when. Read back as untrusted
    input (unknown keys refused) and checked again on accept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offer: Literal[OfferKind.ANSWERS] = OfferKind.ANSWERS
    survey_id: RowId
    format: ExportFormat
    anonymise: bool
    requested_by: str = Field(min_length=1, max_length=100)
    """The AAD object id of the lead who asked."""
    expires_at: AwareDatetime


class FrameworkOffer(BaseModel):
    """A framework workbook's accept context: which framework, in which tenant, for whom, until when.
    Untrusted on accept like `ExportOffer`; the tenant is checked against the accepting activity's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offer: Literal[OfferKind.FRAMEWORK] = OfferKind.FRAMEWORK
    framework_id: str = Field(min_length=1, max_length=100)
    tenant_id: str = Field(min_length=1, max_length=100)
    requested_by: str = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime


Offer = ExportOffer | FrameworkOffer
OFFER: TypeAdapter[Offer] = TypeAdapter(Offer)


class UploadInfo(BaseModel):
    """Where Teams wants the file (`uploadUrl`, a OneDrive upload session) and how it then names it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=400)
    upload_url: str = Field(alias="uploadUrl", min_length=1, max_length=4000)
    content_url: str = Field(alias="contentUrl", min_length=1, max_length=4000)
    unique_id: str = Field(alias="uniqueId", min_length=1, max_length=200)
    file_type: str = Field(default="", alias="fileType", max_length=40)


class FileConsentResponse(BaseModel):
    """The value of a `fileConsent/invoke`: the person's choice, our context back, and the upload URL."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str | None = None
    """`fileUpload`."""
    action: Literal["accept", "decline"]
    context: Any = None
    upload_info: UploadInfo | None = Field(default=None, alias="uploadInfo")


class OfferMessage(BaseModel):
    """An `EXPORT_KIND` outbox row's payload (besides the sender's own `service_url`, `tenant_id`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    offer: ExportOffer


class FrameworkMessage(BaseModel):
    """A `FRAMEWORK_KIND` outbox row's payload (besides the sender's own `service_url`, `tenant_id`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    offer: FrameworkOffer


@dataclass(frozen=True)
class FileOffer:
    """A file consent card's content: the offer handed back on accept or decline, and what the card
    shows (the file's name and size, a description in plain text)."""

    offer: Offer
    filename: str
    size: int
    description: str
