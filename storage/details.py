"""Frozen copies of rows for the conversation: dialogs/ reads these, never an ORM row, so nothing it
holds can be changed behind its back or lazily load from a closed session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.tables import Answer, Survey, SurveyKind, stored_id

__all__ = ["StoredAnswer", "SurveyDetails"]


@dataclass(frozen=True)
class SurveyDetails:
    """What a partner's conversation shows of a survey."""

    id: int
    title: str
    closes_at: datetime | None
    lock_after_submit: bool
    target_months: int | None = None
    """Each levels or score question also asks where they want to be in this many months."""
    revisits: int | None = None
    """A consensus round: the round whose split elements it asks again (None: a round)."""

    @classmethod
    def of(cls, survey: Survey) -> SurveyDetails:
        return cls(
            id=stored_id(survey.id),
            title=survey.title,
            closes_at=survey.closes_at,
            lock_after_submit=survey.lock_after_submit,
            target_months=survey.target_months,
            revisits=survey.parent_survey_id if survey.kind == SurveyKind.CONSENSUS else None,
        )


@dataclass(frozen=True)
class StoredAnswer:
    """One person's answer to one question as stored: a value, a skip, or a comment alone."""

    element_id: str
    value: str | None
    """Canonical token (a level id, a score such as '-2', a status id); None when skipped or comment only."""
    skipped: bool
    comment: str | None
    target: str | None = None
    """Where they want to be (a survey asked with a target): the same kind of token as `value`."""

    @classmethod
    def of(cls, answer: Answer) -> StoredAnswer:
        return cls(
            element_id=answer.element_id,
            value=answer.value,
            skipped=answer.skipped,
            comment=answer.comment,
            target=answer.target_value,
        )
