"""Frameworks a tenant published: numbered versions of each framework id, never another tenant's.

A framework is validated through `frameworks.schema` on the way in and again on the way out, so a row
edited by hand (or written by an older schema) fails here with the reason rather than in a card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.schema import Framework
from storage.tables import FrameworkVersion, table_of
from storage.upsert import insert

_versions = table_of(FrameworkVersion)

PUBLISH_ATTEMPTS = 20
"""Publications of one id racing each other: each lost race costs one more INSERT (see `publish`)."""


class PublishRaced(RuntimeError):
    """Every attempt lost to a concurrent publication of the same framework id (practically never)."""


@dataclass(frozen=True)
class PublishedFramework:
    """One published version of a framework, as a tenant stored it."""

    framework: Framework
    version: int
    published_by_id: int | None
    published_at: datetime


@dataclass(frozen=True)
class PublishedListing:
    """A tenant's framework as a listing shows it: its latest version, without the document."""

    framework_id: str
    title: str
    version: int
    published_at: datetime


async def publish(
    session: AsyncSession,
    *,
    tenant_id: str,
    framework: Framework,
    published_by_id: int | None,
    now: datetime,
) -> PublishedFramework:
    """Store `framework` as the next version of its id in this tenant (1 for a new id).

    One INSERT … SELECT max + 1 … ON CONFLICT DO NOTHING per attempt: on PostgreSQL a concurrent
    publication holding the same number makes ours wait for its commit and insert nothing, and the next
    statement (a fresh snapshot under READ COMMITTED) takes the number after it; SQLite writes one at a
    time. The caller's transaction commits it."""
    document = Framework.model_validate(framework.model_dump(mode="json")).model_dump(mode="json")
    v = _versions
    next_version = (
        sa.select(sa.func.coalesce(sa.func.max(v.c.version), 0) + 1)
        .where(v.c.tenant_id == tenant_id, v.c.framework_id == framework.id)
        .scalar_subquery()
    )
    values = sa.select(
        sa.literal(tenant_id, sa.String()),
        sa.literal(framework.id, sa.String()),
        next_version,
        sa.literal(framework.title, sa.Text()),
        sa.literal(document, v.c.framework.type),
        sa.literal(published_by_id, sa.Integer()),
        sa.literal(now, v.c.published_at.type),
    ).where(sa.true())  # SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
    statement = (
        insert(session, v)
        .from_select(
            ["tenant_id", "framework_id", "version", "title", "framework", "published_by_id", "published_at"],
            values,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "framework_id", "version"])
        .returning(v.c.version)
    )
    for _ in range(PUBLISH_ATTEMPTS):
        version = (await session.execute(statement)).scalar_one_or_none()
        if version is not None:
            return PublishedFramework(framework, int(version), published_by_id, now)
    raise PublishRaced(
        f"could not number a new version of {framework.id!r}: too many concurrent publications"
    )


async def latest(session: AsyncSession, *, tenant_id: str, framework_id: str) -> PublishedFramework | None:
    """The newest version of a framework id in this tenant; None when the tenant never published it."""
    query = (
        sa.select(FrameworkVersion)
        .where(
            col(FrameworkVersion.tenant_id) == tenant_id, col(FrameworkVersion.framework_id) == framework_id
        )
        .order_by(col(FrameworkVersion.version).desc())
        .limit(1)
    )
    row = (await session.execute(query)).scalar_one_or_none()
    return _published(row) if row is not None else None


async def version(
    session: AsyncSession, *, tenant_id: str, framework_id: str, number: int
) -> PublishedFramework | None:
    """One version of a framework id in this tenant; None when there is no such version here."""
    query = sa.select(FrameworkVersion).where(
        col(FrameworkVersion.tenant_id) == tenant_id,
        col(FrameworkVersion.framework_id) == framework_id,
        col(FrameworkVersion.version) == number,
    )
    row = (await session.execute(query)).scalar_one_or_none()
    return _published(row) if row is not None else None


async def listing(session: AsyncSession, *, tenant_id: str) -> list[PublishedListing]:
    """The tenant's frameworks, each at its latest version, by id; the documents are not loaded."""
    v = _versions
    query = _newest_versions(
        sa.select(v.c.framework_id, v.c.title, v.c.version, v.c.published_at), tenant_id
    ).order_by(v.c.framework_id)
    return [
        PublishedListing(framework_id, title, int(number), published_at)
        for framework_id, title, number, published_at in await session.execute(query)
    ]


async def latest_versions(session: AsyncSession, *, tenant_id: str) -> list[PublishedFramework]:
    """The tenant's frameworks, each at its latest version with its document, by id: one query where
    asking `latest` for each id took one per framework."""
    query = _newest_versions(sa.select(FrameworkVersion), tenant_id).order_by(_versions.c.framework_id)
    return [_published(row) for row in (await session.execute(query)).scalars()]


def _newest_versions(query: Any, tenant_id: str) -> Any:
    """`query` on framework_versions narrowed to each framework id's newest version in the tenant."""
    v = _versions
    newest = (
        sa.select(v.c.framework_id, sa.func.max(v.c.version).label("version"))
        .where(v.c.tenant_id == tenant_id)
        .group_by(v.c.framework_id)
        .subquery()
    )
    return query.join(
        newest, sa.and_(newest.c.framework_id == v.c.framework_id, newest.c.version == v.c.version)
    ).where(v.c.tenant_id == tenant_id)


def _published(row: FrameworkVersion) -> PublishedFramework:
    return PublishedFramework(
        framework=Framework.model_validate(row.framework),
        version=row.version,
        published_by_id=row.published_by_id,
        published_at=row.published_at,
    )
