"""A person's rights over their data, on SQLite and PostgreSQL: seeing everything held about them, being
erased without breaking closed rounds' figures, and old data not being kept for longer than it is needed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from bot.cli import main
from storage.answers import record_answer, submit_response
from storage.conversations import save_reference
from storage.db import create_engine, session_factory, transaction
from storage.invitations import invite
from storage.leads import grant_lead, list_leads
from storage.migrate import upgrade
from storage.organisations import ensure_organisation, set_person_organisation
from storage.outbox import NewMessage, enqueue
from storage.people import upsert_person
from storage.privacy import (
    TOMBSTONE_PREFIX,
    Fate,
    erase_person,
    export_person,
    fate_of,
    find_person,
    months_before,
    plan_erasure,
    plan_expired,
    purge_expired,
)
from storage.summaries import response_counts
from storage.surveys import close_survey, create_survey
from storage.tables import (
    Answer,
    BotStateRecord,
    ConversationReference,
    Invitation,
    OutboxMessage,
    Person,
    Response,
    Survey,
)
from tests.conftest import Database
from tests.storage.test_answers_storage import MATRIX

K = 3
LEVEL_OF = {
    "amina": "developing",
    "ben": "maturing",
    "chen": "emerging",
    "dev": "thriving",
    "fay": "maturing",
}
SCORE_OF = {"amina": 2, "ben": -1, "chen": 4, "dev": 5, "fay": 0}
NORTH = {"amina", "ben", "chen"}
"""Three respondents of North Trust: a group of k."""


@dataclass
class World:
    people: dict[str, Person]
    closed: Survey
    open: Survey
    closed_at: datetime


def _conversation(name: str) -> str:
    return f"a:1to1-{name}"


async def _build(db: Database, now: datetime, *, respondents: set[str], open_respondents: set[str]) -> World:
    """North Trust (amina, ben, chen) and Borough Council (dev); a closed round and an open one.

    Everyone is invited to both, answers with comments, has a 1:1 chat with state, and an outbox message.
    Ben made amina a lead, and amina made chen one."""
    started, closed_at = now - timedelta(days=40), now - timedelta(days=30)
    async with transaction(db.sessions) as session:
        north = await ensure_organisation(session, "North Trust", kind="NHS trust")
        borough = await ensure_organisation(session, "Borough Council", kind="Council")
        people: dict[str, Person] = {}
        for name in ("amina", "ben", "chen", "dev"):
            person = await upsert_person(
                session,
                teams_user_id=f"29:{name}",
                aad_object_id=f"aad-{name}",
                name=f"{name.title()} Person",
                email=f"{name}@example.nhs.uk",
                tenant_id="tenant-1",
                now=started,
            )
            await set_person_organisation(session, person, borough if name == "dev" else north)
            people[name] = person
        await session.flush()
        closed = await create_survey(session, MATRIX, now=started, created_by_id=people["amina"].id)
        current = await create_survey(session, MATRIX, now=started, title="This year's round")
        for survey in (closed, current):
            await invite(session, survey.id or 0, [p.id or 0 for p in people.values()], now=started)
            await enqueue(
                session,
                [
                    NewMessage(
                        f"invite:{survey.id}:{p.id}", "invite", survey.id, p.id, {"to": p.teams_user_id}
                    )
                    for p in people.values()
                ],
                now=started,
            )
        for survey, who, when in (
            (closed, respondents, started + timedelta(days=1)),
            (current, open_respondents, now - timedelta(days=1)),
        ):
            for name in sorted(who):
                person = people[name]
                await record_answer(
                    session, survey, person, "vision", LEVEL_OF[name], now=when, comment=f"{name} on vision"
                )
                await record_answer(session, survey, person, "plans", None, now=when)  # skipped
                await record_answer(
                    session, survey, person, "shared-data", SCORE_OF[name], now=when, comment=f"{name} data"
                )
                await submit_response(session, survey, person, now=when)
        await close_survey(session, closed, now=closed_at)
        for name, person in people.items():
            await save_reference(
                session,
                conversation_id=_conversation(name),
                service_url="https://smba.trafficmanager.net/uk/",
                reference={"channelId": "msteams", "conversation": {"id": _conversation(name)}},
                conversation_type="personal",
                person_id=person.id,
                now=started,
            )
            for key in (f"msteams/conversations/{_conversation(name)}", f"msteams/users/29:{name}"):
                session.add(
                    BotStateRecord(key=key, e_tag="e1", data=json.dumps({"who": name}), updated_at=now)
                )
        await save_reference(
            session,
            conversation_id="19:partnership-channel",
            service_url="https://smba.trafficmanager.net/uk/",
            reference={"channelId": "msteams"},
            conversation_type="channel",
            now=started,
        )
        session.add(BotStateRecord(key="msteams/conversations/19:partnership-channel", e_tag="e1", data="{}"))
        await grant_lead(session, "aad-amina", now=started, configured=[], granted_by_id=people["ben"].id)
        await grant_lead(
            session,
            "aad-chen",
            now=started,
            configured=[],
            name="Chen Person",
            granted_by_id=people["amina"].id,
        )
    return World(people, closed, current, closed_at)


async def _figures(db: Database, survey_id: int) -> dict[str, Any]:
    """What aggregates are made of: per element and organisation, how many scored and their average;
    per value, how many chose it; and the survey's response rates."""
    a, r = Answer.__table__, Response.__table__  # type: ignore[attr-defined]
    async with transaction(db.sessions) as session:
        scores = await session.execute(
            sa.select(a.c.element_id, r.c.organisation_id, sa.func.count(a.c.score), sa.func.avg(a.c.score))
            .select_from(a.join(r, r.c.id == a.c.response_id))
            .where(r.c.survey_id == survey_id)
            .group_by(a.c.element_id, r.c.organisation_id)
        )
        values = await session.execute(
            sa.select(a.c.element_id, a.c.value, a.c.skipped, sa.func.count())
            .select_from(a.join(r, r.c.id == a.c.response_id))
            .where(r.c.survey_id == survey_id)
            .group_by(a.c.element_id, a.c.value, a.c.skipped)
        )
        rates = await response_counts(session, [survey_id])
    return {
        "scores": {(e, o): (n, None if avg is None else float(avg)) for e, o, n, avg in scores},
        "values": {(e, v, bool(s)): n for e, v, s, n in values},
        "rates": sorted(rates.get(survey_id, []), key=lambda c: c.organisation_id or 0),
    }


