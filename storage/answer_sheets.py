"""One person's answers to one survey, loaded once per turn of their conversation.

The sheet keeps the rows (survey, person, response, answers) to itself and hands out frozen copies
(storage.details), so dialogs/ decides and renders from plain values and records through the sheet.
It reads what the turn needs in one query once the process has parsed the survey's framework (the
survey, the sender, their response and its answers), and the invitation only when asked.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer
from sqlmodel import col

from frameworks.schema import Framework
from storage import answers
from storage.activities import SENT_CARD
from storage.consensus import FirstRoundContext, first_round_context
from storage.db import Session
from storage.details import StoredAnswer, SurveyDetails
from storage.invitations import invitation_for
from storage.people import person_for
from storage.surveys import SnapshotCache, is_accepting_answers
from storage.tables import Answer, Person, Response, Survey, SurveyKind, stored_id
from storage.upsert import dialect_of

__all__ = ["AnswerSheet", "open_answer_sheet"]


class AnswerSheet:
    """A survey, its framework and the sender's answers to it, within one transaction."""

    def __init__(
        self,
        session: Session,
        survey: Survey,
        framework: Framework,
        person: Person,
        response: Response | None,
        stored: dict[str, StoredAnswer],
        card_id: str | None = None,
    ) -> None:
        self._session = session
        self._survey = survey
        self._person = person
        self._response = response
        self.survey = SurveyDetails.of(survey)
        self.framework = framework
        self.answers = stored
        """The sender's answers by element id; the conversation puts each new one back here."""
        self.card_id = card_id
        self.first_round: FirstRoundContext | None = None
        """A consensus round: the first round as partners see it and the sender's answers to it."""
        """The id Teams gave the question card an earlier turn sent (`card_turn`), once recorded."""

    async def with_first_round(self) -> AnswerSheet:
        """The sheet, holding a consensus round's first round (one more query; none for a round)."""
        if self._survey.kind == SurveyKind.CONSENSUS:
            self.first_round = await first_round_context(
                self._session, self._survey, person_id=stored_id(self._person.id)
            )
        return self

    @property
    def started(self) -> bool:
        """The sender has a response to this survey (answered, skipped or commented at least once)."""
        return self._response is not None

    @property
    def submitted(self) -> bool:
        return self._response is not None and self._response.submitted_at is not None

    def accepting_answers(self, now: datetime) -> bool:
        return is_accepting_answers(self._survey, now)

    async def invited(self) -> bool:
        """Whether the sender was invited to the survey (one query: ask only when it matters)."""
        invitation = await invitation_for(
            self._session, stored_id(self._survey.id), stored_id(self._person.id)
        )
        return invitation is not None

    async def record_answer(
        self,
        element_id: str,
        value: str | None,
        *,
        now: datetime,
        comment: str | None,
        target: str | None = None,
    ) -> StoredAnswer:
        """Store an answer (None: skipped) and where they want to be (`target`), in one upsert.
        Raises SurveyClosed, InvalidAnswer, CommentTooLong, ResponseLocked."""
        return await answers.record_answer(
            self._session,
            self._survey,
            self._person,
            element_id,
            value,
            now=now,
            comment=comment,
            lock_after_submit=self._survey.lock_after_submit,
            response=self._response,
            framework=self.framework,
            target=target,
        )

    async def record_comment(self, element_id: str, comment: str, *, now: datetime) -> StoredAnswer:
        """Add or replace the comment on a question, keeping its answer. Raises CommentTooLong."""
        return await answers.record_comment(
            self._session, self._survey, self._person, element_id, comment, now=now, framework=self.framework
        )

    async def submit(self, *, now: datetime) -> int:
        """Mark the response submitted (the first time is kept); returns the response's id."""
        response = await answers.submit_response(self._session, self._survey, self._person, now=now)
        return stored_id(response.id)


async def open_answer_sheet(
    session: Session,
    *,
    survey_id: int,
    teams_user_id: str,
    name: str | None,
    now: datetime,
    snapshots: SnapshotCache,
    card_turn: str | None = None,
) -> AnswerSheet:
    """The sender's sheet for a survey (the sender's person row is created on first contact), with the
    id of the question card the turn claimed as `card_turn` sent, if known. Raises SurveyNotFound."""
    framework = snapshots.cached(survey_id)
    if framework is not None:
        sheet = await _sheet_at_once(session, survey_id, teams_user_id, framework, card_turn)
        if sheet is not None:
            return await sheet.with_first_round()
    survey, framework = await snapshots.survey(session, survey_id)
    person = await person_for(session, teams_user_id=teams_user_id, name=name, now=now)
    response, rows = await answers.load_response(session, survey, person)
    stored = {element_id: StoredAnswer.of(row) for element_id, row in rows.items()}
    card_id = await session.scalar(sa.select(SENT_CARD), {"card_turn": card_turn}) if card_turn else None
    sheet = AnswerSheet(session, survey, framework, person, response, stored, card_id)
    return await sheet.with_first_round()


def _answers_so_far(dialect: str) -> sa.ScalarSelect[Any]:
    """The response's answers as one JSON array of [element, value, skipped, comment, target]: the
    turn's query then returns one row, where a row per answer had the ORM build the survey, person and
    response again for each, and an Answer of twelve columns, the larger part of a turn's ORM work."""
    values = (
        col(Answer.element_id),
        col(Answer.value),
        col(Answer.skipped),
        col(Answer.comment),
        col(Answer.target_value),
    )
    if dialect == "postgresql":
        array = sa.func.json_agg(sa.func.json_build_array(*values), type_=sa.JSON)
    else:
        array = sa.func.json_group_array(sa.func.json_array(*values), type_=sa.JSON)
    return sa.select(array).where(col(Answer.response_id) == col(Response.id)).scalar_subquery()


@functools.cache
def _sheet_statement(dialect: str) -> Any:
    """Built once per database kind: a turn would otherwise spend about as long building this query
    as running it."""
    return (
        sa.select(Survey, Person, Response, SENT_CARD.label("card_id"), _answers_so_far(dialect))
        .select_from(Survey)
        .join(Person, col(Person.teams_user_id) == sa.bindparam("teams_user_id"))
        .outerjoin(
            Response,
            sa.and_(col(Response.survey_id) == col(Survey.id), col(Response.person_id) == col(Person.id)),
        )
        .where(col(Survey.id) == sa.bindparam("survey_id"))
        .options(defer(Survey.framework_snapshot))  # type: ignore[arg-type]
    )


async def _sheet_at_once(
    session: Session, survey_id: int, teams_user_id: str, framework: Framework, card_turn: str | None
) -> AnswerSheet | None:
    """The usual turn (framework parsed already, sender known): survey, person, response, answers and
    the card's id in one query. None when the survey or the person is not there, for the full path."""
    parameters = {"survey_id": survey_id, "teams_user_id": teams_user_id, "card_turn": card_turn}
    row = (await session.execute(_sheet_statement(dialect_of(session)), parameters)).first()
    if row is None:
        return None
    survey, person, response, card_id, answers_json = row
    stored = {
        element_id: StoredAnswer(element_id, value, bool(skipped), comment, target)
        for element_id, value, skipped, comment, target in answers_json or ()
    }
    return AnswerSheet(session, survey, framework, person, response, stored, card_id)
