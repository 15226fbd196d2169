"""The survey conversation: one element at a time, every answer stored on the turn it is given.

State kept between turns is small (survey id, current element, review mode); everything a person
said lives in the answers table, so a restart, a second instance or a stale card never loses it.
SurveyDialog reads the input and runs the turn; survey_answering, survey_navigation, survey_submission
and survey_screens do the rest (survey_turn holds what they share).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes
from pydantic import BaseModel

from dialogs import outgoing
from dialogs.dialog_stack import Dialog, DialogContext, DialogInstance
from dialogs.intents import (
    AnswerIntent,
    ChangeIntent,
    Command,
    CommandIntent,
    CommentIntent,
    DomainIntent,
    Unrecognised,
    parse_question_reply,
    parse_reply,
)
from dialogs.messages import Message
from dialogs.payloads import (
    CardAction,
    CardActionKind,
    MalformedPayload,
    invoke_action_data,
    parse_card_action,
)
from dialogs.survey_answering import SurveyAnswering
from dialogs.survey_navigation import NO_LONGER_MATCHES, SurveyNavigation
from dialogs.survey_screens import SurveyScreens
from dialogs.survey_submission import SurveySubmission
from dialogs.survey_turn import (
    FRESH,
    INVOKE_CARD,
    INVOKE_MESSAGE,
    SHOWN_QUESTIONS,
    Turn,
    TurnResult,
    invoke_message,
)
from dialogs.survey_views import element_ids, next_element, question_view
from dialogs.views import Renderer
from storage.answer_sheets import open_answer_sheet
from storage.db import Session, Sessions, transaction
from storage.errors import NotInvited, SurveyNotFound
from storage.surveys import SnapshotCache

__all__ = [
    "HELP",
    "INVOKE_CARD",
    "INVOKE_MESSAGE",
    "QUESTION_IN_VIEW",
    "SURVEY_DIALOG",
    "SurveyDialog",
    "SurveyOptions",
    "SurveyServices",
    "card_data",
]

SURVEY_DIALOG = "survey"

HELP = (
    "I ask one question at a time and save each answer straight away.\n"
    "- Type your answer: a number (3, +2, -5) or a level or status name (maturing, on track).\n"
    "- Add a comment or evidence with “because …” or “comment: …”.\n"
    "- skip · back · change N · review · submit · stop (to finish later) · my surveys\n"
    "- continue: the first question not answered yet · domains, domain N: answer one domain now"
)


@dataclass(frozen=True)
class SurveyServices:
    sessions: Sessions
    renderer: Renderer
    clock: Callable[[], datetime]
    tz: tzinfo
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    on_answer: Callable[[], None] = lambda: None
    """Counts answers recorded (metrics)."""


class SurveyOptions(BaseModel):
    survey_id: int
    element_id: str | None = None
    pending: dict[str, Any] | None = None
    """A card action that arrived while no survey was running: handled as the first input."""
    typed: str | None = None
    """A reply typed while no survey was running (before pressing Start): handled as the first input."""
    review: bool = False


Step = Callable[[DialogContext, Turn], Awaitable[TurnResult]]
"""One turn's work on the loaded sheet, run inside its transaction."""


