"""What a survey turn shows: the current question, the review, or a line of text above them.

Building a view changes no answer; moving to the review resets where a change returns to (FRESH).
"""

from __future__ import annotations

from typing import Any

from dialogs.first_round import with_first_round
from dialogs.messages import Message
from dialogs.survey_turn import FRESH, SHOWN_QUESTIONS, Turn, TurnResult
from dialogs.survey_views import domains_view, element_ids, question_view, review_view
from dialogs.views import Renderer
from dialogs.wording import quoted
from storage.details import SurveyDetails


class SurveyScreens:
    """The renderer's views of one survey turn, chosen from the dialog state."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def text(self, message: str) -> Message:
        return self.renderer.text(message)

    def question(self, turn: Turn, element_id: str, note: str | None) -> Message:
        view = question_view(turn.survey, turn.framework, element_id, turn.answers, note=note)
        message = self.renderer.question(with_first_round(view, turn.sheet.first_round))
        if message.attachments:
            turn.context.turn_state.setdefault(SHOWN_QUESTIONS, {})[id(message)] = element_id
        return message

    def review(self, turn: Turn) -> Message:
        return self.renderer.review(
            review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        )

    def domains(self, turn: Turn) -> Message:
        return self.renderer.domains(domains_view(turn.survey, turn.framework, turn.answers))

    def current(self, state: dict[str, Any], turn: Turn, note: str | None) -> Message:
        element_id = state.get("element_id")
        if state.get("review") or element_id is None:
            return self.review(turn)
        return self.question(turn, element_id, note=note)

    def again(self, state: dict[str, Any], turn: Turn, note: str | None) -> TurnResult:
        if note and (state.get("review") or state.get("element_id") is None):
            return TurnResult([self.text(note), self.review(turn)])
        return TurnResult([self.current(state, turn, note=note)])

    def to_review(self, state: dict[str, Any], turn: Turn, note: str | None = None) -> TurnResult:
        state.update(review=True, element_id=None, **FRESH)
        messages = [self.text(note)] if note else []
        return TurnResult([*messages, self.review(turn)])

    def open_review(self, state: dict[str, Any], turn: Turn, note: str | None = None) -> TurnResult:
        """The review asked for mid-survey: a change made from it comes back to the question left."""
        left = None if state.get("review") else state.get("element_id")
        return_to = state.get("return_to") or left
        state.update(review=True, element_id=None, back_to_review=False, return_to=return_to)
        messages = [self.text(note)] if note else []
        return TurnResult([*messages, self.review(turn)])

    def where(self, state: dict[str, Any], turn: Turn) -> str:
        if state.get("review") or state.get("element_id") is None:
            return "Your review is below."
        position = element_ids(turn.framework).index(state["element_id"]) + 1
        return f"We're still on question {position}."

    def closed(self, survey: SurveyDetails) -> Message:
        return self.text(
            f"{quoted(survey.title)} is closed, so answers can no longer be given or changed. "
            "Everything you answered before it closed has been kept."
        )
