"""A partnership's own framework, published per tenant in numbered versions, and what changed between two
versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft6Validator

from bot.cards.summary_cards import summary_card
from bot.reports.summary_text import summary_text
from frameworks.schema import Framework
from frameworks.summary import SummaryRules
from frameworks.versions import ElementRef, descriptor_fingerprint, diff
from storage import framework_versions
from storage.answers import record_answer
from storage.db import session_factory, transaction
from storage.organisations import ensure_partnership
from storage.people import upsert_person
from storage.summaries import survey_summary
from storage.surveys import create_survey
from storage.tables import FrameworkVersion
from tests.bot.cards.test_cards import schema_errors, texts, walk
from tests.conftest import FIXED_NOW, Database, shared_file
from tests.e2e.test_lead_commands import CHANNEL_ID, MEMBERS, TEAM, Channel, _client, _post
from tests.fakes.connector import fake_connector
from tests.storage.test_summary_aggregation import crowd, run_round

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


async def test_a_tenants_listing_and_documents_show_each_framework_at_its_latest_version(
    database: Database,
) -> None:
    async with transaction(database.sessions) as session:
        for framework in (
            matrix(),
            matrix(title="Renamed matrix"),
            matrix(framework_id="a-plan", title="A plan"),
        ):
            await framework_versions.publish(
                session, tenant_id=TENANT, framework=framework, published_by_id=None, now=FIXED_NOW
            )
        await framework_versions.publish(
            session,
            tenant_id=OTHER_TENANT,
            framework=matrix(title="Theirs"),
            published_by_id=None,
            now=FIXED_NOW,
        )
    async with database.sessions() as session:
        listed = await framework_versions.listing(session, tenant_id=TENANT)
        documents = await framework_versions.latest_versions(session, tenant_id=TENANT)
    assert [(item.framework_id, item.title, item.version) for item in listed] == [
        ("a-plan", "A plan", 1),
        ("our-matrix", "Renamed matrix", 2),
    ]
    assert [(each.framework.id, each.framework.title, each.version) for each in documents] == [
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


# What changed between two versions ------------------------------------------------------------------


def test_a_new_version_lists_elements_added_removed_reworded_and_moved() -> None:
    before = matrix(
        rows=[
            ("vision", "vision", "Shared vision"),
            ("vision", "plans", "Joint plans"),
            ("vision", "data", "Shared data"),
            ("people", "workforce", "One workforce"),
        ]
    )
    after = matrix(
        rows=[
            ("vision", "vision", "A shared vision"),
            ("vision", "plans", "Joint plans"),
            ("people", "data", "Shared data"),
            ("people", "carers", "Unpaid carers"),
        ],
        descriptor={"plans": "Plans are agreed and funded"},
    )
    changes = diff(before, after)
    assert changes.added == [ElementRef(element_id="carers", title="Unpaid carers", domain_id="people")]
    assert changes.removed == [ElementRef(element_id="workforce", title="One workforce", domain_id="people")]
    assert [(r.after.element_id, r.title_changed, r.descriptors_changed) for r in changes.reworded] == [
        ("vision", True, []),
        ("plans", False, ["maturing"]),
    ]
    assert [(m.after.element_id, m.before.domain_id, m.after.domain_id) for m in changes.moved] == [
        ("data", "vision", "people")
    ]
    assert not changes.unchanged


def test_rows_whose_ids_changed_are_matched_by_their_title() -> None:
    """A workbook re-imported without its id column gets new ids; the same titles are the same rows."""
    before = matrix(rows=[("vision", "vision", "Shared vision"), ("vision", "plans", "Joint plans")])
    after = matrix(
        rows=[("vision", "row-1", "Shared  VISION"), ("vision", "row-2", "Joint plans and budgets")]
    )
    changes = diff(before, after)
    assert [ref.element_id for ref in changes.matched_by_title] == ["row-1"]
    assert [ref.element_id for ref in changes.added] == ["row-2"]
    assert [ref.element_id for ref in changes.removed] == ["plans"]
    assert [(r.before.element_id, r.after.element_id, r.title_changed) for r in changes.reworded] == [
        ("vision", "row-1", True)
    ]


def test_the_same_framework_published_again_has_no_changes() -> None:
    assert diff(matrix(), matrix(title="Renamed")).unchanged


def test_a_descriptor_fingerprint_changes_only_with_the_words_answered_against() -> None:
    plain = matrix().element("plans")
    retitled = matrix(rows=[("vision", "plans", "Plans")]).element("plans")
    reworded = matrix(descriptor={"plans": "Plans are agreed"}).element("plans")
    assert plain is not None
    assert retitled is not None
    assert reworded is not None
    assert descriptor_fingerprint(plain[1]) == descriptor_fingerprint(retitled[1])
    assert descriptor_fingerprint(plain[1]) != descriptor_fingerprint(reworded[1])


# Trends across two versions ---------------------------------------------------------------------------

FIRST_VERSION = matrix(
    rows=[
        ("vision", "vision", "Shared vision"),
        ("vision", "plans", "Joint plans"),
        ("vision", "data", "Shared data"),
        ("people", "workforce", "One workforce"),
    ]
)
SECOND_VERSION = matrix(
    rows=[
        ("vision", "vision", "Shared vision"),
        ("vision", "plans", "Joint plans"),
        ("vision", "carers", "Unpaid carers"),
        ("people", "workforce", "One workforce"),
    ],
    descriptor={"plans": "Plans are agreed, funded and published"},
)


async def _two_rounds_of_a_changed_framework(database: Database):  # type: ignore[no-untyped-def]
    await run_round(
        database,
        FIRST_VERSION,
        crowd(
            "Leeds City Council",
            "lcc",
            {"vision": [1, 1, 2], "plans": [1, 2, 2], "data": [3, 3, 3], "workforce": [2, 2, 2]},
        ),
        now=FIXED_NOW - timedelta(days=180),
        title="Leeds place 2026",
    )
    second = await run_round(
        database,
        SECOND_VERSION,
        crowd(
            "Leeds City Council",
            "lcc",
            {"vision": [3, 3, 3], "plans": [3, 3, 4], "carers": [1, 1, 1], "workforce": [3, 3, 3]},
        ),
        now=FIXED_NOW,
        title="Leeds place 2027",
    )
    async with transaction(database.sessions) as session:
        return await survey_summary(session, second, rules=SummaryRules(), now=FIXED_NOW)


async def test_a_round_of_a_new_version_compares_only_shared_questions_and_flags_reworded_ones(
    database: Database,
) -> None:
    summary = await _two_rounds_of_a_changed_framework(database)
    changes = summary.changes
    assert changes is not None
    assert [(c.element_id, c.before_median, c.after_median, c.reworded) for c in changes.elements] == [
        ("vision", 1.0, 3.0, False),
        ("plans", 2.0, 3.0, True),
        ("workforce", 2.0, 3.0, False),
    ]
    assert changes.left_out == 2  # 'data' was dropped, 'carers' added
    # the vision domain pools other questions in each round; people asks the same one
    assert [c.domain_id for c in changes.domains] == ["people"]


async def test_the_results_say_what_was_left_out_and_which_descriptor_was_reworded(
    database: Database,
) -> None:
    summary = await _two_rounds_of_a_changed_framework(database)
    text = summary_text(summary)
    assert "2 questions in only one of the two rounds (the framework changed) left out" in text
    flagged = [
        line.strip() for line in text.splitlines() if "descriptor reworded since the last round" in line
    ]
    assert flagged == [
        "• ▲ Joint plans (Vision): Developing → Maturing (descriptor reworded since the last round)",
        "Joint plans — Maturing · mean 3.3 · n 3 · ▲ · descriptor reworded since the last round"
        " · [0 · 0 · 2 · 1]",
    ]
    card = json.loads(json.dumps(summary_card(summary)))  # the bytes Teams would get
    validator = Draft6Validator(json.loads(shared_file("schemas/adaptive-card.v1.5.schema.json").read_text()))
    assert schema_errors(validator, card) == []
    assert any("2 questions in only one of the two rounds" in part for part in texts(card))
    facts = [fact for node in walk(card) if node.get("type") == "FactSet" for fact in node["facts"]]
    assert [fact["title"] for fact in facts if "descriptor reworded" in fact["value"]] == ["Joint plans"]


async def _round_in_channel(
    database: Database, framework: Framework, answers: dict[str, int], when: datetime
) -> None:
    """A round of `framework` started in the lead's channel, three partners answering each question alike."""
    async with transaction(database.sessions) as session:
        place = await ensure_partnership(session, "Leeds place", kind="place")
        survey = await create_survey(
            session,
            framework,
            now=when,
            title=f"Leeds place {when:%B %Y}",
            partnership_id=place.id,
            conversation_id=CHANNEL_ID,
            tenant_id="t1",
            team_id=TEAM,
        )
        for index in range(3):
            person = await upsert_person(session, teams_user_id=f"29:partner-{index}", now=when)
            for element_id, value in answers.items():
                await record_answer(session, survey, person, element_id, value, now=when, framework=framework)