class SurveyDialog(Dialog):
    """Reads a turn's input (a card press or a typed reply) and hands it to the part that acts on it."""

    def __init__(self, services: SurveyServices) -> None:
        super().__init__(SURVEY_DIALOG)
        self._s = services
        self._screens = SurveyScreens(services.renderer)
        self._navigation = SurveyNavigation(self._screens)
        self._answering = SurveyAnswering(self._screens, self._navigation, services.clock, services.on_answer)
        self._submission = SurveySubmission(self._screens, services.clock, services.tz)

    # dialog entry points -----------------------------------------------------------------------

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> None:
        opts = SurveyOptions.model_validate(options)
        state = dialog_context.active_state
        state.update(survey_id=opts.survey_id, element_id=opts.element_id, review=opts.review, **FRESH)
        if opts.pending is not None:
            await self._on_card(dialog_context, opts.pending)
        elif opts.typed is not None:
            typed = opts.typed
            await self._run(dialog_context, lambda dc, turn: self._on_first_text(dc, turn, typed))
        else:
            await self._run(dialog_context, self._resume)

    async def continue_dialog(self, dialog_context: DialogContext) -> None:
        activity = dialog_context.context.activity
        data = card_data(activity)
        if data is not None:
            await self._on_card(dialog_context, data)
        elif activity.type == ActivityTypes.message and (activity.text or "").strip():
            await self._run(dialog_context, lambda dc, t: self._on_text(dc, t, activity.text or ""))

    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        """Show the current question again (after a concurrent turn won the race)."""
        async with transaction(self._s.sessions) as session:
            turn = await self._load(session, context, instance.state)
            message = self._screens.current(instance.state, turn, note=None)
        await outgoing.send(context, message)

    # the turn ------------------------------------------------------------------------------------

    async def _run(self, dc: DialogContext, step: Step) -> None:
        """Load, act and commit in one transaction; reply only after the commit, so nothing is lost
        (inside the handler's turn transaction, the replies are queued until the turn commits)."""
        outbox: list[Message] = []
        updates: list[Activity] = []
        ended = False
        try:
            async with transaction(self._s.sessions) as session:
                turn = await self._load(session, dc.context, dc.active_state)
                turn.confirming = bool(dc.active_state.pop("confirm_submit", False))
                if not turn.sheet.accepting_answers(self._s.clock()):
                    outbox.append(self._screens.closed(turn.survey))
                    ended = True
                else:
                    result = await step(dc, turn)
                    outbox += result.messages
                    updates += result.updates
                    ended = result.ended
                    dc.active_state[_TURN_AT] = self._s.clock().isoformat()
        except SurveyNotFound:
            outbox = [self._screens.text("That survey no longer exists. Say “my surveys” to see yours.")]
            ended = True
        except NotInvited:
            outbox = [self._screens.text(_NOT_INVITED)]
            ended = True
        for update in updates:
            await outgoing.replace(dc.context, update)
        shown = dc.context.turn_state.get(SHOWN_QUESTIONS, {})
        state = dc.active_state
        for message in outbox:
            element_id = shown.get(id(message))
            await outgoing.send(
                dc.context,
                message,
                None if element_id is None else _remember_card(dc.context, state, element_id),
            )
        if ended:
            dc.end_dialog()

    async def _load(self, session: Session, context: TurnContext, state: dict[str, Any]) -> Turn:
        sender = context.activity.from_property
        card = state.get("card") or {}
        sheet = await open_answer_sheet(
            session,
            survey_id=int(state["survey_id"]),
            teams_user_id=sender.id,
            name=sender.name,
            now=self._s.clock(),
            snapshots=self._s.snapshots,
            card_turn=card.get("turn") if "id" not in card else None,
        )
        if sheet.card_id is not None:
            state["card"] = {"id": sheet.card_id, "element_id": card.get("element_id")}
        survey_id = sheet.survey.id
        if not sheet.started and state.get("invited") != survey_id:
            # Checked once per survey and remembered: the common turn pays no extra query.
            if not await sheet.invited():
                raise NotInvited(survey_id)
            state["invited"] = survey_id
        return Turn(sheet, context)

    async def _resume(self, dc: DialogContext, turn: Turn) -> TurnResult:
        return self._navigation.resume(dc.active_state, turn)

    # inputs ----------------------------------------------------------------------------------------

    async def _on_card(self, dc: DialogContext, data: object) -> None:
        try:
            action = parse_card_action(data)
        except MalformedPayload as exc:
            invoke_message(dc.context, str(exc))
            await outgoing.send(dc.context, self._screens.text(str(exc)))
            return
        state = dc.active_state
        if action.survey_id != state["survey_id"]:
            state.update(survey_id=action.survey_id, element_id=None, review=False, **FRESH)
        await self._run(dc, lambda dc_, turn: self._on_action(dc_, turn, action))

    async def _on_action(self, dc: DialogContext, turn: Turn, action: CardAction) -> TurnResult:
        state = dc.active_state
        navigation, submission = self._navigation, self._submission
        current = None if state.get("review") else state.get("element_id")
        kind = action.action
        if kind is CardActionKind.START:
            return navigation.resume(state, turn)
        if kind is CardActionKind.PAUSE:
            invoke_message(dc.context, "Saved. You can finish later.")
            if action.comment and action.element_id in element_ids(turn.framework):
                await self._answering.keep_comment(turn, action.element_id, action.comment)
            return submission.paused(turn)
        if kind is CardActionKind.REVIEW:
            return self._screens.open_review(state, turn)
        if kind is CardActionKind.SUBMIT:
            return await submission.check_then_submit(dc.context, state, turn)
        if kind is CardActionKind.SUBMIT_ANYWAY:
            return await submission.submit(dc.context, turn)
        if kind is CardActionKind.CONTINUE:
            return navigation.first_unanswered(state, turn)
        if kind is CardActionKind.DOMAIN:
            if action.value is None:
                return TurnResult([self._screens.domains(turn)])
            return navigation.to_domain(state, turn, action.value)
        if kind is CardActionKind.CHANGE:
            if not action.element_id or action.element_id not in element_ids(turn.framework):
                return self._screens.to_review(state, turn, note="Pick the question to change from the list.")
            return navigation.begin_change(state, turn, action.element_id)
        element_id = action.element_id
        if element_id is None or element_id not in element_ids(turn.framework):
            return self._screens.again(state, turn, note=NO_LONGER_MATCHES)
        stale = element_id != current
        if kind is CardActionKind.BACK:
            if stale:
                return self._screens.again(
                    state, turn, note="That button was on an earlier card: here is where we are."
                )
            return navigation.go_back(state, turn)
        return await self._answering.record(dc.context, state, turn, element_id, action, stale=stale)

    async def _on_text(self, dc: DialogContext, turn: Turn, text: str) -> TurnResult:
        state = dc.active_state
        if state.get("review"):
            return await self._on_review_text(dc, turn, text)
        element_id = state.get("element_id")
        if element_id is None:
            return self._navigation.resume(state, turn)
        view = question_view(turn.survey, turn.framework, element_id, turn.answers)
        intent = parse_question_reply(text, view)
        record = self._answering.record
        if isinstance(intent, AnswerIntent):
            earlier = turn.answers.get(element_id)
            typed = _typed(
                turn,
                CardActionKind.ANSWER,
                element_id,
                value=intent.value,
                comment=intent.comment,
                # `3` alone on a question that had a target keeps it, as a comment is kept
                target=intent.target or (earlier.target if earlier and view.target_months else None),
            )
            return await record(dc.context, state, turn, element_id, typed, stale=False)
        if isinstance(intent, CommentIntent):
            typed = _typed(turn, CardActionKind.COMMENT, element_id, comment=intent.comment)
            return await record(dc.context, state, turn, element_id, typed, stale=False)
        if isinstance(intent, ChangeIntent):
            return self._navigation.change(state, turn, intent.position)
        if isinstance(intent, DomainIntent):
            return self._navigation.domain_at(state, turn, intent.position)
        if isinstance(intent, CommandIntent):
            return await self._command(dc, turn, intent.command)
        assert isinstance(intent, Unrecognised)
        if _in_view(state, self._s.clock()):
            return TurnResult([self._screens.text(intent.hint)])  # one line: the question is just above
        return TurnResult([self._screens.question(turn, element_id, note=intent.hint)])

    async def _on_first_text(self, dc: DialogContext, turn: Turn, text: str) -> TurnResult:
        """Typed before pressing Start: an answer to the question they would meet first is taken; anything
        else shows that question, which they have not seen yet, with why it was not taken."""
        state = dc.active_state
        element_id = next_element(turn.framework, turn.answers)
        if element_id is None:
            return self._navigation.resume(state, turn)
        state.update(element_id=element_id, review=False)
        view = question_view(turn.survey, turn.framework, element_id, turn.answers)
        intent = parse_question_reply(text, view)
        if isinstance(intent, Unrecognised):
            return TurnResult([self._screens.question(turn, element_id, note=intent.hint)])
        return await self._on_text(dc, turn, text)

    async def _on_review_text(self, dc: DialogContext, turn: Turn, text: str) -> TurnResult:
        state = dc.active_state
        intent = parse_reply(text, [])
        if isinstance(intent, ChangeIntent):
            return self._navigation.change(state, turn, intent.position)
        if isinstance(intent, DomainIntent):
            return self._navigation.domain_at(state, turn, intent.position)
        if isinstance(intent, CommandIntent) and intent.command is not Command.SKIP:
            return await self._command(dc, turn, intent.command)
        return TurnResult([self._screens.text(self._submission.review_hint(turn))])

    async def _command(self, dc: DialogContext, turn: Turn, command: Command) -> TurnResult:
        state = dc.active_state
        screens, navigation, submission = self._screens, self._navigation, self._submission
        in_review = bool(state.get("review"))
        if command is Command.SKIP and not in_review:
            typed = _typed(turn, CardActionKind.SKIP, state["element_id"])
            return await self._answering.record(
                dc.context, state, turn, state["element_id"], typed, stale=False
            )
        if command is Command.BACK:
            if in_review:
                return navigation.first_unanswered(state, turn, back=True)
            return navigation.go_back(state, turn)
        if command is Command.RESUME:
            if in_review:
                return navigation.first_unanswered(state, turn)
            return navigation.carry_on(state, turn)
        if command is Command.STOP:
            return submission.paused(turn)
        if command is Command.REVIEW:
            return screens.open_review(state, turn)
        if command is Command.SUBMIT:
            if in_review:
                return await submission.check_then_submit(dc.context, state, turn)
            check = submission.check(dc.context, state, turn)
            if check is not None:
                return check
            return screens.open_review(state, turn, note="Check your answers, then Submit.")
        if command is Command.SUBMIT_ANYWAY or (command is Command.YES and turn.confirming):
            return await submission.submit(dc.context, turn)
        if command is Command.DOMAINS:
            return TurnResult([screens.domains(turn)])
        if command is Command.HELP:
            return TurnResult([screens.text(HELP), screens.current(state, turn, note=None)])
        if in_review:  # `yes` with nothing asked
            return TurnResult([screens.text(submission.review_hint(turn))])
        return screens.again(state, turn, note="There is nothing to confirm. " + _hint_for(turn, state))


