"""The survey conversation: one element at a time, every answer stored on the turn it is given.

State kept between turns is small (survey id, current element, review mode); everything a person
said lives in the answers table, so a restart, a second instance or a stale card never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogInstance, DialogTurnResult
from botbuilder.schema import Activity, ActivityTypes, ResourceResponse
from pydantic import BaseModel

from dialogs import outgoing
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
from dialogs.payloads import (
    CardAction,
    CardActionKind,
    MalformedPayload,
    invoke_action_data,
    parse_card_action,
)
from dialogs.survey_views import (
    answered_view,
    domain_of,
    domain_progress,
    domains_view,
    element_ids,
    first_open_in,
    label_of,
    next_element,
    position_of,
    previous_element,
    question_view,
    review_view,
    submit_check_view,
    submitted_view,
)
from dialogs.views import Renderer
from dialogs.wording import answered_phrase, quoted
from frameworks.schema import Framework
from frameworks.scoring import InvalidAnswer
from storage.answer_sheets import AnswerSheet, open_answer_sheet
from storage.db import Session, Sessions, transaction
from storage.details import StoredAnswer, SurveyDetails
from storage.errors import CommentTooLong, NotInvited, ResponseLocked, SurveyNotFound
from storage.surveys import SnapshotCache

log = logging.getLogger(__name__)

SURVEY_DIALOG = "survey"
INVOKE_CARD = "survey.invoke_card"
"""turn_state key: the card to return from an `adaptiveCard/action` invoke (it replaces the clicked one)."""
INVOKE_MESSAGE = "survey.invoke_message"
"""turn_state key: a short text to return from an invoke when no card replaces the clicked one."""

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


_FRESH: dict[str, Any] = {"back_to_review": False, "return_to": None, "confirm_submit": False}
"""Where a change returns to, and whether a submit check is waiting for its answer: reset on a new survey.

