"""Responses and answers. Every answer is written on the turn it is given, validated against the
survey's frozen framework; answering again overwrites the same row instead of adding one."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key
from sqlmodel import col

from frameworks.schema import Framework
from frameworks.scoring import COMMENT_LIMIT, AnswerValue, InvalidAnswer, interpret, interpret_target, locate
from storage.details import StoredAnswer
from storage.errors import CommentTooLong, ResponseLocked
from storage.surveys import framework_of, require_open
from storage.tables import Answer, Invitation, Person, Response, Survey, stored_id, table_of
from storage.upsert import dialect_of, insert, insert_for


async def ensure_response(
    session: AsyncSession, survey: Survey, person: Person, *, now: datetime
) -> Response:
    """The person's response to the survey, created on first use; safe when two turns race. One
    statement: the upsert returns the row whether it made it or found it."""
    table = table_of(Response)
    statement = (
        insert(session, Response)
        .values(
            survey_id=survey.id,
            person_id=person.id,
            organisation_id=person.organisation_id,
            started_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[table.c.survey_id, table.c.person_id],
            set_={"survey_id": table.c.survey_id},  # unchanged: the row is only returned
        )
        .returning(Response)
    )
    response: Response = (
        await session.scalars(statement, execution_options={"populate_existing": True})
    ).one()
    return response


async def record_answer(
    session: AsyncSession,
    survey: Survey,
    person: Person,
    element_id: str,
    value: str | int | None,
    *,
    now: datetime,
    comment: str | None = None,
    lock_after_submit: bool = False,
    response: Response | None = None,
    framework: Framework | None = None,
    target: str | int | None = None,
) -> StoredAnswer:
    """Store an answer (value None = skipped), with where they want to be (`target`, None: not given;
    only in a survey asked with a target); returns it as stored. Raises SurveyClosed, InvalidAnswer,
    CommentTooLong.

    Pass the person's `response` and the survey's `framework` when already loaded, to save round trips."""
    require_open(survey, now)
    framework = framework or framework_of(survey)
    comment = _clean_comment(comment)
    if value is None:
        locate(framework, element_id)  # an unknown element is refused even when skipping
        parsed: AnswerValue | None = None
    else:
        parsed = interpret(framework, element_id, value)
    wanted: AnswerValue | None = None
    if target is not None and parsed is not None:
        if survey.target_months is None:
            raise InvalidAnswer(element_id, "This survey asks only where you are now: give just your answer.")
        wanted = interpret_target(framework, element_id, target)
    if response is None:
        response = await ensure_response(session, survey, person, now=now)
    if lock_after_submit and response.submitted_at is not None:
        raise ResponseLocked(stored_id(survey.id))
    return await _upsert_answer(session, response, element_id, parsed, comment, now, target=wanted)


async def record_comment(
    session: AsyncSession,
    survey: Survey,
    person: Person,
    element_id: str,
    comment: str,
    *,
    now: datetime,
    framework: Framework | None = None,
) -> StoredAnswer:
    """Add or replace the comment on an element, keeping its answer (allowed on unscored elements too)."""
    require_open(survey, now)
    locate(framework or framework_of(survey), element_id)
    cleaned = _clean_comment(comment)
    response = await ensure_response(session, survey, person, now=now)
    existing = await _answer(session, response.id, element_id)
    if existing is not None:
        existing.comment = cleaned
        existing.updated_at = now
        session.add(existing)
        await session.flush()
        return StoredAnswer.of(existing)
    return await _upsert_answer(session, response, element_id, None, cleaned, now, skipped=False)


async def _upsert_answer(
    session: AsyncSession,
    response: Response,
    element_id: str,
    parsed: AnswerValue | None,
    comment: str | None,
    now: datetime,
    *,
    skipped: bool | None = None,
    target: AnswerValue | None = None,
) -> StoredAnswer:
    parameters = {
        "answer_response": response.id,
        "answer_element": element_id,
        "answer_value": parsed.value if parsed else None,
        "answer_score": parsed.score if parsed else None,
        "answer_skipped": parsed is None if skipped is None else skipped,
        "answer_comment": comment,
        "answer_target": target.value if target else None,
        "answer_target_score": target.score if target else None,
        "answer_at": now,
    }
    # Changing an answer keeps its earlier comment unless a new one is given; the target goes with the
    # answer (a skip clears it; the conversation passes the earlier target on when only `3` is typed).
    statement = _upsert_statement(dialect_of(session), keep_comment=comment is None)
    answer_id, element, value, skipped, kept, target_value = (
        await session.execute(statement, parameters)
    ).one()
    loaded = session.identity_map.get(identity_key(Answer, answer_id))
    if loaded is not None:  # an Answer this session read before is stale now: read it afresh if asked
        session.expire(loaded)
    return StoredAnswer(element, value, skipped, kept, target_value)


@functools.cache
def _upsert_statement(dialect: str, *, keep_comment: bool) -> Any:
    """Built once per database kind and comment rule: building it for every answer cost about as much
    as running it. A Core insert returning plain values: the ORM's insert returning an Answer (and
    refreshing one already in the session) cost a turn about 1 ms of CPU more."""
    table = table_of(Answer)
    statement = insert_for(dialect, table).values(
        response_id=sa.bindparam("answer_response"),
        element_id=sa.bindparam("answer_element"),
        value=sa.bindparam("answer_value"),
        score=sa.bindparam("answer_score"),
        skipped=sa.bindparam("answer_skipped"),
        comment=sa.bindparam("answer_comment"),
        target_value=sa.bindparam("answer_target"),
        target_score=sa.bindparam("answer_target_score"),
        answered_at=sa.bindparam("answer_at"),
        updated_at=sa.bindparam("answer_at"),
    )
    changed = ["value", "score", "skipped", "target_value", "target_score", "updated_at"] + (
        [] if keep_comment else ["comment"]
    )
    update = {name: statement.excluded[name] for name in changed}
    return statement.on_conflict_do_update(
        index_elements=[table.c.response_id, table.c.element_id], set_=update
    ).returning(
        table.c.id, table.c.element_id, table.c.value, table.c.skipped, table.c.comment, table.c.target_value
    )


async def _answer(session: AsyncSession, response_id: int | None, element_id: str) -> Answer | None:
    result = await session.execute(
        sa.select(Answer)
        .where(col(Answer.response_id) == response_id, col(Answer.element_id) == element_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


def _clean_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    comment = comment.strip()
    if len(comment) > COMMENT_LIMIT:
        raise CommentTooLong(COMMENT_LIMIT)
    return comment or None


async def load_response(
    session: AsyncSession, survey: Survey, person: Person
) -> tuple[Response | None, dict[str, Answer]]:
    """The person's response to the survey (None before their first answer) and its answers by element."""
    response = (
        await session.execute(
            sa.select(Response).where(
                col(Response.survey_id) == survey.id, col(Response.person_id) == person.id
            )
        )
    ).scalar_one_or_none()
    if response is None:
        return None, {}
    answers = await session.scalars(sa.select(Answer).where(col(Answer.response_id) == response.id))
    return response, {answer.element_id: answer for answer in answers}


