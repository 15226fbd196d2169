"""A lead brings their own framework in Teams: sends the workbook in their 1:1 chat, sees a preview,
publishes it (issue 15).

Teams hands a file sent in personal scope to the bot as an attachment of kind
`application/vnd.microsoft.teams.file.download.info` whose `content.downloadUrl` is pre-authenticated:
it is fetched without the bot's token, https only (plain http only to this machine, for tests), within
a time limit, streamed and cut off past the workbook limit, following at most a few redirects, each
checked like the first URL. The bytes are read by `frameworks.workbook.read_workbook` in a worker
thread (openpyxl is blocking). Problems come back as one message; a good workbook is kept server-side
(`storage.framework_uploads`) and previewed on a card whose buttons carry only the upload's token.

A press re-checks everything: that the presser is a lead, that the upload belongs to their tenant and
has not expired; publishing removes elements only after a second confirmation, and happens once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yarl import URL

from bot.cards import Card, adaptive_card, escape, execute_action, text_block
from bot.leads.conversation import Incoming, LeadConversation, sender_of
from bot.reports.text import clip
from bot.teams.addresses import secure_or_local
from bot.teams.proxies import Proxies
from frameworks.schema import Framework, LevelsScale, ScoreScale, StatusScale
from frameworks.versions import ElementRef, FrameworkDiff, diff
from frameworks.workbook import MAX_FILE_BYTES, WorkbookError, read_workbook
from storage.db import Session, Sessions, transaction
from storage.framework_uploads import (
    Published,
    Refused,
    cancel_upload,
    find_upload,
    keep_upload,
    publish_upload,
)
from storage.framework_versions import latest
from storage.people import person_for
from storage.tables import UploadState

log = logging.getLogger(__name__)

UPLOAD_LIFETIME = timedelta(days=1)
"""How long a preview card can be published from."""
PROBLEMS_SHOWN = 15
NAMES_SHOWN = 3
DOMAINS_SHOWN = 12
DESCRIPTOR_LIMIT = 400

PUBLISH = "publish_framework"
PUBLISH_REMOVING = "publish_framework_removing"
CANCEL = "cancel_framework"
VERBS = (PUBLISH, PUBLISH_REMOVING, CANCEL)

NOT_A_LEAD = (
    "Thanks for the file. Only partnership leads can bring a framework to me, so I haven't kept it. "
    "If you meant to answer a survey, say “my surveys”."
)
NOT_A_WORKBOOK = (
    "I can read a framework from an Excel workbook (.xlsx) only; macro-enabled files are refused."
)
NO_TENANT = "I can't tell which organisation this chat belongs to, so I can't keep a framework for it."
GONE = "I couldn't find that upload: it was prepared elsewhere or has been removed. Send the workbook again."
EXPIRED = "That preview has expired, so nothing was published. Send the workbook again."
CANCELLED = "That upload was cancelled, so nothing was published. Send the workbook again."
ONLY_LEADS = "Only partnership leads can publish frameworks."


class DownloadFailed(Exception):
    """The file could not be fetched; `message` is for the lead, `reason` for the log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class DownloadSettings:
    timeout: float = 30.0
    """Seconds the whole download may take, redirects included."""
    max_bytes: int = MAX_FILE_BYTES
    max_redirects: int = 3


async def download(url: str, settings: DownloadSettings) -> bytes:
    """The bytes at a Teams download URL, bounded in size and time (see the module docstring)."""
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    too_big = DownloadFailed(
        f"That file is larger than {settings.max_bytes // (1024 * 1024)} MB, the limit for a framework "
        "workbook, so I didn't read it.",
        "over the size limit",
    )
    try:
        proxies = await Proxies.from_environment()
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for _ in range(settings.max_redirects + 1):
                if not secure_or_local(url):
                    raise DownloadFailed(_TRY_AGAIN, "not an https URL")
                proxy, proxy_headers = proxies.route(URL(url))
                async with http.get(
                    url, allow_redirects=False, proxy=proxy, proxy_headers=proxy_headers
                ) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = str(response.url.join(URL(response.headers["Location"])))
                        continue
                    if response.status != 200:
                        raise DownloadFailed(_TRY_AGAIN, f"answered {response.status}")
                    if (response.content_length or 0) > settings.max_bytes:
                        raise too_big
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        data.extend(chunk)
                        if len(data) > settings.max_bytes:
                            raise too_big
                    return bytes(data)
            raise DownloadFailed(_TRY_AGAIN, "too many redirects")
    except aiohttp.ClientError as error:
        raise DownloadFailed(_TRY_AGAIN, type(error).__name__) from error
    except TimeoutError as error:
        raise DownloadFailed(
            f"Teams didn't hand me the file within {settings.timeout:g} seconds, so I didn't read it. "
            "Please send it again.",
            "timed out",
        ) from error


_TRY_AGAIN = "I couldn't fetch that file from Teams, so I didn't read it. Please send it again."


class UploadAction(BaseModel):
    """A preview card's button, as pressed: which one, and the upload's token."""

    model_config = ConfigDict(extra="ignore")

    lead: str
    upload: str = Field(min_length=1, max_length=64)