async def _count(db: Database, model: Any, *conditions: Any) -> int:
    async with transaction(db.sessions) as session:
        query = sa.select(sa.func.count()).select_from(model)
        return (await session.execute(query.where(*conditions))).scalar_one()


async def _held_about(db: Database, person: Person) -> dict[str, int]:
    """Every row the database holds that points at this person, by kind."""
    pid, name = person.id, person.teams_user_id.removeprefix("29:")
    return {
        "people": await _count(db, Person, Person.teams_user_id == f"29:{name}"),
        "responses": await _count(db, Response, Response.person_id == pid),
        "invitations": await _count(db, Invitation, Invitation.person_id == pid),
        "outbox": await _count(db, OutboxMessage, OutboxMessage.person_id == pid),
        "references": await _count(
            db, ConversationReference, ConversationReference.conversation_id == _conversation(name)
        ),
        "state": await _count(db, BotStateRecord, BotStateRecord.key.contains(name)),  # type: ignore[attr-defined]
        "comments": await _count(db, Answer, Answer.comment.startswith(name)),  # type: ignore[union-attr]
    }


# Subject access ------------------------------------------------------------------------------------


async def test_a_person_gets_everything_held_about_them_and_nothing_about_anyone_else(
    database: Database, now: datetime
) -> None:
    world = await _build(database, now, respondents=NORTH, open_respondents={"amina", "ben"})
    async with transaction(database.sessions) as session:
        data = await export_person(session, "AAD-Amina", now=now)  # an id pasted in any case
    assert data is not None
    text = data.model_dump_json(indent=2)
    exported = json.loads(text)

    assert exported["exported_at"] == "2026-11-23T09:30:00Z"
    assert exported["person"]["aad_object_id"] == "aad-amina"
    assert exported["person"]["email"] == "amina@example.nhs.uk"
    assert exported["organisation"]["name"] == "North Trust"
    assert sorted(i["survey_title"] for i in exported["invitations"]) == ["Mini matrix", "This year's round"]
    assert [s["id"] for s in exported["surveys_created"]] == [world.closed.id]
    assert [c["conversation_id"] for c in exported["conversation_references"]] == [_conversation("amina")]
    assert sorted(m["dedupe_key"] for m in exported["outbox"]) == sorted(
        f"invite:{s.id}:{world.people['amina'].id}" for s in (world.closed, world.open)
    )
    assert [(s["key"], s["data"]) for s in exported["bot_state"]] == [
        (f"msteams/conversations/{_conversation('amina')}", {"who": "amina"}),
        ("msteams/users/29:amina", {"who": "amina"}),
    ]
    assert [
        (g["aad_object_id"], g["name"], g["granted_by_id"]) for g in exported["other_records"]["lead_grants"]
    ] == [
        ("aad-amina", None, world.people["ben"].id),  # her own grant
        (
            "(withheld: another person)",
            "(withheld: another person)",
            world.people["amina"].id,
        ),  # one she made
    ]

    closed = next(r for r in exported["responses"] if r["survey_id"] == world.closed.id)
    assert closed["survey_title"] == "Mini matrix"
    assert closed["organisation_name"] == "North Trust"
    answered_at = (now - timedelta(days=39)).isoformat().replace("+00:00", "Z")
    assert closed["submitted_at"] == answered_at
    answers = {a["element_id"]: a for a in closed["answers"]}
    assert answers["vision"] | {"id": None, "response_id": None} == {
        "id": None,
        "response_id": None,
        "element_id": "vision",
        "domain_title": "Ambition and vision",
        "element_title": "Vision",
        "value": "developing",
        "value_label": "Developing",
        "score": 2,
        "skipped": False,
        "comment": "amina on vision",
        "target_value": None,
        "target_score": None,
        "target_label": None,
        "answered_at": answered_at,
        "updated_at": answered_at,
    }
    assert (answers["plans"]["skipped"], answers["plans"]["value_label"]) == (True, None)
    assert (answers["shared-data"]["value_label"], answers["shared-data"]["comment"]) == ("+2", "amina data")

    for someone_else in (
        *("29:ben", "aad-ben", "Ben Person", "ben@", "ben on vision", "ben data", "1to1-ben"),
        *("aad-chen", "Chen Person"),
    ):
        assert someone_else not in text
    assert "19:partnership-channel" not in text


