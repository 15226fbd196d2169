"""Finishing a survey: the check before submitting with questions unanswered, the submit, and stopping
to finish later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from botbuilder.core import TurnContext

from dialogs.survey_screens import SurveyScreens
from dialogs.survey_turn import Turn, TurnResult, invoke_message
from dialogs.survey_views import review_view, submit_check_view, submitted_view
from dialogs.wording import answered_phrase, quoted

log = logging.getLogger(__name__)


class SurveySubmission:
    """Submit (asking first when many questions are unanswered), or stop for now."""

    def __init__(self, screens: SurveyScreens, clock: Callable[[], datetime], tz: tzinfo) -> None:
        self._screens = screens
        self._clock = clock
        self._tz = tz

    def review_hint(self, turn: Turn) -> str:
        """One line for a word the review does not take: what it does take (not the whole review again)."""
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        left = f"“continue” to answer the {review.unanswered} not answered yet, " if review.unanswered else ""
        return (
            f"In the review, reply {left}“change N” to change an answer, “submit” to submit, "
            "“stop” to finish later, or “review” to see it again."
        )

    def check(self, context: TurnContext, state: dict[str, Any], turn: Turn) -> TurnResult | None:
        """Ask before submitting a survey with many questions unanswered; None when there is no need."""
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        check = submit_check_view(turn.survey, turn.framework, turn.answers, review)
        if check is None:
            return None
        state["confirm_submit"] = True
        invoke_message(context, f"Not submitted yet: {check.unanswered} questions are not answered.")
        return TurnResult([self._screens.renderer.submit_check(check)])

    async def check_then_submit(self, context: TurnContext, state: dict[str, Any], turn: Turn) -> TurnResult:
        check = self.check(context, state, turn)
        return check if check is not None else await self.submit(context, turn)

    async def submit(self, context: TurnContext, turn: Turn) -> TurnResult:
        response_id = await turn.sheet.submit(now=self._clock())
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=True)
        invoke_message(context, "Submitted. Thank you!")
        log.info("response %s submitted for survey %s", response_id, turn.survey.id)
        view = submitted_view(turn.survey, review, tz=self._tz)
        return TurnResult([self._screens.renderer.submitted(view)], ended=True)

    def paused(self, turn: Turn) -> TurnResult:
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=False)
        message = (
            f"Saved: {answered_phrase(review.answered, review.total, review.skipped)} in "
            f"{quoted(turn.survey.title)}. "
            "Come back any time — say “resume” or “my surveys” and I'll pick up where you left off."
        )
        return TurnResult([self._screens.text(message)], ended=True)
