"""One person's answers to one survey, loaded once per turn of their conversation.

The sheet keeps the rows (survey, person, response, answers) to itself and hands out frozen copies
(storage.details), so dialogs/ decides and renders from plain values and records through the sheet.
It reads what the turn needs in as few queries as before: the survey (its framework from the
snapshot cache), the sender, their response and its answers, and the invitation only when asked.
"""

from __future__ import annotations

from datetime import datetime

from frameworks.schema import Framework
from storage import answers
from storage.db import Session
from storage.details import StoredAnswer, SurveyDetails
from storage.invitations import invitation_for
from storage.people import person_for
from storage.surveys import SnapshotCache, is_accepting_answers
from storage.tables import Person, Response, Survey, stored_id

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
    ) -> None:
        self._session = session
        self._survey = survey
        self._person = person
        self._response = response
        self.survey = SurveyDetails.of(survey)
        self.framework = framework
        self.answers = stored
        """The sender's answers by element id; the conversation puts each new one back here."""

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
        self, element_id: str, value: str | None, *, now: datetime, comment: str | None
    ) -> StoredAnswer:
        """Store an answer (None: skipped).
        Raises SurveyClosed, InvalidAnswer, CommentTooLong, ResponseLocked."""
        answer = await answers.record_answer(
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
        )
        return StoredAnswer.of(answer)

    async def record_comment(self, element_id: str, comment: str, *, now: datetime) -> StoredAnswer:
        """Add or replace the comment on a question, keeping its answer. Raises CommentTooLong."""
        answer = await answers.record_comment(
            self._session, self._survey, self._person, element_id, comment, now=now, framework=self.framework
        )
        return StoredAnswer.of(answer)

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
) -> AnswerSheet:
    """The sender's sheet for a survey (the sender's person row is created on first contact).
    Raises SurveyNotFound."""
    survey, framework = await snapshots.survey(session, survey_id)
    person = await person_for(session, teams_user_id=teams_user_id, name=name, now=now)
    response, rows = await answers.load_response(session, survey, person)
    stored = {element_id: StoredAnswer.of(row) for element_id, row in rows.items()}
    return AnswerSheet(session, survey, framework, person, response, stored)