_NOT_INVITED = (
    "That survey was sent to other people, so I can't take answers to it from you. "
    "Say “my surveys” to see the ones you're part of; a partnership lead can invite you."
)

_TURN_AT = "turn_at"
"""Dialog state: when this survey last took a turn, to tell whether its question is still in view."""
QUESTION_IN_VIEW = timedelta(hours=1)
"""A reply that fits nothing gets one line within this of the last turn; later, the question again too."""


def _in_view(state: dict[str, Any], now: datetime) -> bool:
    try:
        last = datetime.fromisoformat(state[_TURN_AT])
    except (KeyError, TypeError, ValueError):
        return False
    return timedelta(0) <= now - last <= QUESTION_IN_VIEW


def _remember_card(context: TurnContext, state: dict[str, Any], element_id: str) -> outgoing.OnSent | None:
    """Remember which turn sent the question card: once sent, its id is recorded with that turn's claim,
    and the next turn reads it, to make the card read-only when the answer is typed."""
    key = outgoing.receipt_key(context)
    if key is None:
        return None  # a turn without a claim records nothing after sending
    state["card"] = {"turn": key, "element_id": element_id}
    return outgoing.note_sent_card(context)


def _typed(
    turn: Turn,
    kind: CardActionKind,
    element_id: str,
    *,
    value: str | None = None,
    comment: str | None = None,
    target: str | None = None,
) -> CardAction:
    """A typed reply in the same shape as a card's, so both go down one path."""
    return CardAction(
        action=kind,
        survey_id=turn.survey.id,
        element_id=element_id,
        value=value,
        comment=comment,
        target=target,
    )


def _hint_for(turn: Turn, state: dict[str, Any]) -> str:
    """What can be typed on the current question (the parser's own hint for an empty reply)."""
    element_id = state.get("element_id")
    choices = (
        question_view(turn.survey, turn.framework, element_id, turn.answers).choices if element_id else []
    )
    hint = parse_reply("", choices)
    return hint.hint if isinstance(hint, Unrecognised) else ""


def card_data(activity: Activity) -> object | None:
    """What a card press carries (an invoke's action data, or an Action.Submit's value); None for text."""
    if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
        return invoke_action_data(activity.value) or {}
    if activity.type == ActivityTypes.message and activity.value is not None:
        value: object = activity.value
        return value
    return None
