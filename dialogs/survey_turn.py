"""What a survey turn's parts share: the loaded answer sheet, what the turn replies, and the turn_state keys.

The dialog (survey_dialog) loads a Turn and hands it to its collaborators (screens, navigation, answering,
submission); each gives back a TurnResult the dialog sends once the turn has committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes

from dialogs.messages import Message
from frameworks.schema import Framework
from storage.answer_sheets import AnswerSheet
from storage.details import StoredAnswer, SurveyDetails

INVOKE_CARD = "survey.invoke_card"
"""turn_state key: the card to return from an `adaptiveCard/action` invoke (it replaces the clicked one)."""
INVOKE_MESSAGE = "survey.invoke_message"
"""turn_state key: a short text to return from an invoke when no card replaces the clicked one."""
SHOWN_QUESTIONS = "survey.shown_questions"
"""turn_state key: question cards sent this turn (by their message's object id) and their element, to
learn their ids."""

FRESH: dict[str, Any] = {"back_to_review": False, "return_to": None, "confirm_submit": False}
"""Where a change returns to, and whether a submit check is waiting for its answer: reset on a new survey.

`return_to` is the question a person was on when they asked to change another answer (or opened the
review): once the change is saved they go back to it. `back_to_review` sends a change begun in the
review back there when there is no such question (the survey was finished)."""


@dataclass
class Turn:
    """What one turn has loaded: enough to validate input and build the next view."""

    sheet: AnswerSheet
    context: TurnContext
    confirming: bool = False
    """The previous turn asked whether to submit with questions unanswered."""

    @property
    def survey(self) -> SurveyDetails:
        return self.sheet.survey

    @property
    def framework(self) -> Framework:
        return self.sheet.framework

    @property
    def answers(self) -> dict[str, StoredAnswer]:
        return self.sheet.answers

    @property
    def submitted(self) -> bool:
        return self.sheet.submitted


@dataclass
class TurnResult:
    """What a turn replies, sent only after its transaction commits."""

    messages: list[Message]
    ended: bool = False
    updates: list[Activity] = field(default_factory=list)
    """Cards to replace in place (the Action.Submit fallback has no invoke response to do it)."""


def invoke_message(context: TurnContext, message: str) -> None:
    """The short text an invoke answers with (the first one said this turn wins)."""
    if context.activity.type == ActivityTypes.invoke:
        context.turn_state.setdefault(INVOKE_MESSAGE, message)