async def answers_of(session: AsyncSession, survey: Survey, person: Person) -> dict[str, Answer]:
    result = await session.execute(
        sa.select(Answer)
        .join(Response, col(Response.id) == col(Answer.response_id))
        .where(col(Response.survey_id) == survey.id, col(Response.person_id) == person.id)
    )
    return {answer.element_id: answer for answer in result.scalars()}


@dataclass(frozen=True)
class Progress:
    total: int
    """Scored elements in the survey's framework."""
    answered: int
    skipped: int
    next_element_id: str | None
    """First scored element, in framework order, with nothing recorded yet."""
    submitted_at: datetime | None

    @property
    def remaining(self) -> int:
        return self.total - self.answered - self.skipped

    @property
    def complete(self) -> bool:
        return self.next_element_id is None


def progress_from(
    framework: Framework, answers: dict[str, Answer], submitted_at: datetime | None
) -> Progress:
    scored = [element.id for _, element in framework.scored_elements]
    answered = sum(1 for eid in scored if eid in answers and answers[eid].value is not None)
    skipped = sum(1 for eid in scored if eid in answers and answers[eid].skipped)
    next_id = next((eid for eid in scored if eid not in answers or _unanswered(answers[eid])), None)
    return Progress(len(scored), answered, skipped, next_id, submitted_at)


def _unanswered(answer: Answer) -> bool:
    return answer.value is None and not answer.skipped


async def progress_of(session: AsyncSession, survey: Survey, person: Person) -> Progress:
    response, answers = await load_response(session, survey, person)
    return progress_from(framework_of(survey), answers, response.submitted_at if response else None)


async def submit_response(
    session: AsyncSession, survey: Survey, person: Person, *, now: datetime
) -> Response:
    """Mark the response submitted and the invitation completed; submitting again keeps the first time."""
    require_open(survey, now)
    response = await ensure_response(session, survey, person, now=now)
    response.submitted_at = response.submitted_at or now
    response.updated_at = now
    session.add(response)
    await session.execute(
        sa.update(Invitation)
        .where(
            col(Invitation.survey_id) == survey.id,
            col(Invitation.person_id) == person.id,
            col(Invitation.completed_at).is_(None),
        )
        .values(completed_at=now)
    )
    await session.flush()
    return response
