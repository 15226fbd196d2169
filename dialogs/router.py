"""A person's 1:1 chat with the bot, turn by turn: run the survey in progress, or offer their surveys.

Teams and the terminal both drive this same object, so they behave identically.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from botbuilder.core import ConversationState, TurnContext
from botbuilder.schema import ActivityTypes

from dialogs import outgoing
from dialogs.dialog_stack import DialogContext, DialogSet
from dialogs.intents import Command, command_of
from dialogs.payloads import CardActionKind, MalformedPayload, parse_card_action
from dialogs.progress import survey_list_item
from dialogs.survey_dialog import INVOKE_MESSAGE, SURVEY_DIALOG, SurveyDialog, SurveyServices, card_data
from dialogs.views import SurveyListView
from storage.bot_state import DIALOG_STATE
from storage.db import transaction
from storage.invitations import PendingSurvey, pending_surveys_of_sender

NO_SURVEYS = (
    "You're not part of an open survey at the moment. When a partnership lead starts one for your team, "
    "I'll send you an invitation here and you can answer it one question at a time. Say “help” to see what "
    "I can do."
)


class PartnerConversation:
    def __init__(
        self,
        conversation_state: ConversationState,
        services: SurveyServices,
        commands: Callable[[TurnContext], Awaitable[bool]] | None = None,
    ) -> None:
        """`commands` is offered what a partner's conversation does not understand (a lead's command
        typed in 1:1); it returns whether it took it."""
        self._services = services
        self._commands = commands
        self._dialogs = DialogSet(conversation_state.create_property(DIALOG_STATE))
        self._dialogs.add(SurveyDialog(services))

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Handle one activity; the caller saves conversation state afterwards."""
        dc = await self._dialogs.create_context(turn_context)
        activity = turn_context.activity
        data = card_data(activity)
        if data is not None:
            try:
                action = parse_card_action(data)
            except MalformedPayload:
                action = None
            if action is not None and action.action is CardActionKind.START:
                dc.cancel_all_dialogs()
                await dc.begin_dialog(SURVEY_DIALOG, {"survey_id": action.survey_id})
            elif dc.active_dialog is not None or action is None:
                if dc.active_dialog is None:
                    turn_context.turn_state.setdefault(INVOKE_MESSAGE, _MALFORMED)  # what the click shows
                    await outgoing.send(turn_context, self._services.renderer.text(_MALFORMED))
                else:
                    await dc.continue_dialog()
            else:
                await dc.begin_dialog(SURVEY_DIALOG, {"survey_id": action.survey_id, "pending": data})
            return
        if activity.type != ActivityTypes.message or not (activity.text or "").strip():
            return
        command = command_of(activity.text or "")
        commands = self._commands
        if command is Command.MY_SURVEYS and commands is not None and await commands(turn_context):
            return  # a lead's `surveys`: the surveys they run (bot.leads.chat); `my surveys` stays their own
        if command is Command.MY_SURVEYS:
            dc.cancel_all_dialogs()
            await self._offer(turn_context, intro=None)
        elif dc.active_dialog is not None:
            await dc.continue_dialog()
        elif command is Command.HELP:
            await outgoing.send(turn_context, self._services.renderer.text(_HELP_IDLE))
        elif command is None and self._commands is not None and await self._commands(turn_context):
            return
        else:
            await self._idle(dc, turn_context, command)

    async def _idle(self, dc: DialogContext, turn_context: TurnContext, command: Command | None) -> None:
        """Typed with no survey running. With exactly one survey, and it not submitted, what was typed
        is taken as its first input (an answer to the question they would meet first); with several,
        a number opens that one from the list, and anything else gets the list and how to choose."""
        text = turn_context.activity.text or ""
        pending = await self._pending(turn_context)
        resumable = [p for p in pending if not p.submitted]
        if command is None and len(pending) == 1 and resumable:
            await dc.begin_dialog(SURVEY_DIALOG, {"survey_id": resumable[0].survey.id, "typed": text})
            return
        picked = _picked(text, pending)
        if picked is not None:
            await dc.begin_dialog(SURVEY_DIALOG, {"survey_id": picked.survey.id})
        elif command is Command.RESUME and resumable:
            await dc.begin_dialog(SURVEY_DIALOG, {"survey_id": resumable[0].survey.id})
        else:
            started = any(p.answered for p in pending)
            intro = " ".join(
                part
                for part in ("Welcome back!" if started else None, _how_to_choose(text, pending, command))
                if part
            )
            await self._offer(turn_context, intro=intro or None, pending=pending)

    async def reprompt(self, turn_context: TurnContext) -> None:
        """Show the current question again from freshly loaded state."""
        dc = await self._dialogs.create_context(turn_context)
        if dc.active_dialog is not None:
            await dc.reprompt_dialog()

    async def _pending(self, turn_context: TurnContext) -> list[PendingSurvey]:
        sender = turn_context.activity.from_property
        now = self._services.clock()
        async with transaction(self._services.sessions) as session:
            return await pending_surveys_of_sender(
                session,
                teams_user_id=sender.id,
                name=sender.name,
                now=now,
                snapshots=self._services.snapshots,
            )

    async def _offer(
        self, turn_context: TurnContext, intro: str | None, pending: list[PendingSurvey] | None = None
    ) -> None:
        if pending is None:
            pending = await self._pending(turn_context)
        renderer = self._services.renderer
        if not pending:
            await outgoing.send(turn_context, renderer.text(NO_SURVEYS))
            return
        items = [survey_list_item(p) for p in pending]
        await outgoing.send(turn_context, renderer.survey_list(SurveyListView(items=items, intro=intro)))


def _picked(text: str, pending: list[PendingSurvey]) -> PendingSurvey | None:
    """A whole message that is a number from the `my surveys` list opens that survey."""
    text = text.strip().rstrip(".")
    if text.isdigit() and 1 <= int(text) <= len(pending):
        return pending[int(text) - 1]
    return None


def _how_to_choose(text: str, pending: list[PendingSurvey], command: Command | None) -> str | None:
    """Why the list is shown again instead of a survey, when it is not what was asked for."""
    if command is not None or len(pending) < 2:
        return None
    count = len(pending)
    numbers = "1 or 2" if count == 2 else f"1 to {count}"
    how = f"You have {count} open surveys: reply {numbers} to open one, or “resume” to carry on."
    number = text.strip().rstrip(".")
    if number.isdigit():
        return f"There is no survey {_clip(number)} in your list. {how}"
    return how


def _clip(text: str, limit: int = 12) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MALFORMED = "I couldn't read that card's data. Say “my surveys” to see your surveys."
_HELP_IDLE = (
    "I run partnership self-assessments one question at a time, and save every answer as you go.\n"
    "- my surveys: your open surveys and how far you got\n"
    "- resume: carry on where you left off\n"
    "- during a survey: skip, back, change N, review, submit, stop (to finish later), help"
)
