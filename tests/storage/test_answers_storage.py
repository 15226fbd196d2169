"""What happens to a partner's answers in the database, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from frameworks.schema import Framework
from frameworks.scoring import InvalidAnswer, UnknownElement
from storage.answers import (
    answers_of,
    progress_of,
    record_answer,
    record_comment,
    submit_response,
)
from storage.db import session_factory, transaction
from storage.errors import CommentTooLong, ResponseLocked, SurveyClosed
from storage.invitations import invitation_for, invite, pending_surveys_for
from storage.organisations import ensure_organisation, ensure_partnership, partnership_members
from storage.people import upsert_person
from storage.surveys import close_due_surveys, close_survey, create_survey, framework_of, open_survey
from storage.tables import Answer, Person, Survey, SurveyState
from tests.conftest import Database

MATRIX = Framework.model_validate(
    {
        "id": "mini-matrix",
        "title": "Mini matrix",
        "version": "1.0",
        "source": "test",
        "description": "A two-row maturity matrix",
        "scale": {
            "kind": "levels",
            "levels": [
                {"id": "emerging", "value": 1, "label": "Emerging"},
                {"id": "developing", "value": 2, "label": "Developing"},
                {"id": "maturing", "value": 3, "label": "Maturing"},
                {"id": "thriving", "value": 4, "label": "Thriving"},
            ],
        },
        "domains": [
            {
                "id": "vision",
                "title": "Ambition and vision",
                "elements": [
                    {
                        "id": row,
                        "title": row.title(),
                        "descriptors": {
                            lv: f"{row} at {lv}" for lv in ("emerging", "developing", "maturing", "thriving")
                        },
                    }
                    for row in ("vision", "plans")
                ]
                + [{"id": "digital", "title": "Digital", "in_development": True}],
            },
            {
                "id": "check-in",
                "title": "Check-in",
                "scale": {
                    "kind": "score",
                    "min": -5,
                    "max": 5,
                    "min_label": "Not at all",
                    "max_label": "Fully",
                },
                "elements": [
                    {"id": "shared-data", "title": "Shared data", "text": "Does the system share data?"}
                ],
            },
        ],
    }
)


async def _setup(db: Database, now: datetime, *, closes_in: timedelta | None = None) -> tuple[Survey, Person]:
    async with transaction(db.sessions) as session:
        trust = await ensure_organisation(session, "Leeds Teaching Hospitals", kind="NHS trust")
        person = await upsert_person(session, teams_user_id="29:amina", aad_object_id="aad-amina", now=now)
        person.organisation_id = trust.id
        survey = await create_survey(
            session,
            MATRIX,
            now=now,
            closes_at=now + closes_in if closes_in else None,
            title="Leeds place 2026",
        )
        await invite(session, survey.id, [person.id], now=now)
    return survey, person


async def test_each_answer_is_stored_on_the_turn_it_is_given(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(
            session, survey, person, "vision", "maturing", now=now, comment="Board minutes, May"
        )
    async with transaction(database.sessions) as session:
        stored = await answers_of(session, survey, person)
    assert stored["vision"].value == "maturing"
    assert stored["vision"].score == 3
    assert stored["vision"].comment == "Board minutes, May"


async def test_changing_an_answer_overwrites_it_and_keeps_the_comment(
    database: Database, now: datetime
) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", 2, now=now, comment="evidence")
        await record_answer(session, survey, person, "vision", "Thriving", now=now + timedelta(days=3))
    async with transaction(database.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    assert len(rows) == 1
    assert (rows[0].value, rows[0].score, rows[0].comment) == ("thriving", 4, "evidence")
    assert rows[0].updated_at == now + timedelta(days=3)
    assert rows[0].answered_at == now


@pytest.mark.parametrize(
    ("element", "value", "message"),
    [
        ("shared-data", 7, "+7 is outside the scale"),
        ("shared-data", "-6", "-6 is outside the scale"),
        ("shared-data", "lots", "is not a score"),
        ("vision", "excellent", "is not one of the levels"),
        ("vision", 9, "is not one of the levels"),
        ("digital", "maturing", "not scored"),
    ],
)
async def test_out_of_range_answers_are_refused_and_nothing_is_stored(
    database: Database, now: datetime, element: str, value: object, message: str
) -> None:
    survey, person = await _setup(database, now)
    with pytest.raises(InvalidAnswer, match=re.escape(message)):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, element, value, now=now)  # type: ignore[arg-type]
    async with transaction(database.sessions) as session:
        assert await answers_of(session, survey, person) == {}


async def test_an_unknown_question_is_refused(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    for value in ("maturing", None):
        with pytest.raises(UnknownElement):
            async with transaction(database.sessions) as session:
                await record_answer(session, survey, person, "no-such-row", value, now=now)


async def test_skipping_is_recorded_and_counts_towards_progress(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", None, now=now)
        await record_answer(session, survey, person, "plans", "developing", now=now)
        progress = await progress_of(session, survey, person)
    assert (progress.total, progress.answered, progress.skipped) == (3, 1, 1)
    assert progress.next_element_id == "shared-data"
    assert not progress.complete


async def test_unscored_elements_take_comments_but_not_answers(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        answer = await record_comment(
            session, survey, person, "digital", "Done via the ICS digital matrix", now=now
        )
        progress = await progress_of(session, survey, person)
    assert (answer.value, answer.skipped, answer.comment) == (None, False, "Done via the ICS digital matrix")
    assert progress.total == 3  # digital is shown, never scored


async def test_an_overlong_comment_is_refused_whole(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    with pytest.raises(CommentTooLong):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, "vision", 1, now=now, comment="x" * 4001)
    async with transaction(database.sessions) as session:
        assert await answers_of(session, survey, person) == {}


async def test_answers_after_closing_are_refused(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        survey = await session.get(Survey, survey.id)
        await close_survey(session, survey, now=now)
    with pytest.raises(SurveyClosed, match="closed"):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, "vision", 1, now=now)
    async with transaction(database.sessions) as session:
        await open_survey(session, survey, now=now)
        await record_answer(session, survey, person, "vision", 1, now=now)


async def test_the_deadline_closes_a_survey_even_before_the_scheduler_runs(
    database: Database, now: datetime
) -> None:
    survey, person = await _setup(database, now, closes_in=timedelta(days=2))
    later = now + timedelta(days=2, seconds=1)
    with pytest.raises(SurveyClosed):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, "vision", 1, now=later)
    async with transaction(database.sessions) as session:
        assert await close_due_surveys(session, now=now) == []
        assert await close_due_surveys(session, now=later) == [survey.id]
        assert (await session.get(Survey, survey.id)).state == SurveyState.CLOSED


async def test_a_survey_keeps_the_framework_it_started_with(database: Database, now: datetime) -> None:
    survey, _ = await _setup(database, now)
    async with transaction(database.sessions) as session:
        stored = await session.get(Survey, survey.id)
    assert framework_of(stored) == MATRIX
    assert (stored.framework_id, stored.framework_version) == ("mini-matrix", "1.0")


async def test_submitting_completes_the_invitation_and_can_lock_changes(
    database: Database, now: datetime
) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        for element, value in (("vision", 3), ("plans", 2), ("shared-data", "+1")):
            await record_answer(session, survey, person, element, value, now=now)
        assert (await progress_of(session, survey, person)).complete
        await submit_response(session, survey, person, now=now + timedelta(hours=1))
        invitation = await invitation_for(session, survey.id, person.id)
    assert invitation.completed_at == now + timedelta(hours=1)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", 4, now=now)  # still open: changes allowed
    with pytest.raises(ResponseLocked):
        async with transaction(database.sessions) as session:
            await record_answer(session, survey, person, "vision", 1, now=now, lock_after_submit=True)


async def test_my_surveys_lists_open_invitations_with_progress(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        other = await create_survey(session, MATRIX, now=now, title="Bradford place 2026")
        closed = await create_survey(session, MATRIX, now=now, title="Old round")
        await invite(session, closed.id, [person.id], now=now)
        await close_survey(session, closed, now=now)
        await record_answer(session, survey, person, "vision", 1, now=now)
        pending = await pending_surveys_for(session, person.id, now=now)
    assert [(p.survey.title, p.answered, p.submitted) for p in pending] == [("Leeds place 2026", 1, False)]
    assert other.id not in [p.survey.id for p in pending]


async def test_inviting_twice_never_creates_a_second_invitation(database: Database, now: datetime) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        again = await upsert_person(session, teams_user_id="29:ben", name="Ben", now=now)
        assert await invite(session, survey.id, [person.id, again.id, again.id], now=now) == 1
        assert await invite(session, survey.id, [person.id, again.id], now=now) == 0


async def test_people_are_refreshed_not_duplicated(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        first = await upsert_person(session, teams_user_id="29:c", name="Chris", email="c@nhs.net", now=now)
        second = await upsert_person(session, teams_user_id="29:c", name="Chris Smith", now=now)
        count = (await session.execute(sa.select(sa.func.count()).select_from(Person))).scalar_one()
    assert (first.id, second.name, second.email, count) == (second.id, "Chris Smith", "c@nhs.net", 1)


async def test_a_partnership_groups_its_member_organisations(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        council = await ensure_organisation(session, "Leeds City Council", kind="council")
        vcse = await ensure_organisation(session, "Forum Central", kind="VCSE")
        place = await ensure_partnership(session, "Leeds place", kind="place", members=[council, vcse])
        await ensure_partnership(session, "Leeds place", members=[council])
        members = await partnership_members(session, place.id)
    assert [m.name for m in members] == ["Forum Central", "Leeds City Council"]


async def test_double_click_on_two_instances_stores_one_answer(database: Database, now: datetime) -> None:
    """The same answer arriving twice at once (a retry, a double click) leaves exactly one row."""
    survey, person = await _setup(database, now)
    engine = database.new_engine()
    try:
        other = session_factory(engine)

        async def answer(sessions, value: int) -> None:
            async with transaction(sessions) as session:
                await record_answer(session, survey, person, "vision", value, now=now)

        await asyncio.gather(answer(database.sessions, 2), answer(other, 3), answer(database.sessions, 3))
        async with transaction(database.sessions) as session:
            rows = (await session.execute(sa.select(Answer))).scalars().all()
        assert len(rows) == 1
        assert rows[0].value in {"developing", "maturing"}
    finally:
        await engine.dispose()


async def test_a_redelivered_activity_is_claimed_only_once(database: Database, now: datetime) -> None:
    from storage.activities import activity_key, claim_activity, purge_claims

    key = activity_key("msteams", "a:conv", "1699999999")
    engine = database.new_engine()
    try:
        other = session_factory(engine)

        async def claim(sessions) -> bool:
            async with transaction(sessions) as session:
                return await claim_activity(session, key, now=now)

        results = await asyncio.gather(claim(database.sessions), claim(other), claim(database.sessions))
        assert sorted(results) == [False, False, True]
        async with transaction(database.sessions) as session:
            assert await purge_claims(session, before=now) == 0
            assert await purge_claims(session, before=now + timedelta(seconds=1)) == 1
    finally:
        await engine.dispose()


async def test_a_survey_loaded_without_its_snapshot_says_so_instead_of_crashing(
    database: Database, now: datetime
) -> None:
    from storage.surveys import SnapshotCache

    survey, _ = await _setup(database, now)
    cache = SnapshotCache()
    async with transaction(database.sessions) as session:
        await cache.survey(session, survey.id)
    async with transaction(database.sessions) as session:
        light, framework = await cache.survey(session, survey.id)
        assert framework == MATRIX
        with pytest.raises(RuntimeError, match="SnapshotCache"):
            framework_of(light)
