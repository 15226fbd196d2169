"""A person's data export and erasure include where they said they want to be, wherever answers are
included: exported with its label, kept detached when a closed round keeps the answer, deleted with it."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from storage.answers import record_answer
from storage.db import transaction
from storage.organisations import ensure_organisation, set_person_organisation
from storage.people import upsert_person
from storage.privacy import erase_person, export_person
from storage.surveys import close_survey, create_survey
from storage.tables import Answer, Survey
from tests.conftest import Database
from tests.storage.test_answers_storage import MATRIX

PEOPLE = ("amina", "ben", "chidi")


async def _round(db: Database, now: datetime, *, closed: bool) -> int:
    """Three people of one organisation answer `vision` with a target (k = 3: a closed round keeps them)."""
    async with transaction(db.sessions) as session:
        trust = await ensure_organisation(session, "North Trust")
        survey = await create_survey(session, MATRIX, now=now - timedelta(days=10), target_months=12)
        for index, name in enumerate(PEOPLE):
            person = await upsert_person(
                session, teams_user_id=f"29:{name}", aad_object_id=f"aad-{name}", now=now - timedelta(days=10)
            )
            await set_person_organisation(session, person, trust)
            await record_answer(
                session, survey, person, "vision", 1 + index, now=now - timedelta(days=9), target="thriving"
            )
        if closed:
            await close_survey(session, survey, now=now - timedelta(days=5))
    return survey.id or 0


async def _targets(db: Database) -> list[tuple[str | None, str | None, int | None]]:
    async with transaction(db.sessions) as session:
        rows = (await session.execute(sa.select(Answer).order_by(Answer.id))).scalars().all()
    return [(row.value, row.target_value, row.target_score) for row in rows]


async def test_the_subject_access_export_shows_the_target_beside_the_answer(
    database: Database, now: datetime
) -> None:
    await _round(database, now, closed=False)
    async with transaction(database.sessions) as session:
        data = await export_person(session, "aad-ben", now=now)
    assert data is not None
    (response,) = data.model_dump(mode="json")["responses"]
    (answer,) = response["answers"]
    assert (
        answer["value_label"],
        answer["target_value"],
        answer["target_score"],
        answer["target_label"],
    ) == (
        "Developing",
        "thriving",
        4,
        "Thriving",
    )


async def test_erasure_keeps_a_closed_rounds_target_detached_and_deletes_an_open_rounds(
    database: Database, now: datetime
) -> None:
    await _round(database, now, closed=True)
    async with transaction(database.sessions) as session:
        await erase_person(session, "aad-amina", now=now, k=3)
    assert await _targets(database) == [
        ("emerging", "thriving", 4),  # kept for the round's figures, no longer Amina's
        ("developing", "thriving", 4),
        ("maturing", "thriving", 4),
    ]
    async with transaction(database.sessions) as session:
        assert await export_person(session, "aad-amina", now=now) is None  # nothing is hers any more
    async with transaction(database.sessions) as session:
        for survey in (await session.execute(sa.select(Survey))).scalars():
            await session.delete(survey)
    await _round(database, now, closed=False)
    async with transaction(database.sessions) as session:
        await erase_person(session, "aad-ben", now=now, k=3)
    assert [target for _, target, _ in await _targets(database)] == ["thriving", "thriving"]