`return_to` is the question a person was on when they asked to change another answer (or opened the
review): once the change is saved they go back to it. `back_to_review` sends a change begun in the
review back there when there is no such question (the survey was finished)."""


@dataclass
class _Turn:
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


class SurveyDialog(Dialog):
    def __init__(self, services: SurveyServices) -> None:
        super().__init__(SURVEY_DIALOG)
        self._s = services

    # botbuilder entry points -------------------------------------------------------------------

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        opts = SurveyOptions.model_validate(options)
        state = dialog_context.active_dialog.state
        state.update(survey_id=opts.survey_id, element_id=opts.element_id, review=opts.review, **_FRESH)
        if opts.pending is not None:
            return await self._on_card(dialog_context, opts.pending)
        if opts.typed is not None:
            typed = opts.typed
            return await self._run(dialog_context, lambda dc, turn: self._on_first_text(dc, turn, typed))
        return await self._run(dialog_context, self._resume)

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        activity = dialog_context.context.activity
        data = card_data(activity)
        if data is not None:
            return await self._on_card(dialog_context, data)
        if activity.type == ActivityTypes.message and (activity.text or "").strip():
            return await self._run(dialog_context, lambda dc, t: self._on_text(dc, t, activity.text or ""))
        return Dialog.end_of_turn

    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        """Show the current question again (after a concurrent turn won the race)."""
        async with transaction(self._s.sessions) as session:
            turn = await self._load(session, context, instance.state)
            activity = self._current(instance.state, turn, note=None)
        await outgoing.send(context, activity)

    # the turn ------------------------------------------------------------------------------------

    async def _run(self, dc: DialogContext, step: Callable[[DialogContext, _Turn], Any]) -> DialogTurnResult:
        """Load, act and commit in one transaction; reply only after the commit, so nothing is lost
        (inside the handler's turn transaction, the replies are queued until the turn commits)."""
        outbox: list[Activity] = []
        updates: list[Activity] = []
        ended = False
        try:
            async with transaction(self._s.sessions) as session:
                turn = await self._load(session, dc.context, dc.active_dialog.state)
                turn.confirming = bool(dc.active_dialog.state.pop("confirm_submit", False))
                if not turn.sheet.accepting_answers(self._s.clock()):
                    outbox.append(self._closed(turn.survey))
                    ended = True
                else:
                    result = await step(dc, turn)
                    outbox += result.activities
                    updates += result.updates
                    ended = result.ended
                    dc.active_dialog.state[_TURN_AT] = self._s.clock().isoformat()
        except SurveyNotFound:
            outbox = [self._s.renderer.text("That survey no longer exists. Say “my surveys” to see yours.")]
            ended = True
        except NotInvited:
            outbox = [self._s.renderer.text(_NOT_INVITED)]
            ended = True
        for update in updates:
            await outgoing.replace(dc.context, update)
        shown = dc.context.turn_state.get(_SHOWN, {})
        state = dc.active_dialog.state
        for activity in outbox:
            element_id = shown.get(id(activity))
            await outgoing.send(
                dc.context, activity, None if element_id is None else _remember_card(state, element_id)
            )
        if ended:
            return await dc.end_dialog()
        return Dialog.end_of_turn

    async def _load(self, session: Session, context: TurnContext, state: dict[str, Any]) -> _Turn:
        sender = context.activity.from_property
        sheet = await open_answer_sheet(
            session,
            survey_id=int(state["survey_id"]),
            teams_user_id=sender.id,
            name=sender.name,
            now=self._s.clock(),
            snapshots=self._s.snapshots,
        )
        survey_id = sheet.survey.id
        if not sheet.started and state.get("invited") != survey_id:
            # Checked once per survey and remembered: the common turn pays no extra query.
            if not await sheet.invited():
                raise NotInvited(survey_id)
            state["invited"] = survey_id
        return _Turn(sheet, context)

    # inputs ----------------------------------------------------------------------------------------

    async def _on_card(self, dc: DialogContext, data: object) -> DialogTurnResult:
        try:
            action = parse_card_action(data)
        except MalformedPayload as exc:
            _invoke_message(dc.context, str(exc))
            await outgoing.send(dc.context, self._s.renderer.text(str(exc)))
            return Dialog.end_of_turn
        state = dc.active_dialog.state
        if action.survey_id != state["survey_id"]:
            state.update(survey_id=action.survey_id, element_id=None, review=False, **_FRESH)
        return await self._run(dc, lambda dc_, turn: self._on_action(dc_, turn, action))

    async def _on_action(self, dc: DialogContext, turn: _Turn, action: CardAction) -> _Result:
        state = dc.active_dialog.state
        current = None if state.get("review") else state.get("element_id")
        kind = action.action
        if kind is CardActionKind.START:
            return self._resume_result(state, turn)
        if kind is CardActionKind.PAUSE:
            _invoke_message(dc.context, "Saved. You can finish later.")
            if action.comment and action.element_id in element_ids(turn.framework):
                await self._keep_comment(turn, action.element_id, action.comment)
            return self._paused(turn)
        if kind is CardActionKind.REVIEW:
            return self._open_review(state, turn)
        if kind is CardActionKind.SUBMIT:
            return await self._check_then_submit(dc, turn)
        if kind is CardActionKind.SUBMIT_ANYWAY:
            return await self._submit(dc, turn)
        if kind is CardActionKind.CONTINUE:
            return self._continue(state, turn)
        if kind is CardActionKind.DOMAIN:
            if action.value is None:
                return _Result(
                    [self._s.renderer.domains(domains_view(turn.survey, turn.framework, turn.answers))]
                )
            return self._to_domain(state, turn, action.value)
        if kind is CardActionKind.CHANGE:
            if not action.element_id or action.element_id not in element_ids(turn.framework):
                return self._to_review(state, turn, note="Pick the question to change from the list.")
            return self._begin_change(state, turn, action.element_id)
        element_id = action.element_id
        if element_id is None or element_id not in element_ids(turn.framework):
            return self._again(
                state, turn, note="That card no longer matches this survey: here is where we are."
            )
        stale = element_id != current
        if kind is CardActionKind.BACK:
            if stale:
                return self._again(
                    state, turn, note="That button was on an earlier card: here is where we are."
                )
            return self._go_back(state, turn)
        return await self._record(dc, turn, element_id, action, stale=stale)

    async def _on_text(self, dc: DialogContext, turn: _Turn, text: str) -> _Result:
        state = dc.active_dialog.state
        if state.get("review"):
            return await self._on_review_text(dc, turn, text)
        element_id = state.get("element_id")
        if element_id is None:
            return self._resume_result(state, turn)
        view = question_view(turn.survey, turn.framework, element_id, turn.answers)
        intent = parse_question_reply(text, view)
        if isinstance(intent, AnswerIntent):
            typed = _typed(
                turn, CardActionKind.ANSWER, element_id, value=intent.value, comment=intent.comment
            )
            return await self._record(dc, turn, element_id, typed, stale=False)
        if isinstance(intent, CommentIntent):
            typed = _typed(turn, CardActionKind.COMMENT, element_id, comment=intent.comment)
            return await self._record(dc, turn, element_id, typed, stale=False)
        if isinstance(intent, ChangeIntent):
            return self._change(state, turn, intent.position)
        if isinstance(intent, DomainIntent):
            return self._domain_at(state, turn, intent.position)
        if isinstance(intent, CommandIntent):
            return await self._command(dc, turn, intent.command)
        assert isinstance(intent, Unrecognised)
        if _in_view(state, self._s.clock()):
            return _Result([self._s.renderer.text(intent.hint)])  # one line: the question is just above
        return _Result([self._question(turn, element_id, note=intent.hint)])

    async def _on_first_text(self, dc: DialogContext, turn: _Turn, text: str) -> _Result:
        """Typed before pressing Start: an answer to the question they would meet first is taken; anything
        else shows that question, which they have not seen yet, with why it was not taken."""
        state = dc.active_dialog.state
        element_id = next_element(turn.framework, turn.answers)
        if element_id is None:
            return self._resume_result(state, turn)
        state.update(element_id=element_id, review=False)
        view = question_view(turn.survey, turn.framework, element_id, turn.answers)
        intent = parse_question_reply(text, view)
        if isinstance(intent, Unrecognised):
            return _Result([self._question(turn, element_id, note=intent.hint)])
        return await self._on_text(dc, turn, text)

    async def _on_review_text(self, dc: DialogContext, turn: _Turn, text: str) -> _Result:
        state = dc.active_dialog.state
        intent = parse_reply(text, [])
        if isinstance(intent, ChangeIntent):
            return self._change(state, turn, intent.position)
        if isinstance(intent, DomainIntent):
            return self._domain_at(state, turn, intent.position)
        if isinstance(intent, CommandIntent) and intent.command is not Command.SKIP:
            return await self._command(dc, turn, intent.command)
        return _Result([self._s.renderer.text(self._review_hint(turn))])

    async def _command(self, dc: DialogContext, turn: _Turn, command: Command) -> _Result:
        state = dc.active_dialog.state
        in_review = bool(state.get("review"))
        if command is Command.SKIP and not in_review:
            typed = _typed(turn, CardActionKind.SKIP, state["element_id"])
            return await self._record(dc, turn, state["element_id"], typed, stale=False)
        if command is Command.BACK:
            return self._continue(state, turn, back=True) if in_review else self._go_back(state, turn)
        if command is Command.RESUME:
            return self._continue(state, turn) if in_review else self._carry_on(state, turn)
        if command is Command.STOP:
            return self._paused(turn)
        if command is Command.REVIEW:
            return self._open_review(state, turn)
        if command is Command.SUBMIT:
            if in_review:
                return await self._check_then_submit(dc, turn)
            check = self._submit_check(dc, state, turn)
            if check is not None:
                return check
            return self._open_review(state, turn, note="Check your answers, then Submit.")
        if command is Command.SUBMIT_ANYWAY or (command is Command.YES and turn.confirming):
            return await self._submit(dc, turn)
        if command is Command.DOMAINS:
            return _Result(
                [self._s.renderer.domains(domains_view(turn.survey, turn.framework, turn.answers))]
            )
        if command is Command.HELP:
            return _Result([self._s.renderer.text(HELP), self._current(state, turn, note=None)])
        if in_review:  # `yes` with nothing asked
            return _Result([self._s.renderer.text(self._review_hint(turn))])
        return self._again(state, turn, note="There is nothing to confirm. " + _hint_for(turn, state))

    # actions ------------------------------------------------------------------------------------------

    async def _record(
        self, dc: DialogContext, turn: _Turn, element_id: str, action: CardAction, *, stale: bool
    ) -> _Result:
        state = dc.active_dialog.state
        previous = _snapshot(turn.answers.get(element_id))
        now = self._s.clock()
        # Skip on an answered question (after back or change N) keeps the answer, as the bot says.
        keep = action.action is CardActionKind.SKIP and previous is not None and previous[0] is not None
        try:
            if keep and (not action.comment or (previous is not None and action.comment == previous[2])):
                answer = turn.answers[element_id]
            elif action.action is CardActionKind.COMMENT or keep:
                if not action.comment:
                    return self._again(state, turn, note="The comment box was empty: nothing to save.")
                answer = await turn.sheet.record_comment(element_id, action.comment, now=now)
            else:
                value = action.value if action.action is CardActionKind.ANSWER else None
                if action.action is CardActionKind.ANSWER and value is None:
                    return self._again(state, turn, note="Choose one of the options first, then save.")
                answer = await turn.sheet.record_answer(element_id, value, now=now, comment=action.comment)
                self._s.on_answer()
        except (InvalidAnswer, CommentTooLong) as exc:
            message = exc.message if isinstance(exc, InvalidAnswer) else _too_long(exc, action.comment or "")
            _invoke_message(dc.context, message)
            if stale:
                return _Result([self._s.renderer.text(message)])
            return self._again(state, turn, note=message)
        except ResponseLocked as exc:
            _invoke_message(dc.context, str(exc))
            return _Result([self._s.renderer.text(f"Your response has been submitted: {exc}.")], ended=True)
        turn.answers[element_id] = answer
        unchanged = previous == _snapshot(answer)
        replaced = answered_view(
            turn.survey,
            turn.framework,
            element_id,
            answer,
            note="Updated from an earlier card." if stale else None,
        )
        updates = self._replace_card(dc.context, state, element_id, self._s.renderer.answered(replaced))
        resuming = state.get("element_id") is None and not state.get("review")
        if stale and resuming:
            # A card clicked after the survey was paused: keep the answer and carry on from there.
            note = _saved_note(turn, element_id, answer)
            return _Result(self._advance(state, turn, element_id, note), updates=updates)
        if stale:
            if unchanged:
                return _Result([], updates=updates)  # a double click or a redelivered card: nothing new
            where = self._where(state, turn)
            label = label_of(turn.framework, element_id, answer.value) or "skipped"
            message = f"Updated {quoted(replaced.title)} to {label}. {where}"
            return _Result([self._s.renderer.text(message)], updates=updates)
        note = _kept_note(turn, element_id, answer) if keep else _saved_note(turn, element_id, answer)
        return _Result(self._advance(state, turn, element_id, note), updates=updates)

    def _advance(self, state: dict[str, Any], turn: _Turn, after: str, note: str | None) -> list[Activity]:
        """After an answer: back to where a change began (the question left, or the review), else onwards."""
        return_to = state.get("return_to")
        if return_to == after:
            state["return_to"] = return_to = None
        if return_to is not None and return_to in element_ids(turn.framework):
            state.update(element_id=return_to, review=False, back_to_review=False, return_to=None)
            back = f"Back to question {position_of(turn.framework, return_to)}, where you were."
            return [self._question(turn, return_to, note=back if note is None else f"{note} {back}")]
        if state.get("back_to_review"):
            return self._to_review(state, turn, note=note).activities
        following = next_element(turn.framework, turn.answers, after=after)
        if following is None:
            done = "That was the last question. " if note is None else f"{note} That was the last question. "
            return self._to_review(state, turn, note=done + "Check your answers, then Submit.").activities
        finished = self._finished_domain(turn, after, following)
        if finished:
            note = finished if note is None else f"{note} {finished}"
        state.update(element_id=following, review=False)
        return [self._question(turn, following, note=note)]

    def _finished_domain(self, turn: _Turn, after: str, following: str) -> str | None:
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

    async def _keep_comment(self, turn: _Turn, element_id: str, comment: str) -> None:
        """A comment typed before leaving is saved (if it can't be, it is not worth failing the pause for)."""
        try:
            answer = await turn.sheet.record_comment(element_id, comment, now=self._s.clock())
        except CommentTooLong:
            return
        turn.answers[element_id] = answer

    def _go_back(self, state: dict[str, Any], turn: _Turn) -> _Result:
        previous = previous_element(turn.framework, state["element_id"])
        if previous is None:
            return self._again(state, turn, note="This is the first question.")
        state.update(element_id=previous, review=False)
        answer = turn.answers.get(previous)
        label = label_of(turn.framework, previous, answer.value) if answer else None
        if label:
            note = f"Your answer was {label}: choose again, or skip to keep it."
        elif answer is not None and answer.skipped:
            note = "You skipped this one: choose an answer, or skip it again."
        else:
            note = None
        return _Result([self._question(turn, previous, note=note)])

    def _change(self, state: dict[str, Any], turn: _Turn, position: int) -> _Result:
        ids = element_ids(turn.framework)
        if not 1 <= position <= len(ids):
            note = f"There is no question {position}: they run from 1 to {len(ids)}."
            if state.get("review"):
                return _Result([self._s.renderer.text(note)])
            return self._again(state, turn, note=note)
        return self._begin_change(state, turn, ids[position - 1])

    def _begin_change(self, state: dict[str, Any], turn: _Turn, element_id: str) -> _Result:
        """Open a question to change it, remembering where to come back to once it is answered."""
        if state.get("review"):
            state["back_to_review"] = True
        elif state.get("return_to") is None and state.get("element_id") != element_id:
            state["return_to"] = state.get("element_id")
        state.update(element_id=element_id, review=False)
        return_to = state.get("return_to")
        if return_to is not None and return_to != element_id:
            where = f"question {position_of(turn.framework, return_to)}"
        else:
            where = "the review" if state.get("back_to_review") else None
        note = "Change your answer" + (f", then I'll take you back to {where}." if where else ".")
        return _Result([self._question(turn, element_id, note=note)])

    def _carry_on(self, state: dict[str, Any], turn: _Turn) -> _Result:
        """`continue` on a question: leave a change unchanged and go back to where it began."""
        return_to = state.get("return_to")
        if return_to is not None and return_to != state.get("element_id"):
            state.update(element_id=return_to, review=False, back_to_review=False, return_to=None)
            note = f"Back to question {position_of(turn.framework, return_to)}, where you were."
            return _Result([self._question(turn, return_to, note=note)])
        state["return_to"] = None
        if state.get("back_to_review"):
            return self._to_review(state, turn)
        return self._again(state, turn, note=None)

    def _continue(self, state: dict[str, Any], turn: _Turn, *, back: bool = False) -> _Result:
        """From the review or the submit check: the first question not answered yet."""
        first = next_element(turn.framework, turn.answers)
        note: str | None = "The first question not answered yet."
        if first is None and back:
            first, note = element_ids(turn.framework)[-1], None
        if first is None:
            state.update(review=True, element_id=None, **_FRESH)
            message = (
                "Every question has an answer. Reply “submit” to send them, "
                "or “change N” to change one (“review” shows them all)."
            )
            _invoke_message(turn.context, message)
            return _Result([self._s.renderer.text(message)])
        state.update(element_id=first, review=False, **_FRESH)
        return _Result([self._question(turn, first, note=note)])

    def _domain_at(self, state: dict[str, Any], turn: _Turn, position: int) -> _Result:
        domains = domain_progress(turn.framework, turn.answers)
        if not 1 <= position <= len(domains):
            span = "there is only one" if len(domains) == 1 else f"they run from 1 to {len(domains)}"
            note = f"There is no domain {position}: {span}. Say “domains” to see them."
            if state.get("review"):
                return _Result([self._s.renderer.text(note)])
            return self._again(state, turn, note=note)
        return self._to_domain(state, turn, domains[position - 1].domain_id)

    def _to_domain(self, state: dict[str, Any], turn: _Turn, domain_id: str) -> _Result:
        """Answer one domain now: its first question not answered yet."""
        domain = next(
            (d for d in domain_progress(turn.framework, turn.answers) if d.domain_id == domain_id), None
        )
        if domain is None:
            return self._again(
                state, turn, note="That card no longer matches this survey: here is where we are."
            )
        first = first_open_in(turn.framework, turn.answers, domain_id)
        if first is None:
            message = (
                f"Every question in {quoted(domain.title)} has an answer: “change N” changes one, "
                "“domains” shows the others."
            )
            _invoke_message(turn.context, message)
            return _Result([self._s.renderer.text(message)])
        state.update(element_id=first, review=False, **_FRESH)
        note = f"{domain.title}: its first question not answered yet."
        return _Result([self._question(turn, first, note=note)])

    def _open_review(self, state: dict[str, Any], turn: _Turn, note: str | None = None) -> _Result:
        """The review asked for mid-survey: a change made from it comes back to the question left."""
        left = None if state.get("review") else state.get("element_id")
        return_to = state.get("return_to") or left
        state.update(review=True, element_id=None, back_to_review=False, return_to=return_to)
        activities = [self._s.renderer.text(note)] if note else []
        return _Result([*activities, self._review(turn)])

    def _to_review(self, state: dict[str, Any], turn: _Turn, note: str | None = None) -> _Result:
        state.update(review=True, element_id=None, **_FRESH)
        activities = [self._s.renderer.text(note)] if note else []
        return _Result([*activities, self._review(turn)])

    def _review_hint(self, turn: _Turn) -> str:
        """One line for a word the review does not take: what it does take (not the whole review again)."""
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        left = f"“continue” to answer the {review.unanswered} not answered yet, " if review.unanswered else ""
        return (
            f"In the review, reply {left}“change N” to change an answer, “submit” to submit, "
            "“stop” to finish later, or “review” to see it again."
        )

    def _submit_check(self, dc: DialogContext, state: dict[str, Any], turn: _Turn) -> _Result | None:
        """Ask before submitting a survey with many questions unanswered; None when there is no need."""
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        check = submit_check_view(turn.survey, turn.framework, turn.answers, review)
        if check is None:
            return None
        state["confirm_submit"] = True
        _invoke_message(dc.context, f"Not submitted yet: {check.unanswered} questions are not answered.")
        return _Result([self._s.renderer.submit_check(check)])

    async def _check_then_submit(self, dc: DialogContext, turn: _Turn) -> _Result:
        check = self._submit_check(dc, dc.active_dialog.state, turn)
        return check if check is not None else await self._submit(dc, turn)

    async def _submit(self, dc: DialogContext, turn: _Turn) -> _Result:
        response_id = await turn.sheet.submit(now=self._s.clock())
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=True)
        _invoke_message(dc.context, "Submitted. Thank you!")
        log.info("response %s submitted for survey %s", response_id, turn.survey.id)
        view = submitted_view(turn.survey, review, tz=self._s.tz)
        return _Result([self._s.renderer.submitted(view)], ended=True)

    def _paused(self, turn: _Turn) -> _Result:
        review = review_view(turn.survey, turn.framework, turn.answers, submitted=False)
        message = (
            f"Saved: {answered_phrase(review.answered, review.total, review.skipped)} in "
            f"{quoted(turn.survey.title)}. "
            "Come back any time — say “resume” or “my surveys” and I'll pick up where you left off."
        )
        return _Result([self._s.renderer.text(message)], ended=True)

    # views ---------------------------------------------------------------------------------------------

    async def _resume(self, dc: DialogContext, turn: _Turn) -> _Result:
        return self._resume_result(dc.active_dialog.state, turn)

    def _resume_result(self, state: dict[str, Any], turn: _Turn) -> _Result:
        if state.get("review"):
            return self._to_review(state, turn)
        element_id = state.get("element_id") or next_element(turn.framework, turn.answers)
        if element_id is None:
            note = "You have answered every question." + (
                "" if turn.submitted else " Check your answers, then Submit."
            )
            return self._to_review(state, turn, note=note)
        state.update(element_id=element_id, review=False)
        done = sum(1 for a in turn.answers.values() if a.value is not None or a.skipped)
        note = (
            f"Welcome back — picking up at question {element_ids(turn.framework).index(element_id) + 1}."
            if done
            else None
        )
        return _Result([self._question(turn, element_id, note=note)])

    def _again(self, state: dict[str, Any], turn: _Turn, note: str | None) -> _Result:
        if note and (state.get("review") or state.get("element_id") is None):
            return _Result([self._s.renderer.text(note), self._review(turn)])
        return _Result([self._current(state, turn, note=note)])

    def _current(self, state: dict[str, Any], turn: _Turn, note: str | None) -> Activity:
        element_id = state.get("element_id")
        if state.get("review") or element_id is None:
            return self._review(turn)
        return self._question(turn, element_id, note=note)

    def _question(self, turn: _Turn, element_id: str, note: str | None) -> Activity:
        activity = self._question_activity(turn, element_id, note)
        if activity.attachments:
            turn.context.turn_state.setdefault(_SHOWN, {})[id(activity)] = element_id
        return activity

    def _question_activity(self, turn: _Turn, element_id: str, note: str | None) -> Activity:
        return self._s.renderer.question(
            question_view(turn.survey, turn.framework, element_id, turn.answers, note=note)
        )

    def _review(self, turn: _Turn) -> Activity:
        return self._s.renderer.review(
            review_view(turn.survey, turn.framework, turn.answers, submitted=turn.submitted)
        )

    def _where(self, state: dict[str, Any], turn: _Turn) -> str:
        if state.get("review") or state.get("element_id") is None:
            return "Your review is below."
        position = element_ids(turn.framework).index(state["element_id"]) + 1
        return f"We're still on question {position}."

    def _closed(self, survey: SurveyDetails) -> Activity:
        return self._s.renderer.text(
            f"{quoted(survey.title)} is closed, so answers can no longer be given or changed. "
            "Everything you answered before it closed has been kept."
        )

    def _replace_card(
        self, context: TurnContext, state: dict[str, Any], element_id: str, card_activity: Activity
    ) -> list[Activity]:
        """Swap the answered question's card for its read-only version so it cannot be submitted again."""
        activity = context.activity
        shown = state.get("card") or {}
        if shown.get("element_id") == element_id:
            state.pop("card", None)
        if activity.type == ActivityTypes.message and activity.value is None:
            if shown.get("element_id") != element_id or not card_activity.attachments:
                return []  # typed, and no card of ours on screen for it
            return [
                Activity(id=shown["id"], type=ActivityTypes.message, attachments=card_activity.attachments)
            ]
        if activity.type == ActivityTypes.invoke:
            attachment = card_activity.attachments[0] if card_activity.attachments else None
            if attachment is not None:
                context.turn_state[INVOKE_CARD] = attachment.content
            return []
        if activity.type == ActivityTypes.message and activity.value is not None and activity.reply_to_id:
            return [
                Activity(
                    id=activity.reply_to_id, type=ActivityTypes.message, attachments=card_activity.attachments
                )
            ]
        return []


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


