"""Where partners want to be: a target stored beside the answer, in the same row and the same upsert."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from frameworks.scoring import InvalidAnswer
from storage.answers import answers_of, record_answer, record_comment
from storage.db import transaction
from storage.organisations import ensure_organisation
from storage.people import upsert_person
from storage.surveys import create_survey
from storage.tables import Answer, Person, Survey
from tests.conftest import Database
from tests.storage.test_answers_storage import MATRIX


async def _target_survey(db: Database, now: datetime, *, months: int | None = 12) -> tuple[Survey, Person]:
    async with transaction(db.sessions) as session:
        trust = await ensure_organisation(session, "Leeds Teaching Hospitals", kind="NHS trust")
        person = await upsert_person(session, teams_user_id="29:amina", aad_object_id="aad-amina", now=now)
        person.organisation_id = trust.id
        survey = await create_survey(session, MATRIX, now=now, title="Leeds place 2026", target_months=months)
    return survey, person


async def test_a_survey_started_with_a_target_keeps_its_horizon(database: Database, now: datetime) -> None:
    survey, _ = await _target_survey(database, now, months=18)
    async with transaction(database.sessions) as session:
        stored = await session.get(Survey, survey.id)
    assert stored is not None
    assert stored.target_months == 18


async def test_the_target_is_stored_with_the_answer_as_the_same_kind_of_token(
    database: Database, now: datetime
) -> None:
    survey, person = await _target_survey(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", "2", now=now, target="maturing")
        await record_answer(session, survey, person, "shared-data", "-1", now=now, target="+3")
    async with transaction(database.sessions) as session:
        stored = await answers_of(session, survey, person)
    assert (stored["vision"].value, stored["vision"].target_value, stored["vision"].target_score) == (
        "developing",
        "maturing",
        3,
    )
    assert (stored["shared-data"].target_value, stored["shared-data"].target_score) == ("+3", 3)


async def test_answering_again_replaces_the_target_and_a_skip_clears_it(
    database: Database, now: datetime
) -> None:
    survey, person = await _target_survey(database, now)
    later = now + timedelta(minutes=5)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", 2, now=now, target=4)
        await record_comment(session, survey, person, "vision", "Board minutes", now=later)
    async with transaction(database.sessions) as session:
        kept = (await answers_of(session, survey, person))["vision"]
    assert (kept.target_value, kept.comment) == ("thriving", "Board minutes")  # a comment keeps the target
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", 3, now=later, target=3)
    async with transaction(database.sessions) as session:
        assert (await answers_of(session, survey, person))["vision"].target_value == "maturing"
        await record_answer(session, survey, person, "vision", None, now=later)
    async with transaction(database.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    assert [(row.skipped, row.target_value, row.target_score) for row in rows] == [(True, None, None)]


@pytest.mark.parametrize(
    ("months", "element", "target", "message"),
    [
        (12, "vision", "superb", "is not one of the levels"),
        (12, "shared-data", "+9", "+9 is outside the scale"),
        (None, "vision", "thriving", "asks only where you are now"),
    ],
)
async def test_a_target_off_the_scale_or_not_asked_for_is_refused_with_nothing_stored(
    database: Database, now: datetime, months: int | None, element: str, target: str, message: str
) -> None:
    survey, person = await _target_survey(database, now, months=months)
    with pytest.raises(InvalidAnswer, match=message.replace("+", r"\+")):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, element, "2", now=now, target=target)
    async with transaction(database.sessions) as session:
        assert await answers_of(session, survey, person) == {}