async def test_results_in_teams_flag_the_reworded_descriptor_and_count_what_was_left_out(
    database: Database,
) -> None:
    await _round_in_channel(
        database,
        FIRST_VERSION,
        {"vision": 1, "plans": 2, "data": 3, "workforce": 2},
        FIXED_NOW - timedelta(days=180),
    )
    await _round_in_channel(
        database, SECOND_VERSION, {"vision": 3, "plans": 3, "carers": 1, "workforce": 3}, FIXED_NOW
    )
    async with fake_connector() as connector:
        connector.members = list(MEMBERS)
        channel = Channel(connector)
        async with _client(database) as client:
            status, _ = await _post(client, channel.message("results"))
        assert status in (200, 201)
        card = json.loads(json.dumps(connector.cards()[-1]))
    validator = Draft6Validator(json.loads(shared_file("schemas/adaptive-card.v1.5.schema.json").read_text()))
    assert schema_errors(validator, card) == []
    facts = {
        fact["title"]: fact["value"]
        for node in walk(card)
        if node.get("type") == "FactSet"
        for fact in node["facts"]
    }
    assert (
        "2 questions in only one of the two rounds (the framework changed) left out" in facts["Compared with"]
    )
    assert [
        title for title, value in facts.items() if "descriptor reworded since the last round" in value
    ] == ["Joint plans"]