_SHOWN = "survey.shown_questions"
"""turn_state key: question cards sent this turn (by object id) and their element, to learn their ids."""


@dataclass
class _Result:
    activities: list[Activity]
    ended: bool = False
    updates: list[Activity] = field(default_factory=list)
    """Cards to replace in place (the Action.Submit fallback has no invoke response to do it)."""


def _remember_card(state: dict[str, Any], element_id: str) -> outgoing.OnSent:
    """Once sent, remember the question card's id, to make it read-only when answered by typing."""

    def remember(response: ResourceResponse | None) -> None:
        if response is not None and response.id:
            state["card"] = {"id": response.id, "element_id": element_id}

    return remember


def _typed(
    turn: _Turn,
    kind: CardActionKind,
    element_id: str,
    *,
    value: str | None = None,
    comment: str | None = None,
) -> CardAction:
    """A typed reply in the same shape as a card's, so both go down one path."""
    return CardAction(
        action=kind, survey_id=turn.survey.id, element_id=element_id, value=value, comment=comment
    )


def _snapshot(answer: StoredAnswer | None) -> tuple[str | None, bool, str | None] | None:
    return None if answer is None else (answer.value, answer.skipped, answer.comment)


def _hint_for(turn: _Turn, state: dict[str, Any]) -> str:
    """What can be typed on the current question (the parser's own hint for an empty reply)."""
    element_id = state.get("element_id")
    choices = (
        question_view(turn.survey, turn.framework, element_id, turn.answers).choices if element_id else []
    )
    hint = parse_reply("", choices)
    return hint.hint if isinstance(hint, Unrecognised) else ""


