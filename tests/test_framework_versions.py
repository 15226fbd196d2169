"""A partnership's own framework, published per tenant in numbered versions, and what changed between two
versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from frameworks.schema import Framework
from storage import framework_versions
from storage.db import session_factory, transaction
from storage.people import upsert_person
from storage.tables import FrameworkVersion
from tests.conftest import FIXED_NOW, Database

LEVELS = ["emerging", "developing", "maturing", "thriving"]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0d6a5d8a-1111-4e4e-9e9e-123456789abc"


def matrix(
    *,
    framework_id: str = "our-matrix",
    title: str = "Our place matrix",
    rows: list[tuple[str, str, str]] | None = None,
    descriptor: dict[str, str] | None = None,
) -> Framework:
    """A small levels framework: (domain, element id, title) rows, descriptors '<id> at <level>' unless
    `descriptor` rewords one element's cells."""
    rows = rows or [("vision", "vision", "Shared vision"), ("vision", "plans", "Joint plans")]
    domains: dict[str, list[dict[str, Any]]] = {}
    for domain, element_id, element_title in rows:
        cells = {level: f"{element_id} at {level}" for level in LEVELS}
        if descriptor and element_id in descriptor:
            cells["maturing"] = descriptor[element_id]
        domains.setdefault(domain, []).append(
            {"id": element_id, "title": element_title, "descriptors": cells}
        )
    return Framework.model_validate(
        {
            "id": framework_id,
            "title": title,
            "version": "2026",
            "source": "our-matrix.xlsx",
            "description": "The partnership's own matrix",
            "scale": {
                "kind": "levels",
                "levels": [
                    {"id": level, "value": value, "label": level.title()}
                    for value, level in enumerate(LEVELS, start=1)
                ],
            },
            "domains": [
                {"id": domain, "title": domain.title(), "elements": elements}
                for domain, elements in domains.items()
            ],
        }
    )


async def _lead(database: Database) -> int:
    async with transaction(database.sessions) as session:
        person = await upsert_person(
            session, teams_user_id="29:lead", now=FIXED_NOW, aad_object_id="aad-lead", name="Lead"
        )
        return person.id or 0


async def test_publishing_a_framework_twice_makes_versions_one_and_two(database: Database) -> None:
    lead = await _lead(database)
    first, second = matrix(), matrix(title="Our place matrix 2027")
    async with transaction(database.sessions) as session:
        v1 = await framework_versions.publish(
            session, tenant_id=TENANT, framework=first, published_by_id=lead, now=FIXED_NOW
        )
    async with transaction(database.sessions) as session:
        v2 = await framework_versions.publish(
            session,
            tenant_id=TENANT,
            framework=second,
            published_by_id=lead,
            now=FIXED_NOW + timedelta(days=1),
        )
    assert (v1.version, v2.version) == (1, 2)
    async with database.sessions() as session:
        newest = await framework_versions.latest(session, tenant_id=TENANT, framework_id="our-matrix")
        older = await framework_versions.version(
            session, tenant_id=TENANT, framework_id="our-matrix", number=1
        )
        missing = await framework_versions.version(
            session, tenant_id=TENANT, framework_id="our-matrix", number=3
        )
    assert newest is not None
    assert older is not None
    assert (newest.version, newest.framework, newest.published_by_id) == (2, second, lead)
    assert newest.published_at == FIXED_NOW + timedelta(days=1)
    assert (older.version, older.framework, older.published_at) == (1, first, FIXED_NOW)
    assert missing is None


async def test_another_tenant_neither_sees_nor_numbers_after_a_tenants_frameworks(database: Database) -> None:
    async with transaction(database.sessions) as session:
        await framework_versions.publish(
            session, tenant_id=TENANT, framework=matrix(), published_by_id=None, now=FIXED_NOW
        )
        theirs = await framework_versions.publish(
            session, tenant_id=OTHER_TENANT, framework=matrix(), published_by_id=None, now=FIXED_NOW
        )
    assert theirs.version == 1
    async with database.sessions() as session:
        assert (
            await framework_versions.latest(session, tenant_id="elsewhere", framework_id="our-matrix") is None
        )
        assert await framework_versions.listing(session, tenant_id="elsewhere") == []


async def test_a_tenants_listing_shows_each_framework_at_its_latest_version(database: Database) -> None:
    async with transaction(database.sessions) as session:
        for framework in (
            matrix(),
            matrix(title="Renamed matrix"),
            matrix(framework_id="a-plan", title="A plan"),
        ):
            await framework_versions.publish(
                session, tenant_id=TENANT, framework=framework, published_by_id=None, now=FIXED_NOW
            )
    async with database.sessions() as session:
        listed = await framework_versions.listing(session, tenant_id=TENANT)
    assert [(item.framework_id, item.title, item.version) for item in listed] == [
        ("a-plan", "A plan", 1),
        ("our-matrix", "Renamed matrix", 2),
    ]


async def test_publications_racing_each_other_get_distinct_versions(database: Database) -> None:
    """Several instances publish the same id at once: each gets its own number, none is lost or doubled."""
    engines = [database.new_engine() for _ in range(4)]
    try:

        async def publish(engine_index: int) -> int:
            async with transaction(session_factory(engines[engine_index])) as session:
                published = await framework_versions.publish(
                    session,
                    tenant_id=TENANT,
                    framework=matrix(title=f"Draft {engine_index}"),
                    published_by_id=None,
                    now=FIXED_NOW,
                )
                return published.version

        numbers = await asyncio.gather(*(publish(index) for index in range(4)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(numbers) == [1, 2, 3, 4]
    async with database.sessions() as session:
        stored = (await session.execute(sa.select(FrameworkVersion.version, FrameworkVersion.title))).all()
    assert sorted(number for number, _ in stored) == [1, 2, 3, 4]
    assert {title for number, title in stored} == {f"Draft {index}" for index in range(4)}


async def test_a_stored_framework_that_no_longer_validates_is_refused_on_the_way_out(
    database: Database,
) -> None:
    async with transaction(database.sessions) as session:
        await framework_versions.publish(
            session, tenant_id=TENANT, framework=matrix(), published_by_id=None, now=FIXED_NOW
        )
        broken = matrix().model_dump(mode="json")
        broken["domains"][0]["elements"][0]["descriptors"].pop("thriving")
        await session.execute(sa.update(FrameworkVersion).values(framework=broken))
    async with database.sessions() as session:
        with pytest.raises(ValueError, match="no descriptor for levels"):
            await framework_versions.latest(session, tenant_id=TENANT, framework_id="our-matrix")