class FrameworkUploads:
    def __init__(
        self,
        *,
        sessions: Sessions,
        clock: Callable[[], datetime],
        is_lead: Callable[[Incoming], Awaitable[bool]],
        downloads: DownloadSettings,
        verb: str,
    ) -> None:
        """`verb`: the Action.Execute verb that routes the preview card's buttons back here."""
        self._sessions = sessions
        self._clock = clock
        self._is_lead = is_lead
        self._downloads = downloads
        self._verb = verb

    async def on_file(self, chat: LeadConversation) -> None:
        """A file in a 1:1 chat: a lead's workbook becomes problems or a preview card."""
        incoming = chat.incoming
        if not await self._is_lead(incoming):
            await chat.say(NOT_A_LEAD)
            return
        file = incoming.file
        if file is None or not file.is_workbook:
            await chat.say(NOT_A_WORKBOOK)
            return
        tenant = incoming.tenant_id
        sender = incoming.sender
        if not tenant or sender is None or not sender.aad_object_id:
            await chat.say(NO_TENANT)
            return
        try:
            data = await download(file.content.download_url, self._downloads)
        except DownloadFailed as failed:
            log.info("framework workbook not downloaded: %s", failed.reason)
            await chat.say(failed.message)
            return
        try:
            framework = await asyncio.to_thread(read_workbook, data, filename=file.name)
        except WorkbookError as error:
            await chat.say(_problems(file.name, [str(p) for p in error.problems]))
            return
        now = self._clock()
        async with transaction(self._sessions) as session:
            before = await latest(session, tenant_id=tenant, framework_id=framework.id)
            token = await keep_upload(
                session,
                tenant_id=tenant,
                uploaded_by=sender.aad_object_id,
                filename=file.name,
                framework=framework,
                now=now,
                lifetime=UPLOAD_LIFETIME,
            )
        changes = diff(before.framework, framework) if before is not None else None
        card = preview_card(
            framework,
            token=token,
            verb=self._verb,
            previous=before.version if before else None,
            changes=changes,
        )
        await chat.send_card(card)

    async def on_card(self, chat: LeadConversation, data: object) -> str | Card:
        """Publish or Cancel on a preview card: a card that replaces it, or a short message."""
        try:
            action = UploadAction.model_validate(data)
        except ValidationError:
            return "I couldn't read that card's data. Send the workbook again."
        if not await self._is_lead(chat.incoming):
            return ONLY_LEADS
        tenant = chat.incoming.tenant_id or ""
        now = self._clock()
        async with transaction(self._sessions) as session:
            upload = await find_upload(session, token=action.upload, tenant_id=tenant)
            if upload is None:
                log.info("a framework upload's button pressed outside its tenant, or unknown")
                return GONE
            if action.lead == CANCEL:
                refused = await cancel_upload(session, token=action.upload, tenant_id=tenant)
                if refused is None:
                    return _closed_card(f"Cancelled: {upload.framework.title} was not published.")
                return await self._refused(session, refused, upload.framework, action.upload, tenant)
            if upload.expires_at <= now:
                return EXPIRED
            before = await latest(session, tenant_id=tenant, framework_id=upload.framework.id)
            changes = diff(before.framework, upload.framework) if before else None
            pending = upload.state is UploadState.PENDING
            if pending and changes is not None and changes.removed and action.lead != PUBLISH_REMOVING:
                return removal_card(upload.framework, token=action.upload, verb=self._verb, changes=changes)
            sender = sender_of(chat.incoming)
            person = await person_for(session, teams_user_id=sender.teams_user_id, name=sender.name, now=now)
            outcome = await publish_upload(
                session, token=action.upload, tenant_id=tenant, published_by_id=person.id, now=now
            )
            if isinstance(outcome, Published):
                log.info("framework %s published as version %d", outcome.framework.id, outcome.version)
                return _published_card(outcome.framework, outcome.version)
            return await self._refused(session, outcome, upload.framework, action.upload, tenant)

    async def _refused(
        self, session: Session, refused: Refused, framework: Framework, token: str, tenant: str
    ) -> str | Card:
        if refused is Refused.PUBLISHED:
            upload = await find_upload(session, token=token, tenant_id=tenant)
            if upload is not None and upload.published_version is not None:
                return _published_card(framework, upload.published_version)
        if refused is Refused.CANCELLED:
            return CANCELLED
        if refused is Refused.EXPIRED:
            return EXPIRED
        return GONE


def _problems(filename: str, problems: list[str]) -> str:
    count = len(problems)
    lines = [f"I couldn't use {escape(clip(filename, 100))}: {_count(count, 'problem')}. Nothing was kept."]
    lines += [f"- {escape(clip(problem, 300))}" for problem in problems[:PROBLEMS_SHOWN]]
    if count > PROBLEMS_SHOWN:
        lines.append(f"- and {count - PROBLEMS_SHOWN} more")
    lines.append("Fix them in the workbook and send it again.")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _scale_words(scale: LevelsScale | ScoreScale | StatusScale | None) -> str:
    if isinstance(scale, LevelsScale):
        return "Levels: " + ", ".join(clip(level.label, 60) for level in scale.levels[:10])
    if isinstance(scale, ScoreScale):
        ends = f"{scale.min} ({clip(scale.min_label, 60)}) to {scale.max} ({clip(scale.max_label, 60)})"
        return "Score from " + ends
    if isinstance(scale, StatusScale):
        return "Statuses: " + ", ".join(clip(status.label, 60) for status in scale.statuses[:10])
    return "Each domain has its own scale"


