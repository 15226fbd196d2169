"""Workbooks a lead sent in Teams, waiting between the preview card and Publish or Cancel.

The card carries only a random token; the parsed framework is kept here with its tenant, its sender and
an expiry, so a press is checked against what the bot itself stored. Publishing takes the row from
pending to published with one conditional UPDATE in the caller's transaction, so of two presses (or a
redelivered one) only the first publishes; the others find the version it made.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.schema import Framework
from storage.framework_versions import publish
from storage.tables import FrameworkUpload, UploadState, table_of

_uploads = table_of(FrameworkUpload)


@dataclass(frozen=True)
class PendingUpload:
    token: str
    tenant_id: str
    uploaded_by: str
    filename: str
    framework: Framework
    state: UploadState
    published_version: int | None
    expires_at: datetime


class Refused(StrEnum):
    """Why a press published nothing."""

    UNKNOWN = "unknown"
    """No such upload in the presser's tenant (another tenant's token looks the same as none)."""
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PUBLISHED = "published"
    """Published already, by an earlier press: `published_version` says which."""


@dataclass(frozen=True)
class Published:
    version: int
    framework: Framework


async def keep_upload(
    session: AsyncSession,
    *,
    tenant_id: str,
    uploaded_by: str,
    filename: str,
    framework: Framework,
    now: datetime,
    lifetime: timedelta,
) -> str:
    """Store a read workbook until `now + lifetime`; returns the token its preview card carries."""
    token = secrets.token_urlsafe(24)
    session.add(
        FrameworkUpload(
            token=token,
            tenant_id=tenant_id,
            uploaded_by=uploaded_by,
            filename=filename[:300],
            framework=framework.model_dump(mode="json"),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return token


async def find_upload(session: AsyncSession, *, token: str, tenant_id: str) -> PendingUpload | None:
    """The upload with this token in this tenant, whatever its state; None for another tenant's."""
    query = sa.select(FrameworkUpload).where(
        col(FrameworkUpload.token) == token, col(FrameworkUpload.tenant_id) == tenant_id
    )
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        return None
    return PendingUpload(
        token=row.token,
        tenant_id=row.tenant_id,
        uploaded_by=row.uploaded_by,
        filename=row.filename,
        framework=Framework.model_validate(row.framework),
        state=UploadState(row.state),
        published_version=row.published_version,
        expires_at=row.expires_at,
    )


async def publish_upload(
    session: AsyncSession, *, token: str, tenant_id: str, published_by_id: int | None, now: datetime
) -> Published | Refused:
    """Publish a pending, unexpired upload of this tenant as the next version of its framework id."""
    u = _uploads
    taken = (
        await session.execute(
            sa.update(u)
            .where(
                u.c.token == token,
                u.c.tenant_id == tenant_id,
                u.c.state == UploadState.PENDING.value,
                u.c.expires_at > now,
            )
            .values(state=UploadState.PUBLISHED.value)
            .returning(u.c.framework)
        )
    ).scalar_one_or_none()
    if taken is None:
        return await _refusal(session, token=token, tenant_id=tenant_id)
    framework = Framework.model_validate(taken)
    made = await publish(
        session, tenant_id=tenant_id, framework=framework, published_by_id=published_by_id, now=now
    )
    await session.execute(sa.update(u).where(u.c.token == token).values(published_version=made.version))
    return Published(made.version, framework)


async def cancel_upload(session: AsyncSession, *, token: str, tenant_id: str) -> Refused | None:
    """Drop a pending upload of this tenant; None once cancelled, else why it could not be."""
    u = _uploads
    result = await session.execute(
        sa.update(u)
        .where(u.c.token == token, u.c.tenant_id == tenant_id, u.c.state == UploadState.PENDING.value)
        .values(state=UploadState.CANCELLED.value)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return None
    return await _refusal(session, token=token, tenant_id=tenant_id)


async def _refusal(session: AsyncSession, *, token: str, tenant_id: str) -> Refused:
    upload = await find_upload(session, token=token, tenant_id=tenant_id)
    if upload is None:
        return Refused.UNKNOWN
    if upload.state is UploadState.PUBLISHED:
        return Refused.PUBLISHED
    if upload.state is UploadState.CANCELLED:
        return Refused.CANCELLED
    return Refused.EXPIRED


async def purge_uploads(session: AsyncSession, *, expired_before: datetime) -> int:
    """Forget workbooks whose preview expired before `expired_before`, whatever became of them: a lead's
    framework stays in the table until then only so that a late or redelivered press is answered
    ("expired", "published as version 2") rather than met with "unknown". Returns how many went."""
    result = await session.execute(sa.delete(_uploads).where(_uploads.c.expires_at < expired_before))
    return int(result.rowcount)  # type: ignore[attr-defined]
