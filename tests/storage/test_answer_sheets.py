"""What a turn reads of a partner's answers (storage.answer_sheets): the same on the turn's one-query
path (framework parsed already) as on the first turn's path, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime

from storage.answer_sheets import open_answer_sheet
from storage.answers import answers_of, record_answer, record_comment
from storage.db import transaction
from storage.details import StoredAnswer
from storage.people import upsert_person
from storage.surveys import SnapshotCache
from tests.conftest import Database
from tests.storage.test_answers_storage import _setup

AWKWARD = 'She said "not yet" \\ then [1, 2] {"a": null}\nsecond line, ünïcödé ✓ 🙂'
"""A comment the answers' JSON array must carry through unchanged: quotes, a backslash, text that
looks like JSON, a line break and characters outside ASCII."""


async def _sheet_answers(database: Database, cache: SnapshotCache, now: datetime, survey_id: int) -> dict:
    async with transaction(database.sessions) as session:
        sheet = await open_answer_sheet(
            session, survey_id=survey_id, teams_user_id="29:amina", name=None, now=now, snapshots=cache
        )
        return dict(sheet.answers)


async def test_a_turn_reads_every_answer_as_stored_whether_the_framework_is_parsed_or_not(
    database: Database, now: datetime
) -> None:
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", "maturing", now=now, comment=AWKWARD)
        await record_answer(session, survey, person, "plans", None, now=now)  # skipped
        await record_comment(session, survey, person, "digital", "Not scored yet, but: “plans”", now=now)
        await record_answer(session, survey, person, "shared-data", "-2", now=now)
    expected = {
        "vision": StoredAnswer("vision", "maturing", False, AWKWARD),
        "plans": StoredAnswer("plans", None, True, None),
        "digital": StoredAnswer("digital", None, False, "Not scored yet, but: “plans”"),
        "shared-data": StoredAnswer("shared-data", "-2", False, None),
    }
    cache = SnapshotCache()
    first = await _sheet_answers(database, cache, now, survey.id)  # parses the snapshot
    assert cache.cached(survey.id) is not None
    again = await _sheet_answers(database, cache, now, survey.id)  # the one-query path
    assert first == expected
    assert again == expected


async def test_a_partner_with_no_response_yet_has_an_empty_sheet(database: Database, now: datetime) -> None:
    survey, _person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await upsert_person(session, teams_user_id="29:amina", aad_object_id="aad-amina", now=now)
    cache = SnapshotCache()
    assert await _sheet_answers(database, cache, now, survey.id) == {}
    async with transaction(database.sessions) as session:
        sheet = await open_answer_sheet(
            session, survey_id=survey.id, teams_user_id="29:amina", name=None, now=now, snapshots=cache
        )
        assert sheet.answers == {}
        assert not sheet.started


async def test_an_answer_read_earlier_in_the_same_transaction_reads_as_changed_after_answering_again(
    database: Database, now: datetime
) -> None:
    """The answer is written by a plain insert … returning, so an Answer the session holds is refreshed."""
    survey, person = await _setup(database, now)
    async with transaction(database.sessions) as session:
        await record_answer(session, survey, person, "vision", "developing", now=now, comment="first")
    async with transaction(database.sessions) as session:
        before = (await answers_of(session, survey, person))["vision"]
        stored = await record_answer(session, survey, person, "vision", "thriving", now=now, comment="second")
        after = (await answers_of(session, survey, person))["vision"]
    assert before is after  # the session's one object for the row…
    assert (after.value, after.score, after.comment) == ("thriving", 4, "second")  # …read afresh
    assert stored == StoredAnswer("vision", "thriving", False, "second")
