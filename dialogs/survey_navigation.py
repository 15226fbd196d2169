"""Moving through a survey without answering: resume, onwards after an answer, back, change N, continue,
and answering one domain now. Each move updates the dialog state and says where the person now is."""

from __future__ import annotations

from typing import Any

from dialogs.messages import Message
from dialogs.survey_screens import SurveyScreens
from dialogs.survey_turn import FRESH, Turn, TurnResult, invoke_message
from dialogs.survey_views import (
    domain_of,
    domain_progress,
    element_ids,
    first_open_in,
    label_of,
    next_element,
    position_of,
    previous_element,
)
from dialogs.wording import quoted

NO_LONGER_MATCHES = "That card no longer matches this survey: here is where we are."


class SurveyNavigation:
    """Where a turn goes next; the screens show it."""

    def __init__(self, screens: SurveyScreens) -> None:
        self._screens = screens

    def resume(self, state: dict[str, Any], turn: Turn) -> TurnResult:
        """Where the person left off: the review, the question they were on, or the first not answered."""
        screens = self._screens
        if state.get("review"):
            return screens.to_review(state, turn)
        element_id = state.get("element_id") or next_element(turn.framework, turn.answers)
        if element_id is None:
            note = "You have answered every question." + (
                "" if turn.submitted else " Check your answers, then Submit."
            )
            return screens.to_review(state, turn, note=note)
        state.update(element_id=element_id, review=False)
        done = sum(1 for a in turn.answers.values() if a.value is not None or a.skipped)
        welcome = (
            f"Welcome back — picking up at question {element_ids(turn.framework).index(element_id) + 1}."
            if done
            else None
        )
        return TurnResult([screens.question(turn, element_id, note=welcome)])

    def advance(self, state: dict[str, Any], turn: Turn, after: str, note: str | None) -> list[Message]:
        """After an answer: back to where a change began (the question left, or the review), else onwards."""
        screens = self._screens
        return_to = state.get("return_to")
        if return_to == after:
            state["return_to"] = return_to = None
        if return_to is not None and return_to in element_ids(turn.framework):
            state.update(element_id=return_to, review=False, back_to_review=False, return_to=None)
            back = f"Back to question {position_of(turn.framework, return_to)}, where you were."
            return [screens.question(turn, return_to, note=back if note is None else f"{note} {back}")]
        if state.get("back_to_review"):
            return screens.to_review(state, turn, note=note).messages
        following = next_element(turn.framework, turn.answers, after=after)
        if following is None:
            done = "That was the last question. " if note is None else f"{note} That was the last question. "
            return screens.to_review(state, turn, note=done + "Check your answers, then Submit.").messages
        finished = _finished_domain(turn, after, following)
        if finished:
            note = finished if note is None else f"{note} {finished}"
        state.update(element_id=following, review=False)
        return [screens.question(turn, following, note=note)]

    def go_back(self, state: dict[str, Any], turn: Turn) -> TurnResult:
        previous = previous_element(turn.framework, state["element_id"])
        if previous is None:
            return self._screens.again(state, turn, note="This is the first question.")
        state.update(element_id=previous, review=False)
        answer = turn.answers.get(previous)
        label = label_of(turn.framework, previous, answer.value) if answer else None
        if label:
            note = f"Your answer was {label}: choose again, or skip to keep it."
        elif answer is not None and answer.skipped:
            note = "You skipped this one: choose an answer, or skip it again."
        else:
            note = None
        return TurnResult([self._screens.question(turn, previous, note=note)])

    def change(self, state: dict[str, Any], turn: Turn, position: int) -> TurnResult:
        ids = element_ids(turn.framework)
        if not 1 <= position <= len(ids):
            note = f"There is no question {position}: they run from 1 to {len(ids)}."
            if state.get("review"):
                return TurnResult([self._screens.text(note)])
            return self._screens.again(state, turn, note=note)
        return self.begin_change(state, turn, ids[position - 1])

    def begin_change(self, state: dict[str, Any], turn: Turn, element_id: str) -> TurnResult:
        """Open a question to change it, remembering where to come back to once it is answered."""
        if state.get("review"):
            state["back_to_review"] = True
        elif state.get("return_to") is None and state.get("element_id") != element_id:
            state["return_to"] = state.get("element_id")
        state.update(element_id=element_id, review=False)
        return_to = state.get("return_to")
        where: str | None
        if return_to is not None and return_to != element_id:
            where = f"question {position_of(turn.framework, return_to)}"
        else:
            where = "the review" if state.get("back_to_review") else None
        note = "Change your answer" + (f", then I'll take you back to {where}." if where else ".")
        return TurnResult([self._screens.question(turn, element_id, note=note)])

    def carry_on(self, state: dict[str, Any], turn: Turn) -> TurnResult:
        """`continue` on a question: leave a change unchanged and go back to where it began."""
        return_to = state.get("return_to")
        if return_to is not None and return_to != state.get("element_id"):
            state.update(element_id=return_to, review=False, back_to_review=False, return_to=None)
            note = f"Back to question {position_of(turn.framework, return_to)}, where you were."
            return TurnResult([self._screens.question(turn, return_to, note=note)])
        state["return_to"] = None
        if state.get("back_to_review"):
            return self._screens.to_review(state, turn)
        return self._screens.again(state, turn, note=None)

    def first_unanswered(self, state: dict[str, Any], turn: Turn, *, back: bool = False) -> TurnResult:
        """From the review or the submit check: the first question not answered yet."""
        first = next_element(turn.framework, turn.answers)
        note: str | None = "The first question not answered yet."
        if first is None and back:
            first, note = element_ids(turn.framework)[-1], None
        if first is None:
            state.update(review=True, element_id=None, **FRESH)
            message = (
                "Every question has an answer. Reply “submit” to send them, "
                "or “change N” to change one (“review” shows them all)."
            )
            invoke_message(turn.context, message)
            return TurnResult([self._screens.text(message)])
        state.update(element_id=first, review=False, **FRESH)
        return TurnResult([self._screens.question(turn, first, note=note)])

    def domain_at(self, state: dict[str, Any], turn: Turn, position: int) -> TurnResult:
        domains = domain_progress(turn.framework, turn.answers)
        if not 1 <= position <= len(domains):
            span = "there is only one" if len(domains) == 1 else f"they run from 1 to {len(domains)}"
            note = f"There is no domain {position}: {span}. Say “domains” to see them."
            if state.get("review"):
                return TurnResult([self._screens.text(note)])
            return self._screens.again(state, turn, note=note)
        return self.to_domain(state, turn, domains[position - 1].domain_id)

    def to_domain(self, state: dict[str, Any], turn: Turn, domain_id: str) -> TurnResult:
        """Answer one domain now: its first question not answered yet."""
        domain = next(
            (d for d in domain_progress(turn.framework, turn.answers) if d.domain_id == domain_id), None
        )
        if domain is None:
            return self._screens.again(state, turn, note=NO_LONGER_MATCHES)
        first = first_open_in(turn.framework, turn.answers, domain_id)
        if first is None:
            message = (
                f"Every question in {quoted(domain.title)} has an answer: “change N” changes one, "
                "“domains” shows the others."
            )
            invoke_message(turn.context, message)
            return TurnResult([self._screens.text(message)])
        state.update(element_id=first, review=False, **FRESH)
        note = f"{domain.title}: its first question not answered yet."
        return TurnResult([self._screens.question(turn, first, note=note)])


def _finished_domain(turn: Turn, after: str, following: str) -> str | None:
    """'That completes “System leadership”.' when an answer finished a domain of several."""
    domain_id = domain_of(turn.framework, after)
    if domain_id is None or len(domain_progress(turn.framework, turn.answers)) < 2:
        return None
    if domain_of(turn.framework, following) == domain_id:
        return None
    if first_open_in(turn.framework, turn.answers, domain_id) is not None:
        return None
    found = turn.framework.element(after)
    return f"That completes {quoted(found[0].title)}." if found else None
