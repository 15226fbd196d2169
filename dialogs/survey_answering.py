"""Taking an answer, a skip or a comment: store it, swap the answered card for its read-only version,
and say what was saved before moving on (or, from an earlier card, what changed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes

from dialogs.messages import Message, to_activity
from dialogs.payloads import CardAction, CardActionKind
from dialogs.survey_navigation import SurveyNavigation
from dialogs.survey_screens import SurveyScreens
from dialogs.survey_turn import INVOKE_CARD, Turn, TurnResult, invoke_message
from dialogs.survey_views import answered_view, asks_target, label_of
from dialogs.wording import quoted
from frameworks.scoring import InvalidAnswer, interpret
from storage.details import StoredAnswer
from storage.errors import CommentTooLong, ResponseLocked


class SurveyAnswering:
    """Records what a card or a typed reply gave for one question."""

    def __init__(
        self,
        screens: SurveyScreens,
        navigation: SurveyNavigation,
        clock: Callable[[], datetime],
        on_answer: Callable[[], None],
    ) -> None:
        self._screens = screens
        self._navigation = navigation
        self._clock = clock
        self._on_answer = on_answer

    async def record(
        self,
        context: TurnContext,
        state: dict[str, Any],
        turn: Turn,
        element_id: str,
        action: CardAction,
        *,
        stale: bool,
    ) -> TurnResult:
        screens = self._screens
        previous = _snapshot(turn.answers.get(element_id))
        now = self._clock()
        # Skip on an answered question (after back or change N) keeps the answer, as the bot says.
        keep = action.action is CardActionKind.SKIP and previous is not None and previous[0] is not None
        try:
            if keep and (not action.comment or (previous is not None and action.comment == previous[2])):
                answer = turn.answers[element_id]
            elif action.action is CardActionKind.COMMENT or keep:
                if not action.comment:
                    return screens.again(state, turn, note="The comment box was empty: nothing to save.")
                answer = await turn.sheet.record_comment(element_id, action.comment, now=now)
            else:
                value = action.value if action.action is CardActionKind.ANSWER else None
                if action.action is CardActionKind.ANSWER and value is None:
                    return screens.again(state, turn, note="Choose one of the options first, then save.")
                answer = await turn.sheet.record_answer(
                    element_id, value, now=now, comment=action.comment, target=action.target
                )
                self._on_answer()
        except (InvalidAnswer, CommentTooLong) as exc:
            message = exc.message if isinstance(exc, InvalidAnswer) else _too_long(exc, action.comment or "")
            invoke_message(context, message)
            if stale:
                return TurnResult([screens.text(message)])
            return screens.again(state, turn, note=message)
        except ResponseLocked as exc:
            invoke_message(context, str(exc))
            return TurnResult([screens.text(f"Your response has been submitted: {exc}.")], ended=True)
        turn.answers[element_id] = answer
        unchanged = previous == _snapshot(answer)
        replaced = answered_view(
            turn.survey,
            turn.framework,
            element_id,
            answer,
            note="Updated from an earlier card." if stale else None,
        )
        updates = _replace_card(context, state, element_id, screens.renderer.answered(replaced))
        resuming = state.get("element_id") is None and not state.get("review")
        if stale and resuming:
            # A card clicked after the survey was paused: keep the answer and carry on from there.
            note = _saved_note(turn, element_id, answer)
            return TurnResult(self._navigation.advance(state, turn, element_id, note), updates=updates)
        if stale:
            if unchanged:
                return TurnResult([], updates=updates)  # a double click or a redelivered card: nothing new
            where = screens.where(state, turn)
            label = label_of(turn.framework, element_id, answer.value) or "skipped"
            if replaced.answer is not None and replaced.target is not None:
                label += f" (in {replaced.target_months} months: {replaced.target})"
            message = f"Updated {quoted(replaced.title)} to {label}. {where}"
            return TurnResult([screens.text(message)], updates=updates)
        note = _kept_note(turn, element_id, answer) if keep else _saved_note(turn, element_id, answer)
        return TurnResult(self._navigation.advance(state, turn, element_id, note), updates=updates)

    async def keep_comment(self, turn: Turn, element_id: str, comment: str) -> None:
        """A comment typed before leaving is saved (if it can't be, it is not worth failing the pause for)."""
        try:
            answer = await turn.sheet.record_comment(element_id, comment, now=self._clock())
        except CommentTooLong:
            return
        turn.answers[element_id] = answer


def _replace_card(
    context: TurnContext, state: dict[str, Any], element_id: str, answered: Message
) -> list[Activity]:
    """Swap the answered question's card for its read-only version so it cannot be submitted again:
    updates in place (activities carrying the id of the message replaced), or the invoke's answer."""
    activity = context.activity
    shown = state.get("card") or {}
    if shown.get("element_id") == element_id:
        state.pop("card", None)
    if activity.type == ActivityTypes.message and activity.value is None:
        if shown.get("element_id") != element_id or not shown.get("id") or not answered.attachments:
            return []  # typed, and no card of ours on screen for it (or its id never came back)
        return [_update(shown["id"], answered)]
    if activity.type == ActivityTypes.invoke:
        if answered.attachments:
            context.turn_state[INVOKE_CARD] = answered.attachments[0].content
        return []
    if activity.type == ActivityTypes.message and activity.value is not None and activity.reply_to_id:
        return [_update(activity.reply_to_id, answered)]
    return []


def _update(message_id: str, answered: Message) -> Activity:
    """The update of message `message_id` to the answered card: its attachments alone."""
    return Activity(id=message_id, type=ActivityTypes.message, attachments=to_activity(answered).attachments)


def _snapshot(answer: StoredAnswer | None) -> tuple[str | None, bool, str | None, str | None] | None:
    return None if answer is None else (answer.value, answer.skipped, answer.comment, answer.target)


def _kept_note(turn: Turn, element_id: str, answer: StoredAnswer) -> str:
    found = turn.framework.element(element_id)
    title = found[1].title if found else element_id
    return f"Kept your answer to {quoted(title)}: {label_of(turn.framework, element_id, answer.value)}."


def _saved_note(turn: Turn, element_id: str, answer: StoredAnswer) -> str:
    found = turn.framework.element(element_id)
    title = found[1].title if found else element_id
    if answer.skipped:
        return f"Skipped {quoted(title)}."
    label = label_of(turn.framework, element_id, answer.value)
    if label is None:
        return f"Saved your comment on {quoted(title)}."
    with_comment = " (with your comment)" if answer.comment else ""
    months = turn.survey.target_months
    if months is None or not asks_target(turn.survey, turn.framework, element_id):
        return f"Saved {quoted(title)}: {label}{with_comment}."
    return f"Saved {quoted(title)}: {label}{with_comment}. {target_note(turn, element_id, answer, months)}"


def target_note(turn: Turn, element_id: str, answer: StoredAnswer, months: int) -> str:
    """What was kept of where they want to be: a lower target than now is allowed (a service may be
    winding down), so it is saved and only said plainly; none given is fine too (the target is optional)."""
    if answer.target is None:
        return f"No target for {months} months: type it after an arrow (3 → 4) to add one."
    wanted = label_of(turn.framework, element_id, answer.target)
    now_at = interpret(turn.framework, element_id, answer.value).score if answer.value else None
    then_at = interpret(turn.framework, element_id, answer.target).score
    lower = now_at is not None and then_at is not None and then_at < now_at
    return f"In {months} months: {wanted}" + (" (lower than now, as you chose)." if lower else ".")


def _too_long(error: CommentTooLong, comment: str) -> str:
    """Neither the answer nor the comment was kept: say so, so the person shortens it and tries again
    (an invoke answered with a message leaves their card, and what they typed in it, in place)."""
    return (
        f"Nothing was saved: comments can be at most {error.limit:,} characters and yours has "
        f"{len(comment):,}. Please shorten it and try again."
    )