def _names(refs: list[ElementRef]) -> str:
    shown = ", ".join(f"“{clip(ref.title, 80)}”" for ref in refs[:NAMES_SHOWN])
    more = len(refs) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _changes_lines(previous: int | None, changes: FrameworkDiff | None) -> list[str]:
    if previous is None or changes is None:
        return ["The first version of this framework here: publishing makes it version 1."]
    if changes.unchanged:
        return [f"Same questions and wording as version {previous}: publishing makes version {previous + 1}."]
    lines = [f"Compared with version {previous} (publishing makes version {previous + 1}):"]
    for label, refs in (
        ("added", changes.added),
        ("removed", changes.removed),
        ("reworded", [r.after for r in changes.reworded]),
        ("moved to another domain", [m.after for m in changes.moved]),
    ):
        if refs:
            lines.append(f"{_count(len(refs), 'question')} {label}: {_names(refs)}")
    return lines


def preview_card(
    framework: Framework, *, token: str, verb: str, previous: int | None, changes: FrameworkDiff | None
) -> Card:
    """Title, scale, domains with element counts, one element in full, what changed; Publish / Cancel."""
    domains = framework.domains
    domain_lines = [
        f"{clip(d.title, 100)}: {_count(len(d.elements), 'question')}" for d in domains[:DOMAINS_SHOWN]
    ]
    if len(domains) > DOMAINS_SHOWN:
        domain_lines.append(f"and {len(domains) - DOMAINS_SHOWN} more domains")
    body: list[Card] = [
        text_block("Preview: " + escape(clip(framework.title, 200)), weight="bolder", size="medium"),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Id", "value": escape(framework.id)},
                {"title": "Version", "value": escape(clip(framework.version, 60))},
                {"title": "Scale", "value": escape(_scale_words(framework.scale))},
                {"title": "Questions", "value": str(len(framework.iter_elements()))},
            ],
        },
        text_block("**Domains**"),
        *(text_block(escape(line), spacing="none") for line in domain_lines),
    ]
    sample = next(iter(framework.scored_elements), None) or next(iter(framework.iter_elements()), None)
    if sample is not None:
        domain, element = sample
        body.append(text_block("**Example question**", separator=True))
        body.append(text_block(escape(clip(element.title, 300)), weight="bolder"))
        if element.text:
            body.append(text_block(escape(clip(element.text, DESCRIPTOR_LIMIT))))
        scale = framework.scale_for(domain)
        if isinstance(scale, LevelsScale):
            facts = [
                {
                    "title": escape(clip(level.label, 60)),
                    "value": escape(clip(element.descriptors[level.id], DESCRIPTOR_LIMIT)),
                }
                for level in scale.levels
                if element.descriptors.get(level.id)
            ]
            if facts:
                body.append({"type": "FactSet", "facts": facts})
    body.append(text_block("**What changes**", separator=True))
    body += [text_block(escape(line), spacing="none") for line in _changes_lines(previous, changes)]
    actions = [
        execute_action("Publish", verb, {"lead": PUBLISH, "upload": token}, style="positive"),
        execute_action("Cancel", verb, {"lead": CANCEL, "upload": token}),
    ]
    return adaptive_card(
        body, f"Preview of {clip(framework.title, 200)}: publish or cancel it on the card.", actions
    )


def removal_card(framework: Framework, *, token: str, verb: str, changes: FrameworkDiff) -> Card:
    """The second confirmation before a version that drops questions is published."""
    removed = changes.removed
    body = [
        text_block("Publish without these questions?", weight="bolder", size="medium"),
        text_block(
            escape(
                f"{_count(len(removed), 'question')} removed from {clip(framework.title, 200)}: "
                f"{_names(removed)}."
            )
        ),
        text_block(
            "Past surveys keep their answers to them, but new surveys won't ask them "
            "and trends leave them out.",
            isSubtle=True,
        ),
    ]
    actions = [
        execute_action(
            "Publish anyway", verb, {"lead": PUBLISH_REMOVING, "upload": token}, style="destructive"
        ),
        execute_action("Cancel", verb, {"lead": CANCEL, "upload": token}),
    ]
    return adaptive_card(body, "Publishing removes questions: confirm or cancel on the card.", actions)


def _published_card(framework: Framework, version: int) -> Card:
    return _closed_card(f"Published version {version} of {clip(framework.title, 200)} ({framework.id}).")


def _closed_card(line: str) -> Card:
    """A read-only card: what happened, and no buttons left to press."""
    return adaptive_card([text_block(escape(line), weight="bolder")], line)


def upload_card_data(value: object) -> dict[str, Any] | None:
    """The data of a press when it is one of this module's buttons."""
    return value if isinstance(value, dict) and value.get("lead") in VERBS else None