async def test_nothing_is_exported_for_someone_never_seen(database: Database, now: datetime) -> None:
    await _build(database, now, respondents=NORTH, open_respondents=set())
    async with transaction(database.sessions) as session:
        assert await export_person(session, "aad-nobody", now=now) is None


# Erasure -------------------------------------------------------------------------------------------


async def test_erasing_someone_keeps_a_closed_rounds_scores_with_no_identity_comments_or_times(
    database: Database, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    world = await _build(database, now, respondents=NORTH, open_respondents=set())
    before = await _figures(database, world.closed.id or 0)

    with caplog.at_level(logging.INFO, logger="storage.privacy"):
        async with transaction(database.sessions) as session:
            plan = await erase_person(session, "aad-amina", now=now, k=K)
    assert plan is not None
    assert (plan.anonymised, plan.deleted, plan.invitations_anonymised, plan.invitations_deleted) == (
        1,
        0,
        1,
        1,
    )

    assert await _figures(database, world.closed.id or 0) == before
    assert await _held_about(database, world.people["amina"]) == dict.fromkeys(
        ("people", "responses", "invitations", "outbox", "references", "state", "comments"), 0
    )
    assert (await _held_about(database, world.people["ben"]))["comments"] == 2  # nobody else loses anything
    async with transaction(database.sessions) as session:
        kept = (
            await session.execute(
                sa.select(Response, Person)
                .join(Person, Person.id == Response.person_id)  # type: ignore[arg-type]
                .where(Person.teams_user_id.startswith(TOMBSTONE_PREFIX))  # type: ignore[attr-defined]
            )
        ).one()
        response, anonymous = kept
        answers = (
            await session.execute(sa.select(Answer).where(Answer.response_id == response.id))
        ).scalars()
        invitation = (
            await session.execute(sa.select(Invitation).where(Invitation.person_id == anonymous.id))
        ).scalar_one()
    assert (anonymous.aad_object_id, anonymous.name, anonymous.email, anonymous.organisation_id) == (
        None,
        None,
        None,
        None,
    )
    assert response.organisation_id == world.people["amina"].organisation_id
    assert {response.started_at, response.updated_at, response.submitted_at} == {world.closed_at}
    assert sorted((a.element_id, a.value, a.comment, a.answered_at) for a in answers) == [
        ("plans", None, None, world.closed_at),
        ("shared-data", "+2", None, world.closed_at),
        ("vision", "developing", None, world.closed_at),
    ]
    assert (invitation.survey_id, invitation.invited_at, invitation.completed_at) == (
        world.closed.id,
        world.closed_at,
        world.closed_at,
    )
    assert await _count(database, Survey, Survey.created_by_id.is_(None)) == 2  # type: ignore[union-attr]
    async with transaction(database.sessions) as session:
        leads = await list_leads(session, configured=[])
    assert [(lead.aad_object_id, lead.granted_by) for lead in leads] == [("aad-chen", None)]

    logged = [record.getMessage() for record in caplog.records if record.name == "storage.privacy.erasure"]
    assert logged == [
        f"privacy: erased subject {plan.subject}: 1 responses anonymised, 0 deleted, 1 invitations deleted, "
        "1 conversation references, 2 outbox messages, 2 bot state records, 1 other records"
    ]
    assert len(plan.subject) == 16
    assert "amina" not in logged[0]


async def test_erasing_someone_whose_group_is_smaller_than_k_deletes_their_scores(
    database: Database, now: datetime
) -> None:
    world = await _build(database, now, respondents=NORTH | {"dev"}, open_respondents=set())
    before = await _figures(database, world.closed.id or 0)
    borough = world.people["dev"].organisation_id

    async with transaction(database.sessions) as session:
        plan = await erase_person(session, "aad-dev", now=now, k=K)
    assert plan is not None
    assert (plan.anonymised, plan.deleted) == (0, 1)

    after = await _figures(database, world.closed.id or 0)
    assert {key for key in before["scores"] if key[1] == borough} == {
        ("vision", borough),
        ("shared-data", borough),
        ("plans", borough),
    }
    assert not any(key[1] == borough for key in after["scores"])
    assert {key: value for key, value in before["scores"].items() if key[1] != borough} == after["scores"]
    assert await _count(database, Response, Response.organisation_id == borough) == 0
    assert await _count(database, Person, Person.teams_user_id.startswith(TOMBSTONE_PREFIX)) == 0  # type: ignore[attr-defined]


async def test_erasing_someone_during_an_open_survey_deletes_their_answers_however_large_the_group(
    database: Database, now: datetime
) -> None:
    world = await _build(database, now, respondents=set(), open_respondents=NORTH)
    async with transaction(database.sessions) as session:
        plan = await erase_person(session, "aad-ben", now=now, k=K)
    assert plan is not None
    assert [(f.survey_id, f.fate) for f in plan.responses] == [(world.open.id, Fate.DELETE)]
    assert await _count(database, Response, Response.survey_id == world.open.id) == 2
    assert await _count(database, Answer, Answer.comment.startswith("ben")) == 0  # type: ignore[union-attr]
    assert await _count(database, Person, Person.teams_user_id.startswith(TOMBSTONE_PREFIX)) == 0  # type: ignore[attr-defined]


async def test_a_preview_of_an_erasure_changes_nothing_and_matches_the_erasure(
    database: Database, now: datetime
) -> None:
    world = await _build(database, now, respondents=NORTH | {"dev"}, open_respondents={"amina", "dev"})
    async with transaction(database.sessions) as session:
        preview = await plan_erasure(session, "aad-amina", now=now, k=K)
    assert await _held_about(database, world.people["amina"]) == {
        "people": 1,
        "responses": 2,
        "invitations": 2,
        "outbox": 2,
        "references": 1,
        "state": 2,
        "comments": 4,
    }
    async with transaction(database.sessions) as session:
        done = await erase_person(session, "aad-amina", now=now, k=K)
    assert preview is not None
    assert done is not None
    assert (preview.anonymised, preview.deleted, preview.bot_state_keys) == (
        done.anonymised,
        done.deleted,
        done.bot_state_keys,
    )
    assert (done.anonymised, done.deleted) == (1, 1)


async def test_an_erasure_that_fails_half_way_leaves_everything_as_it_was(
    database: Database, now: datetime
) -> None:
    world = await _build(database, now, respondents=NORTH, open_respondents={"amina"})
    held = await _held_about(database, world.people["amina"])

    def fail_at_the_last_step(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PEOPLE"):
            raise RuntimeError("the database went away")

    event.listen(database.engine.sync_engine, "before_cursor_execute", fail_at_the_last_step)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            async with transaction(database.sessions) as session:
                await erase_person(session, "aad-amina", now=now, k=K)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", fail_at_the_last_step)

    assert await _held_about(database, world.people["amina"]) == held
    assert await _count(database, Person, Person.teams_user_id.startswith(TOMBSTONE_PREFIX)) == 0  # type: ignore[attr-defined]
    assert await _count(database, Answer, Answer.comment.is_not(None)) == 8  # type: ignore[union-attr]
    async with transaction(database.sessions) as session:
        assert await erase_person(session, "aad-amina", now=now, k=K) is not None
    assert (await _held_about(database, world.people["amina"]))["responses"] == 0
    assert await _count(database, Response, Response.survey_id == world.closed.id) == 3


async def test_erasing_someone_unknown_or_already_erased_does_nothing(
    database: Database, now: datetime
) -> None:
    await _build(database, now, respondents=NORTH, open_respondents=set())
    async with transaction(database.sessions) as session:
        assert await erase_person(session, "29:amina", now=now, k=K) is not None  # a Teams user id works too
    rows = await _count(database, Person)
    async with transaction(database.sessions) as session:
        assert await erase_person(session, "aad-amina", now=now, k=K) is None
        assert await erase_person(session, "aad-nobody", now=now, k=K) is None
        anonymous = (
            await session.execute(
                sa.select(Person.teams_user_id).where(Person.teams_user_id.startswith(TOMBSTONE_PREFIX))  # type: ignore[attr-defined]
            )
        ).scalar_one()
        assert await find_person(session, anonymous) is None  # anonymous rows are nobody's
    assert await _count(database, Person) == rows


def test_a_response_is_kept_only_when_its_survey_is_closed_and_its_group_has_k() -> None:
    assert fate_of(accepting_answers=False, group_size=3, k=3) is Fate.ANONYMISE
    assert fate_of(accepting_answers=False, group_size=2, k=3) is Fate.DELETE
    assert fate_of(accepting_answers=True, group_size=50, k=3) is Fate.DELETE


def test_the_retention_cutoff_is_calendar_months_back() -> None:
    assert months_before(datetime(2026, 11, 23, 9, 30, tzinfo=UTC), 24) == datetime(
        2024, 11, 23, 9, 30, tzinfo=UTC
    )
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)
    assert months_before(datetime(2028, 2, 29, tzinfo=UTC), 48) == datetime(2024, 2, 29, tzinfo=UTC)


# Retention -----------------------------------------------------------------------------------------


@dataclass
class History:
    old: Survey
    recent: Survey
    people: dict[str, Person]


async def _history(db: Database, now: datetime) -> History:
    """A round closed 30 months ago (North: amina, ben, chen; Borough: dev; fay invited, never answered),
    one closed 6 months ago (amina, ben, chen), gus who only ever said hello 30 months ago, hana who did
    so last month, and ivy, a lead who has not been seen for 30 months either."""
    long_ago, lately = months_before(now, 32), months_before(now, 8)
    async with transaction(db.sessions) as session:
        north = await ensure_organisation(session, "North Trust")
        borough = await ensure_organisation(session, "Borough Council")
        people = {}
        for name in ("amina", "ben", "chen", "dev", "fay", "gus", "hana", "ivy"):
            seen = now - timedelta(days=30) if name == "hana" else long_ago
            person = await upsert_person(
                session, teams_user_id=f"29:{name}", aad_object_id=f"aad-{name}", now=seen
            )
            await set_person_organisation(session, person, borough if name == "dev" else north)
            await save_reference(
                session,
                conversation_id=_conversation(name),
                service_url="https://smba.trafficmanager.net/uk/",
                reference={"channelId": "msteams"},
                conversation_type="personal",
                person_id=person.id,
                now=seen,
            )
            session.add(
                BotStateRecord(key=f"msteams/conversations/{_conversation(name)}", e_tag="e", data="{}")
            )
            people[name] = person
        await session.flush()
        await grant_lead(session, "aad-ivy", now=long_ago, configured=[])
        old = await create_survey(session, MATRIX, now=long_ago, title="Old round")
        recent = await create_survey(session, MATRIX, now=lately, title="Recent round")
        for survey, start, who in (
            (old, long_ago, ["amina", "ben", "chen", "dev", "fay"]),
            (recent, lately, ["amina", "ben", "chen"]),
        ):
            await invite(session, survey.id or 0, [people[name].id or 0 for name in who], now=start)
            await enqueue(
                session,
                [
                    NewMessage(f"invite:{survey.id}:{people[n].id}", "invite", survey.id, people[n].id)
                    for n in who
                ],
                now=start,
            )
            for name in who:
                if name == "fay":
                    continue
                await record_answer(
                    session, survey, people[name], "vision", LEVEL_OF[name], now=start, comment=f"{name} said"
                )
                await record_answer(session, survey, people[name], "shared-data", SCORE_OF[name], now=start)
            await close_survey(session, survey, now=start + timedelta(days=60))
    return History(old, recent, people)


async def test_retention_anonymises_old_rounds_forgets_people_long_gone_and_keeps_recent_data(
    database: Database, now: datetime
) -> None:
    history = await _history(database, now)
    old_before = await _figures(database, history.old.id or 0)
    recent_before = await _figures(database, history.recent.id or 0)
    borough = history.people["dev"].organisation_id

    async with transaction(database.sessions) as session:
        plan = await purge_expired(session, now=now, months=24, k=K)
    assert (plan.anonymised, plan.deleted, plan.invitations_deleted, plan.outbox) == (3, 1, 2, 5)
    forgotten = {name for name, person in history.people.items() if person.id in plan.people}
    assert forgotten == {"dev", "fay", "gus"}  # amina, ben, chen answered lately; hana is about; ivy leads

    old_after = await _figures(database, history.old.id or 0)
    assert {key: v for key, v in old_before["scores"].items() if key[1] != borough} == old_after["scores"]
    assert await _figures(database, history.recent.id or 0) == recent_before
    for name in ("amina", "ben", "chen"):
        held = await _held_about(database, history.people[name])
        assert (held["people"], held["responses"], held["invitations"], held["comments"]) == (1, 1, 1, 1)
    for name in ("dev", "fay", "gus"):
        assert set((await _held_about(database, history.people[name])).values()) == {0}
    assert (await _held_about(database, history.people["hana"]))["people"] == 1
    assert (await _held_about(database, history.people["ivy"]))["people"] == 1
    assert await _count(database, Answer, Answer.comment.is_not(None)) == 3  # type: ignore[union-attr]

    async with transaction(database.sessions) as session:
        again = await purge_expired(session, now=now, months=24, k=K)
    assert (again.responses, again.people, again.invitations_deleted, again.outbox) == ((), (), 0, 0)

    async with transaction(database.sessions) as session:  # two years on, the recent round goes the same way
        later = await purge_expired(session, now=now + timedelta(days=730), months=24, k=K)
    assert (later.anonymised, later.deleted) == (3, 0)
    assert {name for name, p in history.people.items() if p.id in later.people} == {
        "amina",
        "ben",
        "chen",
        "hana",
    }
    assert await _count(database, Person) == 7  # ivy, and the anonymous holders of the rounds' responses


async def test_a_retention_dry_run_changes_nothing_and_reports_what_the_purge_then_does(
    database: Database, now: datetime
) -> None:
    await _history(database, now)
    tables = (Person, Response, Answer, Invitation, OutboxMessage, ConversationReference, BotStateRecord)
    before = [await _count(database, table) for table in tables]
    async with transaction(database.sessions) as session:
        dry = await plan_expired(session, now=now, months=24, k=K)
    assert [await _count(database, table) for table in tables] == before
    async with transaction(database.sessions) as session:
        done = await purge_expired(session, now=now, months=24, k=K)
    assert (
        dry.anonymised,
        dry.deleted,
        dry.invitations_deleted,
        dry.outbox,
        dry.people,
        dry.bot_state_keys,
    ) == (
        done.anonymised,
        done.deleted,
        done.invitations_deleted,
        done.outbox,
        done.people,
        done.bot_state_keys,
    )
    assert len(done.bot_state_keys) == 3


# The command line ----------------------------------------------------------------------------------


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file holding the North/Borough world (its round closed 70 days ago), as the
    DATABASE_URL of `python -m bot`, which runs on the real clock."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)

    async def build() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            db = Database("sqlite", url, engine, session_factory(engine), {})
            then = datetime.now(UTC) - timedelta(days=40)
            await _build(db, then, respondents=NORTH | {"dev"}, open_respondents={"amina"})
        finally:
            await engine.dispose()

    asyncio.run(build())
    return url


def test_the_cli_exports_a_person_to_a_file_only_its_owner_can_read(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "amina.json"
    assert main(["privacy", "export", "--user", "aad-amina", "--out", str(out)]) == 0
    assert f"to {out} (2 responses)" in capsys.readouterr().out
    assert json.loads(out.read_text())["person"]["teams_user_id"] == "29:amina"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert main(["privacy", "export", "--user", "aad-nobody"]) == 1
    assert "Nothing is held about aad-nobody" in capsys.readouterr().out


def test_the_cli_erases_only_when_told_yes_and_erasing_again_is_harmless(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["privacy", "erase", "--user", "aad-amina"]) == 1
    preview = capsys.readouterr().out
    assert "Would erase aad-amina" in preview
    assert "1 response kept" in preview
    assert "1 response deleted" in preview
    assert "Nothing was changed" in preview
    assert main(["privacy", "export", "--user", "aad-amina"]) == 0
    capsys.readouterr()

    assert main(["privacy", "erase", "--user", "aad-amina", "--yes"]) == 0
    assert "Erased aad-amina" in capsys.readouterr().out
    assert main(["privacy", "export", "--user", "aad-amina"]) == 1
    assert main(["privacy", "erase", "--user", "aad-amina", "--yes"]) == 0
    assert "already erased" in capsys.readouterr().out


def test_the_cli_applies_the_retention_period(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["privacy", "retention", "--dry-run"]) == 0
    assert "Would purge data older than 24 months" in capsys.readouterr().out
    assert main(["privacy", "retention", "--months", "1", "--dry-run"]) == 0
    assert "3 responses anonymised, 1 deleted" in capsys.readouterr().out
    assert main(["privacy", "retention", "--months", "1"]) == 0
    assert "Purged data older than 1 month (" in capsys.readouterr().out
    assert main(["privacy", "retention", "--months", "1"]) == 0
    assert "0 responses anonymised, 0 deleted" in capsys.readouterr().out


def test_the_cli_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    assert main(["privacy", "export", "--user", "aad-amina"]) == 2
    assert "db upgrade" in capsys.readouterr().err  # a missing SQLite file is explained on stderr


def test_the_cli_refuses_a_group_size_below_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["privacy", "erase", "--user", "aad-amina", "--k", "1"])
    assert exit_.value.code == 2
    assert "at least 2" in capsys.readouterr().err


def test_an_erasure_preview_counts_in_words_that_agree_with_the_numbers(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["privacy", "erase", "--user", "aad-amina"]) == 1
    lines = capsys.readouterr().out.splitlines()

    assert lines[1:5] == [
        "  1 response kept for closed surveys' figures, with no identity, comment or time",
        "  1 response deleted (survey still open, or fewer than 3 in their group)",
        "  1 invitation deleted, 1 kept anonymously",
        "  1 conversation reference, 2 outbox messages and 2 bot state records deleted, 1 other record "
        "naming them (a lead grant), and the person",
    ]


def test_exports_and_retention_count_one_thing_in_the_singular(
    cli_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["privacy", "export", "--user", "aad-dev", "--out", str(tmp_path / "dev.json")]) == 0
    assert "(1 response)." in capsys.readouterr().out
    assert main(["privacy", "retention", "--months", "1", "--dry-run"]) == 0
    retention = capsys.readouterr().out
    assert "Would purge data older than 1 month (before" in retention
    assert not re.search(r"\b1 [a-z]+s\b", retention), retention
