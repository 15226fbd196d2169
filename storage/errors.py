"""Domain errors raised by the repositories; the bot turns them into messages for people."""

from __future__ import annotations


class SurveyNotFound(LookupError):
    def __init__(self, survey_id: int) -> None:
        super().__init__(f"there is no survey {survey_id}")
        self.survey_id = survey_id


class NotInvited(PermissionError):
    """Someone who was never invited to a survey tries to answer it (a forwarded card, a guessed id)."""

    def __init__(self, survey_id: int) -> None:
        super().__init__(f"not invited to survey {survey_id}")
        self.survey_id = survey_id


class SurveyClosed(Exception):
    """Answers arrive after the survey closed (or before it opened): refused, nothing stored."""

    def __init__(self, survey_id: int, title: str, state: str) -> None:
        super().__init__(f"“{title}” is {state}: answers can no longer be changed")
        self.survey_id = survey_id
        self.title = title
        self.state = state


class ResponseLocked(Exception):
    """A submitted response where the lead has locked changes after submission."""

    def __init__(self, survey_id: int) -> None:
        super().__init__("your response has been submitted and this survey does not allow changes")
        self.survey_id = survey_id


class CommentTooLong(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"comments can be at most {limit} characters; please shorten it")
        self.limit = limit