def _kept_note(turn: _Turn, element_id: str, answer: StoredAnswer) -> str:
    found = turn.framework.element(element_id)
    title = found[1].title if found else element_id
    return f"Kept your answer to {quoted(title)}: {label_of(turn.framework, element_id, answer.value)}."


def _saved_note(turn: _Turn, element_id: str, answer: StoredAnswer) -> str:
    found = turn.framework.element(element_id)
    title = found[1].title if found else element_id
    if answer.skipped:
        return f"Skipped {quoted(title)}."
    label = label_of(turn.framework, element_id, answer.value)
    if label is None:
        return f"Saved your comment on {quoted(title)}."
    with_comment = " (with your comment)" if answer.comment else ""
    return f"Saved {quoted(title)}: {label}{with_comment}."


def card_data(activity: Activity) -> object | None:
    if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
        return invoke_action_data(activity.value) or {}
    if activity.type == ActivityTypes.message and activity.value is not None:
        return activity.value
    return None


def _too_long(error: CommentTooLong, comment: str) -> str:
    """Neither the answer nor the comment was kept: say so, so the person shortens it and tries again
    (an invoke answered with a message leaves their card, and what they typed in it, in place)."""
    return (
        f"Nothing was saved: comments can be at most {error.limit:,} characters and yours has "
        f"{len(comment):,}. Please shorten it and try again."
    )


def _invoke_message(context: TurnContext, message: str) -> None:
    if context.activity.type == ActivityTypes.invoke:
        context.turn_state.setdefault(INVOKE_MESSAGE, message)
